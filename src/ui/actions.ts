/**
 * What the user (and the page's start) asks of the studio: load a teacher, change settings or the backend, start,
 * pause, stop or resume a run, download students and settings. Each talks to the worker through worker-client.ts
 * and writes the store only through its named updaters. Downloads happen here, on the main thread.
 */
import {
  encodedPoolBytes,
  estimateSeconds,
  loadDeadlineMs,
  probeKey,
  type BackendChoice,
  type CakeConfig,
  type EvaluationResult,
  type ExportFormat,
  type RunOptions,
  type RunRecord,
  type TeacherCard,
  type WireFile,
} from '../worker/protocol';
import {
  loadStoredBackend,
  loadStoredSettings,
  resolveSettings,
  settingsFile,
  settingsFromHash,
  settingsFromJson,
  storeBackend,
  type Settings,
} from './settings';
import {
  backendChosen,
  clearAlerts,
  estimateFailed,
  estimateMeasuring,
  estimateReady,
  GALLERY_MAX,
  GROUPS_SHOWN,
  isRunActive,
  raise,
  resetRun,
  runDeleted,
  setRunStatus,
  settingsChanged,
  storageChecked,
  teacherFailed,
  teacherRestored,
  teacherGone,
  teacherLoaded,
  teacherLoading,
  traitsOf,
  useStudio,
} from './store';
import {
  DeadlinePassed,
  endLatest,
  latest,
  post,
  replaceWorkerIfDeviceLost,
  request,
  RequestCancelled,
  restartWorker,
  startWorker,
  SUPERSEDED,
  WorkerRestarted,
  type RequestError,
} from './worker-client';

/** The teacher the worker holds, with the page's own copy of its files: a restarted worker is given it again. */
let teacher: { files: WireFile[]; source: string } | null = null;
/** Counts the user's teacher loads; a load whose number is no longer current was cancelled or replaced. */
let loadSeq = 0;
/** The user's load the worker is reading, if any: Cancel, its deadline or a newer load end it. */
let reading: { seq: number; source: string } | null = null;
let runSeq = 0;
let estimateTimer: ReturnType<typeof setTimeout> | null = null;
/** The probe key of the estimate being measured. */
let measuringKey = '';
/** Tests: pretend the browser has this many bytes of storage free (undefined: ask the browser). */
let testStorageOverride: number | undefined;
/** Tests: the teacher load's deadline in ms, instead of the one its files' size gives (undefined: by size). */
let testTeacherDeadline: number | undefined;
/** `npm start` opens `/?demo`: the studio then starts on the built-in demo teacher. */
let demoWhenReady = false;
/** `?workers=N` sets the synthesis helpers of wasm runs (1: none); absent, the worker picks one per core up to 2. */
let synthesisWorkers: number | undefined;

// --- teacher -----------------------------------------------------------------------------------------------------

const copiesOf = (files: WireFile[]) => files.map((f) => ({ name: f.name, data: f.data.slice(0) }));

/** Hand the user's files to the worker (copies: the page keeps its own, for a restart) under a deadline. */
function sendTeacher(seq: number, files: WireFile[], source: string): void {
  reading = { seq, source };
  teacherLoading('Handing the files to the worker', 0.3);
  const copies = copiesOf(files);
  const bytes = files.reduce((n, f) => n + f.data.byteLength, 0);
  const deadlineMs = testTeacherDeadline ?? loadDeadlineMs(bytes);
  latest('teacher', 'load-teacher', { files: copies }, copies.map((f) => f.data), deadlineMs).then(
    (card) => {
      if (card === SUPERSEDED) return;
      reading = null;
      teacher = { files, source };
      clearAlerts('teacher');
      teacherLoaded(card);
      requestEstimate();
    },
    (e: Error) => {
      if (reading?.seq === seq) reading = null;
      if (e instanceof RequestCancelled) return; // cancelTeacherLoad has said so already
      if (e instanceof DeadlinePassed) {
        teacherFailed(
          `${source} could not be read within ${Math.round(e.ms / 1000)} s: the file may be damaged. The reading was stopped${teacher ? ` and the previous teacher (${teacher.source}) is back` : ''}.`,
        );
        return;
      }
      teacherFailed();
      raise('teacher', e.message);
    },
  );
}

/**
 * A new worker replaced the old one (after a crash, a deadline, a Cancel, a change of backend): give it the teacher
 * the old one held. A load the user was waiting for is not sent again: it may be what stopped the old worker.
 */
function teacherToNewWorker(): boolean {
  if (reading) {
    reading = null;
    teacherFailed();
  }
  const held = teacher;
  if (!held) return false;
  const copies = copiesOf(held.files);
  request('load-teacher', { files: copies }, copies.map((f) => f.data)).then(
    (card) => {
      // A load the user started meanwhile decides what the card shows.
      if (teacher !== held || reading) return;
      teacherRestored(card);
      requestEstimate();
    },
    (e: Error) => {
      if (teacher !== held || e instanceof WorkerRestarted) return;
      teacher = null;
      teacherGone();
      raise('teacher', `The teacher could not be given back to the restarted worker: ${e.message}`);
    },
  );
  return true;
}

/** Start a user's load: a load still running is ended first (the worker may be stuck in it). Returns its number. */
function beginLoad(phase: string, source: string): number {
  const seq = ++loadSeq;
  if (reading) {
    reading = null;
    endLatest('teacher');
  }
  clearAlerts('teacher');
  teacherLoading(phase, 0.05, { source, cancellable: true });
  return seq;
}

/** Cancel: stop reading the teacher; the worker is replaced if it was reading, and the previous teacher comes back. */
export function cancelTeacherLoad(): void {
  const s = useStudio.getState();
  if (s.teacher.status !== 'loading' || !s.teacher.loading?.cancellable) return;
  const source = s.teacher.loading.source;
  loadSeq++;
  if (reading) {
    reading = null;
    endLatest('teacher', new RequestCancelled('cancelled'));
  }
  teacherFailed(`Reading ${source} was cancelled${teacher ? `; the previous teacher (${teacher.source}) is back` : ''}.`);
}

/** "model.json + 2 files", "teacher.zip", "my-model/ (3 files)". */
function describeFiles(paths: string[]): string {
  const base = (p: string) => p.split('/').pop() ?? p;
  if (paths.length === 1) return base(paths[0]);
  const folder = paths[0].includes('/') ? paths[0].split('/')[0] : '';
  if (folder && paths.every((p) => p.startsWith(`${folder}/`))) return `${folder}/ (${paths.length} files)`;
  const model = paths.map(base).find((n) => n.toLowerCase().endsWith('.json'));
  return model ? `${model} + ${paths.length - 1} file${paths.length === 2 ? '' : 's'}` : `${paths.length} files`;
}

/** Files from a drop or a file dialog (names may carry a folder path). */
export async function loadTeacherFiles(files: { name: string; file: Blob }[]): Promise<void> {
  if (isRunActive(useStudio.getState().run.status)) {
    raise('teacher', 'A run is in progress; stop it before loading another teacher.');
    return;
  }
  if (files.length === 0) {
    raise('teacher', 'No files were given; drop model.json with its weight files, a folder, or a .zip.');
    return;
  }
  const names = describeFiles(files.map((f) => f.name));
  const seq = beginLoad('Reading files', names);
  const total = files.reduce((n, f) => n + f.file.size, 0) || 1;
  let done = 0;
  const wire: WireFile[] = [];
  try {
    for (const f of files) {
      wire.push({ name: f.name, data: await f.file.arrayBuffer() });
      if (seq !== loadSeq) return;
      done += f.file.size;
      teacherLoading('Reading files', 0.05 + (0.25 * done) / total);
    }
  } catch (e) {
    if (seq !== loadSeq) return;
    teacherFailed();
    raise('teacher', `The files could not be read: ${(e as Error).message}`);
    return;
  }
  sendTeacher(seq, wire, names);
}

async function fetchBytes(url: string): Promise<ArrayBuffer> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url} answered ${res.status} ${res.statusText}`);
  return res.arrayBuffer();
}

/** The demo teacher shipped under public/demo-teacher/: model.json, its weight shards, metadata.json. */
export async function loadDemoTeacher(): Promise<void> {
  if (isRunActive(useStudio.getState().run.status)) {
    raise('teacher', 'A run is in progress; stop it before loading another teacher.');
    return;
  }
  const base = new URL(`${import.meta.env.BASE_URL}demo-teacher/`, window.location.href);
  const source = 'demo teacher (LeNet-5, MNIST)';
  const seq = beginLoad('Downloading the demo teacher', source);
  try {
    const modelBytes = await fetchBytes(new URL('model.json', base).href);
    const manifest = JSON.parse(new TextDecoder().decode(modelBytes)) as { weightsManifest?: { paths: string[] }[] };
    const paths = (manifest.weightsManifest ?? []).flatMap((g) => g.paths);
    const files: WireFile[] = [{ name: 'model.json', data: modelBytes }];
    let i = 0;
    for (const p of paths) {
      files.push({ name: p.replace(/^\.\//, ''), data: await fetchBytes(new URL(p, base).href) });
      if (seq !== loadSeq) return;
      teacherLoading('Downloading the demo teacher', 0.05 + (0.2 * ++i) / Math.max(1, paths.length));
    }
    try {
      files.push({ name: 'metadata.json', data: await fetchBytes(new URL('metadata.json', base).href) });
    } catch {
      // The metadata only adds class names and preprocessing; the model works without it.
    }
    if (seq !== loadSeq) return;
    sendTeacher(seq, files, source);
  } catch (e) {
    if (seq !== loadSeq) return;
    teacherFailed();
    raise('teacher', `The demo teacher could not be downloaded: ${(e as Error).message}`);
  }
}

// --- settings & estimate -----------------------------------------------------------------------------------------

/** Ask the worker for a timed probe when the current probe does not describe the settings (debounced). */
export function requestEstimate(delayMs = 400): void {
  if (estimateTimer) clearTimeout(estimateTimer);
  estimateTimer = setTimeout(() => {
    estimateTimer = null;
    const s = useStudio.getState();
    if (s.teacher.status !== 'ready' || s.workerStatus !== 'ready' || isRunActive(s.run.status)) return;
    const resolved = resolveSettings(s.settings, traitsOf(s));
    if (!resolved.valid) return;
    const key = probeKey(resolved.config);
    if (s.estimate.probe?.key === key && s.estimate.probe.backend === s.backend?.name) return;
    if (s.estimate.status === 'measuring' && measuringKey === key) return;
    measuringKey = key;
    estimateMeasuring();
    latest('estimate', 'estimate', { config: resolved.config }).then(
      (probe) => {
        if (probe !== SUPERSEDED) estimateReady(probe);
      },
      (e: RequestError) => {
        if (!e.cancelled) estimateFailed(e.message);
      },
    );
  }, delayMs);
}

function cancelEstimateTimer(): void {
  if (estimateTimer) clearTimeout(estimateTimer);
}

export function estimatedSeconds(): number | null {
  const s = useStudio.getState();
  const probe = s.estimate.probe;
  if (!probe) return null;
  const resolved = resolveSettings(s.settings, traitsOf(s));
  if (probe.key !== probeKey(resolved.config)) return null;
  return estimateSeconds(resolved.config, probe);
}

export function updateSettings(settings: Settings): void {
  settingsChanged(settings);
  clearAlerts('settings');
  requestEstimate();
}

export function chooseBackend(choice: BackendChoice): void {
  if (isRunActive(useStudio.getState().run.status)) return;
  storeBackend(choice);
  backendChosen(choice);
  // A fresh worker is the clean way to switch: tensors never straddle two backends.
  restartWorker();
}

// --- run -----------------------------------------------------------------------------------------------------------

/** Bytes a run's checkpoint needs: the pool (sets×batch×(inputSize+classes)×4, plus headers), the teacher's files
 * and the student with its optimiser state (at most about three copies of the teacher's weights). */
export function checkpointBytes(config: CakeConfig, inputShape: number[], numClasses: number, teacherBytes: number): number {
  const sampleSize = inputShape.reduce((a, b) => a * b, 1);
  return encodedPoolBytes(config.synthesis.sets, config.synthesis.batchSize, sampleSize, numClasses) + 4 * teacherBytes;
}

/** Free storage for checkpoints, from navigator.storage.estimate(); undefined when the browser does not say. */
async function freeStorage(): Promise<number | undefined> {
  try {
    const est = await navigator.storage?.estimate?.();
    if (!est || est.quota === undefined) return undefined;
    return Math.max(0, est.quota - (est.usage ?? 0));
  } catch {
    return undefined;
  }
}

function formatMiB(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/** Check storage for the run's checkpoints; returns whether to write them (and says why not when not). */
export async function checkStorage(config: CakeConfig): Promise<boolean> {
  const s = useStudio.getState();
  const card = s.teacher.card;
  if (!card) return false;
  const needed = checkpointBytes(config, card.inputShape, card.numClasses, card.weightBytes);
  const available = testStorageOverride ?? (await freeStorage());
  const short = available !== undefined && available < needed;
  const warning = short
    ? `Checkpoints are off for this run: they need about ${formatMiB(needed)} of browser storage and only ${formatMiB(available!)} is free. The run goes on, but cannot be resumed if the page is reloaded; fewer sets or a smaller batch need less.`
    : undefined;
  storageChecked({ needed, available, warning });
  if (warning) raise('storage', warning);
  else clearAlerts('storage');
  return !short;
}

function runOptions(): RunOptions {
  return { groupsShown: GROUPS_SHOWN, gallerySlots: GALLERY_MAX, synthesisWorkers };
}

export async function startRun(): Promise<void> {
  const s = useStudio.getState();
  if (isRunActive(s.run.status) || s.teacher.status !== 'ready') return;
  const resolved = resolveSettings(s.settings, traitsOf(s));
  if (!resolved.valid) {
    raise('settings', 'Some settings are invalid; fix the highlighted fields before starting.');
    return;
  }
  cancelEstimateTimer();
  replaceWorkerIfDeviceLost();
  const runId = ++runSeq;
  resetRun(runId);
  const checkpoint = await checkStorage(resolved.config);
  post({
    type: 'start',
    runId,
    config: resolved.config,
    preset: s.settings.overrides && Object.keys(s.settings.overrides).length ? 'custom' : s.settings.preset,
    options: { ...runOptions(), probe: s.estimate.probe },
    checkpoint,
    teacherSource: s.teacher.source,
    settings: settingsFile(s.settings, resolved.config),
  });
}

/** Continue an interrupted run from its last checkpoint (reloading its teacher from storage). */
export async function resumeFromCheckpoint(id: string): Promise<void> {
  const s = useStudio.getState();
  if (isRunActive(s.run.status)) return;
  const record = s.runs.find((r) => r.id === id);
  cancelEstimateTimer();
  replaceWorkerIfDeviceLost();
  if (record?.settings) {
    try {
      settingsChanged(settingsFromJson(JSON.stringify(record.settings), { inputShape: record.teacher.inputShape, numClasses: record.teacher.numClasses }));
    } catch {
      // The run has its own config; the page's settings are only for show.
    }
  }
  const runId = ++runSeq;
  resetRun(runId);
  clearAlerts('worker');
  loadSeq++;
  if (reading) {
    reading = null;
    endLatest('teacher');
  }
  teacherLoading("Loading the checkpoint's teacher", 0.2, { source: record?.teacher.source ?? 'checkpoint', cancellable: false });
  latest('teacher', 'resume-checkpoint', { runId, id, options: runOptions() }).then(
    (card) => {
      if (card === SUPERSEDED) return;
      // The worker's teacher is now the checkpoint's, whose files stay in storage.
      teacher = null;
      clearAlerts('teacher');
      teacherLoaded(card);
      requestEstimate();
    },
    (e: Error) => {
      teacherFailed();
      raise('teacher', e.message);
    },
  );
}

/** The item leaves the list when the worker says the record is gone from storage, not before. */
export async function deleteRun(id: string): Promise<void> {
  try {
    const { deleted } = await request('delete-run', { id });
    if (deleted) runDeleted(id);
    else raise('storage', 'The run in progress keeps its record; stop it first to delete it.');
  } catch (e) {
    raise('storage', `The run could not be deleted: ${(e as Error).message}`);
  }
}

export function pauseRun(): void {
  post({ type: 'pause' });
}

export function resumeRun(): void {
  post({ type: 'resume' });
}

export function stopRun(): void {
  const s = useStudio.getState();
  if (!isRunActive(s.run.status)) return;
  setRunStatus(s.run.runId, 'stopping');
  post({ type: 'stop' });
}

// --- downloads ---------------------------------------------------------------------------------------------------

export function saveBlob(data: BlobPart, filename: string, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export async function downloadStudent(includePool = false): Promise<void> {
  const s = useStudio.getState();
  const resolved = resolveSettings(s.settings, traitsOf(s));
  const settings = { ...settingsFile(s.settings, s.result?.report.config ?? resolved.config) };
  try {
    const zip = await request('export-student', { settings, includePool });
    saveBlob(zip.data, zip.filename, 'application/zip');
  } catch (e) {
    raise('download', `The student could not be packed: ${(e as Error).message}`);
  }
}

/** The finished student in another format: one .onnx or .h5 file, or a zip of a quantized tfjs model. */
export async function downloadFormat(format: ExportFormat): Promise<void> {
  const s = useStudio.getState();
  const settings = settingsFile(s.settings, s.result?.report.config ?? resolveSettings(s.settings, traitsOf(s)).config);
  try {
    const file = await request('export-format', { format, settings });
    saveBlob(file.data, file.filename, file.mime);
  } catch (e) {
    raise('download', `The student could not be exported as ${format}: ${(e as Error).message}`);
  }
}

export async function downloadRun(record: RunRecord): Promise<void> {
  try {
    const zip = await request('download-run', { id: record.id });
    saveBlob(zip.data, zip.filename, 'application/zip');
  } catch (e) {
    raise('download', `The student could not be packed: ${(e as Error).message}`);
  }
}

export function exportSettings(): void {
  const s = useStudio.getState();
  const resolved = resolveSettings(s.settings, traitsOf(s));
  saveBlob(JSON.stringify(settingsFile(s.settings, resolved.config), null, 2), 'cake-settings.json', 'application/json');
}

// --- evaluation and diagnostics --------------------------------------------------------------------------------------

/** Labelled evaluation: the worker reads the files (copies; the caller keeps its own) and measures the teacher and,
 * when one exists, the student. The data goes to src/worker/evaluate.ts only, never to a run. */
export async function evaluateLabelled(files: WireFile[]): Promise<EvaluationResult> {
  const copies = files.map((f) => ({ name: f.name, data: f.data.slice(0) }));
  return request('evaluate', { files: copies }, copies.map((f) => f.data));
}

export async function predict(model: 'student' | 'teacher', data: Float32Array, shape: number[]): Promise<{ data: Float32Array; shape: number[] }> {
  const buf = data.slice().buffer as ArrayBuffer;
  const out = await request('predict', { model, data: buf, shape }, [buf]);
  return { data: new Float32Array(out.data), shape: out.shape };
}

// --- boot --------------------------------------------------------------------------------------------------------

export function boot(): void {
  const query = new URLSearchParams(window.location.search);
  demoWhenReady = query.has('demo');
  const workers = Number(query.get('workers'));
  synthesisWorkers = Number.isInteger(workers) && workers >= 1 && workers <= 16 ? workers : undefined;
  backendChosen(loadStoredBackend());
  const settings = settingsFromHash(window.location.hash) ?? loadStoredSettings();
  if (settings) settingsChanged(settings);
  startWorker({
    ready(resumeId) {
      if (resumeId) void resumeFromCheckpoint(resumeId);
      else if (demoWhenReady && useStudio.getState().teacher.status === 'none') void loadDemoTeacher();
      demoWhenReady = false;
    },
    replaced: teacherToNewWorker,
  });
  window.addEventListener('hashchange', () => {
    const next = settingsFromHash(window.location.hash);
    if (next && JSON.stringify(next) !== JSON.stringify(useStudio.getState().settings)) updateSettings(next);
  });
  (window as unknown as { cakeStudio: unknown }).cakeStudio = {
    store: useStudio,
    predict: async (model: 'student' | 'teacher', data: number[], shape: number[]) => {
      const out = await predict(model, Float32Array.from(data), shape);
      return { data: Array.from(out.data), shape: out.shape };
    },
    crashWorker: (reason?: string) => post({ type: 'crash', reason }),
    loseDevice: () => post({ type: 'lose-device' }),
    /** Tests: checkpoints of sets from `fromSet` on fail as a full storage quota would (set before Start, no race). */
    failCheckpoints: (fromSet = 0) => post({ type: 'fail-checkpoints', fromSet }),
    /** Tests: pretend the browser has this many bytes of storage free (undefined: ask the browser). */
    setFreeStorage: (bytes: number | undefined) => {
      testStorageOverride = bytes;
    },
    /** Tests: give teacher loads this deadline in ms instead of the one their size gives (undefined: by size). */
    setTeacherDeadline: (ms: number | undefined) => {
      testTeacherDeadline = ms;
    },
    /** Tests: the worker's teacher reads from now on never return, as a reader spinning on a damaged file. */
    stallTeacherReads: () => post({ type: 'stall-teacher-reads' }),
  };
}
