/// <reference lib="webworker" />
/**
 * The studio's worker: owns TensorFlow.js, the teacher, the run and the student. The page talks to it only through
 * the messages in ./protocol.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { CancelledError, RunControl, studentAugments, type CakeConfig, type SetResult, type StudentCheckpoint } from '../cake';
import { encodePool, SyntheticPool } from '../cake/pool';
import type { RunReport } from '../cake/report';
import { exportStudent, studentZip } from '../io/export';
import { detectKind, expandZips, type NamedFile } from '../io/files';
import { TeacherError } from '../io/teacher-error';
import { inspectTeacher } from '../io/teacher-info';
import { loadTeacher, type LoadedTeacher } from '../io/teacher-load';
import { STUDENT_ARCHS } from '../models/students';
import type { SetSynthesizer } from '../cake/parallel';
import { createBrowserSetSynthesizer, defaultSynthesisWorkers } from './synth-pool';
import { chooseBackend, onWebGpuDeviceLost, webGpuDeviceLost } from './backend';
import {
  dropCheckpoint,
  getChunks,
  getFinished,
  getRun,
  getStudent,
  getTeacher,
  listRuns,
  deleteRun,
  saveChunk,
  saveFinished,
  saveRun,
  saveStudent,
  saveTeacher,
  type FinishedRecord,
} from './checkpoints';
import { encodedPoolBytes, resumable, type MemorySample, type RunRecord, type BackendInfo, type Command, type ResultSummary, type TeacherCard, type WireFile, type WorkerEvent } from './protocol';
import { driveRun, timeProbe, type Post } from './run-loop';
import { evaluateCommand } from './evaluate';
import { measureParallelSynthesis, measureSteps } from '../cake/bench';
import { buildStudent } from '../models/students';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post: Post = (event: WorkerEvent, transfer: Transferable[] = []) => scope.postMessage(event, transfer);

let backend: BackendInfo | null = null;
let backendReady: Promise<BackendInfo> | null = null;
let teacher: { loaded: LoadedTeacher; card: TeacherCard; files: WireFile[] } | null = null;
let run: { runId: number; control: RunControl } | null = null;
/** Tests: the first set whose checkpoint fails as a full quota would (`fail-checkpoints`); none when undefined. */
let failCheckpointsFrom: number | undefined;
/** The history id of the run in progress. */
let currentRecordId: string | null = null;
let probe: { control: RunControl; done: Promise<unknown> } | null = null;
let result: {
  student: tf.LayersModel;
  /** Kept for the download until the next run starts (then released: two pools need not live at once). */
  pool: SyntheticPool | null;
  report: RunReport;
  summary: ResultSummary;
  modelJson: object;
  weights: ArrayBuffer;
} | null = null;

/** Heavy commands run one after another; pause, resume and stop act at once. */
let queue: Promise<unknown> = Promise.resolve();
function enqueue(job: () => Promise<void>): void {
  queue = queue.then(job, job).catch((e: unknown) => console.error('cake worker:', e));
}

function message(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

async function cancelProbe(): Promise<void> {
  if (!probe) return;
  probe.control.cancel();
  await probe.done.catch(() => undefined);
  probe = null;
}

function asLayersModel(m: unknown): tf.LayersModel | undefined {
  return m instanceof tf.LayersModel ? m : undefined;
}

/** Bytes of the weight files among the dropped files (zips unpacked; JSON and text side files left out). */
function weightBytes(files: NamedFile[]): number {
  try {
    return expandZips(files)
      .filter((f) => detectKind(f) !== 'json' && !/\.(json|txt)$/i.test(f.name))
      .reduce((n, f) => n + f.data.byteLength, 0);
  } catch {
    return 0;
  }
}

function teacherCard(loaded: LoadedTeacher, files: WireFile[]): TeacherCard {
  const info = loaded.info;
  const pre = info.preprocessing;
  const check = info.gradientCheck;
  return {
    format: info.format,
    inputName: info.inputName,
    inputShape: [...info.inputShape],
    layout: info.layout,
    numClasses: info.numClasses,
    classNames: info.classNames,
    outputKind: info.outputKind,
    logitsFrom: String(info.logitsFrom),
    params: info.params,
    weightBytes: weightBytes(files),
    files: files.map((f) => f.name),
    preprocessing: pre
      ? {
          scale: pre.scale,
          mean: pre.mean,
          std: pre.std,
          channelOrder: pre.channelOrder?.toLowerCase() === 'bgr' ? 'bgr' : pre.channelOrder ? 'rgb' : undefined,
          inputRange: pre.inputRange,
        }
      : undefined,
    gradientCheck: check
      ? { ok: check.ok, maxRelError: check.maxRelError, message: check.message }
      : { ok: true, maxRelError: NaN, message: 'not checked' },
    metadata: info.dataset || info.testAccuracy !== undefined ? { dataset: info.dataset, testAccuracy: info.testAccuracy } : undefined,
  };
}

onWebGpuDeviceLost((message) => post({ type: 'device-lost', message }));

async function init(choice: Command & { type: 'init' }): Promise<void> {
  backendReady = chooseBackend(choice.backend);
  try {
    backend = await backendReady;
    post({ type: 'ready', backend, studentArchs: STUDENT_ARCHS.map((a) => ({ name: a.name, description: a.description })) });
    if (!run) await markInterrupted();
    await postRuns();
  } catch (e) {
    post({ type: 'backend-error', message: message(e) });
  }
}

async function ensureBackend(): Promise<BackendInfo> {
  if (!backendReady) backendReady = chooseBackend('auto');
  backend = await backendReady;
  return backend;
}

async function loadTeacherFiles(requestId: number, files: WireFile[]): Promise<boolean> {
  if (run) {
    post({ type: 'teacher-error', requestId, message: 'a run is in progress; stop it before loading another teacher' });
    return false;
  }
  try {
    await ensureBackend();
    // Kept for checkpoints (a resumed run reloads the teacher from them); copied before any loader touches them.
    const kept = files.map((f) => ({ name: f.name, data: f.data.slice(0) }));
    post({ type: 'teacher-loading', requestId, phase: 'Reading the model', fraction: 0.35 });
    const loaded = await loadTeacher(files.map((f) => ({ name: f.name, data: f.data })));
    post({ type: 'teacher-loading', requestId, phase: 'Checking input gradients', fraction: 0.7 });
    await new Promise((r) => setTimeout(r, 0));
    try {
      await inspectTeacher(loaded);
    } catch (e) {
      loaded.dispose();
      throw e;
    }
    teacher?.loaded.dispose();
    teacher = { loaded, card: teacherCard(loaded, files), files: kept };
    post({ type: 'teacher-loaded', requestId, teacher: teacher.card });
    return true;
  } catch (e) {
    const text = e instanceof TeacherError ? e.message : `the teacher could not be loaded: ${message(e)}`;
    post({ type: 'teacher-error', requestId, message: text });
    return false;
  }
}

async function estimate(requestId: number, config: CakeConfig): Promise<void> {
  if (!teacher) return post({ type: 'estimate-error', requestId, message: 'load a teacher first' });
  if (run) return post({ type: 'estimate-error', requestId, message: 'a run is in progress' });
  const b = await ensureBackend();
  const control = new RunControl();
  const { loaded } = teacher;
  const done = timeProbe(loaded.teacher, asLayersModel(loaded.model), config, control, b.name);
  probe = { control, done };
  try {
    const timing = await done;
    post({ type: 'estimate', requestId, probe: timing });
  } catch (e) {
    if (!(e instanceof CancelledError)) post({ type: 'estimate-error', requestId, message: webGpuDeviceLost() ?? message(e) });
  } finally {
    if (probe?.control === control) probe = null;
  }
}

function memorySample(): MemorySample {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  return { numTensors: m.numTensors, numBytes: m.numBytes, numBytesInGPU: m.numBytesInGPU };
}

/**
 * Writes a run's checkpoints in order, one at a time, off the run's critical path. The first failed write (storage
 * full, IndexedDB unavailable) turns checkpoints off for the rest of the run and says so; the run itself goes on.
 */
class Checkpointer {
  private chain: Promise<void> = Promise.resolve();
  constructor(
    readonly record: RunRecord,
    private readonly runId: number,
  ) {}

  get active(): boolean {
    return this.record.checkpointing;
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (!this.record.checkpointing) return;
      try {
        await job();
      } catch (e) {
        this.record.checkpointing = false;
        post({
          type: 'checkpoint-error',
          runId: this.runId,
          message: `checkpoints stopped (${message(e)}); the run goes on, but cannot be resumed if it is interrupted`,
        });
        await saveRun({ ...this.record, updatedAt: Date.now() }).catch(() => undefined);
      }
    });
    return this.chain;
  }

  private announce(memory: MemorySample): void {
    const r = this.record;
    post({
      type: 'checkpoint',
      runId: this.runId,
      id: r.id,
      stage: r.stage === 'done' ? 'student' : r.stage,
      setsDone: r.setsDone,
      sets: r.config.synthesis.sets,
      epochsDone: r.epochsDone,
      epochs: r.config.student.epochs,
      memory,
    });
  }

  begin(files: WireFile[] | null): Promise<void> {
    return this.enqueue(async () => {
      if (files) await saveTeacher(this.record.id, files);
      await saveRun({ ...this.record, updatedAt: Date.now() });
    });
  }

  set(s: SetResult): void {
    const memory = memorySample();
    void this.enqueue(async () => {
      if (failCheckpointsFrom !== undefined && s.set >= failCheckpointsFrom) throw new DOMException('the quota has been exceeded (simulated)', 'QuotaExceededError');
      await saveChunk({ id: this.record.id, set: s.set, eta: s.eta, x: s.x, labels: s.labels });
      this.record.setsDone = s.set + 1;
      await saveRun({ ...this.record, updatedAt: Date.now() });
      this.announce(memory);
    });
  }

  student(c: StudentCheckpoint): Promise<void> {
    const memory = memorySample();
    return this.enqueue(async () => {
      await saveStudent({ id: this.record.id, ...c });
      this.record.stage = 'student';
      this.record.epochsDone = c.startEpoch;
      await saveRun({ ...this.record, updatedAt: Date.now() });
      this.announce(memory);
    });
  }

  /** The run ended: record how, keep a finished student for the history, drop what only resuming needed. */
  async end(status: RunRecord['status'], extra: Partial<RunRecord>, finished?: Omit<FinishedRecord, 'id'>): Promise<void> {
    await this.chain;
    const record: RunRecord = { ...this.record, ...extra, status, updatedAt: Date.now() };
    try {
      if (finished) await saveFinished({ id: record.id, ...finished });
      await saveRun(record);
      if (status === 'done' || status === 'stopped') await dropCheckpoint(record.id);
    } catch (e) {
      console.error('cake worker: the run history could not be updated', e);
    }
    await postRuns();
  }
}

async function postRuns(): Promise<void> {
  try {
    post({ type: 'runs', runs: await listRuns() });
  } catch (e) {
    console.error('cake worker: the run history could not be read', e);
    post({ type: 'runs', runs: [] });
  }
}

/** A fresh worker runs nothing: any run stored as running was cut short (a reload, a crash, a lost device). */
async function markInterrupted(): Promise<void> {
  try {
    for (const r of await listRuns())
      if (r.status === 'running') await saveRun({ ...r, status: 'interrupted', message: r.message ?? 'the page was reloaded or the worker stopped', updatedAt: Date.now() });
  } catch (e) {
    console.error('cake worker: the run history could not be read', e);
  }
}

interface StartArgs {
  runId: number;
  config: CakeConfig;
  options: Command & { type: 'start' } extends { options: infer O } ? O : never;
  record: RunRecord;
  /** The teacher's files to store with a new run's checkpoint (null when resuming: they are stored already). */
  files: WireFile[] | null;
  settings: unknown;
  pool?: SyntheticPool;
  studentResume?: StudentCheckpoint;
}

async function start(cmd: Command & { type: 'start' }): Promise<void> {
  const { runId } = cmd;
  if (!teacher) return post({ type: 'run-error', runId, message: 'load a teacher before starting a run' });
  if (run) return post({ type: 'run-error', runId, message: 'a run is already in progress' });
  const b = await ensureBackend();
  const card = teacher.card;
  const now = Date.now();
  const record: RunRecord = {
    id: `run-${now.toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    createdAt: now,
    updatedAt: now,
    status: 'running',
    preset: cmd.preset,
    config: cmd.config,
    seed: cmd.config.seed,
    backend: b.name,
    teacher: { source: cmd.teacherSource ?? card.files.join(', '), format: card.format, inputShape: card.inputShape, numClasses: card.numClasses },
    checkpointing: cmd.checkpoint !== false,
    stage: 'synthesis',
    setsDone: 0,
    epochsDone: 0,
    settings: cmd.settings,
  };
  await runWith({ runId, config: cmd.config, options: cmd.options, record, files: teacher.files, settings: cmd.settings });
}

async function resumeCheckpoint(cmd: Command & { type: 'resume-checkpoint' }): Promise<void> {
  const { runId } = cmd;
  if (run) return post({ type: 'run-error', runId, message: 'a run is already in progress' });
  try {
    const record = await getRun(cmd.id);
    if (!record) throw new Error('the run is no longer in the history');
    if (!resumable(record)) throw new Error('the run has no checkpoint to resume from');
    const files = await getTeacher(cmd.id);
    if (!files) throw new Error("the checkpoint's teacher files are missing");
    if (!(await loadTeacherFiles(cmd.teacherRequestId, files))) throw new Error("the checkpoint's teacher could not be loaded");
    const b = await ensureBackend();
    const config = record.config;
    const s = config.synthesis;
    const sampleSize = record.teacher.inputShape.reduce((x, y) => x * y, 1);
    const pool = new SyntheticPool(sampleSize, record.teacher.numClasses, s.batchSize);
    for (const c of (await getChunks(cmd.id)).slice(0, s.sets)) pool.add({ set: c.set, eta: c.eta, x: c.x, labels: c.labels });
    const saved = pool.chunks.length === s.sets ? await getStudent(cmd.id) : undefined;
    const studentResume: StudentCheckpoint | undefined = saved
      ? { startEpoch: saved.startEpoch, weights: saved.weights, optimizer: saved.optimizer, epochs: saved.epochs }
      : undefined;
    const resumed: RunRecord = {
      ...record,
      status: 'running',
      backend: b.name,
      setsDone: pool.chunks.length,
      epochsDone: studentResume?.startEpoch ?? 0,
      stage: studentResume ? 'student' : 'synthesis',
      message: undefined,
    };
    await runWith({ runId, config, options: cmd.options, record: resumed, files: null, settings: record.settings, pool, studentResume });
  } catch (e) {
    post({ type: 'run-error', runId, message: `the run could not be resumed: ${message(e)}` });
  }
}

async function runWith(args: StartArgs): Promise<void> {
  const { runId, record } = args;
  if (!teacher) return post({ type: 'run-error', runId, message: 'load a teacher before starting a run' });
  const b = await ensureBackend();
  const control = new RunControl();
  run = { runId, control };
  currentRecordId = record.id;
  if (result) result.pool = null;
  const { loaded, card } = teacher;
  const checkpoints = new Checkpointer(record, runId);
  const sampleSize = card.inputShape.reduce((x, y) => x * y, 1);
  const pool = args.pool ?? new SyntheticPool(sampleSize, card.numClasses, args.config.synthesis.batchSize);
  const setsLeft = args.config.synthesis.sets - pool.chunks.length;
  const synthesizer = await synthesisHelpers(b.name, args.options.synthesisWorkers, teacher.files, setsLeft, studentAugments(args.config.student));
  post({
    type: 'run-started',
    runId,
    checkpointId: record.id,
    resumedFrom: args.pool ? { setsDone: record.setsDone, epochsDone: record.epochsDone } : undefined,
    synthesisWorkers: synthesizer?.concurrency ?? 1,
  });
  if (record.checkpointing) await checkpoints.begin(args.files);
  void postRuns();
  try {
    const outcome = await driveRun({
      runId,
      teacher: loaded.teacher,
      teacherModel: asLayersModel(loaded.model),
      logitsFrom: card.logitsFrom,
      config: args.config,
      options: args.options,
      control,
      post,
      pool,
      studentResume: args.studentResume,
      onSetDone: (s) => checkpoints.set(s),
      onStudentCheckpoint: (c) => checkpoints.student(c),
      synthesizer,
    });
    const exported = await exportStudent(outcome.student);
    const report: RunReport = { ...outcome.report, backend: b.name };
    const summary: ResultSummary = {
      backend: b,
      teacher: { params: card.params, bytes: card.weightBytes },
      student: { arch: report.student.arch, params: report.student.params, bytes: exported.weights.byteLength, note: outcome.note },
      agreement: report.studentTraining.agreement,
      poolBytes: encodedPoolBytes(outcome.pool.chunks.length, outcome.pool.chunkSize, outcome.pool.sampleSize, outcome.pool.numClasses),
      synthesisSec: report.timings.synthesisSec,
      studentSec: report.timings.studentSec,
      totalSec: report.timings.totalSec,
    };
    result?.student.dispose();
    result = { student: outcome.student, pool: outcome.pool, report, summary, modelJson: exported.modelJson, weights: exported.weights };
    post({ type: 'run-done', runId, report, summary });
    await checkpoints.end(
      'done',
      {
        stage: 'done',
        metrics: {
          agreement: report.studentTraining.agreement,
          trainLoss: report.studentTraining.finalTrainLoss,
          valLoss: report.studentTraining.valLoss,
          studentArch: report.student.arch,
          studentParams: report.student.params,
          studentBytes: exported.weights.byteLength,
          totalSec: report.timings.totalSec,
        },
      },
      { modelJson: exported.modelJson, weights: exported.weights.slice(0), report, settings: args.settings },
    );
  } catch (e) {
    if (e instanceof CancelledError) {
      post({ type: 'run-stopped', runId });
      await checkpoints.end('stopped', { message: 'stopped by the user' });
    } else {
      console.error('cake worker: run failed', e);
      const text = webGpuDeviceLost() ?? message(e);
      post({ type: 'run-error', runId, message: text });
      await checkpoints.end(webGpuDeviceLost() ? 'interrupted' : 'failed', { message: text });
    }
  } finally {
    run = null;
    await synthesizer?.dispose();
  }
}

/**
 * Helpers for a run on wasm with sets left to make or augmented student batches to label (see synth-pool.ts). None
 * on GPU backends (one device, already parallel) or when one worker is asked for. If helpers cannot start, the run
 * does that work here instead.
 */
async function synthesisHelpers(
  backend: string,
  wanted: number | undefined,
  files: WireFile[],
  setsLeft: number,
  labelsBatches: boolean,
): Promise<SetSynthesizer | undefined> {
  const most = wanted ?? defaultSynthesisWorkers();
  // Sets gain from helpers two or more at a time (this worker only waits for them); labelling gains from one.
  const n = Math.min(most, labelsBatches ? Math.max(1, setsLeft) : setsLeft);
  if (backend !== 'wasm' || most < 2 || n < (labelsBatches ? 1 : 2)) return undefined;
  try {
    return await createBrowserSetSynthesizer(files, n);
  } catch (e) {
    console.warn('cake worker: synthesis helpers could not start; making the sets in this worker', e);
    return undefined;
  }
}

async function downloadRun(requestId: number, id: string): Promise<void> {
  try {
    const finished = await getFinished(id);
    if (!finished) throw new Error('this run has no finished student');
    const enc = new TextEncoder();
    const zip = studentZip({
      'model.json': enc.encode(JSON.stringify(finished.modelJson)),
      'weights.bin': new Uint8Array(finished.weights),
      'report.json': enc.encode(JSON.stringify(finished.report, null, 2)),
      'settings.json': enc.encode(JSON.stringify(finished.settings ?? null, null, 2)),
    });
    const data = zip.slice().buffer as ArrayBuffer;
    const arch = String((finished.report as { student?: { arch?: string } }).student?.arch ?? 'student').replace(/[^\w.-]+/g, '-');
    post({ type: 'student-zip', requestId, data, filename: `cake-student-${arch}-${id}.zip` }, [data]);
  } catch (e) {
    post({ type: 'request-error', requestId, message: message(e) });
  }
}

/** Diagnostics: destroy the WebGPU device, as a driver reset would (device.lost then fires). */
function loseDevice(): void {
  const device = (tf.backend() as unknown as { device?: { destroy?: () => void } }).device;
  device?.destroy?.();
}

function exportZip(requestId: number, settings: unknown, includePool = false): void {
  if (!result) return post({ type: 'request-error', requestId, message: 'there is no student to download yet' });
  const enc = new TextEncoder();
  const entries: Record<string, Uint8Array> = {
    'model.json': enc.encode(JSON.stringify(result.modelJson)),
    'weights.bin': new Uint8Array(result.weights),
    'report.json': enc.encode(JSON.stringify(result.report, null, 2)),
    'settings.json': enc.encode(JSON.stringify(settings, null, 2)),
  };
  // The pool that trained the student, readable with decodePool (src/cake/pool.ts).
  if (includePool) {
    if (!result.pool) return post({ type: 'request-error', requestId, message: 'the synthetic pool was released when the next run started' });
    entries['pool.bin'] = encodePool(result.pool);
  }
  const zip = studentZip(entries);
  const data = zip.buffer.byteLength === zip.byteLength ? (zip.buffer as ArrayBuffer) : (zip.slice().buffer as ArrayBuffer);
  const arch = result.report.student.arch.replace(/[^\w.-]+/g, '-');
  post({ type: 'student-zip', requestId, data, filename: `cake-student-${arch}.zip` }, [data]);
}

async function predict(cmd: Command & { type: 'predict' }): Promise<void> {
  const { requestId } = cmd;
  try {
    const out = tf.tidy(() => {
      const x = tf.tensor(new Float32Array(cmd.data), cmd.shape, 'float32');
      if (cmd.model === 'student') {
        if (!result) throw new Error('there is no student yet');
        return result.student.predict(x) as tf.Tensor;
      }
      if (!teacher) throw new Error('there is no teacher yet');
      return teacher.loaded.model.predict(x) as tf.Tensor;
    });
    const shape = out.shape;
    // Asynchronous read: tfjs-webgpu's synchronous read path loses the device inside a worker.
    const data = ((await out.data()) as Float32Array).slice().buffer as ArrayBuffer;
    out.dispose();
    post({ type: 'prediction', requestId, data, shape }, [data]);
  } catch (e) {
    post({ type: 'request-error', requestId, message: message(e) });
  }
}

/** Diagnostics: time synthesis and student steps on the loaded teacher with this backend (scripts/bench-browser.ts). */
async function benchCmd(cmd: Command & { type: 'bench' }): Promise<void> {
  const { requestId } = cmd;
  try {
    if (!teacher) throw new Error('load a teacher first');
    if (run) throw new Error('a run is in progress');
    const b = await ensureBackend();
    const { loaded, card } = teacher;
    const arch = cmd.student ?? 'lenet5-half';
    const { model } = buildStudent(arch, card.inputShape, card.numClasses, asLayersModel(loaded.model));
    try {
      const t = await measureSteps({
        teacher: loaded.teacher,
        studentModel: model,
        inputShape: card.inputShape,
        numClasses: card.numClasses,
        synthBatch: cmd.synthBatch,
        studentBatch: cmd.studentBatch,
        steps: cmd.steps,
        warmup: cmd.warmup,
      });
      let parallel: { workers: number; synth_ms_parallel_effective: number } | undefined;
      if ((cmd.workers ?? 1) > 1 && b.name === 'wasm') {
        const helpers = await createBrowserSetSynthesizer(teacher.files, cmd.workers!);
        try {
          const ms = await measureParallelSynthesis(
            helpers,
            { inputShape: card.inputShape, numClasses: card.numClasses },
            { synthBatch: cmd.synthBatch, steps: cmd.steps, warmup: cmd.warmup },
          );
          parallel = { workers: helpers.concurrency, synth_ms_parallel_effective: ms };
        } finally {
          await helpers.dispose();
        }
      }
      post({
        type: 'bench',
        requestId,
        result: {
          backend: b.name,
          adapter: b.adapter,
          fallbackAdapter: b.fallbackAdapter,
          synth_ms: t.synth_ms,
          student_ms: t.student_ms,
          synth_steps: t.synth_steps,
          student_steps: t.student_steps,
          synth_batch: t.synth_batch,
          student_batch: t.student_batch,
          group: t.group,
          steps: t.steps,
          warmup: t.warmup,
          device_sync: t.device_sync,
          ...parallel,
          student: arch,
          teacher: { inputShape: card.inputShape, numClasses: card.numClasses, params: card.params },
          crossOriginIsolated: Boolean((self as { crossOriginIsolated?: boolean }).crossOriginIsolated),
          userAgent: self.navigator.userAgent,
        },
      });
    } finally {
      model.dispose();
    }
  } catch (e) {
    post({ type: 'request-error', requestId, message: webGpuDeviceLost() ?? message(e) });
  }
}

scope.onmessage = (ev: MessageEvent<Command>) => {
  const cmd = ev.data;
  switch (cmd.type) {
    case 'init':
      enqueue(() => init(cmd));
      break;
    case 'load-teacher':
      void cancelProbe();
      enqueue(async () => void (await loadTeacherFiles(cmd.requestId, cmd.files)));
      break;
    case 'estimate':
      void cancelProbe();
      enqueue(() => estimate(cmd.requestId, cmd.config));
      break;
    case 'start':
      void cancelProbe();
      // The run is not queued behind: it holds nothing the queue needs, and exports may be asked for meanwhile.
      enqueue(async () => {
        void start(cmd);
      });
      break;
    case 'pause':
      if (run) {
        run.control.pause();
        post({ type: 'run-state', runId: run.runId, state: 'paused' });
      }
      break;
    case 'resume':
      if (run) {
        run.control.resume();
        post({ type: 'run-state', runId: run.runId, state: 'running' });
      }
      break;
    case 'stop':
      run?.control.cancel();
      break;
    case 'export-student':
      enqueue(async () => exportZip(cmd.requestId, cmd.settings, cmd.includePool));
      break;
    case 'predict':
      enqueue(() => predict(cmd));
      break;
    case 'evaluate':
      // Labelled evaluation lives in ./evaluate.ts: its data is never handed to the run (CAKE).
      enqueue(() => evaluateCommand(cmd, post, teacher?.loaded ?? null, result?.student ?? null));
      break;
    case 'resume-checkpoint':
      void cancelProbe();
      enqueue(async () => {
        void resumeCheckpoint(cmd);
      });
      break;
    case 'list-runs':
      enqueue(postRuns);
      break;
    case 'delete-run':
      enqueue(async () => {
        if (run && currentRecordId === cmd.id) return;
        await deleteRun(cmd.id).catch((e: unknown) => console.error('cake worker:', e));
        await postRuns();
      });
      break;
    case 'download-run':
      enqueue(() => downloadRun(cmd.requestId, cmd.id));
      break;
    case 'fail-checkpoints':
      failCheckpointsFrom = cmd.fromSet;
      break;
    case 'lose-device':
      loseDevice();
      break;
    case 'bench':
      void cancelProbe();
      enqueue(() => benchCmd(cmd));
      break;
    case 'crash':
      setTimeout(() => {
        throw new Error(cmd.reason ?? 'deliberate worker crash (diagnostics)');
      }, 0);
      break;
  }
};
