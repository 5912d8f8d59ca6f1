import * as tf from '@tensorflow/tfjs';

// CAKE synthesises inputs by backpropagating through the teacher. A teacher whose input gradient is zero (a
// constant head, a stop-gradient) or wrong (a layer whose tfjs gradient is broken on this backend) would make
// synthesis silently produce noise, so we compare tf.grad against central finite differences once at load time.

export interface GradientCheck {
  ok: boolean;
  /** Largest relative error over the checked coordinates (0 when they all agree exactly; NaN when not measured). */
  maxRelError: number;
  message: string;
}

export interface GradientCheckOptions {
  seed?: number;
  /** Samples in the random batch. */
  batch?: number;
  /** Inputs are drawn uniformly from this range when given (the teacher's preprocessed range), else N(0, 1). */
  range?: [number, number];
  /** Input coordinates compared against finite differences. */
  coords?: number;
  /** Largest accepted relative error. */
  tolerance?: number;
}

/** mulberry32: a tiny seeded generator, so the coordinates checked are the same on every run and backend. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const describeCoord = (flat: number, inputShape: readonly number[]) => {
  const size = inputShape.reduce((a, b) => a * b, 1);
  const idx: number[] = [];
  let rest = flat % size;
  for (let d = inputShape.length - 1; d >= 0; d--) {
    idx.unshift(rest % inputShape[d]);
    rest = Math.floor(rest / inputShape[d]);
  }
  return `sample ${Math.floor(flat / size)}, input [${idx.join(',')}]`;
};

/**
 * Compare the analytic input gradient of loss = Σ logits·w (w random) with central finite differences.
 * Fails when every gradient is zero, when any is NaN/Inf, or when a coordinate's relative error exceeds the
 * tolerance; the message names the coordinate.
 */
export async function checkInputGradient(
  logits: (x: tf.Tensor) => tf.Tensor2D,
  inputShape: readonly number[],
  options: GradientCheckOptions = {},
): Promise<GradientCheck> {
  const { seed = 1234, batch = 2, range, coords = 6, tolerance = 0.1 } = options;
  const scale = range ? range[1] - range[0] : 1;
  // float32 forward passes: a step of 1% of the input scale keeps rounding noise well below the signal while
  // rarely stepping across a ReLU or max-pool kink.
  const eps = 1e-2 * scale;
  const shape = [batch, ...inputShape];
  const size = inputShape.reduce((a, b) => a * b, 1);

  const x0 = tf.tidy(() =>
    range ? tf.randomUniform(shape, range[0], range[1], 'float32', seed) : tf.randomNormal(shape, 0, 1, 'float32', seed),
  );
  try {
    const numClasses = tf.tidy(() => logits(x0.slice(0, 1)).shape[1]);
    const w = tf.randomNormal([batch, numClasses], 0, 1, 'float32', seed + 1);
    let analytic: Float32Array;
    try {
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(logits(x), w)))(x0);
      try {
        // Asynchronous reads only: a synchronous read-back destroys the WebGPU device inside a worker.
        analytic = (await g.data()) as Float32Array;
      } finally {
        g.dispose();
      }
    } catch (e) {
      w.dispose();
      return { ok: false, maxRelError: NaN, message: `the teacher cannot be differentiated with respect to its input: ${(e as Error).message}` };
    }
    const weights = (await w.array()) as number[][];
    w.dispose();

    if (analytic.some((v) => !Number.isFinite(v)))
      return { ok: false, maxRelError: NaN, message: 'the gradient of the logits with respect to the input holds NaN or infinite values' };
    const gmax = analytic.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    if (gmax === 0)
      return {
        ok: false,
        maxRelError: NaN,
        message: 'all gradients of the logits with respect to the input are zero: the teacher\'s output does not respond to its input, so CAKE cannot synthesise anything from it',
      };

    // Mostly coordinates the teacher is sensitive to (a clear signal), plus a couple anywhere (a gradient that is
    // wrongly zero shows up there).
    const next = rng(seed);
    const strong = [...analytic.keys()].filter((i) => Math.abs(analytic[i]) >= 0.1 * gmax);
    const picked = new Set<number>();
    const strongCount = Math.min(strong.length, Math.ceil((coords * 2) / 3));
    while (picked.size < strongCount) picked.add(strong[Math.floor(next() * strong.length)]);
    for (let guard = 0; picked.size < Math.min(coords, analytic.length) && guard < 1000; guard++)
      picked.add(Math.floor(next() * analytic.length));
    const chosen = [...picked];

    const base = (await x0.data()) as Float32Array;
    /**
     * Central, forward and backward differences at every chosen coordinate for one step size, from one forward
     * pass over the perturbed samples plus the unperturbed batch.
     */
    const finiteDifferences = async (step: number): Promise<number[][]> => {
      const n = chosen.length;
      const stacked = new Float32Array((2 * n + batch) * size);
      chosen.forEach((flat, k) => {
        const sample = Math.floor(flat / size);
        const src = base.subarray(sample * size, (sample + 1) * size);
        for (const [row, sign] of [[2 * k, 1], [2 * k + 1, -1]] as const) {
          stacked.set(src, row * size);
          stacked[row * size + (flat % size)] += sign * step;
        }
      });
      stacked.set(base, 2 * n * size);
      const outT = tf.tidy(() => logits(tf.tensor(stacked, [2 * n + batch, ...inputShape])));
      let out: number[][];
      try {
        out = (await outT.array()) as number[][];
      } finally {
        outT.dispose();
      }
      // Only the perturbed sample's logits change, so its weighted sum (in float64) carries the whole loss
      // difference, without float32 rounding from the untouched samples.
      const weighted = (row: number, sample: number) => out[row].reduce((s, v, c) => s + weights[sample][c] * v, 0);
      return chosen.map((flat, k) => {
        const sample = Math.floor(flat / size);
        const [up, down, mid] = [weighted(2 * k, sample), weighted(2 * k + 1, sample), weighted(2 * n + sample, sample)];
        return [(up - down) / (2 * step), (up - mid) / step, (mid - down) / step];
      });
    };
    // Relative to the larger of the two values, floored at 2% of the largest gradient so that tiny gradients do
    // not turn float32 noise into failures.
    const relError = (fd: number, an: number) => Math.abs(fd - an) / Math.max(Math.abs(fd), Math.abs(an), 0.02 * gmax);
    const errors = chosen.map(() => Infinity);
    const bestFd = chosen.map(() => NaN);
    // A kink (ReLU, max-pool) inside [x−step, x+step] spoils a central difference but not the gradient. ReLU nets
    // are piecewise linear, so the one-sided difference on the kink-free side is exact, and smaller steps cross
    // fewer kinks; a wrong gradient stays wrong in every estimate at every step size.
    for (const shrink of [1, 8, 64]) {
      if (!errors.some((e) => e > tolerance)) break;
      const estimates = await finiteDifferences(eps / shrink);
      chosen.forEach((flat, k) => {
        for (const fd of estimates[k]) {
          const e = relError(fd, analytic[flat]);
          if (e < errors[k]) {
            errors[k] = e;
            bestFd[k] = fd;
          }
        }
      });
    }
    const worst = errors.reduce((w, e, k) => (e > errors[w] ? k : w), 0);
    const maxRelError = errors[worst];
    if (maxRelError > tolerance) {
      const flat = chosen[worst];
      return {
        ok: false,
        maxRelError,
        message: `the input gradient disagrees with finite differences at ${describeCoord(flat, inputShape)}: tf.grad gives ${analytic[flat].toPrecision(4)}, finite differences give ${bestFd[worst].toPrecision(4)} (relative error ${maxRelError.toFixed(3)} > ${tolerance}); a layer's gradient is wrong on this backend`,
      };
    }
    return {
      ok: true,
      maxRelError,
      message: `input gradients match finite differences at ${chosen.length} coordinates (max relative error ${maxRelError.toExponential(1)})`,
    };
  } finally {
    x0.dispose();
  }
}
