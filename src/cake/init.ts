import * as tf from '@tensorflow/tfjs';
import type { Rng } from './rng';

/**
 * Re-initialises a student's kernels and biases from the run's RNG with PyTorch's default rule for Conv2d and Linear
 * (kaiming_uniform with a = √5, i.e. U(±1/√fan_in), for weights and biases alike), as the reference's students get.
 * Drawing from our RNG rather than tfjs' initialisers makes the same seed give the same student on every backend.
 * Other weights (BatchNorm's gamma/beta/statistics) keep the values the layer was built with.
 */
export function initStudentWeights(model: tf.LayersModel, rng: Rng): void {
  for (const layer of model.layers) {
    const weights = layer.getWeights();
    if (weights.length === 0) continue;
    const names = layer.weights.map((w) => w.originalName.split('/').pop() ?? '');
    const kernelIndex = names.findIndex((n) => n === 'kernel' || n === 'depthwise_kernel');
    if (kernelIndex < 0) continue;
    const kernelShape = weights[kernelIndex].shape;
    const bound = 1 / Math.sqrt(Math.max(1, fanIn(kernelShape, names[kernelIndex])));
    const fresh = weights.map((w, i) =>
      names[i] === 'kernel' || names[i] === 'depthwise_kernel' || names[i] === 'bias'
        ? tf.tensor(rng.fillUniform(new Float32Array(w.size), -bound, bound), w.shape)
        : w.clone(),
    );
    layer.setWeights(fresh);
    tf.dispose(fresh);
  }
}

/** Fan-in of a tfjs kernel: Dense [in, out]; Conv2D [kh, kw, in, out]; depthwise [kh, kw, in, mult] (one input each). */
function fanIn(shape: number[], name: string): number {
  if (shape.length === 2) return shape[0];
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return name === 'depthwise_kernel' ? receptive : receptive * shape[shape.length - 2];
}
