import * as tf from '@tensorflow/tfjs';
import { attrFloat, attrInt } from './onnx-attrs';
import { nchw, normAxis, OpError, tensorVal, type OpFn } from './onnx-values';

// Normalisations computed from the input itself (unlike BatchNormalization's stored statistics): instance norm
// (style transfer, some GAN-era classifiers) and layer norm (transformers, ConvNeXt). Mean and variance come
// from tf.moments, so the input gradient runs through the statistics as it does in PyTorch.

/** InstanceNormalization: each sample's channel normalised over its spatial positions, then scale and bias per channel. */
export const instanceNorm: OpFn = ([x, scale, bias], a, ctx) => {
  const eps = attrFloat(a, 'epsilon', 1e-5);
  if (x!.nhwc) {
    const t = x!.t!;
    const { mean, variance } = tf.moments(t, [1, 2], true);
    const normed = tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, eps)));
    return [tensorVal(tf.add(tf.mul(normed, ctx.tensorFor(scale!)), ctx.tensorFor(bias!)), true)];
  }
  const t = nchw(x!, ctx);
  if (t.rank < 3) throw new OpError(`expects an input with spatial axes (N, C, …), got shape [${t.shape.join(',')}]`);
  const spatial = [...Array(t.rank - 2).keys()].map((i) => i + 2);
  const { mean, variance } = tf.moments(t, spatial, true);
  const perChannel: number[] = [t.shape[1]!, ...spatial.map(() => 1)];
  const normed = tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, eps)));
  return [tensorVal(tf.add(tf.mul(normed, tf.reshape(ctx.tensorFor(scale!), perChannel)), tf.reshape(ctx.tensorFor(bias!), perChannel)))];
};

/** LayerNormalization (opset 17): normalised over the axes from `axis` to the last, then scale and bias of that shape. */
export const layerNorm: OpFn = ([x, scale, bias], a, ctx) => {
  const t = nchw(x!, ctx);
  const axis = normAxis(attrInt(a, 'axis', -1), t.rank);
  const axes = [...Array(t.rank - axis).keys()].map((i) => i + axis);
  const { mean, variance } = tf.moments(t, axes, true);
  let y = tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, attrFloat(a, 'epsilon', 1e-5))));
  y = tf.mul(y, nchw(scale!, ctx));
  if (bias) y = tf.add(y, nchw(bias, ctx));
  return [tensorVal(y)];
};
