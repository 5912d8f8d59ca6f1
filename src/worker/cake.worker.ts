/// <reference lib="webworker" />
/**
 * The studio's worker: owns TensorFlow.js, the teacher, the run and the student. The page talks to it only through
 * the messages in ./protocol.ts. This file routes them: one handler per command with its queue policy (HANDLERS),
 * over one Session that holds the worker's state. A request's handler returns its reply (or throws), and the router
 * answers it with `reply` or `reply-error`.
 */
import * as tf from '@tensorflow/tfjs';
import { CancelledError, RunControl } from '../cake';
import { TeacherError } from '../io/teacher-error';
import { STUDENT_ARCHS } from '../models/students';
import { onWebGpuDeviceLost, webGpuDeviceLost } from './backend';
import { benchCommand } from './bench-command';
import { deleteRun } from './checkpoints';
import { formatFile } from './deploy-command';
import { evaluateCommand } from './evaluate';
import { loadTeacherFiles } from './load-teacher';
import type { Command, CommandOf, Prediction, ProbeTiming, Replies, RequestType } from './protocol';
import { resumeRun, startRun } from './run-command';
import { markInterrupted, postRuns } from './run-history';
import { timeProbe } from './run-loop';
import { asLayersModel, errorText, Session } from './session';
import { historyZip, resultZip } from './student-zip';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const session = new Session((event, transfer = []) => scope.postMessage(event, transfer));

onWebGpuDeviceLost((message) => session.post({ type: 'device-lost', message }));

async function init(cmd: CommandOf<'init'>): Promise<void> {
  try {
    const backend = await session.startBackend(cmd.backend);
    session.post({ type: 'ready', backend, studentArchs: STUDENT_ARCHS.map((a) => ({ name: a.name, description: a.description })) });
    if (!session.run) await markInterrupted();
    await postRuns(session.post);
  } catch (e) {
    session.post({ type: 'backend-error', message: errorText(e) });
  }
}

/** A short timed run on the teacher, for the page's estimate of a budget's time; a newer command cancels it. */
async function estimate(cmd: CommandOf<'estimate'>): Promise<ProbeTiming> {
  if (!session.teacher) throw new Error('load a teacher first');
  if (session.run) throw new Error('a run is in progress');
  const b = await session.backend();
  const { loaded } = session.teacher;
  const control = new RunControl();
  const done = timeProbe(loaded.teacher, asLayersModel(loaded.model), cmd.config, control, b.name, loaded.info.params);
  session.probeStarted(control, done);
  try {
    return await done;
  } catch (e) {
    throw e instanceof CancelledError ? e : new Error(webGpuDeviceLost() ?? errorText(e));
  } finally {
    session.probeEnded(control);
  }
}

async function predict(cmd: CommandOf<'predict'>): Promise<Prediction> {
  const out = tf.tidy(() => {
    const x = tf.tensor(new Float32Array(cmd.data), cmd.shape, 'float32');
    if (cmd.model === 'student') {
      if (!session.result) throw new Error('there is no student yet');
      return session.result.student.predict(x) as tf.Tensor;
    }
    if (!session.teacher) throw new Error('there is no teacher yet');
    return session.teacher.loaded.model.predict(x) as tf.Tensor;
  });
  const shape = out.shape;
  // Asynchronous read: tfjs-webgpu's synchronous read path loses the device inside a worker.
  const data = ((await out.data()) as Float32Array).slice().buffer as ArrayBuffer;
  out.dispose();
  return { data, shape };
}

function setPaused(paused: boolean): void {
  const run = session.run;
  if (!run) return;
  if (paused) run.control.pause();
  else run.control.resume();
  session.post({ type: 'run-state', runId: run.runId, state: paused ? 'paused' : 'running' });
}

/** Replies once the record is gone from storage, so the page never shows a deletion a reload would undo. */
async function deleteFromHistory(cmd: CommandOf<'delete-run'>): Promise<{ deleted: boolean }> {
  // The run in progress keeps its record.
  if (session.run?.recordId === cmd.id) return { deleted: false };
  await deleteRun(cmd.id);
  await postRuns(session.post);
  return { deleted: true };
}

/** Diagnostics: destroy the WebGPU device, as a driver reset would (device.lost then fires). */
function loseDevice(): void {
  const device = (tf.backend() as unknown as { device?: { destroy?: () => void } }).device;
  device?.destroy?.();
}

function crash(cmd: CommandOf<'crash'>): void {
  setTimeout(() => {
    throw new Error(cmd.reason ?? 'deliberate worker crash (diagnostics)');
  }, 0);
}

// --- routing -----------------------------------------------------------------------------------------------------

/**
 * How a command meets the queue. `serial`: after the commands queued before it, holding the queue until it is done
 * (heavy work, one thing at a time). `detached`: started in queue order without holding the queue (a run holds
 * nothing the queue needs, and exports may be asked for meanwhile). `now`: at once (pause, resume and stop act
 * mid-run; test switches must not wait).
 */
type Queue = 'serial' | 'detached' | 'now';
type Answer<K extends Command['type']> = K extends RequestType ? Replies[K] : void;

interface Handler<K extends Command['type']> {
  queue: Queue;
  /** Stop the estimate's probe first: the command needs the backend, or makes the estimate moot. */
  cancelsProbe: boolean;
  run(cmd: CommandOf<K>): Answer<K> | Promise<Answer<K>>;
  /** Buffers of the reply to move to the page instead of copying. */
  transfer?(reply: Answer<K>): Transferable[];
}

const HANDLERS: { [K in Command['type']]: Handler<K> } = {
  init: { queue: 'serial', cancelsProbe: false, run: init },
  'load-teacher': { queue: 'serial', cancelsProbe: true, run: (cmd) => loadTeacherFiles(session, cmd.requestId, cmd.files) },
  estimate: { queue: 'serial', cancelsProbe: true, run: estimate },
  start: { queue: 'detached', cancelsProbe: true, run: (cmd) => startRun(session, cmd) },
  'resume-checkpoint': { queue: 'detached', cancelsProbe: true, run: (cmd) => resumeRun(session, cmd) },
  pause: { queue: 'now', cancelsProbe: false, run: () => setPaused(true) },
  resume: { queue: 'now', cancelsProbe: false, run: () => setPaused(false) },
  stop: { queue: 'now', cancelsProbe: false, run: () => session.run?.control.cancel() },
  'export-student': {
    queue: 'serial',
    cancelsProbe: false,
    run: (cmd) => resultZip(session.result, cmd.settings, cmd.includePool),
    transfer: (zip) => [zip.data],
  },
  'export-format': {
    queue: 'serial',
    cancelsProbe: false,
    run: (cmd) => formatFile(session.result, cmd.format, cmd.settings),
    transfer: (file) => [file.data],
  },
  'download-run': { queue: 'serial', cancelsProbe: false, run: (cmd) => historyZip(cmd.id), transfer: (zip) => [zip.data] },
  predict: { queue: 'serial', cancelsProbe: false, run: predict, transfer: (p) => [p.data] },
  // Labelled evaluation lives in ./evaluate.ts: its data is never handed to the run (CAKE).
  evaluate: {
    queue: 'serial',
    cancelsProbe: false,
    run: (cmd) => evaluateCommand(cmd, session.teacher?.loaded ?? null, session.result?.student ?? null),
  },
  'list-runs': { queue: 'serial', cancelsProbe: false, run: () => postRuns(session.post) },
  'delete-run': { queue: 'serial', cancelsProbe: false, run: deleteFromHistory },
  bench: { queue: 'serial', cancelsProbe: true, run: (cmd) => benchCommand(session, cmd) },
  'fail-checkpoints': { queue: 'now', cancelsProbe: false, run: (cmd) => session.failCheckpoints(cmd.fromSet) },
  'stall-teacher-reads': { queue: 'now', cancelsProbe: false, run: () => session.stallTeacherReadsFromNow() },
  'lose-device': { queue: 'now', cancelsProbe: false, run: loseDevice },
  crash: { queue: 'now', cancelsProbe: false, run: crash },
};

function logFailure(e: unknown): void {
  console.error('cake worker:', e);
}

/** Runs jobs one after another; a failed job is logged and the next one still runs. */
function serialQueue(): (job: () => Promise<void>) => void {
  let tail: Promise<unknown> = Promise.resolve();
  return (job) => {
    tail = tail.then(job, job).catch(logFailure);
  };
}
const enqueue = serialQueue();

/** Run a command's handler; a request gets its one answer, `reply` or `reply-error`. */
async function handle(cmd: Command): Promise<void> {
  // The table's type ties each command to its handler; indexed by a command of any type, the tie is lost.
  const handler = HANDLERS[cmd.type] as unknown as Handler<RequestType>;
  const run = handler.run as (c: Command) => Promise<unknown>;
  if (!('requestId' in cmd)) {
    await run(cmd);
    return;
  }
  const { requestId } = cmd;
  try {
    const value = (await run(cmd)) as Replies[RequestType];
    session.post({ type: 'reply', requestId, value }, handler.transfer?.(value) ?? []);
  } catch (e) {
    session.post({
      type: 'reply-error',
      requestId,
      message: errorText(e),
      cancelled: e instanceof CancelledError || undefined,
      restart: (e instanceof TeacherError && e.restartReader) || undefined,
    });
  }
}

scope.onmessage = (ev: MessageEvent<Command>) => {
  const cmd = ev.data;
  // Only the page sends commands, typed; anything else is a bug on its side, logged rather than crashing the worker.
  if (!Object.hasOwn(HANDLERS, cmd?.type)) return logFailure(new Error(`unknown command ${JSON.stringify(cmd?.type)}`));
  const { queue, cancelsProbe } = HANDLERS[cmd.type];
  if (cancelsProbe) void session.cancelProbe();
  if (queue === 'now') void handle(cmd).catch(logFailure);
  else if (queue === 'serial') enqueue(() => handle(cmd));
  else
    enqueue(async () => {
      void handle(cmd).catch(logFailure);
    });
};
