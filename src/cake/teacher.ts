import type * as tf from '@tensorflow/tfjs';

/**
 * What CAKE needs from a teacher, and nothing more: its input shape, how many classes it tells apart, and
 * differentiable pre-softmax logits. No data, no BatchNorm statistics, no internal layers.
 */
export interface Teacher {
  /** Input shape without the batch axis, exactly as the teacher takes it (e.g. [32, 32, 1], [28, 28], [1, 28, 28]). */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** Where the spatial axes are, for the image prior; inferred from inputShape when absent. */
  readonly layout?: 'NHWC' | 'NCHW' | 'HW' | 'flat';
  /**
   * Logits of shape [batch, numClasses] for x of shape [batch, ...inputShape]. Must be differentiable with
   * respect to x: synthesis backpropagates through it.
   */
  logits(x: tf.Tensor): tf.Tensor2D;
}
