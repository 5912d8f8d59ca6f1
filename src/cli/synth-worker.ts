import { parentPort } from 'node:worker_threads';
import type { SynthesisConfig } from '../cake/config';
import { STREAM } from '../cake/pipeline';
import { Rng } from '../cake/rng';
import { NonFiniteLossError, synthesizeSet, type StepMetrics } from '../cake/synthesis';
import type { NamedFile } from '../io/files';
import { loadTeacher, type LoadedTeacher } from '../io/teacher-load';
import { initNodeBackend } from '../tfjs/node-backend';

// One synthesis worker (a Node worker thread with its own wasm backend and copy of the teacher). Messages in:
// {type: 'init', files} then {type: 'job', id, cfg, seed, set, eta, reportEvery}; out: 'ready', 'step', 'done' and
// 'error' (see parallel-synth.ts).

export type WorkerIn =
  | { type: 'init'; files: NamedFile[] }
  | { type: 'job'; id: number; cfg: SynthesisConfig; seed: number; set: number; eta: number; reportEvery: number };

export type WorkerOut =
  | { type: 'ready' }
  | { type: 'step'; id: number; step: number; metrics: StepMetrics | null }
  | {
      type: 'done';
      id: number;
      x: Float32Array;
      labels: Float32Array;
      probs: Float32Array;
      targets: Int32Array;
      hitRate: number;
      losses: StepMetrics['losses'];
    }
  | { type: 'error'; id: number | null; name: string; message: string; set?: number; step?: number; value?: number };

const port = parentPort!;
let loaded: LoadedTeacher | null = null;
let queue = Promise.resolve();

function post(msg: WorkerOut, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

async function handle(msg: WorkerIn): Promise<void> {
  if (msg.type === 'init') {
    try {
      await initNodeBackend();
      loaded = await loadTeacher(msg.files);
      post({ type: 'ready' });
    } catch (e) {
      post({ type: 'error', id: null, name: (e as Error).name, message: (e as Error).message });
    }
    return;
  }
  const { id, cfg, seed, set, eta, reportEvery } = msg;
  try {
    if (!loaded) throw new Error('synthesis worker: no teacher loaded');
    const out = await synthesizeSet({
      teacher: loaded.teacher,
      cfg,
      set,
      eta,
      rng: Rng.derive(seed, STREAM.synthesis, set),
      onStep: async (step, read) => {
        const report = step === cfg.steps || (reportEvery > 0 && step % reportEvery === 0);
        // `read` may return the metrics or a promise of them (awaiting covers both).
        post({ type: 'step', id, step, metrics: report ? await read() : null });
      },
    });
    const buffers = [...new Set([out.x.buffer, out.labels.buffer, out.probs.buffer, out.targets.buffer])] as ArrayBuffer[];
    post(
      {
        type: 'done',
        id,
        x: out.x,
        labels: out.labels,
        probs: out.probs,
        targets: out.targets,
        hitRate: out.hitRate,
        losses: out.losses,
      },
      buffers,
    );
  } catch (e) {
    const err = e as Error & { set?: number; step?: number };
    const value = e instanceof NonFiniteLossError ? Number(/became (\S+)/.exec(err.message)?.[1]) : undefined;
    post({ type: 'error', id, name: err.name, message: err.message, set: err.set, step: err.step, value });
  }
}

port.on('message', (msg: WorkerIn) => {
  // One job at a time per worker, in arrival order.
  queue = queue.then(() => handle(msg));
});
