import * as tf from '@tensorflow/tfjs';
import type { InferenceTime } from '../cake/report';

// Inference time per image on the current backend, the number people distil for. Each batch size is timed as a
// user's code would run it: a forward pass and the read-back of its output (on WebGPU the work only finishes then),
// after warm-up runs that compile kernels and fill caches; the median of the timed runs resists the odd stall of
// a shared machine. Browsers coarsen performance.now() (to 0.1 ms on a page that is not cross-origin isolated), so
// runs shorter than a few milliseconds are timed in groups and each group's mean is one sample.

export interface TimingOptions {
  /** Untimed runs first: this many (default 3; one when a run exceeds `budgetMs`), and for at least `warmupMs` (default 100). */
  warmup?: number;
  warmupMs?: number;
  /** Timed samples: at least `minRuns` (default 5) and for at least `minMs` (default 300), so sub-millisecond models get many. */
  minRuns?: number;
  minMs?: number;
  /** At most `maxRuns` (default 1000); past `budgetMs` (default 3 s) three timed runs do, so a large teacher stays affordable. */
  maxRuns?: number;
  budgetMs?: number;
}

/** A sample lasts at least this long: 50 ticks of a 0.1 ms clock. */
const GROUP_MS = 5;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Median milliseconds per image of `run` on a seeded batch of `batch` inputs of `inputShape`. */
export async function msPerImage(run: (x: tf.Tensor) => tf.Tensor, inputShape: readonly number[], batch: number, opts: TimingOptions = {}): Promise<number> {
  const { warmup = 3, warmupMs = 100, minRuns = 5, minMs = 300, maxRuns = 1000, budgetMs = 3000 } = opts;
  const x = tf.randomNormal([batch, ...inputShape], 0, 1, 'float32', 1);
  const once = async () => {
    const y = tf.tidy(() => run(x));
    await y.data();
    y.dispose();
  };
  /** Mean milliseconds of `n` consecutive runs. */
  const timed = async (n: number) => {
    const start = performance.now();
    for (let i = 0; i < n; i++) await once();
    return (performance.now() - start) / n;
  };
  try {
    const warmStart = performance.now();
    for (let i = 0; i < maxRuns; i++) {
      await timed(1);
      const elapsed = performance.now() - warmStart;
      if ((i + 1 >= warmup && elapsed >= warmupMs) || elapsed >= budgetMs) break;
    }
    // Runs per sample: doubled until a group lasts GROUP_MS on the clock (a coarse clock reads a fast run as 0 or a tick).
    let group = 1;
    while (group < 256 && (await timed(group)) * group < GROUP_MS) group *= 2;
    const times: number[] = [];
    const begin = performance.now();
    for (;;) {
      times.push(await timed(group));
      const elapsed = performance.now() - begin;
      const enough = (times.length >= minRuns && elapsed >= minMs) || (times.length >= 3 && elapsed >= budgetMs);
      if (enough || times.length * group >= maxRuns) break;
    }
    return median(times) / batch;
  } finally {
    x.dispose();
  }
}

/** Per-image time at batch 1 and batch 32. */
export async function timeInference(run: (x: tf.Tensor) => tf.Tensor, inputShape: readonly number[], opts: TimingOptions = {}): Promise<InferenceTime> {
  return { batch1: await msPerImage(run, inputShape, 1, opts), batch32: await msPerImage(run, inputShape, 32, opts) };
}
