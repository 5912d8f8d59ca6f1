import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SetJob, SetSynthesizer } from '../cake/parallel';
import { NonFiniteLossError, type SetOutcome } from '../cake/synthesis';
import type { NamedFile } from '../io/files';
import type { WorkerIn, WorkerOut } from './synth-worker';

/**
 * Synthesis sets on Node worker threads: each worker has its own wasm backend (one thread each) and its own copy of
 * the teacher, and runs one set at a time. On a machine with two free cores two workers make ~1.6-1.9x the sets
 * per second of one thread; when other processes already load the cores they gain less (or nothing).
 */
export async function createNodeSetSynthesizer(
  teacherFiles: NamedFile[],
  workers = Math.max(1, Math.min(2, os.availableParallelism?.() ?? os.cpus().length)),
): Promise<SetSynthesizer> {
  const pool = await Promise.all(Array.from({ length: workers }, () => startWorker(teacherFiles)));
  const idle = [...pool];
  const waiting: ((w: PoolWorker) => void)[] = [];
  const acquire = () =>
    new Promise<PoolWorker>((resolve) => {
      const w = idle.pop();
      if (w) resolve(w);
      else waiting.push(resolve);
    });
  const release = (w: PoolWorker) => {
    const next = waiting.shift();
    if (next) next(w);
    else idle.push(w);
  };
  let nextId = 1;
  return {
    concurrency: workers,
    async run(job: SetJob): Promise<SetOutcome> {
      const w = await acquire();
      try {
        return await w.run(nextId++, job);
      } finally {
        release(w);
      }
    },
    async dispose() {
      await Promise.all(pool.map((w) => w.terminate()));
    },
  };
}

interface PoolWorker {
  run(id: number, job: SetJob): Promise<SetOutcome>;
  terminate(): Promise<void>;
}

function startWorker(files: NamedFile[]): Promise<PoolWorker> {
  const worker = new Worker(new URL('./synth-worker.mjs', import.meta.url));
  let current: { id: number; job: SetJob; resolve: (o: SetOutcome) => void; reject: (e: Error) => void } | null = null;
  let failStart: ((e: Error) => void) | null = null;
  const toError = (m: Extract<WorkerOut, { type: 'error' }>): Error => {
    if (m.name === 'NonFiniteLossError' && m.set != null && m.step != null) {
      return new NonFiniteLossError(m.set, m.step, m.value ?? NaN);
    }
    const e = new Error(m.message);
    e.name = m.name;
    return e;
  };
  return new Promise<PoolWorker>((resolveStart, rejectStart) => {
    failStart = rejectStart;
    worker.on('message', (m: WorkerOut) => {
      if (m.type === 'ready') {
        failStart = null;
        resolveStart(handle);
      } else if (m.type === 'error' && m.id == null) {
        failStart?.(toError(m));
      } else if (current && 'id' in m && m.id === current.id) {
        const c = current;
        if (m.type === 'step') c.job.onStep?.(m.step, m.metrics);
        else if (m.type === 'done') {
          current = null;
          c.resolve({ x: m.x, labels: m.labels, probs: m.probs, targets: m.targets, hitRate: m.hitRate, losses: m.losses });
        } else if (m.type === 'error') {
          current = null;
          c.reject(toError(m));
        }
      }
    });
    const fail = (e: Error) => {
      failStart?.(e);
      current?.reject(e);
      current = null;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`synthesis worker exited (code ${code})`)));
    const handle: PoolWorker = {
      run(id, job) {
        return new Promise<SetOutcome>((resolve, reject) => {
          current = { id, job, resolve, reject };
          const msg: WorkerIn = {
            type: 'job',
            id,
            cfg: job.cfg,
            seed: job.seed,
            set: job.set,
            eta: job.eta,
            reportEvery: job.reportEvery ?? 0,
          };
          worker.postMessage(msg);
        });
      },
      async terminate() {
        await worker.terminate();
      },
    };
    const init: WorkerIn = { type: 'init', files: files.map((f) => ({ name: f.name, data: f.data.slice(0) })) };
    worker.postMessage(init);
  });
}
