import * as tf from '@tensorflow/tfjs';
import type { InferenceTime } from '../cake/report';

// Inference time per image on the current backend, the number people distil for. Each batch size is timed as a
// user's code would run it: a forward pass and the read-back of its output (on WebGPU the work only finishes then),
// after warm-up runs that compile kernels and fill caches.
// - Browsers coarsen performance.now() (to 0.1 ms on a page that is not cross-origin isolated), so runs shorter
//   than a few milliseconds are timed in groups, and each group's mean is one sample.
// - Models compared with each other (teacher and student variants) are timed in turns, one sample each per round,
//   so a burst of load on a shared machine slows all of them alike instead of whichever was being timed; the median
//   over rounds resists the bursts. The order within a round is random: on a loaded machine the scheduler's own
//   rhythm can otherwise fall on the same model's turn round after round.

export interface TimingOptions {
  /**
   * Milliseconds from some origin (default performance.now). The CLI passes its process CPU time (cpuClock in
   * src/cli/backend.ts): the wasm backend runs in one thread there, so CPU time is the time the work takes, and
   * other processes on a shared machine do not inflate it.
   */
  clock?: () => number;
  /** Untimed runs first: this many (default 3; one when a run exceeds `budgetMs`), and for at least `warmupMs` (default 100). */
  warmup?: number;
  warmupMs?: number;
  /** Rounds: at least `minRuns` (default 5) and for at least `minMs` (default 300) per model. */
  minRuns?: number;
  minMs?: number;
  /** At most `maxRuns` rounds (default 1000); past `budgetMs` (default 3 s) per model three rounds do, so a large teacher stays affordable. */
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

type Run = (x: tf.Tensor) => tf.Tensor;

function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Median milliseconds per image of each model on one seeded batch of `batch` inputs, timed in turns. */
async function timeBatch<K extends string>(runs: Record<K, Run>, inputShape: readonly number[], batch: number, opts: TimingOptions): Promise<Record<K, number>> {
  const { warmup = 3, warmupMs = 100, minRuns = 5, minMs = 300, maxRuns = 1000, budgetMs = 3000, clock = () => performance.now() } = opts;
  const names = Object.keys(runs) as K[];
  const x = tf.randomNormal([batch, ...inputShape], 0, 1, 'float32', 1);
  /** Mean milliseconds of `n` consecutive runs of `run`. */
  const timed = async (run: Run, n: number) => {
    const start = clock();
    for (let i = 0; i < n; i++) {
      const y = tf.tidy(() => run(x));
      await y.data();
      y.dispose();
    }
    return (clock() - start) / n;
  };
  try {
    const group = {} as Record<K, number>;
    for (const name of names) {
      const warmStart = clock();
      for (let i = 0; i < maxRuns; i++) {
        await timed(runs[name], 1);
        const elapsed = clock() - warmStart;
        if ((i + 1 >= warmup && elapsed >= warmupMs) || elapsed >= budgetMs) break;
      }
      // Runs per sample: doubled until a group lasts GROUP_MS on the clock (a coarse clock reads a fast run as 0 or a tick).
      let g = 1;
      while (g < 256 && (await timed(runs[name], g)) * g < GROUP_MS) g *= 2;
      group[name] = g;
    }
    const samples = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
    const begin = clock();
    for (let round = 1; ; round++) {
      for (const name of shuffled(names)) samples[name].push(await timed(runs[name], group[name]));
      const perModel = (clock() - begin) / names.length;
      const enough = (round >= minRuns && perModel >= minMs) || (round >= 3 && perModel >= budgetMs);
      if (enough || round >= maxRuns) break;
    }
    return Object.fromEntries(names.map((n) => [n, median(samples[n]) / batch])) as Record<K, number>;
  } finally {
    x.dispose();
  }
}

/** Median milliseconds per image of `run` on a seeded batch of `batch` inputs of `inputShape`. */
export async function msPerImage(run: Run, inputShape: readonly number[], batch: number, opts: TimingOptions = {}): Promise<number> {
  return (await timeBatch({ run }, inputShape, batch, opts)).run;
}

/** Per-image time of each model at batch 1 and batch 32, the models timed in turns. */
export async function timeInferences<K extends string>(runs: Record<K, Run>, inputShape: readonly number[], opts: TimingOptions = {}): Promise<Record<K, InferenceTime>> {
  const one = await timeBatch(runs, inputShape, 1, opts);
  const many = await timeBatch(runs, inputShape, 32, opts);
  return Object.fromEntries((Object.keys(runs) as K[]).map((k) => [k, { batch1: one[k], batch32: many[k] }])) as Record<K, InferenceTime>;
}
