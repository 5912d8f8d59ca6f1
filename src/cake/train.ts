import * as tf from '@tensorflow/tfjs';
import { flattenGraph } from './graph';
import { hintLoss, type Hints } from './hints';
import type { StudentConfig } from './config';
import type { StudentGradHelper } from './data-parallel';
import { makeOptimizer, type OptimizerState } from './optim';
import type { EpochResult, RunControl } from './progress';
import type { Rng } from './rng';
import { oneCycle, oneCycleAt } from './schedule';

/**
 * Trains a classifier on soft targets (spec §2.5): cross-entropy against the teacher's probabilities, SGD with
 * momentum 0.9 and weight decay 5e-4 under a one-cycle schedule by default. The same loop trains demo teachers on real
 * data, where the targets are one-hot and a batch hook may augment the inputs.
 */

/** Where batches come from: samples addressed by index, copied into caller-owned arrays. */
export interface BatchSource {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  gather(indices: ArrayLike<number>, x: Float32Array, labels: Float32Array): void;
}

export interface StudentStep {
  epoch: number;
  /** 1-based step within the epoch. */
  step: number;
  stepsPerEpoch: number;
  lr: number;
  /** Reads the batch loss (waits for the device): call it only when reporting. */
  readLoss: () => Promise<number>;
}

export interface TrainArgs {
  model: tf.LayersModel;
  source: BatchSource;
  train: Int32Array;
  val: Int32Array;
  cfg: StudentConfig;
  /** The shuffle of each epoch; derived per epoch so a run resumed at an epoch shuffles as the original did. */
  rngForEpoch: (epoch: number) => Rng;
  control?: RunControl;
  /** Called after every step and awaited. */
  onStep?: (s: StudentStep) => void | Promise<void>;
  onEpoch?: (e: EpochResult) => void;
  /** Changes a batch in place before it is used (e.g. shift augmentation for real data). */
  augment?: (x: Float32Array, n: number, epoch: number) => void;
  /**
   * Labels a (possibly augmented) batch afresh: the teacher's logits for exactly these inputs. When given, the
   * stored labels are not used for training; the targets are softmax(logits / T), computed from the logits so that
   * a high temperature keeps the small probabilities that stored float32 softmax values round to 0.
   */
  relabel?: (x: tf.Tensor) => tf.Tensor2D;
  /**
   * As `relabel`, but done elsewhere (a helper thread that holds the teacher), returning the logits [n, classes]
   * row-major. Takes precedence over `relabel`. The next batch is gathered, augmented and sent before the student
   * trains on this one, so labelling and training overlap; batches are still drawn and augmented in order, so the
   * result equals labelling in-process.
   */
  relabelElsewhere?: (x: Float32Array, n: number) => Promise<Float32Array>;
  /**
   * Resume: the first epoch to run (0-based; default 0). The model must already hold the weights it had at the end
   * of epoch startEpoch − 1; the schedule continues at step startEpoch × stepsPerEpoch.
   */
  startEpoch?: number;
  /** Resume: the optimiser state saved at the end of epoch startEpoch − 1 (see `onEpochEnd`). */
  initialOptimizerState?: OptimizerState;
  /**
   * Called and awaited after every epoch (after onEpoch), e.g. to write a checkpoint: `optimizerState()` reads the
   * optimiser's state asynchronously. Nothing trains while it runs.
   */
  onEpochEnd?: (e: EpochEnd) => void | Promise<void>;
  /**
   * Feature hints (see src/cake/hints.ts): the student's hidden layers also learn the teacher's activations, with
   * weight `cfg.hint`.
   */
  hints?: Hints;
  /**
   * As `hints.targets`, computed elsewhere alongside `relabelElsewhere` (used only with it), one row-major array per
   * hinted layer.
   */
  hintsElsewhere?: (x: Float32Array, n: number) => Promise<Float32Array[]>;
  /**
   * Data-parallel steps (src/cake/data-parallel.ts): the second half of each batch goes to this helper (which labels it
   * with its own copy of the teacher when batches are relabelled) and the two halves' gradients are averaged. Equal to
   * a one-thread step up to the order of float sums, so not bit-identical: the caller asks for it explicitly and
   * checks dataParallelObstacle first. Takes the place of relabelElsewhere.
   */
  dataParallel?: StudentGradHelper;
  /**
   * For the error when the loss stops being finite: who is training ("the student", "the teacher") and what the
   * user can change, in the caller's own terms (setting keys, a CLI flag).
   */
  subject?: string;
  divergenceAdvice?: string;
}

export interface EpochEnd {
  result: EpochResult;
  optimizerState: () => Promise<OptimizerState>;
}

/** Soft-target cross-entropy, mean over the batch; with temperature T both sides are softened and the loss scaled by T². */
export function softTargetCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D, temperature = 1): tf.Scalar {
  return tf.tidy(() => {
    if (temperature === 1) return tf.mean(tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1))) as tf.Scalar;
    const soft = tf.softmax(tf.div(tf.log(tf.maximum(targets, 1e-12)), temperature));
    const ce = tf.neg(tf.sum(tf.mul(soft, tf.logSoftmax(tf.div(logits, temperature))), -1));
    return tf.mul(tf.mean(ce), temperature * temperature) as tf.Scalar;
  });
}

/**
 * Distillation loss against a teacher's logits: T² · CE(softmax(teacher / T), softmax(student / T)), batch mean.
 * With `balance`, each sample is weighted so the teacher's classes count equally in the batch: sample i gets
 * Σ_c p_ic / (C · m_c) with m_c = the batch's mean probability of class c (p at T = 1), capped at 10 and then
 * scaled to mean 1. Augmenting synthetic samples skews what the teacher answers (on Fashion-MNIST it calls a third
 * of the augmented samples "Bag" and 2 % "Trouser"); the weights give back the balance CAKE's targets had.
 */
export function logitDistillationLoss(logits: tf.Tensor2D, teacherLogits: tf.Tensor2D, temperature = 1, balance = false): tf.Scalar {
  return tf.tidy(() => {
    const t = temperature;
    const soft = tf.softmax(t === 1 ? teacherLogits : tf.div(teacherLogits, t));
    const ce = tf.neg(tf.sum(tf.mul(soft, tf.logSoftmax(t === 1 ? logits : tf.div(logits, t))), -1));
    const perSample = balance ? tf.mul(ce, classBalanceWeights((t === 1 ? soft : tf.softmax(teacherLogits)) as tf.Tensor2D)) : ce;
    return tf.mul(tf.mean(perSample), t * t) as tf.Scalar;
  });
}

/** Per-sample weights that equalise the classes' probability mass in a batch (see logitDistillationLoss). */
export function classBalanceWeights(probs: tf.Tensor2D, cap = 10): tf.Tensor1D {
  return tf.tidy(() => {
    const C = probs.shape[1];
    const mass = tf.mean(probs, 0); // [C]
    const perClass = tf.div(1, tf.mul(tf.maximum(mass, 1e-6), C)); // 1 for a class with its fair share
    const w = tf.minimum(tf.sum(tf.mul(probs, perClass), -1), cap);
    return tf.div(w, tf.mean(w)) as tf.Tensor1D;
  });
}

/**
 * Whether a model trains in training form (dropout on, BatchNorm on batch statistics): not when it has a BatchNorm,
 * whose stored statistics must stay as they were (see trainClassifier).
 */
export function trainsWithDropout(model: tf.LayersModel): boolean {
  return !flattenGraph(model).ops.some((op) => op.className === 'BatchNormalization');
}

/** Steps per epoch: full batches only, so every step has the same shape (buffers are reused); one step if n < batch. */
export function stepsPerEpoch(n: number, batchSize: number): number {
  return Math.max(1, Math.floor(n / batchSize));
}

export async function trainClassifier(args: TrainArgs): Promise<EpochResult[]> {
  const { model, source, train, val, cfg, rngForEpoch, control, onStep, onEpoch, augment, relabel, onEpochEnd, hints, hintsElsewhere } = args;
  const dp = args.dataParallel;
  const relabelElsewhere = dp ? undefined : args.relabelElsewhere;
  const startEpoch = args.startEpoch ?? 0;
  const d = source.inputShape.reduce((a, b) => a * b, 1);
  const C = source.numClasses;
  const bs = Math.min(cfg.batchSize, train.length);
  const perEpoch = stepsPerEpoch(train.length, bs);
  const schedule = oneCycle(cfg.lr, cfg.epochs * perEpoch + 1, cfg.momentum);
  const optimizer = makeOptimizer(cfg.optimizer, cfg.weightDecay);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  // BatchNorm runs in inference form with its stored statistics, which stay as they were: a student copied from the
  // teacher keeps the teacher's statistics of real data, which batches of synthetic samples would overwrite (its scale
  // and shift still learn). The zoo's students have no BatchNorm; dropout, where a copied student has it, is then off too.
  const training = trainsWithDropout(model);
  // Two input buffers when labelling elsewhere: the next batch is prepared while the student trains on this one.
  const xBufs = Array.from({ length: relabelElsewhere ? 2 : 1 }, () => new Float32Array(bs * d));
  // Stored labels; unused (and overwritten by the batch prepared ahead) when the teacher relabels.
  const yBuf = new Float32Array(bs * C);
  const order = new Int32Array(train.length);
  const results: EpochResult[] = [];
  let globalStep = startEpoch * perEpoch;
  if (args.initialOptimizerState) optimizer.setState(vars, args.initialOptimizerState);
  /** One data-parallel step: the first half here, the second on the helper, at the same weights; then the update. */
  const dataParallelStep = async (xBuf: Float32Array, lr: number, momentum: number): Promise<tf.Scalar> => {
    const na = Math.ceil(bs / 2);
    const nb = bs - na;
    const weights = (await Promise.all(vars.map((v) => v.data()))) as Float32Array[];
    const remote = dp!.grads({ weights, x: xBuf.slice(na * d, bs * d), n: nb, labels: relabel ? null : yBuf.slice(na * C, bs * C), temperature: cfg.temperature });
    remote.catch(() => undefined); // awaited below; a failure here must not go unhandled meanwhile
    const local = tf.tidy(() => {
      const xa = tf.tensor(xBuf.subarray(0, na * d), [na, ...source.inputShape]);
      const teacherLogits = relabel ? relabel(xa) : null;
      const ya = teacherLogits ? null : tf.tensor2d(yBuf.subarray(0, na * C), [na, C]);
      const { value, grads } = tf.variableGrads(() => {
        const logits = model.apply(xa, { training: true }) as tf.Tensor2D;
        return teacherLogits ? logitDistillationLoss(logits, teacherLogits, cfg.temperature) : softTargetCrossEntropy(logits, ya!, cfg.temperature);
      }, vars);
      return { value, grads: vars.map((v) => grads[v.name]) };
    });
    try {
      const r = await remote;
      return tf.tidy(() => {
        // The whole batch's mean: (na·mean_a + nb·mean_b) / bs, for the loss and for every gradient.
        const grads = Object.fromEntries(
          vars.map((v, i) => [v.name, tf.div(tf.add(tf.mul(local.grads[i], na), tf.mul(tf.tensor(r.grads[i], v.shape, 'float32'), nb)), bs)]),
        );
        optimizer.step(vars, grads, lr, momentum);
        return tf.div(tf.add(tf.mul(local.value, na), r.loss * nb), bs) as tf.Scalar;
      });
    } finally {
      tf.dispose([local.value, ...local.grads]);
    }
  };
  try {
    for (let epoch = startEpoch; epoch < cfg.epochs; epoch++) {
      order.set(train);
      rngForEpoch(epoch).shuffle(order);
      let lossSum: tf.Scalar = tf.scalar(0);
      type Labelled = Promise<{ logits: Float32Array; features: Float32Array[] | null }>;
      const prepare = (s: number): Labelled | null => {
        const x = xBufs[s % xBufs.length];
        source.gather(order.subarray(s * bs, (s + 1) * bs), x, yBuf);
        augment?.(x, bs, epoch);
        if (!relabelElsewhere) return null;
        // Copies: the helpers may read them after `x` is reused. Logits and features go to two helpers at once.
        const logits = relabelElsewhere(x.slice(), bs);
        const features = hints && hintsElsewhere ? hintsElsewhere(x.slice(), bs) : null;
        const labelled = Promise.all([logits, features]).then(([l, f]) => ({ logits: l, features: f }));
        labelled.catch(() => undefined); // a batch prepared ahead of a cancel or failure is never awaited
        return labelled;
      };
      let ahead: Labelled | null = null;
      for (let s = 0; s < perEpoch; s++) {
        await control?.gate();
        const xBuf = xBufs[s % xBufs.length];
        const labelled = ahead ?? prepare(s);
        ahead = relabelElsewhere && s + 1 < perEpoch ? prepare(s + 1) : null;
        const outside = labelled ? await labelled : null;
        const { lr, momentum } =
          cfg.schedule === 'onecycle' ? oneCycleAt(schedule, globalStep) : { lr: cfg.lr, momentum: cfg.momentum };
        const loss = dp ? await dataParallelStep(xBuf, lr, momentum) : tf.tidy(() => {
          const xb = tf.tensor(xBuf, [bs, ...source.inputShape]);
          const teacherLogits = outside ? tf.tensor2d(outside.logits, [bs, C]) : relabel ? relabel(xb) : null;
          const yb = teacherLogits ? null : tf.tensor2d(yBuf, [bs, C]);
          const hintTargets = outside?.features
            ? outside.features.map((f, i) => tf.tensor(f, [bs, ...hints!.targetShapes[i]]))
            : hints?.targets(xb);
          const { value, grads } = tf.variableGrads(() => {
            const outs = hints ? (hints.student.apply(xb, { training }) as tf.Tensor[]) : null;
            const logits = (outs ? outs[outs.length - 1] : model.apply(xb, { training })) as tf.Tensor2D;
            const base = teacherLogits
              ? logitDistillationLoss(logits, teacherLogits, cfg.temperature, cfg.classBalance)
              : softTargetCrossEntropy(logits, yb!, cfg.temperature);
            return outs ? tf.add(base, tf.mul(hintLoss(outs.slice(0, -1), hintTargets!), cfg.hint)) : base;
          }, vars);
          optimizer.step(vars, grads, lr, momentum);
          return value;
        });
        const prevSum = lossSum;
        lossSum = tf.add(prevSum, loss) as tf.Scalar;
        prevSum.dispose();
        globalStep++;
        await onStep?.({ epoch, step: s + 1, stepsPerEpoch: perEpoch, lr, readLoss: async () => (await loss.data())[0] });
        loss.dispose();
      }
      const trainLoss = (await lossSum.data())[0] / perEpoch;
      lossSum.dispose();
      if (!Number.isFinite(trainLoss))
        throw new Error(
          `${args.subject ?? 'the model'}'s loss became ${trainLoss} in epoch ${epoch + 1}; ` +
            (args.divergenceAdvice ?? `lower the peak learning rate (${cfg.lr})`),
        );
      const { agreement, loss: valLoss } = await evaluateOnPool(model, source, val, cfg.temperature);
      const result: EpochResult = { epoch, epochs: cfg.epochs, trainLoss, valAgreement: agreement, valLoss };
      results.push(result);
      onEpoch?.(result);
      await onEpochEnd?.({ result, optimizerState: () => optimizer.getState(vars) });
    }
  } finally {
    optimizer.dispose();
  }
  return results;
}

/** Top-1 agreement between the model and the stored labels' argmax, and the soft-target loss, on the given samples. */
export async function evaluateOnPool(
  model: tf.LayersModel,
  source: BatchSource,
  indices: Int32Array,
  temperature = 1,
  batch = 512,
): Promise<{ agreement: number; loss: number }> {
  if (indices.length === 0) return { agreement: NaN, loss: NaN };
  const d = source.inputShape.reduce((a, b) => a * b, 1);
  const C = source.numClasses;
  let agree = 0;
  let lossSum = 0;
  for (let start = 0; start < indices.length; start += batch) {
    const idx = indices.subarray(start, Math.min(indices.length, start + batch));
    const n = idx.length;
    const x = new Float32Array(n * d);
    const y = new Float32Array(n * C);
    source.gather(idx, x, y);
    const [a, l] = tf.tidy(() => {
      const logits = model.apply(tf.tensor(x, [n, ...source.inputShape]), { training: false }) as tf.Tensor2D;
      const yb = tf.tensor2d(y, [n, C]);
      const same = tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), tf.argMax(yb, -1)), 'float32'));
      return [same, tf.mul(softTargetCrossEntropy(logits, yb, temperature), n)];
    });
    agree += (await a.data())[0];
    lossSum += (await l.data())[0];
    tf.dispose([a, l]);
  }
  return { agreement: agree / indices.length, loss: lossSum / indices.length };
}
