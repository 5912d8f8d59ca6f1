import { Worker } from 'node:worker_threads';
import type { NamedFile } from '../io/files';
import type { TeacherInfo } from '../io/teacher-info';

/**
 * Teacher loads on a worker thread that can be ended. A damaged file can send a reader into a loop inside a
 * synchronous WebAssembly call (the HDF5 library), and nothing on the thread running that call gets to run again:
 * no timer, no signal handler. Another thread can still end it (Worker.terminate stops even a spinning WebAssembly
 * loop), so the load runs there under a deadline, and the caller gets the teacher's info, the loader's error, or
 * the news that the deadline passed.
 */

export interface ThreadIn {
  id: number;
  files: NamedFile[];
  backend?: string;
}

export type ThreadOut =
  | { id: number; ok: true; info: TeacherInfo }
  | { id: number; ok: false; name: string; code?: string; message: string; restart?: boolean };

export type ThreadOutcome =
  | { kind: 'loaded'; info: TeacherInfo }
  /** The loader threw: `name` and `code` say what kind of error (a TeacherError has a code). */
  | { kind: 'refused'; name: string; code?: string; message: string }
  | { kind: 'timeout'; ms: number }
  /** The thread itself died (an uncaught error, a WebAssembly abort, out of memory). */
  | { kind: 'crashed'; message: string };

/** One load thread, started on first use and replaced after a deadline passes or the thread dies. */
export class TeacherThread {
  private worker: Worker | null = null;
  private seq = 0;
  private pending: { id: number; settle: (o: ThreadOutcome) => void } | null = null;

  constructor(private readonly backend?: string) {}

  /** Load `files` on the thread (the buffers are copied, the caller keeps its own) within `deadlineMs`. */
  load(files: readonly NamedFile[], deadlineMs: number): Promise<ThreadOutcome> {
    if (this.pending) throw new Error('TeacherThread: one load at a time');
    const worker = this.start();
    const id = ++this.seq;
    return new Promise<ThreadOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.kill();
        settle({ kind: 'timeout', ms: deadlineMs });
      }, deadlineMs);
      const settle = (o: ThreadOutcome) => {
        clearTimeout(timer);
        if (this.pending?.id === id) this.pending = null;
        resolve(o);
      };
      this.pending = { id, settle };
      worker.postMessage({ id, files: files.map((f) => ({ name: f.name, data: f.data })), backend: this.backend } satisfies ThreadIn);
    });
  }

  /** End the thread (a later load starts a fresh one). */
  async dispose(): Promise<void> {
    await this.kill();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./teacher-thread-worker.mjs', import.meta.url));
    w.on('message', (m: ThreadOut) => {
      if (m.id !== this.pending?.id) return;
      // A reader the failure may have left damaged (TeacherError.restartReader) is not used again.
      if (!m.ok && m.restart) void this.kill();
      this.pending.settle(m.ok ? { kind: 'loaded', info: m.info } : { kind: 'refused', name: m.name, code: m.code, message: m.message });
    });
    const died = (message: string) => {
      if (this.worker !== w) return;
      this.worker = null;
      this.pending?.settle({ kind: 'crashed', message });
    };
    w.on('error', (e) => died(String((e as Error)?.message ?? e)));
    w.on('exit', (code) => died(`the load thread exited (code ${code})`));
    this.worker = w;
    return w;
  }

  private kill(): Promise<unknown> {
    const w = this.worker;
    this.worker = null;
    return w ? w.terminate() : Promise.resolve();
  }
}
