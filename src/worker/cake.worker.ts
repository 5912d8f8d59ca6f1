/// <reference lib="webworker" />
/**
 * The studio's worker: owns TensorFlow.js, the teacher, the run and the student. The page talks to it only through
 * the messages in ./protocol.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { CancelledError, RunControl, type CakeConfig } from '../cake';
import type { RunReport } from '../cake/report';
import { exportStudent, studentZip } from '../io/export';
import { detectKind, expandZips, type NamedFile } from '../io/files';
import { TeacherError } from '../io/teacher-error';
import { inspectTeacher } from '../io/teacher-info';
import { loadTeacher, type LoadedTeacher } from '../io/teacher-load';
import { STUDENT_ARCHS } from '../models/students';
import { chooseBackend, onWebGpuDeviceLost, webGpuDeviceLost } from './backend';
import type { BackendInfo, Command, ResultSummary, TeacherCard, WireFile, WorkerEvent } from './protocol';
import { driveRun, timeProbe, type Post } from './run-loop';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post: Post = (event: WorkerEvent, transfer: Transferable[] = []) => scope.postMessage(event, transfer);

let backend: BackendInfo | null = null;
let backendReady: Promise<BackendInfo> | null = null;
let teacher: { loaded: LoadedTeacher; card: TeacherCard } | null = null;
let run: { runId: number; control: RunControl } | null = null;
let probe: { control: RunControl; done: Promise<unknown> } | null = null;
let result: {
  student: tf.LayersModel;
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
  } catch (e) {
    post({ type: 'backend-error', message: message(e) });
  }
}

async function ensureBackend(): Promise<BackendInfo> {
  if (!backendReady) backendReady = chooseBackend('auto');
  backend = await backendReady;
  return backend;
}

async function loadTeacherFiles(requestId: number, files: WireFile[]): Promise<void> {
  if (run) {
    post({ type: 'teacher-error', requestId, message: 'a run is in progress; stop it before loading another teacher' });
    return;
  }
  try {
    await ensureBackend();
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
    teacher = { loaded, card: teacherCard(loaded, files) };
    post({ type: 'teacher-loaded', requestId, teacher: teacher.card });
  } catch (e) {
    const text = e instanceof TeacherError ? e.message : `the teacher could not be loaded: ${message(e)}`;
    post({ type: 'teacher-error', requestId, message: text });
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

async function start(cmd: Command & { type: 'start' }): Promise<void> {
  const { runId } = cmd;
  if (!teacher) return post({ type: 'run-error', runId, message: 'load a teacher before starting a run' });
  if (run) return post({ type: 'run-error', runId, message: 'a run is already in progress' });
  const b = await ensureBackend();
  const control = new RunControl();
  run = { runId, control };
  const { loaded, card } = teacher;
  post({ type: 'run-started', runId });
  try {
    const outcome = await driveRun({
      runId,
      teacher: loaded.teacher,
      teacherModel: asLayersModel(loaded.model),
      logitsFrom: card.logitsFrom,
      config: cmd.config,
      options: cmd.options,
      control,
      post,
    });
    const exported = await exportStudent(outcome.student);
    const report: RunReport = { ...outcome.report, backend: b.name };
    const summary: ResultSummary = {
      backend: b,
      teacher: { params: card.params, bytes: card.weightBytes },
      student: { arch: report.student.arch, params: report.student.params, bytes: exported.weights.byteLength, note: outcome.note },
      agreement: report.studentTraining.agreement,
      synthesisSec: report.timings.synthesisSec,
      studentSec: report.timings.studentSec,
      totalSec: report.timings.totalSec,
    };
    result?.student.dispose();
    result = { student: outcome.student, report, summary, modelJson: exported.modelJson, weights: exported.weights };
    post({ type: 'run-done', runId, report, summary });
  } catch (e) {
    if (e instanceof CancelledError) post({ type: 'run-stopped', runId });
    else {
      console.error('cake worker: run failed', e);
      post({ type: 'run-error', runId, message: webGpuDeviceLost() ?? message(e) });
    }
  } finally {
    run = null;
  }
}

function exportZip(requestId: number, settings: unknown): void {
  if (!result) return post({ type: 'request-error', requestId, message: 'there is no student to download yet' });
  const enc = new TextEncoder();
  const zip = studentZip({
    'model.json': enc.encode(JSON.stringify(result.modelJson)),
    'weights.bin': new Uint8Array(result.weights),
    'report.json': enc.encode(JSON.stringify(result.report, null, 2)),
    'settings.json': enc.encode(JSON.stringify(settings, null, 2)),
  });
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

scope.onmessage = (ev: MessageEvent<Command>) => {
  const cmd = ev.data;
  switch (cmd.type) {
    case 'init':
      enqueue(() => init(cmd));
      break;
    case 'load-teacher':
      void cancelProbe();
      enqueue(() => loadTeacherFiles(cmd.requestId, cmd.files));
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
      enqueue(async () => exportZip(cmd.requestId, cmd.settings));
      break;
    case 'predict':
      enqueue(() => predict(cmd));
      break;
    case 'crash':
      setTimeout(() => {
        throw new Error('deliberate worker crash (diagnostics)');
      }, 0);
      break;
  }
};
