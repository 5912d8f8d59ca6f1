import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from './node-backend';
import { setSimdKernelsEnabled } from './wasm-simd';
import { fusedTotalVariation } from './tv-kernel';

/** The op-graph total variation the fused kernels replace (as in src/cake/losses.ts). */
function opGraphTv(x: tf.Tensor, hAxis: number, wAxis: number): tf.Scalar {
  const diff = (axis: number) => {
    const n = x.shape[axis];
    const size = [...x.shape];
    size[axis] = n - 1;
    const begin = x.shape.map(() => 0);
    const hiBegin = [...begin];
    hiBegin[axis] = 1;
    return tf.sub(tf.slice(x, hiBegin, size), tf.slice(x, begin, size));
  };
  let tv: tf.Tensor = tf.scalar(0);
  if (x.shape[hAxis] > 1) tv = tf.add(tv, tf.mean(tf.abs(diff(hAxis))));
  if (x.shape[wAxis] > 1) tv = tf.add(tv, tf.mean(tf.abs(diff(wAxis))));
  return tv as tf.Scalar;
}

beforeAll(async () => {
  expect(await initNodeBackend()).toBe('wasm');
});

describe('fused total variation (wasm)', () => {
  const cases: [string, number[], number, number][] = [
    ['NHWC 1 channel', [3, 8, 7, 1], 1, 2],
    ['NHWC 3 channels', [2, 5, 6, 3], 1, 2],
    ['NCHW', [2, 3, 6, 5], 2, 3],
    ['HW', [4, 5, 9], 1, 2],
    ['height 1', [2, 1, 6, 2], 1, 2],
  ];
  const modes = cases.flatMap((c) => [
    [...c, 'simd'],
    [...c, 'js'],
  ]) as [string, number[], number, number, string][];
  it.each(modes)('%s: value and gradient match the op graph (%s kernels)', (_, shape, hAxis, wAxis, mode) => {
    setSimdKernelsEnabled(mode === 'simd');
    tf.tidy(() => {
      // Integer-valued inputs give exact ties (zero differences), where the gradient must follow tfjs' Abs gradient (step(d, -1)).
      const x = tf.round(tf.randomUniform(shape, -3, 3, 'float32', 7));
      const scale = tf.scalar(1.7);
      const fusedFn = (v: tf.Tensor) => tf.mul(fusedTotalVariation(v, hAxis, wAxis)!, scale);
      const opFn = (v: tf.Tensor) => tf.mul(opGraphTv(v, hAxis, wAxis), scale);
      const a = tf.valueAndGrad(fusedFn)(x);
      const b = tf.valueAndGrad(opFn)(x);
      expect(a.value.dataSync()[0]).toBeCloseTo(b.value.dataSync()[0], 5);
      const ga = a.grad.dataSync();
      const gb = b.grad.dataSync();
      let worst = 0;
      for (let i = 0; i < gb.length; i++) worst = Math.max(worst, Math.abs(ga[i] - gb[i]));
      expect(worst).toBeLessThan(1e-6);
    });
    setSimdKernelsEnabled(true);
  });

  it('is null where the backend has no fused kernels', async () => {
    await tf.setBackend('cpu');
    try {
      expect(fusedTotalVariation(tf.zeros([1, 4, 4, 1]), 1, 2)).toBeNull();
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('leaks no tensors', () => {
    const x = tf.randomNormal([2, 6, 6, 1]);
    const before = tf.memory().numTensors;
    const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => fusedTotalVariation(v, 1, 2)!)(x);
    tf.dispose([value, grad]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
