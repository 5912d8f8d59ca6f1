/**
 * The run history, worker side, over ./checkpoints.ts (IndexedDB): a new run's record, the checkpoints written as
 * it goes, how it ended, and a checkpoint read back to resume from. Saving (Checkpointer) and loading (loadResume)
 * sit side by side so that what one writes is what the other reads.
 */
import * as tf from '@tensorflow/tfjs';
import type { SetResult, StudentCheckpoint } from '../cake';
import { SyntheticPool } from '../cake/pool';
import {
  dropCheckpoint,
  getChunks,
  getRun,
  getStudent,
  getTeacher,
  listRuns,
  saveChunk,
  saveFinished,
  saveRun,
  saveStudent,
  saveTeacher,
  type FinishedRecord,
} from './checkpoints';
import { resumable, type BackendName, type CommandOf, type MemorySample, type RunRecord, type TeacherCard, type WireFile } from './protocol';
import type { Post } from './run-loop';
import { errorText } from './session';

/** The history record of a run about to start. */
export function newRecord(cmd: CommandOf<'start'>, card: TeacherCard, backend: BackendName): RunRecord {
  const now = Date.now();
  return {
    id: `run-${now.toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    createdAt: now,
    updatedAt: now,
    status: 'running',
    preset: cmd.preset,
    config: cmd.config,
    seed: cmd.config.seed,
    backend,
    teacher: { source: cmd.teacherSource ?? card.files.join(', '), format: card.format, inputShape: card.inputShape, numClasses: card.numClasses },
    checkpointing: cmd.checkpoint !== false,
    stage: 'synthesis',
    setsDone: 0,
    epochsDone: 0,
    settings: cmd.settings,
  };
}

function memorySample(): MemorySample {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  return { numTensors: m.numTensors, numBytes: m.numBytes, numBytesInGPU: m.numBytesInGPU };
}

/**
 * Writes a run's checkpoints in order, one at a time, off the run's critical path. The first failed write (storage
 * full, IndexedDB unavailable) turns checkpoints off for the rest of the run and says so; the run itself goes on.
 * What it writes: the teacher's files (begin), each finished set as a chunk (set), the student after each epoch
 * (student); the record's setsDone, epochsDone and stage follow them, and loadResume reads all of it back.
 */
export class Checkpointer {
  private chain: Promise<void> = Promise.resolve();
  constructor(
    readonly record: RunRecord,
    private readonly runId: number,
    private readonly post: Post,
    /** Tests: sets from this one on fail as a full quota would. */
    private readonly failFromSet?: number,
  ) {}

  private enqueue(job: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (!this.record.checkpointing) return;
      try {
        await job();
      } catch (e) {
        this.record.checkpointing = false;
        this.post({
          type: 'checkpoint-error',
          runId: this.runId,
          message: `checkpoints stopped (${errorText(e)}); the run goes on, but cannot be resumed if it is interrupted`,
        });
        await saveRun({ ...this.record, updatedAt: Date.now() }).catch(() => undefined);
      }
    });
    return this.chain;
  }

  private announce(memory: MemorySample): void {
    const r = this.record;
    this.post({
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

  /** The run starts: its record, and for a new run the teacher's files (a resumed run has them stored already). */
  begin(files: WireFile[] | null): Promise<void> {
    return this.enqueue(async () => {
      if (files) await saveTeacher(this.record.id, files);
      await saveRun({ ...this.record, updatedAt: Date.now() });
    });
  }

  set(s: SetResult): void {
    const memory = memorySample();
    void this.enqueue(async () => {
      if (this.failFromSet !== undefined && s.set >= this.failFromSet) throw new DOMException('the quota has been exceeded (simulated)', 'QuotaExceededError');
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
    await postRuns(this.post);
  }
}

/** Where an interrupted run stands, read back from its checkpoint. */
export interface ResumePoint {
  /** Its record, with setsDone, epochsDone and stage as the stored pool and student say. */
  record: RunRecord;
  /** The teacher's files. */
  files: WireFile[];
  /** The sets made so far. */
  pool: SyntheticPool;
  /** The student after its last whole epoch, once the pool is complete. */
  studentResume?: StudentCheckpoint;
}

/** Read run `id`'s checkpoint; throws, saying why, when it cannot be resumed. */
export async function loadResume(id: string): Promise<ResumePoint> {
  const record = await getRun(id);
  if (!record) throw new Error('the run is no longer in the history');
  if (!resumable(record)) throw new Error('the run has no checkpoint to resume from');
  const files = await getTeacher(id);
  if (!files) throw new Error("the checkpoint's teacher files are missing");
  const s = record.config.synthesis;
  const sampleSize = record.teacher.inputShape.reduce((x, y) => x * y, 1);
  const pool = new SyntheticPool(sampleSize, record.teacher.numClasses, s.batchSize);
  for (const c of (await getChunks(id)).slice(0, s.sets)) pool.add({ set: c.set, eta: c.eta, x: c.x, labels: c.labels });
  const saved = pool.chunks.length === s.sets ? await getStudent(id) : undefined;
  const studentResume: StudentCheckpoint | undefined = saved
    ? { startEpoch: saved.startEpoch, weights: saved.weights, optimizer: saved.optimizer, epochs: saved.epochs }
    : undefined;
  return {
    record: {
      ...record,
      setsDone: pool.chunks.length,
      epochsDone: studentResume?.startEpoch ?? 0,
      stage: studentResume ? 'student' : 'synthesis',
    },
    files,
    pool,
    studentResume,
  };
}

export async function postRuns(post: Post): Promise<void> {
  try {
    post({ type: 'runs', runs: await listRuns() });
  } catch (e) {
    console.error('cake worker: the run history could not be read', e);
    post({ type: 'runs', runs: [] });
  }
}

/** A fresh worker runs nothing: any run stored as running was cut short (a reload, a crash, a lost device). */
export async function markInterrupted(): Promise<void> {
  try {
    for (const r of await listRuns())
      if (r.status === 'running') await saveRun({ ...r, status: 'interrupted', message: r.message ?? 'the page was reloaded or the worker stopped', updatedAt: Date.now() });
  } catch (e) {
    console.error('cake worker: the run history could not be read', e);
  }
}
