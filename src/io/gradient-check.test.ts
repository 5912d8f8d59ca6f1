import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { checkInputGradient } from './gradient-check';

beforeAll(async () => {
  await initNodeBackend();
});

/** A smooth two-layer net written with plain ops, so its gradient can be tampered with. */
function net(seed: number) {
  const w1 = tf.randomNormal([16, 8], 0, 0.5, 'float32', seed);
  const w2 = tf.randomNormal([8, 3], 0, 0.5, 'float32', seed + 1);
  const forward = (x: tf.Tensor) => tf.matMul(tf.tanh(tf.matMul(x.reshape([-1, 16]), w1)), w2) as tf.Tensor2D;
  return { forward, dispose: () => tf.dispose([w1, w2]) };
}

describe('checkInputGradient', () => {
  it('accepts a correct gradient', async () => {
    const { forward, dispose } = net(1);
    const r = await checkInputGradient(forward, [4, 4]);
    dispose();
    expect(r.ok).toBe(true);
    expect(r.maxRelError).toBeLessThan(0.01);
  });

  it('accepts inputs drawn from a given range', async () => {
    const { forward, dispose } = net(2);
    const r = await checkInputGradient(forward, [16], { range: [0, 1] });
    dispose();
    expect(r.ok).toBe(true);
  });

  it('catches a wrong gradient and names the coordinate', async () => {
    const { forward, dispose } = net(3);
    // Identity going forward, ×3 going backward: the same logits, but the claimed gradient is 3× the true one.
    const tripleGrad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
      value: tf.clone(args[0] as tf.Tensor),
      gradFunc: (dy: tf.Tensor) => tf.mul(dy, 3),
    }));
    const scaledWrongly = (x: tf.Tensor) => forward(tripleGrad(x));
    const r = await checkInputGradient((x) => scaledWrongly(x) as tf.Tensor2D, [4, 4]);
    dispose();
    expect(r.ok).toBe(false);
    expect(r.maxRelError).toBeGreaterThan(0.5);
    expect(r.message).toMatch(/^the input gradient disagrees with finite differences at sample \d, input \[\d+,\d+\]/);
  });

  it('reports an all-zero gradient', async () => {
    const r = await checkInputGradient((x) => tf.tile(tf.tensor2d([[1, 2, 3]]), [x.shape[0], 1]).add(tf.mul(x.sum(), 0)) as tf.Tensor2D, [5]);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/^all gradients of the logits with respect to the input are zero/);
  });

  it('leaks no tensors', async () => {
    const { forward, dispose } = net(4);
    const before = tf.memory().numTensors;
    await checkInputGradient(forward, [4, 4]);
    expect(tf.memory().numTensors).toBe(before);
    dispose();
  });
});
