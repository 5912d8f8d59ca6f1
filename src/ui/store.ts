/**
 * The studio's one store. Plain data, and named updaters that are the only writes to it (components and the page's
 * modules call them; none sets state directly). Everything that talks to the worker lives in worker-client.ts and
 * actions.ts.
 */
import { create } from 'zustand';
import type {
  BackendChoice,
  BackendInfo,
  EpochResult,
  ProbeTiming,
  Progress,
  ResultSummary,
  RunEvent,
  MemorySample,
  RunRecord,
  DeployReport,
  RunReport,
  StudentArchInfo,
  StudentProgress,
  SynthesisProgress,
  TeacherCard,
  TeacherTraits,
  WireSet,
} from '../worker/protocol';
import { DEFAULT_DRAFT, draftFrom, draftOfChoice, loadStoredDraft, runInputRange, storeDraft, type PreprocessingChoice, type PreprocessingDraft } from './preprocessing';
import { emptyHistory, pushPoint, type History } from './history';
import { DEFAULT_SETTINGS, DEFAULT_TRAITS, settingsToHash, storeSettings, type Settings } from './settings';

/** A set as the page keeps it: the wire set with its buffers viewed as typed arrays. */
export type SampleSet = Omit<WireSet, 'x' | 'targets' | 'probs' | 'losses'> & {
  x: Float32Array;
  targets: Int32Array;
  probs: Float32Array;
};

export type AlertScope = 'teacher' | 'run' | 'worker' | 'settings' | 'download' | 'storage';

export interface Alert {
  id: number;
  scope: AlertScope;
  message: string;
}

export type RunStatus = 'idle' | 'starting' | 'running' | 'paused' | 'stopping' | 'done' | 'stopped' | 'error';

export interface RunState {
  status: RunStatus;
  runId: number;
  synthesis?: SynthesisProgress;
  student?: StudentProgress;
  latest?: Progress;
  /** Epochs finished, for the student stage line. */
  lastEpoch?: EpochResult;
  message?: string;
  /** The run's history id and its latest checkpoint. */
  checkpoint?: CheckpointState;
  /** Set when this run continues an interrupted one. */
  resumedFrom?: { setsDone: number; epochsDone: number };
  /** Workers making synthesis sets at once (1: the studio's worker alone). */
  synthesisWorkers?: number;
  /** The worker's tf.memory() after each set and epoch (bounded: the newest MEMORY_SAMPLES_MAX). */
  memory?: (MemorySample & { stage: 'synthesis' | 'student'; at: number })[];
}

export interface CheckpointState {
  id: string;
  /** False once checkpoints are off for this run (storage short, a write failed). */
  active: boolean;
  stage?: 'synthesis' | 'student';
  setsDone: number;
  sets: number;
  epochsDone: number;
  epochs: number;
  message?: string;
}

/** Memory samples kept per run (the newest; enough to see a trend). */
export const MEMORY_SAMPLES_MAX = 256;

export interface StorageState {
  /** Bytes a run's checkpoints need (pool + teacher + student), for the settings shown. */
  needed: number;
  /** Free bytes (quota − usage), when the browser tells. */
  available?: number;
  /** Why checkpoints are off for the next run, when they are. */
  warning?: string;
}

export interface TeacherState {
  status: 'none' | 'loading' | 'ready';
  phase?: string;
  fraction?: number;
  card?: TeacherCard;
  /** What the card's teacher was loaded from: "demo teacher (…)" or the dropped files' names. */
  source?: string;
  /** While loading: what is being loaded, and whether the user may cancel it (a checkpoint's teacher is not). */
  loading?: { source: string; cancellable: boolean };
  /** Why the last load ended without a teacher when no error alert says it (its deadline passed, or it was
   * cancelled); shown on the card until the next load. */
  notice?: string;
}

export interface EstimateState {
  status: 'idle' | 'measuring' | 'ready' | 'error';
  probe?: ProbeTiming;
  message?: string;
}

/** The gallery keeps at most this many earlier sets; when full, every other one is dropped (the newest stays). */
export const GALLERY_MAX = 24;
/** Groups of each set the live grid shows. */
export const GROUPS_SHOWN = 8;

export interface StudioState {
  workerStatus: 'starting' | 'ready' | 'failed';
  backend: BackendInfo | null;
  backendChoice: BackendChoice;
  studentArchs: StudentArchInfo[];
  teacher: TeacherState;
  preprocessing: PreprocessingDraft;
  settings: Settings;
  estimate: EstimateState;
  run: RunState;
  history: History;
  live: SampleSet | null;
  gallery: SampleSet[];
  result: { report: RunReport; summary: ResultSummary } | null;
  alerts: Alert[];
  selected: { sample: SampleSet; index: number } | null;
  /** Past and interrupted runs, newest first (from IndexedDB, through the worker). */
  runs: RunRecord[];
  storage: StorageState | null;
}

export const useStudio = create<StudioState>()(() => ({
  workerStatus: 'starting',
  backend: null,
  backendChoice: 'auto',
  studentArchs: [{ name: 'auto', description: "The teacher's own architecture at half width where it can." }],
  teacher: { status: 'none' },
  preprocessing: DEFAULT_DRAFT,
  settings: DEFAULT_SETTINGS,
  estimate: { status: 'idle' },
  run: { status: 'idle', runId: 0 },
  history: emptyHistory(),
  live: null,
  gallery: [],
  result: null,
  alerts: [],
  selected: null,
  runs: [],
  storage: null,
}));

const set = useStudio.setState;
const get = useStudio.getState;

/** What a run needs to know of the teacher; the input range is the user's preprocessing when they chose one. */
export function traitsOf(state: Pick<StudioState, 'teacher' | 'preprocessing'>): TeacherTraits {
  const card = state.teacher.card;
  if (!card) return DEFAULT_TRAITS;
  return {
    inputShape: card.inputShape,
    numClasses: card.numClasses,
    inputRange: runInputRange(state.preprocessing, card.preprocessing?.inputRange),
    flopsPerImage: card.flopsPerImage,
  };
}

/**
 * A teacher's key for its remembered preprocessing: its files' names, input shape, classes, parameters and weight
 * bytes (tfjs exports are all called model.json: the name alone would hand one teacher's choice to another).
 */
function teacherKey(card: TeacherCard): string {
  return [card.files.join('+'), card.inputShape.join('x'), card.numClasses, card.params, card.weightBytes].join('|');
}

export function isRunActive(status: RunStatus): boolean {
  return status === 'starting' || status === 'running' || status === 'paused' || status === 'stopping';
}

// --- worker ---

export function workerStarting(): void {
  set({ workerStatus: 'starting', backend: null });
}

export function workerReady(backend: BackendInfo, studentArchs: StudentArchInfo[]): void {
  set({ workerStatus: 'ready', backend, studentArchs });
}

export function workerFailed(): void {
  set({ workerStatus: 'failed' });
}

/** The backend the next worker starts on; the estimate measured on another one no longer holds. */
export function backendChosen(backendChoice: BackendChoice): void {
  set({ backendChoice, estimate: { status: 'idle' } });
}

// --- settings and estimate ---

/** The one place settings change: kept in the store, in localStorage and in the URL hash (for Copy link). */
export function settingsChanged(settings: Settings): void {
  set({ settings });
  storeSettings(settings);
  const hash = settingsToHash(settings);
  if (window.location.hash !== hash) window.history.replaceState(null, '', hash);
}

export function estimateMeasuring(): void {
  set((s) => ({ estimate: { status: 'measuring', probe: s.estimate.probe } }));
}

export function estimateReady(probe: ProbeTiming): void {
  set({ estimate: { status: 'ready', probe } });
}

export function estimateFailed(message: string): void {
  set({ estimate: { status: 'error', message } });
}

export function storageChecked(storage: StorageState): void {
  set({ storage });
}

// --- run history ---

export function runsListed(runs: RunRecord[]): void {
  set({ runs });
}

export function runDeleted(id: string): void {
  set((s) => ({ runs: s.runs.filter((r) => r.id !== id) }));
}

// --- alerts ---

let alertSeq = 0;

/** Show an alert; an alert of the same scope replaces the previous one. */
export function raise(scope: AlertScope, message: string): void {
  const text = message.charAt(0).toUpperCase() + message.slice(1);
  const alert = { id: ++alertSeq, scope, message: text };
  set((s) => ({ alerts: [...s.alerts.filter((a) => a.scope !== scope), alert] }));
}

export function dismiss(id: number): void {
  set((s) => ({ alerts: s.alerts.filter((a) => a.id !== id) }));
}

export function clearAlerts(scope: AlertScope): void {
  set((s) => ({ alerts: s.alerts.filter((a) => a.scope !== scope) }));
}

// --- teacher ---

/** A load began (`loading` given) or moved on to another phase. */
export function teacherLoading(phase: string, fraction: number, loading?: { source: string; cancellable: boolean }): void {
  set((s) => ({
    teacher: { card: s.teacher.card, source: s.teacher.source, status: 'loading', phase, fraction, loading: loading ?? s.teacher.loading },
  }));
}

export function teacherLoaded(card: TeacherCard): void {
  set((s) => ({
    teacher: { status: 'ready', card, source: s.teacher.loading?.source ?? s.teacher.source },
    preprocessing: loadStoredDraft(teacherKey(card)) ?? draftFrom(card.preprocessing, card.preprocessingGuessed),
    estimate: { status: 'idle' },
  }));
}

/** A restarted worker holds the previous teacher again: the card keeps saying why the worker was restarted. */
export function teacherRestored(card: TeacherCard): void {
  set((s) => ({ teacher: { status: 'ready', card, source: s.teacher.source, notice: s.teacher.notice }, estimate: { status: 'idle' } }));
}

/** A load ended without a teacher: the previous one (if any) is still, or again, the worker's, so the card shows it;
 * `notice` says why on the card. */
export function teacherFailed(notice?: string): void {
  set((s) => ({
    teacher: s.teacher.card ? { status: 'ready', card: s.teacher.card, source: s.teacher.source, notice } : { status: 'none', notice },
  }));
}

/** The worker holds no teacher any more (it was restarted and the teacher could not be given back). */
export function teacherGone(): void {
  set({ teacher: { status: 'none' } });
}

/** The user edited the teacher's preprocessing (remembered for this teacher; drives the next run's input range). */
export function preprocessingEdited(patch: Partial<PreprocessingDraft>): void {
  userPreprocessing({ ...get().preprocessing, ...patch, source: 'user' });
}

/** The user picked one of the usual preprocessings. */
export function preprocessingChosen(choice: Exclude<PreprocessingChoice, 'custom'>): void {
  userPreprocessing(draftOfChoice(choice, get().preprocessing.channelOrder));
}

function userPreprocessing(draft: PreprocessingDraft): void {
  set({ preprocessing: draft });
  const card = get().teacher.card;
  if (card) storeDraft(teacherKey(card), draft);
}

// --- run ---

function toSampleSet(w: WireSet): SampleSet {
  return {
    set: w.set,
    sets: w.sets,
    eta: w.eta,
    inputShape: w.inputShape,
    count: w.count,
    batchSize: w.batchSize,
    groupSize: w.groupSize,
    numClasses: w.numClasses,
    x: new Float32Array(w.x),
    targets: new Int32Array(w.targets),
    probs: new Float32Array(w.probs),
    hitRate: w.hitRate,
  };
}

/** The first group of a set, for the gallery (a few samples, not the whole set). */
function firstGroup(s: SampleSet): SampleSet {
  const k = Math.min(s.groupSize, s.count);
  const size = s.inputShape.reduce((a, b) => a * b, 1);
  return {
    ...s,
    count: k,
    x: s.x.slice(0, k * size),
    targets: s.targets.slice(0, k),
    probs: s.probs.slice(0, k * s.numClasses),
  };
}

function addToGallery(gallery: SampleSet[], s: SampleSet): SampleSet[] {
  let next = [...gallery.filter((g) => g.set !== s.set), s];
  if (next.length > GALLERY_MAX) {
    const last = next[next.length - 1];
    next = next.slice(0, -1).filter((_, i) => i % 2 === 0);
    next.push(last);
  }
  return next;
}

export function resetRun(runId: number): void {
  set({
    run: { status: 'starting', runId },
    history: emptyHistory(),
    live: null,
    gallery: [],
    result: null,
    selected: null,
  });
  clearAlerts('run');
}

export function applyRunEvents(runId: number, events: RunEvent[]): void {
  const s = get();
  if (s.run.runId !== runId) return;
  let { history, live, gallery } = s;
  let run = { ...s.run };
  for (const e of events) {
    if (e.kind === 'progress') {
      const p = e.progress;
      run.latest = p;
      if (p.stage === 'synthesis') {
        run.synthesis = p;
        history = {
          ...history,
          synth: pushPoint(history.synth, {
            x: p.set * p.steps + p.step,
            total: p.losses.total,
            cls: p.losses.cls,
            contr: p.losses.contr,
            tv: p.losses.tv,
            entropy: p.losses.entropy,
            eta: p.eta,
            hit: p.hitRate,
          }),
        };
      } else {
        run.student = p;
        history = {
          ...history,
          student: pushPoint(history.student, { x: p.epoch * p.stepsPerEpoch + p.step, loss: p.loss, lr: p.lr }),
        };
      }
    } else if (e.kind === 'set') {
      const sample = toSampleSet(e.set);
      if (e.live) live = sample;
      if (e.gallery) gallery = addToGallery(gallery, firstGroup(sample));
    } else {
      run.lastEpoch = e.epoch;
      history = {
        ...history,
        epochs: pushPoint(history.epochs, {
          epoch: e.epoch.epoch + 1,
          agreement: e.epoch.valAgreement,
          valLoss: e.epoch.valLoss,
          trainLoss: e.epoch.trainLoss,
        }),
      };
    }
  }
  if (run.status === 'starting') run = { ...run, status: 'running' };
  set({ history, live, gallery, run });
}

export function setRunStatus(runId: number, status: RunStatus, message?: string): void {
  const s = get();
  if (s.run.runId !== runId) return;
  set({ run: { ...s.run, status, message } });
}

/**
 * The worker started run `runId`: how many workers make its sets, and, when it checkpoints, its history id (and
 * where it resumed from). Checkpoints count as on unless storage was found short for a new run.
 */
export function runStarted(
  runId: number,
  started: { synthesisWorkers: number; checkpointId?: string; resumedFrom?: { setsDone: number; epochsDone: number } },
): void {
  const s = get();
  if (s.run.runId !== runId) return;
  const { synthesisWorkers, checkpointId, resumedFrom } = started;
  set({ run: { ...s.run, status: 'running', message: undefined, synthesisWorkers, ...(checkpointId ? { resumedFrom } : {}) } });
  if (checkpointId)
    setCheckpoint(runId, {
      id: checkpointId,
      active: s.storage?.warning === undefined || Boolean(resumedFrom),
      setsDone: resumedFrom?.setsDone ?? 0,
      epochsDone: resumedFrom?.epochsDone ?? 0,
    });
}

/** The worker paused or resumed the run; a Stop asked for meanwhile stays shown. */
export function runStateReported(runId: number, state: 'running' | 'paused'): void {
  if (get().run.status !== 'stopping') setRunStatus(runId, state);
}

export function runFinished(runId: number, report: RunReport, summary: ResultSummary): void {
  const s = get();
  if (s.run.runId !== runId) return;
  set({ run: { ...s.run, status: 'done' }, result: { report, summary } });
}

/** The student's variants, measured after the run ended: they join the result's report if it is still that run's. */
export function deployMeasured(runId: number, deploy: DeployReport): void {
  const s = get();
  if (s.run.runId !== runId || !s.result) return;
  set({ result: { ...s.result, report: { ...s.result.report, deploy } } });
}

export function setCheckpoint(runId: number, checkpoint: Partial<CheckpointState> & { id: string }): void {
  const s = get();
  if (s.run.runId !== runId) return;
  const prev = s.run.checkpoint;
  const base: CheckpointState = prev && prev.id === checkpoint.id ? prev : { id: checkpoint.id, active: true, setsDone: 0, sets: 0, epochsDone: 0, epochs: 0 };
  set({ run: { ...s.run, checkpoint: { ...base, ...checkpoint } } });
}

/** Checkpoints stopped for run `runId` (a write failed); the run goes on. */
export function checkpointsStopped(runId: number, message: string): void {
  const id = get().run.checkpoint?.id;
  if (id) setCheckpoint(runId, { id, active: false, message });
}

export function addMemorySample(runId: number, sample: MemorySample & { stage: 'synthesis' | 'student'; at: number }): void {
  const s = get();
  if (s.run.runId !== runId) return;
  const memory = [...(s.run.memory ?? []), sample].slice(-MEMORY_SAMPLES_MAX);
  set({ run: { ...s.run, memory } });
}

export function selectSample(sample: SampleSet | null, index = 0): void {
  set({ selected: sample ? { sample, index } : null });
}
