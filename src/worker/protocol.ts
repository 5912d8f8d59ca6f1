/**
 * The one contract between the studio page and its worker: every command the page sends, every event the worker
 * answers with. The page imports this file and nothing else from the worker side; it holds no tfjs (the engine's
 * config module it re-exports is plain TypeScript with no imports).
 *
 * Bulk data (teacher files, synthetic samples, the student zip, prediction outputs) travels as ArrayBuffers in the
 * transfer list of postMessage, never as JSON arrays.
 */
import { studentSets, type CakeConfig, type PresetName } from '../cake/config';
import type { EpochResult, Progress, SynthesisLosses } from '../cake/progress';
import type { DeployReport, RunReport } from '../cake/report';
import type { ExportFormat } from '../io/format-names';

export { PRESET_NAMES, presetConfig, validateConfig, applySetting, inputChannels } from '../cake/config';
export { KNOBS, RETIRED_SETTINGS, findKnob, formatKnob, valueAt, type Knob, type KnobGroup, type KnobKey } from '../cake/knobs';
export type { CakeConfig, ConfigIssue, PresetName, TeacherTraits } from '../cake/config';
export type { EpochResult, Progress, StudentProgress, SynthesisLosses, SynthesisProgress } from '../cake/progress';
export type { DeployReport, InferenceTime, RunReport, VariantReport } from '../cake/report';
export { EXPORT_FORMATS, FORMAT_ABOUT, type ExportFormat } from '../io/format-names';
export { loadDeadlineMs } from '../io/limits';

// ---------------------------------------------------------------------------------------------------------------
// Shared shapes

export type BackendName = 'webgpu' | 'wasm' | 'webgl' | 'cpu';
export type BackendChoice = 'auto' | BackendName;
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm', 'webgl', 'cpu'];

export interface BackendInfo {
  /** The tfjs backend in use. */
  name: BackendName;
  /** What the user asked for. */
  requested: BackendChoice;
  /** Human description of the device: the WebGPU adapter, the WebGL renderer, WASM features. */
  adapter: string;
  /** True when the WebGPU adapter is a software fallback (SwiftShader). */
  fallbackAdapter?: boolean;
  /** Why the requested backend was not used, or another remark about the choice. */
  note?: string;
}

/** One file of a teacher, as dropped or fetched. */
export interface WireFile {
  name: string;
  data: ArrayBuffer;
}

/** How the teacher's inputs relate to pixels: input = (pixel·scale − mean) / std, per channel where arrays. */
export interface Preprocessing {
  scale: number;
  mean: number | number[];
  std: number | number[];
  channelOrder: 'rgb' | 'bgr';
}

/** Everything the teacher card shows. */
export interface TeacherCard {
  format: string;
  inputName?: string;
  /** Input shape without the batch axis. */
  inputShape: number[];
  layout: string;
  numClasses: number;
  classNames?: string[];
  outputKind: string;
  logitsFrom?: string;
  params: number;
  /** Bytes of the weight files. */
  weightBytes: number;
  files: string[];
  /** Declared by the model's metadata or its own layers, or guessed from its statistics. */
  preprocessing?: Partial<Preprocessing> & { inputRange?: [number, number] };
  /** Where `preprocessing` comes from, in words. */
  preprocessingFrom?: string;
  /** True when `preprocessing` is a guess (the card asks the user to check it). */
  preprocessingGuessed?: boolean;
  /** Floating-point operations of one forward pass per image (src/cake/flops.ts). */
  flopsPerImage?: number;
  gradientCheck: { ok: boolean; maxRelError: number; message: string };
  metadata?: { dataset?: string; testAccuracy?: number };
}

/** Timings from a tiny run right after the teacher loads, used to estimate the time of a budget. */
export interface ProbeTiming {
  synthesisMsPerStep: number;
  studentMsPerStep: number;
  /** The batch sizes and architecture it was measured with. */
  key: string;
  backend: BackendName;
}

/** One finished set, trimmed to the groups the page shows. */
export interface WireSet {
  set: number;
  sets: number;
  eta: number;
  inputShape: number[];
  /** Samples carried in x (whole groups). */
  count: number;
  /** Samples in the whole set. */
  batchSize: number;
  groupSize: number;
  numClasses: number;
  /** Float32, [count, ...inputShape]. */
  x: ArrayBuffer;
  /** Int32, [count]. */
  targets: ArrayBuffer;
  /** Float32, [count, numClasses]: the teacher's softmax. */
  probs: ArrayBuffer;
  hitRate: number;
  losses: SynthesisLosses;
}

export type RunEvent =
  | { kind: 'progress'; progress: Progress }
  | { kind: 'set'; set: WireSet; live: boolean; gallery: boolean }
  | { kind: 'epoch'; epoch: EpochResult };

export interface StudentArchInfo {
  name: string;
  description: string;
}

/** Accuracy on labelled data the user dropped (src/worker/evaluate.ts; never given to CAKE). */
export interface LabelledAccuracy {
  accuracy: number;
  correct: number;
  total: number;
  /** Per true class; null for a class with no images. */
  perClass: (number | null)[];
  /** [true][predicted] counts. */
  confusion: number[][];
}

/** The answer to `evaluate`: teacher (and, once a run has finished, student) accuracy on the labelled data. */
export interface EvaluationResult {
  /** What was read, in words. */
  source: string;
  count: number;
  /** Height × width of the images before padding. */
  imageSize: [number, number];
  /** Zero pixels added on each side to fit the teacher's input. */
  pad: number;
  classNames: string[];
  teacher: LabelledAccuracy;
  student?: LabelledAccuracy;
}

export interface ResultSummary {
  backend: BackendInfo;
  teacher: { params: number; bytes: number };
  student: { arch: string; params: number; bytes: number; note?: string };
  /** Teacher–student top-1 agreement on held-out synthetic samples. */
  agreement: number;
  /** Bytes of the synthetic pool as `pool.bin` (encodePool), offered in the download. */
  poolBytes: number;
  synthesisSec: number;
  studentSec: number;
  totalSec: number;
}

export interface RunOptions {
  /** Groups of each set to carry to the page for the live grid. */
  groupsShown: number;
  /** About how many sets the gallery keeps over a run. */
  gallerySlots: number;
  /**
   * Synthesis helpers (extra workers, one wasm backend each) for a run on wasm; absent: one per core, up to 2.
   * 1 makes every set in the studio's worker. GPU backends never use helpers (they share one device).
   */
  synthesisWorkers?: number;
  /** The estimate's probe of these settings on this backend, when the page has one: the run's first time-left estimate uses it. */
  probe?: ProbeTiming;
}

/** tf.memory() in the worker at one point of a run. */
export interface MemorySample {
  numTensors: number;
  numBytes: number;
  /** WebGPU/WebGL: bytes of live tensors on the GPU. */
  numBytesInGPU?: number;
}

/** One run in the history (IndexedDB, see checkpoints.ts): what it was, where it stands, what it gave. */
export interface RunRecord {
  id: string;
  createdAt: number;
  updatedAt: number;
  /** `running` in storage with no worker running it means the page was reloaded or the worker died. */
  status: 'running' | 'interrupted' | 'done' | 'failed' | 'stopped';
  preset: PresetName | 'custom';
  config: CakeConfig;
  seed: number;
  backend: BackendName;
  teacher: { source: string; format: string; inputShape: number[]; numClasses: number };
  /** False when checkpoints were off (storage short) or a write failed: then it cannot be resumed. */
  checkpointing: boolean;
  stage: 'synthesis' | 'student' | 'done';
  /** Sets in the saved pool. */
  setsDone: number;
  /** Student epochs in the saved checkpoint. */
  epochsDone: number;
  message?: string;
  /** The studio settings file the run was started with (goes into its zip). */
  settings?: unknown;
  metrics?: { agreement: number; trainLoss: number; valLoss: number; studentArch: string; studentParams: number; studentBytes: number; totalSec: number };
}

/** Whether a run can continue from its checkpoint. */
export function resumable(r: RunRecord): boolean {
  return r.checkpointing && (r.status === 'interrupted' || r.status === 'failed' || r.status === 'running') && r.stage !== 'done';
}

/** What the worker's `bench` command measured (scripts/bench-browser.ts prints it). */
export interface BenchResult {
  backend: BackendName;
  adapter: string;
  fallbackAdapter?: boolean;
  synth_ms: number;
  student_ms: number;
  synth_steps: number[];
  student_steps: number[];
  synth_batch: number;
  student_batch: number;
  group: number;
  steps: number;
  warmup: number;
  /** Whether each step waited for the device (webgpu, webgl). */
  device_sync: boolean;
  /** With `workers`: the helpers used and the effective ms per synthesis step of all of them together. */
  workers?: number;
  synth_ms_parallel_effective?: number;
  student: string;
  teacher: { inputShape: number[]; numClasses: number; params: number };
  crossOriginIsolated: boolean;
  userAgent: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Page → worker

export type Command =
  | { type: 'init'; backend: BackendChoice }
  /** Labelled evaluation (src/worker/evaluate.ts): accuracy of the teacher and the student on dropped IDX/image files. */
  | { type: 'evaluate'; requestId: number; files: WireFile[] }
  | { type: 'load-teacher'; requestId: number; files: WireFile[] }
  | { type: 'estimate'; requestId: number; config: CakeConfig }
  | {
      type: 'start';
      runId: number;
      config: CakeConfig;
      preset: PresetName | 'custom';
      options: RunOptions;
      /** Write checkpoints (after every set and every epoch) to IndexedDB; off when storage is short. */
      checkpoint?: boolean;
      /** How the page names the teacher, for the history. */
      teacherSource?: string;
      /** The settings file, kept with a finished run for re-download. */
      settings?: unknown;
    }
  /** Continue a run from its checkpoint: reload its teacher (the reply is its card), then run to the end as `runId`. */
  | { type: 'resume-checkpoint'; requestId: number; runId: number; id: string; options: RunOptions }
  | { type: 'list-runs' }
  | { type: 'delete-run'; requestId: number; id: string }
  | { type: 'download-run'; requestId: number; id: string }
  /** Diagnostics: destroy the WebGPU device (tests device-loss recovery). */
  | { type: 'lose-device' }
  /** Tests: checkpoints of sets from `fromSet` on fail as a full storage quota would. */
  | { type: 'fail-checkpoints'; fromSet: number }
  /** Tests: teacher reads from now on spin forever, as a reader stuck on a damaged file (the page's deadline ends it). */
  | { type: 'stall-teacher-reads' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'export-student'; requestId: number; settings: unknown; includePool?: boolean }
  /** The finished student in another format (ONNX, Keras, quantized tfjs), as one file or a zip. */
  | { type: 'export-format'; requestId: number; format: ExportFormat; settings: unknown }
  | { type: 'predict'; requestId: number; model: 'student' | 'teacher'; data: ArrayBuffer; shape: number[] }
  /** Diagnostics: throw an uncaught error in the worker (used to test crash recovery). */
  | { type: 'crash'; reason?: string }
  /** Diagnostics: time synthesis and student steps on the loaded teacher (src/cake/bench.ts). */
  | {
      type: 'bench';
      requestId: number;
      synthBatch?: number;
      studentBatch?: number;
      steps?: number;
      warmup?: number;
      student?: string;
      /** Also time this many synthesis helpers making one set each at once (wasm only). */
      workers?: number;
    };

// ---------------------------------------------------------------------------------------------------------------
// Worker → page

export type WorkerEvent =
  | { type: 'ready'; backend: BackendInfo; studentArchs: StudentArchInfo[] }
  | { type: 'backend-error'; message: string }
  /** The WebGPU device is gone; the worker cannot compute any more and should be replaced. */
  | { type: 'device-lost'; message: string }
  /** Progress of the teacher load that request `requestId` (load-teacher or resume-checkpoint) asked for. */
  | { type: 'teacher-loading'; requestId: number; phase: string; fraction: number }
  | {
      type: 'run-started';
      runId: number;
      checkpointId?: string;
      resumedFrom?: { setsDone: number; epochsDone: number };
      /** Workers making synthesis sets at once (1: the studio's worker alone). */
      synthesisWorkers: number;
    }
  | { type: 'runs'; runs: RunRecord[] }
  /** A checkpoint was written (after a set or an epoch). */
  | {
      type: 'checkpoint';
      runId: number;
      id: string;
      stage: 'synthesis' | 'student';
      setsDone: number;
      sets: number;
      epochsDone: number;
      epochs: number;
      /** tf.memory() right after the set or epoch (a leak shows as growth from one to the next). */
      memory: MemorySample;
    }
  /** Checkpoints stopped (a write failed); the run goes on without them. */
  | { type: 'checkpoint-error'; runId: number; message: string }
  | { type: 'run-state'; runId: number; state: 'running' | 'paused' }
  | { type: 'run-events'; runId: number; events: RunEvent[] }
  | { type: 'run-done'; runId: number; report: RunReport; summary: ResultSummary }
  /** After `run-done`: the student's tfjs variants measured against the teacher (sizes, agreement, speed). */
  | { type: 'deploy-measured'; runId: number; deploy: DeployReport }
  | { type: 'run-stopped'; runId: number }
  | { type: 'run-error'; runId: number; message: string }
  /** The one answer to a request (a command with a requestId): `value` is `Replies[that command's type]`. */
  | { type: 'reply'; requestId: number; value: Replies[RequestType] }
  /**
   * The request failed; `message` says why, for the user. `cancelled`: a newer command cancelled it (an estimate's
   * probe gives way to the next teacher, estimate or run), so there is nothing to report.
   */
  /**
   * `cancelled`: a newer command cancelled it, nothing to report. `restart`: the failure may have left the worker
   * damaged (the HDF5 library failed mid-read), so the page replaces it.
   */
  | { type: 'reply-error'; requestId: number; message: string; cancelled?: boolean; restart?: boolean };

// ---------------------------------------------------------------------------------------------------------------
// Requests: commands the worker answers with exactly one `reply` or `reply-error`

/** A student's zip, ready to save. */
export interface StudentZip {
  data: ArrayBuffer;
  filename: string;
}

/** A student file to save: a zip, or one model file (.onnx, .h5). */
export interface StudentFile extends StudentZip {
  mime: string;
}

/** Model outputs for a batch of inputs (diagnostics and tests). */
export interface Prediction {
  /** Float32, [batch, ...]. */
  data: ArrayBuffer;
  shape: number[];
}

/** What each request's reply carries. */
export interface Replies {
  'load-teacher': TeacherCard;
  /** The checkpoint's teacher, once reloaded; the run then goes on as run events. */
  'resume-checkpoint': TeacherCard;
  estimate: ProbeTiming;
  evaluate: EvaluationResult;
  'export-student': StudentZip;
  'export-format': StudentFile;
  'download-run': StudentZip;
  /** Whether the record is gone (the run in progress keeps its record). */
  'delete-run': { deleted: boolean };
  predict: Prediction;
  bench: BenchResult;
}

export type RequestType = keyof Replies;
export type CommandOf<K extends Command['type']> = Extract<Command, { type: K }>;
export type Request = CommandOf<RequestType>;

// Every command that carries a requestId has its reply type above, and only those (a mismatch fails to compile).
type CommandsWithRequestId = Extract<Command, { requestId: number }>['type'];
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type MustHold<T extends true> = T;
export type RequestsHaveReplies = MustHold<Same<CommandsWithRequestId, RequestType>>;

/**
 * Bytes `encodePool` (src/cake/pool.ts) writes for a pool of `sets` chunks: a 24-byte header, then per chunk 16 bytes
 * and chunkSize×(sampleSize + numClasses) float32s. Also what a checkpoint's pool needs in storage.
 */
export function encodedPoolBytes(sets: number, chunkSize: number, sampleSize: number, numClasses: number): number {
  return 24 + sets * (16 + 4 * chunkSize * (sampleSize + numClasses));
}

/** The key that decides whether a probe's timings still describe a config. */
export function probeKey(config: CakeConfig): string {
  const s = config.synthesis;
  const st = config.student;
  return [s.batchSize, s.groupSize, s.optimizer, st.arch, st.batchSize, st.optimizer].join('|');
}

/** Estimated seconds of a whole run from a probe's per-step timings (an estimate: it ignores warm-up and set-up). */
export function estimateSeconds(config: CakeConfig, probe: ProbeTiming): number {
  const s = config.synthesis;
  const st = config.student;
  const synth = s.sets * s.steps * probe.synthesisMsPerStep;
  const pool = studentSets(config).length * s.batchSize;
  const train = Math.max(1, Math.round(pool * (1 - st.valFraction)));
  const stepsPerEpoch = Math.ceil(train / Math.max(1, st.batchSize));
  const student = st.epochs * stepsPerEpoch * probe.studentMsPerStep;
  return (synth + student) / 1000;
}
