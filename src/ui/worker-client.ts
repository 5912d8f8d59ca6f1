/**
 * The page's line to the worker: creates it and replaces it (after a crash, a lost device, a change of backend),
 * posts commands, sends requests and matches each one's single answer (`reply` or `reply-error`) by request id, and
 * turns the worker's events into store updaters. What follows a (re)start (reloading the teacher, resuming a run,
 * the demo teacher) is the actions' business; they say it through the hooks given to startWorker.
 */
import type { Command, CommandOf, Replies, RequestType, WorkerEvent } from '../worker/protocol';
import { resolveSettings } from './settings';
import {
  addMemorySample,
  applyRunEvents,
  backendChosen,
  checkpointsStopped,
  clearAlerts,
  deployMeasured,
  isRunActive,
  raise,
  runFinished,
  runsListed,
  runStarted,
  runStateReported,
  setCheckpoint,
  setRunStatus,
  teacherLoading,
  traitsOf,
  useStudio,
  workerFailed,
  workerReady,
  workerStarting,
} from './store';

/** What the actions do when a worker starts or replaces another. */
export interface WorkerHooks {
  /** The worker is ready. `resumeId`: a run that a lost device moved to this worker, to continue from its checkpoint. */
  ready(resumeId: string | null): void;
  /** A new worker replaced the old one: hand it what the old one held (the teacher). Says whether there was any. */
  replaced(): boolean;
}

let worker: Worker | null = null;
let hooks: WorkerHooks = { ready: () => undefined, replaced: () => false };
/** The worker's WebGPU device is gone: replace the worker before the next run. */
let deviceLost = false;
/** A run to continue from its checkpoint as soon as the (restarted) worker is ready. */
let resumeWhenReady: string | null = null;

export function post(cmd: Command, transfer: Transferable[] = []): void {
  worker?.postMessage(cmd, transfer);
}

// --- requests ------------------------------------------------------------------------------------------------------

/** A request's failure, as the worker said it. `cancelled`: a newer command cancelled it; nothing to report. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly cancelled = false,
  ) {
    super(message);
  }
}

/** The worker was replaced before it answered. */
export class WorkerRestarted extends Error {}

/**
 * The worker had not answered within the request's deadline, counted from its first progress report (when it began
 * the work, not when the request was queued); the page then ended the worker and started a fresh one.
 */
export class DeadlinePassed extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${Math.round(ms / 1000)} s`);
  }
}

/** The user cancelled the request; the page ended the worker and started a fresh one. */
export class RequestCancelled extends Error {}

/** The answer of a request that a newer one of its kind replaced, or that a worker restart cut off. */
export const SUPERSEDED = Symbol('superseded');

export type RequestBody<K extends RequestType> = Omit<CommandOf<K>, 'type' | 'requestId'>;

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
  /** How long the worker may work on it, from its first progress report; the timer once armed. */
  deadline?: { ms: number; timer?: ReturnType<typeof setTimeout> };
}

/** Requests waiting for their one answer, by request id. */
export class Requests {
  private seq = 0;
  private readonly waiting = new Map<number, Waiting>();
  /** The newest request of each kind that only counts when newest. */
  private readonly newest = new Map<string, number>();

  /** `expired`: a request's deadline passed (it is already rejected with DeadlinePassed); the worker must go. */
  constructor(
    private readonly send: (cmd: Command, transfer: Transferable[]) => void,
    private readonly expired: (requestId: number) => void = () => undefined,
  ) {}

  /** Send a request; resolves with the worker's reply, rejects with its reply-error (or when the worker restarts). */
  request<K extends RequestType>(type: K, body: RequestBody<K>, transfer: Transferable[] = []): { requestId: number; reply: Promise<Replies[K]> } {
    const requestId = ++this.seq;
    const reply = new Promise<Replies[K]>((resolve, reject) => this.waiting.set(requestId, { resolve: resolve as (value: unknown) => void, reject }));
    this.send({ ...body, type, requestId } as unknown as Command, transfer);
    return { requestId, reply };
  }

  /**
   * Send a request of which only the newest of its `kind` counts (a teacher load, an estimate): it supersedes the one
   * before, whose reply resolves to SUPERSEDED at once and whose answer from the worker is then dropped. A worker
   * restart supersedes it too (the restart has its own message).
   */
  latest<K extends RequestType>(
    kind: string,
    type: K,
    body: RequestBody<K>,
    transfer?: Transferable[],
    deadlineMs?: number,
  ): Promise<Replies[K] | typeof SUPERSEDED> {
    const previous = this.newest.get(kind);
    if (previous !== undefined) this.settle(previous)?.resolve(SUPERSEDED);
    const { requestId, reply } = this.request(type, body, transfer);
    this.newest.set(kind, requestId);
    if (deadlineMs !== undefined) this.waiting.get(requestId)!.deadline = { ms: deadlineMs };
    return reply.catch((e: unknown) => {
      if (e instanceof WorkerRestarted) return SUPERSEDED;
      throw e;
    });
  }

  /** Whether progress reported under `requestId` belongs to the newest request of `kind`. */
  isLatest(kind: string, requestId: number): boolean {
    return this.newest.get(kind) === requestId;
  }

  /** The worker reported progress on `requestId`, so it has begun: its deadline, if it has one, starts now. */
  progressed(requestId: number): void {
    const deadline = this.waiting.get(requestId)?.deadline;
    if (!deadline || deadline.timer !== undefined) return;
    deadline.timer = setTimeout(() => {
      this.settle(requestId)?.reject(new DeadlinePassed(deadline.ms));
      this.expired(requestId);
    }, deadline.ms);
  }

  /**
   * End the newest request of `kind` if it still waits: it resolves as SUPERSEDED (a newer one replaces it) or
   * rejects with `error`. Returns whether one was waiting (the caller then restarts the worker, which may be stuck
   * in it).
   */
  endLatest(kind: string, error?: Error): boolean {
    const id = this.newest.get(kind);
    const waiting = id === undefined ? undefined : this.settle(id);
    if (!waiting) return false;
    if (error) waiting.reject(error);
    else waiting.resolve(SUPERSEDED);
    return true;
  }

  /** The worker's answer to one request (an answer to no waiting request, e.g. a superseded one, is dropped). */
  answer(e: Extract<WorkerEvent, { type: 'reply' | 'reply-error' }>): void {
    const waiting = this.settle(e.requestId);
    if (!waiting) return;
    if (e.type === 'reply') waiting.resolve(e.value);
    else waiting.reject(new RequestError(e.message, e.cancelled));
  }

  /** The worker is gone: every request still waiting fails. */
  abandonAll(): void {
    const all = [...this.waiting.keys()].map((id) => this.settle(id)!);
    for (const w of all) w.reject(new WorkerRestarted('the worker restarted'));
  }

  private settle(requestId: number): Waiting | undefined {
    const waiting = this.waiting.get(requestId);
    this.waiting.delete(requestId);
    clearTimeout(waiting?.deadline?.timer);
    return waiting;
  }
}

// A request whose deadline passed has a worker stuck in it (a damaged teacher file can spin inside a synchronous
// WebAssembly call, deaf to any message): it is replaced as after a crash.
const requests = new Requests(post, () => restartWorker());

export function request<K extends RequestType>(type: K, body: RequestBody<K>, transfer?: Transferable[]): Promise<Replies[K]> {
  return requests.request(type, body, transfer).reply;
}

/** Kinds of request of which only the newest counts. */
export type LatestKind = 'teacher' | 'estimate';

/**
 * A request of which only the newest of its kind counts. `deadlineMs`: the longest the worker may work on it, from
 * its first progress report; when it passes, the request rejects with DeadlinePassed and the worker is replaced.
 */
export function latest<K extends RequestType>(
  kind: LatestKind,
  type: K,
  body: RequestBody<K>,
  transfer?: Transferable[],
  deadlineMs?: number,
): Promise<Replies[K] | typeof SUPERSEDED> {
  return requests.latest(kind, type, body, transfer, deadlineMs);
}

/**
 * End the newest request of `kind` if the worker has not answered it, and replace the worker (it may be stuck in it)
 * as after a crash: `error` is what the request rejects with (RequestCancelled when the user cancelled); without
 * it the request counts as superseded. Returns whether one was waiting.
 */
export function endLatest(kind: LatestKind, error?: Error): boolean {
  if (!requests.endLatest(kind, error)) return false;
  restartWorker();
  return true;
}

// --- lifecycle -----------------------------------------------------------------------------------------------------

/** Start the first worker; `h` says what to do when it is ready or replaced. */
export function startWorker(h: WorkerHooks): void {
  hooks = h;
  createWorker();
}

function createWorker(): void {
  const w = new Worker(new URL('../worker/cake.worker.ts', import.meta.url), { type: 'module', name: 'cake-worker' });
  w.onmessage = (ev: MessageEvent<WorkerEvent>) => onEvent(ev.data);
  w.onerror = (ev: ErrorEvent) => {
    ev.preventDefault();
    onCrash(ev.message || 'the worker failed without a message');
  };
  w.onmessageerror = () => onCrash('a message from the worker could not be read');
  worker = w;
  workerStarting();
  post({ type: 'init', backend: useStudio.getState().backendChoice });
}

/** Replace the worker with a fresh one (on the backend chosen now); returns whether the teacher is being reloaded. */
export function restartWorker(): boolean {
  deviceLost = false;
  worker?.terminate();
  worker = null;
  requests.abandonAll();
  createWorker();
  return hooks.replaced();
}

/** Before a run: a worker whose WebGPU device was lost is replaced first. */
export function replaceWorkerIfDeviceLost(): void {
  if (deviceLost) restartWorker();
}

/** Whether an error message points at memory (a worker killed for memory, a failed allocation). */
export function looksLikeMemory(reason: string): boolean {
  return /out of memory|\boom\b|memory|allocat|array buffer|RangeError/i.test(reason);
}

/** The alert after the worker died: what happened, whether the run can resume, and what to try. */
export function crashMessage(reason: string, hadRun: boolean, checkpoint: boolean, teacherReloaded: boolean, batch?: number): string {
  const parts = [`The computation worker stopped unexpectedly (${reason}).`];
  parts.push(`It has been restarted${teacherReloaded ? ' and the teacher reloaded' : ''}; your settings are kept.`);
  if (hadRun)
    parts.push(
      checkpoint
        ? 'The run can continue from its last checkpoint: press "Resume from checkpoint".'
        : 'The run had no checkpoint, so it has to start again.',
    );
  if (looksLikeMemory(reason))
    parts.push(
      `It looks like the tab ran out of memory: try a smaller batch${batch ? ` (synthesis.batchSize is ${batch}; try ${Math.max(1, Math.floor(batch / 2))})` : ''} or a smaller student.`,
    );
  return parts.join(' ');
}

function onCrash(reason: string): void {
  const s = useStudio.getState();
  const hadRun = isRunActive(s.run.status);
  const checkpoint = Boolean(hadRun && s.run.checkpoint?.active && (s.run.checkpoint.setsDone > 0 || s.run.checkpoint.epochsDone > 0));
  if (hadRun) setRunStatus(s.run.runId, 'error', reason);
  const batch = s.result?.report.config.synthesis.batchSize ?? resolveSettings(s.settings, traitsOf(s)).config.synthesis.batchSize;
  const teacherReloaded = restartWorker();
  raise('worker', crashMessage(reason, hadRun, checkpoint, teacherReloaded, batch));
}

function onDeviceLost(message: string): void {
  const s = useStudio.getState();
  const active = isRunActive(s.run.status);
  const cp = s.run.checkpoint;
  // The run may already have failed on the dead device just before the loss was reported.
  if ((active || s.run.status === 'error') && cp?.active && s.backend?.name === 'webgpu') {
    clearAlerts('run');
    // Move the run to WASM (for this session; the stored choice stays) and continue from its checkpoint.
    setRunStatus(s.run.runId, 'error', message);
    raise('worker', `${message}. The run moved to the WASM backend and continues from its last checkpoint.`);
    backendChosen('wasm');
    resumeWhenReady = cp.id;
    restartWorker();
    return;
  }
  if (active) setRunStatus(s.run.runId, 'error', message);
  // No restart here (a device that keeps getting lost would loop); the next Start begins with a fresh worker.
  deviceLost = true;
  raise('worker', `${message}. The next run starts on a fresh device; your settings and teacher are kept. Choosing another backend also helps.`);
}

function onEvent(e: WorkerEvent): void {
  switch (e.type) {
    case 'ready': {
      workerReady(e.backend, e.studentArchs);
      const resumeId = resumeWhenReady;
      resumeWhenReady = null;
      hooks.ready(resumeId);
      break;
    }
    case 'backend-error':
      workerFailed();
      raise('worker', `No computation backend could start: ${e.message}`);
      break;
    case 'device-lost':
      onDeviceLost(e.message);
      break;
    case 'reply':
      requests.answer(e);
      break;
    case 'reply-error':
      requests.answer(e);
      // The worker may be left damaged by this failure: a fresh one, as after a crash (without the alarm).
      if (e.restart) restartWorker();
      break;
    case 'teacher-loading':
      requests.progressed(e.requestId);
      if (requests.isLatest('teacher', e.requestId)) teacherLoading(e.phase, e.fraction);
      break;
    case 'runs':
      runsListed(e.runs);
      break;
    case 'run-started':
      runStarted(e.runId, e);
      break;
    case 'run-state':
      runStateReported(e.runId, e.state);
      break;
    case 'run-events':
      applyRunEvents(e.runId, e.events);
      break;
    case 'checkpoint':
      setCheckpoint(e.runId, { id: e.id, active: true, stage: e.stage, setsDone: e.setsDone, sets: e.sets, epochsDone: e.epochsDone, epochs: e.epochs });
      addMemorySample(e.runId, { ...e.memory, stage: e.stage, at: e.stage === 'synthesis' ? e.setsDone : e.epochsDone });
      break;
    case 'checkpoint-error':
      checkpointsStopped(e.runId, e.message);
      raise('storage', e.message);
      break;
    case 'run-done':
      runFinished(e.runId, e.report, e.summary);
      break;
    case 'deploy-measured':
      deployMeasured(e.runId, e.deploy);
      break;
    case 'run-stopped':
      setRunStatus(e.runId, 'stopped');
      break;
    case 'run-error':
      setRunStatus(e.runId, 'error', e.message);
      raise('run', `The run failed: ${e.message}`);
      break;
    default:
      e satisfies never;
  }
}
