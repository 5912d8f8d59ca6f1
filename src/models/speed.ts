import * as tf from '@tensorflow/tfjs';
import type { InferenceTime } from '../cake/report';

// Inference time per image on the current backend, the number people distil for. Each batch size is timed as a
// user's code would run it: a forward pass and the read-back of its output (on WebGPU the work only finishes then),
// after warm-up runs that compile kernels and fill caches; the median of the timed runs resists the odd stall of
// a shared machine.

export interface TimingOptions {
  /** Untimed runs first (default 3). */
  warmup?: number;
  /** Timed runs (default 15); fewer when `budgetMs` runs out, but at least `minRuns`. */
  runs?: number;
  minRuns?: number;
  /** Wall-clock budget for the timed runs of one batch size (default 3 s), so a large teacher stays affordable. */
  budgetMs?: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Median milliseconds per image of `run` on a seeded batch of `batch` inputs of `inputShape`. */
export async function msPerImage(run: (x: tf.Tensor) => tf.Tensor, inputShape: readonly number[], batch: number, opts: TimingOptions = {}): Promise<number> {
  const { warmup = 3, runs = 15, minRuns = 3, budgetMs = 3000 } = opts;
  const x = tf.randomNormal([batch, ...inputShape], 0, 1, 'float32', 1);
  const once = async () => {
    const start = performance.now();
    const y = tf.tidy(() => run(x));
    await y.data();
    y.dispose();
    return performance.now() - start;
  };
  try {
    for (let i = 0; i < warmup; i++) await once();
    const times: number[] = [];
    const begin = performance.now();
    while (times.length < runs && (times.length < minRuns || performance.now() - begin < budgetMs)) times.push(await once());
    return median(times) / batch;
  } finally {
    x.dispose();
  }
}

/** Per-image time at batch 1 and batch 32. */
export async function timeInference(run: (x: tf.Tensor) => tf.Tensor, inputShape: readonly number[], opts: TimingOptions = {}): Promise<InferenceTime> {
  return { batch1: await msPerImage(run, inputShape, 1, opts), batch32: await msPerImage(run, inputShape, 32, opts) };
}
