import * as tf from '@tensorflow/tfjs';
import type { SynthesisConfig } from './config';
import { inferLayout, synthesisLoss, type InputLayout } from './losses';
import type { RunControl, SynthesisLosses } from './progress';
import type { Rng } from './rng';
import { inputMapFor, rangeInSynthesisSpace, teacherInSynthesisSpace, toTeacherSpace } from './input-space';
import type { Teacher } from './teacher';

/**
 * One CAKE set (spec §2.2): B samples from fresh noise, in G groups of K members with distinct target classes,
 * moved by T steps of plain SGD (or Adam) on the inputs with a constant step size η, then labelled with the teacher's
 * softmax. Sets are independent of each other.
 */

export interface SetOutcome {
  x: Float32Array;
  /** Stored labels: teacher softmax (or one-hot argmax with hard labels), [B, C]. */
  labels: Float32Array;
  /** Teacher softmax at the final inputs, [B, C] (for display; equals labels with soft labels). */
  probs: Float32Array;
  targets: Int32Array;
  hitRate: number;
  losses: SynthesisLosses;
}

/** What a step can report; read only when the caller asks, since reading forces a device sync. */
export interface StepMetrics {
  losses: SynthesisLosses;
  hitRate: number;
}

export class NonFiniteLossError extends Error {
  constructor(
    readonly set: number,
    readonly step: number,
    value: number,
  ) {
    super(
      `the synthesis loss became ${value} in set ${set + 1} at step ${step}; lower the step size (synthesis.eta0) or the loss weights`,
    );
    this.name = 'NonFiniteLossError';
  }
}

export interface SetArgs {
  teacher: Teacher;
  cfg: SynthesisConfig;
  set: number;
  eta: number;
  rng: Rng;
  control?: RunControl;
  /**
   * Called after every step and awaited; `read` waits for the device, so call it only when reporting. Reads are
   * asynchronous: synchronous read-backs lose the WebGPU device inside a worker.
   */
  onStep?: (step: number, read: () => Promise<StepMetrics>) => void | Promise<void>;
}

/** K distinct target classes per group: the first K entries of a fresh permutation of the classes. */
export function drawTargets(groups: number, groupSize: number, numClasses: number, rng: Rng): Int32Array {
  const targets = new Int32Array(groups * groupSize);
  for (let g = 0; g < groups; g++) {
    const perm = rng.permutation(numClasses);
    for (let i = 0; i < groupSize; i++) targets[g * groupSize + i] = perm[i];
  }
  return targets;
}

export function initialInputs(cfg: SynthesisConfig, count: number, rng: Rng): Float32Array {
  const out = new Float32Array(count);
  return cfg.init === 'normal' ? rng.fillNormal(out, cfg.initStd) : rng.fillUniform(out, cfg.initRange[0], cfg.initRange[1]);
}

export async function synthesizeSet(args: SetArgs): Promise<SetOutcome> {
  const { cfg, set, eta, rng, control, onStep } = args;
  // Samples move in the synthesis space (input-space.ts): the teacher's own inputs when its declared range
  // (clampRange) looks normalised, a standardised copy of raw or 0-1 pixel ranges otherwise.
  const map = inputMapFor(cfg.clampRange);
  const teacher = teacherInSynthesisSpace(args.teacher, map);
  const [lo, hi] = rangeInSynthesisSpace(cfg.clampRange, map);
  const B = cfg.batchSize;
  const K = cfg.groupSize;
  const C = teacher.numClasses;
  const shape = [B, ...teacher.inputShape];
  const size = shape.reduce((a, b) => a * b, 1);
  const layout: InputLayout = teacher.layout ?? inferLayout(teacher.inputShape);

  const targets = drawTargets(B / K, K, C, rng);
  const targetTensor = tf.tensor1d(targets, 'int32');
  const oneHot = tf.tidy(() => tf.oneHot(targetTensor, C).toFloat()) as tf.Tensor2D;
  const project = (t: tf.Tensor) => (cfg.clamp ? tf.clipByValue(t, lo, hi) : t);
  let x: tf.Tensor = tf.tidy(() => project(tf.tensor(initialInputs(cfg, size, rng), shape)));
  // Adam's moments, when Adam is chosen; plain SGD keeps no state (a fresh optimiser per set, as in the reference).
  let m1: tf.Tensor | null = cfg.optimizer === 'adam' ? tf.zerosLike(x) : null;
  let m2: tf.Tensor | null = cfg.optimizer === 'adam' ? tf.zerosLike(x) : null;
  const stepTotals: tf.Scalar[] = [];
  let last: { terms: tf.Scalar[]; hit: tf.Scalar } | null = null;

  const lossOf = (input: tf.Tensor) => {
    const z = teacher.logits(input);
    const t = synthesisLoss(z, input, oneHot, K, cfg.weights, layout);
    const hit = tf.mean(tf.cast(tf.equal(tf.argMax(z, -1), targetTensor), 'float32')) as tf.Scalar;
    return { t, hit };
  };
  const readMetrics = async (m: { terms: tf.Scalar[]; hit: tf.Scalar }, totalT: tf.Scalar): Promise<StepMetrics> => {
    const [cls, contr, tv, entropy, total, hitRate] = await Promise.all(
      [...m.terms, totalT, m.hit].map(async (t) => (await t.data())[0]),
    );
    return { losses: { cls, contr, tv, entropy, total }, hitRate };
  };
  const disposeLast = () => {
    if (last) tf.dispose([...last.terms, last.hit]);
    last = null;
  };

  try {
    for (let step = 1; step <= cfg.steps; step++) {
      await control?.gate();
      let kept: { terms: tf.Scalar[]; hit: tf.Scalar } | null = null;
      const { value, grad } = tf.valueAndGrad((input: tf.Tensor) => {
        const { t, hit } = lossOf(input);
        // t.total is the returned value (kept in stepTotals); keep the parts and the hit rate for reporting.
        kept = { terms: [t.cls, t.contr, t.tv, t.entropy].map((v) => tf.keep(v)), hit: tf.keep(hit) };
        return t.total;
      })(x);
      disposeLast();
      last = kept;
      stepTotals.push(value as tf.Scalar);
      const prev = x;
      x = tf.tidy(() => {
        let next: tf.Tensor;
        if (m1 && m2) {
          const b1 = 0.9;
          const b2 = 0.999;
          const nm1 = tf.add(tf.mul(m1, b1), tf.mul(grad, 1 - b1));
          const nm2 = tf.add(tf.mul(m2, b2), tf.mul(tf.square(grad), 1 - b2));
          tf.dispose([m1, m2]);
          m1 = tf.keep(nm1);
          m2 = tf.keep(nm2);
          const lr = (eta * Math.sqrt(1 - b2 ** step)) / (1 - b1 ** step);
          next = tf.sub(prev, tf.div(tf.mul(nm1, lr), tf.add(tf.sqrt(nm2), 1e-8)));
        } else {
          next = tf.sub(prev, tf.mul(grad, eta));
        }
        if (cfg.langevin) {
          // Explicit Langevin noise ("LAKE"): sqrt(2η)·N(0, I) after every step.
          const noise = rng.fillNormal(new Float32Array(size), Math.sqrt(2 * eta));
          next = tf.add(next, tf.tensor(noise, shape));
        }
        return project(next);
      });
      tf.dispose([prev, grad]);
      if (onStep) {
        const current = last!;
        await onStep(step, async () => {
          await checkFinite(stepTotals, set);
          return readMetrics(current, value as tf.Scalar);
        });
      }
    }
    await checkFinite(stepTotals, set);

    // Label the final inputs with the teacher's softmax (outside any gradient).
    const { probsT, labelsT } = tf.tidy(() => {
      const p = tf.softmax(teacher.logits(x));
      const l = cfg.softLabels ? p : tf.oneHot(tf.argMax(p, -1), C).toFloat();
      return { probsT: p, labelsT: l };
    });
    if (!last) {
      // No steps: report the loss of the initial noise.
      const m = tf.tidy(() => {
        const { t, hit } = lossOf(x);
        return { terms: [t.cls, t.contr, t.tv, t.entropy], hit, total: t.total };
      });
      last = { terms: m.terms, hit: m.hit };
      stepTotals.push(m.total);
    }
    const metrics = await readMetrics(last, stepTotals[stepTotals.length - 1]);
    const probs = (await probsT.data()) as Float32Array;
    const labels = cfg.softLabels ? probs : ((await labelsT.data()) as Float32Array);
    // The pool, the student and the gallery take the teacher's own inputs.
    const raw = (await x.data()) as Float32Array;
    const xs = map ? toTeacherSpace(raw.slice(), map) : raw;
    tf.dispose(cfg.softLabels ? [probsT] : [probsT, labelsT]);
    return { x: xs, labels, probs, targets, hitRate: finalHitRate(probs, targets, C), losses: metrics.losses };
  } finally {
    disposeLast();
    tf.dispose([x, targetTensor, oneHot, ...stepTotals]);
    if (m1) tf.dispose(m1);
    if (m2) tf.dispose(m2);
  }
}

/** Reads the per-step totals of this set and throws on the first non-finite one, naming its step. */
async function checkFinite(totals: tf.Scalar[], set: number): Promise<void> {
  if (totals.length === 0) return;
  const stacked = tf.stack(totals);
  const values = await stacked.data();
  stacked.dispose();
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new NonFiniteLossError(set, i + 1, values[i]);
  }
}

function finalHitRate(probs: Float32Array, targets: Int32Array, C: number): number {
  let hits = 0;
  for (let i = 0; i < targets.length; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (probs[i * C + c] > probs[i * C + best]) best = c;
    if (best === targets[i]) hits++;
  }
  return hits / targets.length;
}
