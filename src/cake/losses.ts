import * as tf from '@tensorflow/tfjs';
import { fusedTotalVariation } from '../tfjs/tv-kernel';
import type { LossWeights } from './config';

/**
 * The synthesis loss, term by term, with the reference code's exact scaling (spec §2.3). Logits z arrive as
 * [B, C] with the batch laid out group-major: samples g·K .. g·K+K-1 form group g.
 */

/** Where the spatial axes of an input are, for the total-variation prior. */
export type InputLayout = 'NHWC' | 'NCHW' | 'HW' | 'flat';

/** L_cls = (1/G) Σ_g Σ_i CE(softmax(z_gi), y_gi), i.e. K × the mean cross-entropy. */
export function classificationLoss(logits: tf.Tensor2D, targetsOneHot: tf.Tensor2D, groupSize: number): tf.Scalar {
  return tf.tidy(() => {
    const ce = tf.neg(tf.sum(tf.mul(targetsOneHot, tf.logSoftmax(logits)), -1));
    return tf.mul(tf.mean(ce), groupSize) as tf.Scalar;
  });
}

/**
 * L_contr = (1/G) Σ_g Σ_{i<j} ‖z_gi − z_gj‖² / C.
 * Computed through the identity Σ_{i<j} ‖z_i − z_j‖² = K Σ_i ‖z_i‖² − ‖Σ_i z_i‖², which needs no [G, K, K, C]
 * broadcast (and so avoids tfjs' broadcasting-gradient pitfalls) and costs O(B·C).
 */
export function contrastiveLoss(logits: tf.Tensor2D, groupSize: number): tf.Scalar {
  return tf.tidy(() => {
    const [b, c] = logits.shape;
    const groups = b / groupSize;
    const z = tf.reshape(logits, [groups, groupSize, c]);
    const sumSq = tf.sum(tf.square(z));
    const groupSum = tf.sum(z, 1); // [G, C]
    const pairwise = tf.sub(tf.mul(sumSq, groupSize), tf.sum(tf.square(groupSum)));
    return tf.div(pairwise, groups * c) as tf.Scalar;
  });
}

/**
 * Anisotropic L1 total variation: per (sample, channel) the mean |vertical neighbour difference| plus the mean
 * |horizontal neighbour difference|, averaged over samples and channels. Every (sample, channel) has the same number
 * of differences, so that average is the global mean of each direction.
 */
export function totalVariation(x: tf.Tensor, layout: InputLayout): tf.Scalar {
  return tf.tidy(() => {
    const axes = spatialAxes(x.rank, layout);
    if (!axes) return tf.scalar(0);
    const [hAxis, wAxis] = axes;
    // One pass over x forward and one backward where the backend has the fused kernels (wasm).
    const fused = fusedTotalVariation(x, hAxis, wAxis);
    if (fused) return fused;
    const h = x.shape[hAxis];
    const w = x.shape[wAxis];
    let tv: tf.Tensor = tf.scalar(0);
    if (h > 1) tv = tf.add(tv, tf.mean(tf.abs(diffAlong(x, hAxis))));
    if (w > 1) tv = tf.add(tv, tf.mean(tf.abs(diffAlong(x, wAxis))));
    return tv as tf.Scalar;
  });
}

/** The batched tensor's height and width axes, or null when it has none (flat inputs). */
export function spatialAxes(rank: number, layout: InputLayout): [number, number] | null {
  if (layout === 'NHWC' && rank === 4) return [1, 2];
  if (layout === 'NCHW' && rank === 4) return [2, 3];
  if (layout === 'HW' && rank === 3) return [1, 2];
  return null;
}

function diffAlong(x: tf.Tensor, axis: number): tf.Tensor {
  const n = x.shape[axis];
  const begin = x.shape.map(() => 0);
  const size = x.shape.map((d) => d);
  size[axis] = n - 1;
  const lo = tf.slice(x, begin, size);
  const hiBegin = [...begin];
  hiBegin[axis] = 1;
  const hi = tf.slice(x, hiBegin, size);
  return tf.sub(hi, lo);
}

/** L_ent = mean_c(p̄_c · log10 p̄_c) with p̄ the batch-mean softmax; minimising it spreads the batch over classes. */
export function entropyLoss(logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const pBar = tf.mean(tf.softmax(logits), 0);
    const log10 = tf.div(tf.log(tf.maximum(pBar, 1e-12)), Math.LN10);
    return tf.mean(tf.mul(pBar, log10)) as tf.Scalar;
  });
}

export interface LossTerms {
  cls: tf.Scalar;
  contr: tf.Scalar;
  tv: tf.Scalar;
  entropy: tf.Scalar;
  total: tf.Scalar;
}

/** All terms and their weighted sum. Terms whose weight is 0 are not computed (they read as 0). */
export function synthesisLoss(
  logits: tf.Tensor2D,
  x: tf.Tensor,
  targetsOneHot: tf.Tensor2D,
  groupSize: number,
  weights: LossWeights,
  layout: InputLayout,
): LossTerms {
  const zero = () => tf.scalar(0);
  const cls = weights.cls > 0 ? classificationLoss(logits, targetsOneHot, groupSize) : zero();
  const contr = weights.contr > 0 ? contrastiveLoss(logits, groupSize) : zero();
  const tv = weights.tv > 0 ? totalVariation(x, layout) : zero();
  const entropy = weights.entropy > 0 ? entropyLoss(logits) : zero();
  const total = tf.tidy(() =>
    tf.addN([
      tf.mul(cls, weights.cls),
      tf.mul(contr, weights.contr),
      tf.mul(tv, weights.tv),
      tf.mul(entropy, weights.entropy),
    ]),
  ) as tf.Scalar;
  return { cls, contr, tv, entropy, total };
}

/** The layout of an input shape (no batch axis) when the teacher does not declare it. */
export function inferLayout(inputShape: readonly number[]): InputLayout {
  if (inputShape.length === 3) {
    if (inputShape[2] <= 4) return 'NHWC';
    if (inputShape[0] <= 4) return 'NCHW';
    return 'NHWC';
  }
  if (inputShape.length === 2) return 'HW';
  return 'flat';
}
