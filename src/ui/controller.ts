/**
 * The page's side of the worker: creates it, sends commands, turns its events into store updates, restarts it when
 * it dies (keeping the user's settings and teacher), and triggers downloads (which must happen on the main thread).
 */
import {
  encodedPoolBytes,
  estimateSeconds,
  probeKey,
  type CakeConfig,
  type RunRecord,
  type BackendChoice,
  type Command,
  type CommandOf,
  type EvaluationResult,
  type Replies,
  type RequestType,
  type TeacherCard,
  type WireFile,
  type WorkerEvent,
  type RunOptions,
} from '../worker/protocol';
import {
  loadStoredBackend,
  loadStoredSettings,
  resolveSettings,
  settingsFile,
  settingsFromHash,
  settingsFromJson,
  settingsToHash,
  storeBackend,
  storeSettings,
  type Settings,
} from './settings';
import {
  addMemorySample,
  applyRunEvents,
  clearAlerts,
  GALLERY_MAX,
  GROUPS_SHOWN,
  isRunActive,
  raise,
  resetRun,
  runFinished,
  setCheckpoint,
  setRunStatus,
  teacherFailed,
  teacherLoaded,
  teacherLoading,
  traitsOf,
  useStudio,
} from './store';

let worker: Worker | null = null;
/** The page keeps its own copy of the teacher's files so a restarted worker can reload it. */
let teacherFiles: WireFile[] | null = null;
let teacherSource = '';
let seq = 0;
let runSeq = 0;
/** Requests waiting for their answer, by request id. */
const pending = new Map<number, { resolve: (value: unknown) => void; reject: (e: Error) => void }>();
/** The worker's WebGPU device is gone: replace the worker before the next run. */
let deviceLost = false;
/** A run to continue from its checkpoint as soon as the (restarted) worker is ready. */
let resumeWhenReady: string | null = null;

function post(cmd: Command, transfer: Transferable[] = []): void {
  worker?.postMessage(cmd, transfer);
}

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
class WorkerRestarted extends Error {}

type RequestBody<K extends RequestType> = Omit<CommandOf<K>, 'type' | 'requestId'>;

function send<K extends RequestType>(type: K, body: RequestBody<K>, transfer: Transferable[] = []): { requestId: number; reply: Promise<Replies[K]> } {
  const requestId = ++seq;
  const reply = new Promise<Replies[K]>((resolve, reject) => pending.set(requestId, { resolve: resolve as (value: unknown) => void, reject }));
  post({ ...body, type, requestId } as unknown as Command, transfer);
  return { requestId, reply };
}

/** Send a request; resolves with the worker's reply, rejects with its reply-error (or when the worker restarts). */
function request<K extends RequestType>(type: K, body: RequestBody<K>, transfer?: Transferable[]): Promise<Replies[K]> {
  return send(type, body, transfer).reply;
}

/** The answer of a request that a newer one of its kind replaced, or that a worker restart cut off. */
export const SUPERSEDED = Symbol('superseded');

/**
 * Requests of one kind of which only the newest counts (a teacher load, an estimate): sending one supersedes the one
 * before, whose reply then resolves to SUPERSEDED at once and whose answer from the worker is dropped.
 */
function latest() {
  let newest = 0;
  return {
    send<K extends RequestType>(type: K, body: RequestBody<K>, transfer?: Transferable[]): Promise<Replies[K] | typeof SUPERSEDED> {
      const previous = pending.get(newest);
      pending.delete(newest);
      previous?.resolve(SUPERSEDED);
      const sent = send(type, body, transfer);
      newest = sent.requestId;
      return sent.reply.catch((e: unknown) => {
        if (e instanceof WorkerRestarted) return SUPERSEDED;
        throw e;
      });
    },
    /** Whether progress reported under `requestId` belongs to the newest request. */
    isLatest(requestId: number): boolean {
      return requestId === newest;
    },
  };
}
const teacherRequests = latest();
const estimateRequests = latest();

function createWorker(): void {
  const w = new Worker(new URL('../worker/cake.worker.ts', import.meta.url), { type: 'module', name: 'cake-worker' });
  w.onmessage = (ev: MessageEvent<WorkerEvent>) => onEvent(ev.data);
  w.onerror = (ev: ErrorEvent) => {
    ev.preventDefault();
    onCrash(ev.message || 'the worker failed without a message');
  };
  w.onmessageerror = () => onCrash('a message from the worker could not be read');
  worker = w;
  useStudio.setState({ workerStatus: 'starting', backend: null });
  post({ type: 'init', backend: useStudio.getState().backendChoice });
}

function restartWorker(): void {
  deviceLost = false;
  worker?.terminate();
  worker = null;
  for (const [, p] of pending) p.reject(new WorkerRestarted('the worker restarted'));
  pending.clear();
  createWorker();
  if (teacherFiles) sendTeacher(teacherFiles, teacherSource, true);
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
  raise('worker', crashMessage(reason, hadRun, checkpoint, Boolean(teacherFiles), batch));
  restartWorker();
}

function onEvent(e: WorkerEvent): void {
  const store = useStudio;
  switch (e.type) {
    case 'ready':
      store.setState({ workerStatus: 'ready', backend: e.backend, studentArchs: e.studentArchs });
      if (resumeWhenReady) {
        const id = resumeWhenReady;
        resumeWhenReady = null;
        void resumeFromCheckpoint(id);
      } else if (demoWhenReady && store.getState().teacher.status === 'none') {
        void loadDemoTeacher();
      }
      demoWhenReady = false;
      break;
    case 'runs':
      store.setState({ runs: e.runs });
      break;
    case 'checkpoint':
      setCheckpoint(e.runId, { id: e.id, active: true, stage: e.stage, setsDone: e.setsDone, sets: e.sets, epochsDone: e.epochsDone, epochs: e.epochs });
      addMemorySample(e.runId, { ...e.memory, stage: e.stage, at: e.stage === 'synthesis' ? e.setsDone : e.epochsDone });
      break;
    case 'checkpoint-error': {
      const id = useStudio.getState().run.checkpoint?.id;
      if (id) setCheckpoint(e.runId, { id, active: false, message: e.message });
      raise('storage', e.message);
      break;
    }
    case 'backend-error':
      store.setState({ workerStatus: 'failed' });
      raise('worker', `No computation backend could start: ${e.message}`);
      break;
    case 'device-lost': {
      const s = useStudio.getState();
      const active = isRunActive(s.run.status);
      const cp = s.run.checkpoint;
      // The run may already have failed on the dead device just before the loss was reported.
      if ((active || s.run.status === 'error') && cp?.active && s.backend?.name === 'webgpu') {
        clearAlerts('run');
        // Move the run to WASM (for this session; the stored choice stays) and continue from its checkpoint.
        setRunStatus(s.run.runId, 'error', e.message);
        raise('worker', `${e.message}. The run moved to the WASM backend and continues from its last checkpoint.`);
        useStudio.setState({ backendChoice: 'wasm', estimate: { status: 'idle' } });
        resumeWhenReady = cp.id;
        restartWorker();
        break;
      }
      if (active) setRunStatus(s.run.runId, 'error', e.message);
      // No restart here (a device that keeps getting lost would loop); the next Start begins with a fresh worker.
      deviceLost = true;
      raise('worker', `${e.message}. The next run starts on a fresh device; your settings and teacher are kept. Choosing another backend also helps.`);
      break;
    }
    case 'teacher-loading':
      if (teacherRequests.isLatest(e.requestId)) teacherLoading(e.phase, e.fraction);
      break;
    case 'run-started':
      setRunStatus(e.runId, 'running');
      if (useStudio.getState().run.runId === e.runId)
        useStudio.setState((s) => ({ run: { ...s.run, synthesisWorkers: e.synthesisWorkers } }));
      if (e.checkpointId) {
        const s = useStudio.getState();
        if (s.run.runId === e.runId) useStudio.setState({ run: { ...s.run, resumedFrom: e.resumedFrom } });
        setCheckpoint(e.runId, { id: e.checkpointId, active: s.storage?.warning === undefined || Boolean(e.resumedFrom), setsDone: e.resumedFrom?.setsDone ?? 0, epochsDone: e.resumedFrom?.epochsDone ?? 0 });
      }
      break;
    case 'run-state':
      if (useStudio.getState().run.status !== 'stopping') setRunStatus(e.runId, e.state);
      break;
    case 'run-events':
      applyRunEvents(e.runId, e.events);
      break;
    case 'run-done':
      runFinished(e.runId, e.report, e.summary);
      break;
    case 'run-stopped':
      setRunStatus(e.runId, 'stopped');
      break;
    case 'run-error':
      setRunStatus(e.runId, 'error', e.message);
      raise('run', `The run failed: ${e.message}`);
      break;
    case 'reply':
    case 'reply-error': {
      const p = pending.get(e.requestId);
      if (!p) break;
      pending.delete(e.requestId);
      if (e.type === 'reply') p.resolve(e.value);
      else p.reject(new RequestError(e.message, e.cancelled));
      break;
    }
  }
}

// --- teacher -----------------------------------------------------------------------------------------------------

function sendTeacher(files: WireFile[], source: string, silent = false): void {
  teacherFiles = files;
  teacherSource = source;
  if (!silent) teacherLoading('Handing the files to the worker', 0.3, source);
  // Send copies, so the page keeps its own for a worker restart.
  const copies = files.map((f) => ({ name: f.name, data: f.data.slice(0) }));
  void teacherAnswered(teacherRequests.send('load-teacher', { files: copies }, copies.map((f) => f.data)));
}

/** The newest teacher load (dropped files, or a checkpoint's teacher) answered. */
async function teacherAnswered(reply: Promise<TeacherCard | typeof SUPERSEDED>): Promise<void> {
  try {
    const card = await reply;
    if (card === SUPERSEDED) return;
    clearAlerts('teacher');
    teacherLoaded(card);
    requestEstimate();
  } catch (e) {
    teacherFailed();
    raise('teacher', (e as Error).message);
  }
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
  teacherLoading('Reading files', 0.05, names);
  const total = files.reduce((n, f) => n + f.file.size, 0) || 1;
  let done = 0;
  const wire: WireFile[] = [];
  try {
    for (const f of files) {
      wire.push({ name: f.name, data: await f.file.arrayBuffer() });
      done += f.file.size;
      teacherLoading('Reading files', 0.05 + (0.25 * done) / total);
    }
  } catch (e) {
    teacherFailed();
    raise('teacher', `The files could not be read: ${(e as Error).message}`);
    return;
  }
  sendTeacher(wire, names);
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
  try {
    teacherLoading('Downloading the demo teacher', 0.05, 'demo teacher (LeNet-5, MNIST)');
    const modelBytes = await fetchBytes(new URL('model.json', base).href);
    const manifest = JSON.parse(new TextDecoder().decode(modelBytes)) as { weightsManifest?: { paths: string[] }[] };
    const paths = (manifest.weightsManifest ?? []).flatMap((g) => g.paths);
    const files: WireFile[] = [{ name: 'model.json', data: modelBytes }];
    let i = 0;
    for (const p of paths) {
      files.push({ name: p.replace(/^\.\//, ''), data: await fetchBytes(new URL(p, base).href) });
      teacherLoading('Downloading the demo teacher', 0.05 + (0.2 * ++i) / Math.max(1, paths.length));
    }
    try {
      files.push({ name: 'metadata.json', data: await fetchBytes(new URL('metadata.json', base).href) });
    } catch {
      // The metadata only adds class names and preprocessing; the model works without it.
    }
    sendTeacher(files, 'demo teacher (LeNet-5, MNIST)');
  } catch (e) {
    teacherFailed();
    raise('teacher', `The demo teacher could not be downloaded: ${(e as Error).message}`);
  }
}

// --- settings & estimate -----------------------------------------------------------------------------------------

let estimateTimer: ReturnType<typeof setTimeout> | null = null;

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
    useStudio.setState({ estimate: { status: 'measuring', probe: s.estimate.probe } });
    estimateRequests.send('estimate', { config: resolved.config }).then(
      (probe) => {
        if (probe !== SUPERSEDED) useStudio.setState({ estimate: { status: 'ready', probe } });
      },
      (e: RequestError) => {
        if (!e.cancelled) useStudio.setState({ estimate: { status: 'error', message: e.message } });
      },
    );
  }, delayMs);
}
let measuringKey = '';

export function estimatedSeconds(): number | null {
  const s = useStudio.getState();
  const probe = s.estimate.probe;
  if (!probe) return null;
  const resolved = resolveSettings(s.settings, traitsOf(s));
  if (probe.key !== probeKey(resolved.config)) return null;
  return estimateSeconds(resolved.config, probe);
}

export function updateSettings(settings: Settings): void {
  useStudio.setState({ settings });
  storeSettings(settings);
  const hash = settingsToHash(settings);
  if (window.location.hash !== hash) history.replaceState(null, '', hash);
  clearAlerts('settings');
  requestEstimate();
}

export function chooseBackend(choice: BackendChoice): void {
  if (isRunActive(useStudio.getState().run.status)) return;
  storeBackend(choice);
  useStudio.setState({ backendChoice: choice, estimate: { status: 'idle' } });
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
  useStudio.setState({ storage: { needed, available, warning } });
  if (warning) raise('storage', warning);
  else clearAlerts('storage');
  return !short;
}
let testStorageOverride: number | undefined;

function formatMiB(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

export async function startRun(): Promise<void> {
  const s = useStudio.getState();
  if (isRunActive(s.run.status) || s.teacher.status !== 'ready') return;
  const resolved = resolveSettings(s.settings, traitsOf(s));
  if (!resolved.valid) {
    raise('settings', 'Some settings are invalid; fix the highlighted fields before starting.');
    return;
  }
  if (estimateTimer) clearTimeout(estimateTimer);
  if (deviceLost) restartWorker();
  const runId = ++runSeq;
  resetRun(runId);
  const checkpoint = await checkStorage(resolved.config);
  post({
    type: 'start',
    runId,
    config: resolved.config,
    preset: s.settings.overrides && Object.keys(s.settings.overrides).length ? 'custom' : s.settings.preset,
    options: runOptions(),
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
  if (estimateTimer) clearTimeout(estimateTimer);
  if (deviceLost) restartWorker();
  if (record?.settings) {
    try {
      const restored = settingsFromJson(JSON.stringify(record.settings), { inputShape: record.teacher.inputShape, numClasses: record.teacher.numClasses });
      useStudio.setState({ settings: restored });
      storeSettings(restored);
      history.replaceState(null, '', settingsToHash(restored));
    } catch {
      // The run has its own config; the page's settings are only for show.
    }
  }
  const runId = ++runSeq;
  resetRun(runId);
  clearAlerts('worker');
  teacherFiles = null;
  teacherLoading("Loading the checkpoint's teacher", 0.2, record?.teacher.source ?? 'checkpoint');
  void teacherAnswered(teacherRequests.send('resume-checkpoint', { runId, id, options: runOptions() }));
}

export function deleteRun(id: string): void {
  useStudio.setState((s) => ({ runs: s.runs.filter((r) => r.id !== id) }));
  post({ type: 'delete-run', id });
}

export async function downloadRun(record: RunRecord): Promise<void> {
  try {
    const ev = await request('download-run', { id: record.id });
    saveBlob(ev.data, ev.filename, 'application/zip');
  } catch (e) {
    raise('download', `The student could not be packed: ${(e as Error).message}`);
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
    const ev = await request('export-student', { settings, includePool });
    saveBlob(ev.data, ev.filename, 'application/zip');
  } catch (e) {
    raise('download', `The student could not be packed: ${(e as Error).message}`);
  }
}

export function exportSettings(): void {
  const s = useStudio.getState();
  const resolved = resolveSettings(s.settings, traitsOf(s));
  saveBlob(JSON.stringify(settingsFile(s.settings, resolved.config), null, 2), 'cake-settings.json', 'application/json');
}

// --- diagnostics and tests -----------------------------------------------------------------------------------------

export async function predict(model: 'student' | 'teacher', data: Float32Array, shape: number[]): Promise<{ data: Float32Array; shape: number[] }> {
  const buf = data.slice().buffer as ArrayBuffer;
  const ev = await request('predict', { model, data: buf, shape }, [buf]);
  return { data: new Float32Array(ev.data), shape: ev.shape };
}

/** Labelled evaluation: the worker reads the files (copies; the caller keeps its own) and measures the teacher and,
 * when one exists, the student. The data goes to src/worker/evaluate.ts only, never to a run. */
export async function evaluateLabelled(files: WireFile[]): Promise<EvaluationResult> {
  const copies = files.map((f) => ({ name: f.name, data: f.data.slice(0) }));
  return request('evaluate', { files: copies }, copies.map((f) => f.data));
}

export function crashWorker(reason?: string): void {
  post({ type: 'crash', reason });
}

// --- boot --------------------------------------------------------------------------------------------------------

/** `npm start` opens `/?demo`: the studio then starts on the built-in demo teacher. */
let demoWhenReady = false;
/** `?workers=N` sets the synthesis helpers of wasm runs (1: none); absent, the worker picks one per core up to 2. */
let synthesisWorkers: number | undefined;

function runOptions(): RunOptions {
  return { groupsShown: GROUPS_SHOWN, gallerySlots: GALLERY_MAX, synthesisWorkers };
}

export function boot(): void {
  const query = new URLSearchParams(window.location.search);
  demoWhenReady = query.has('demo');
  const workers = Number(query.get('workers'));
  synthesisWorkers = Number.isInteger(workers) && workers >= 1 && workers <= 16 ? workers : undefined;
  const fromHash = settingsFromHash(window.location.hash);
  const settings = fromHash ?? loadStoredSettings();
  useStudio.setState({ backendChoice: loadStoredBackend() });
  if (settings) {
    useStudio.setState({ settings });
    storeSettings(settings);
  }
  createWorker();
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
    crashWorker,
    loseDevice: () => post({ type: 'lose-device' }),
    /** Tests: checkpoints of sets from `fromSet` on fail as a full storage quota would (set before Start, no race). */
    failCheckpoints: (fromSet = 0) => post({ type: 'fail-checkpoints', fromSet }),
    /** Tests: pretend the browser has this many bytes of storage free (undefined: ask the browser). */
    setFreeStorage: (bytes: number | undefined) => {
      testStorageOverride = bytes;
    },
  };
}
