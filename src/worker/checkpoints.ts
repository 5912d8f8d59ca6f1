/**
 * Run checkpoints and run history in IndexedDB (worker side; plain IndexedDB, no tfjs).
 *
 * One database, four stores, all keyed by the run's id (a string):
 * - `runs`: a RunRecord per run, small: settings, seed, where it stands, metrics; what the history lists.
 * - `teachers`: the teacher's files, so a run can be resumed after a reload.
 * - `chunks`: one record per finished set ([id, set] → η, samples, labels), written once, append-only.
 * - `students`: the latest student checkpoint (weights and optimiser state after a whole epoch), overwritten each
 *   epoch; after the run, the finished student (model.json, weights, report, settings) for re-download.
 */
import type { OptimizerState } from '../cake/optim';
import type { EpochResult } from '../cake/progress';
import type { RunRecord, WireFile } from './protocol';

const DB_NAME = 'cake-studio-runs';
const DB_VERSION = 1;

export interface ChunkRecord {
  id: string;
  set: number;
  eta: number;
  x: Float32Array;
  labels: Float32Array;
}

export interface StudentRecord {
  id: string;
  startEpoch: number;
  weights: Float32Array[];
  optimizer: OptimizerState;
  epochs: EpochResult[];
}

export interface FinishedRecord {
  id: string;
  modelJson: object;
  weights: ArrayBuffer;
  report: object;
  settings: unknown;
}

let opening: Promise<IDBDatabase> | null = null;

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

export function openDb(): Promise<IDBDatabase> {
  opening ??= new Promise<IDBDatabase>((resolve, reject) => {
    if (typeof indexedDB === 'undefined') return reject(new Error('IndexedDB is not available'));
    const r = indexedDB.open(DB_NAME, DB_VERSION);
    r.onupgradeneeded = () => {
      const db = r.result;
      if (!db.objectStoreNames.contains('runs')) db.createObjectStore('runs', { keyPath: 'id' });
      if (!db.objectStoreNames.contains('teachers')) db.createObjectStore('teachers');
      if (!db.objectStoreNames.contains('chunks')) db.createObjectStore('chunks', { keyPath: ['id', 'set'] });
      if (!db.objectStoreNames.contains('students')) db.createObjectStore('students', { keyPath: 'id' });
      if (!db.objectStoreNames.contains('finished')) db.createObjectStore('finished', { keyPath: 'id' });
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB could not be opened'));
  });
  opening.catch(() => (opening = null));
  return opening;
}

async function put(store: string, value: unknown, key?: IDBValidKey): Promise<void> {
  const db = await openDb();
  const tx = db.transaction(store, 'readwrite');
  tx.objectStore(store).put(value, key);
  await done(tx);
}

async function get<T>(store: string, key: IDBValidKey): Promise<T | undefined> {
  const db = await openDb();
  return req(db.transaction(store, 'readonly').objectStore(store).get(key)) as Promise<T | undefined>;
}

export async function saveRun(record: RunRecord): Promise<void> {
  await put('runs', record);
}

export async function getRun(id: string): Promise<RunRecord | undefined> {
  return get<RunRecord>('runs', id);
}

export async function listRuns(): Promise<RunRecord[]> {
  const db = await openDb();
  const all = (await req(db.transaction('runs', 'readonly').objectStore('runs').getAll())) as RunRecord[];
  return all.sort((a, b) => b.createdAt - a.createdAt);
}

export async function saveTeacher(id: string, files: WireFile[]): Promise<void> {
  await put('teachers', files, id);
}

export async function getTeacher(id: string): Promise<WireFile[] | undefined> {
  return get<WireFile[]>('teachers', id);
}

export async function saveChunk(chunk: ChunkRecord): Promise<void> {
  await put('chunks', chunk);
}

/** The run's sets 0, 1, 2, … in order, up to the first one missing. */
export async function getChunks(id: string): Promise<ChunkRecord[]> {
  const db = await openDb();
  const range = IDBKeyRange.bound([id, 0], [id, Number.MAX_SAFE_INTEGER]);
  const all = (await req(db.transaction('chunks', 'readonly').objectStore('chunks').getAll(range))) as ChunkRecord[];
  all.sort((a, b) => a.set - b.set);
  const out: ChunkRecord[] = [];
  for (const c of all) {
    if (c.set !== out.length) break;
    out.push(c);
  }
  return out;
}

export async function saveStudent(record: StudentRecord): Promise<void> {
  await put('students', record);
}

export async function getStudent(id: string): Promise<StudentRecord | undefined> {
  return get<StudentRecord>('students', id);
}

export async function saveFinished(record: FinishedRecord): Promise<void> {
  await put('finished', record);
}

export async function getFinished(id: string): Promise<FinishedRecord | undefined> {
  return get<FinishedRecord>('finished', id);
}

/** Drop what only resuming needs (pool chunks, student checkpoint, teacher files), keeping the record and result. */
export async function dropCheckpoint(id: string): Promise<void> {
  const db = await openDb();
  const tx = db.transaction(['chunks', 'students', 'teachers'], 'readwrite');
  tx.objectStore('chunks').delete(IDBKeyRange.bound([id, 0], [id, Number.MAX_SAFE_INTEGER]));
  tx.objectStore('students').delete(id);
  tx.objectStore('teachers').delete(id);
  await done(tx);
}

export async function deleteRun(id: string): Promise<void> {
  await dropCheckpoint(id);
  const db = await openDb();
  const tx = db.transaction(['runs', 'finished'], 'readwrite');
  tx.objectStore('runs').delete(id);
  tx.objectStore('finished').delete(id);
  await done(tx);
}
