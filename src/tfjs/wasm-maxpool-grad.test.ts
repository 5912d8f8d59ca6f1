import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from './node-backend';
import { registerWasmMaxPoolGradFix } from './wasm-maxpool-grad';

beforeAll(async () => {
  await initNodeBackend();
  registerWasmMaxPoolGradFix();
});

async function onBoth(f: () => tf.Tensor): Promise<[Float32Array, Float32Array]> {
  const wasm = tf.tidy(f).dataSync() as Float32Array;
  await tf.setBackend('cpu');
  const cpu = tf.tidy(f).dataSync() as Float32Array;
  await tf.setBackend('wasm');
  return [wasm, cpu];
}

describe('the wasm MaxPoolGrad fix', () => {
  const cases: [string, number[], number, number, 'valid' | 'same'][] = [
    ['2×2/2 valid, negative values, several channels', [2, 8, 8, 6], 2, 2, 'valid'],
    ['3×3/2 same, odd size', [1, 7, 7, 3], 3, 2, 'same'],
    ['3×3/1 same, overlapping windows', [2, 5, 5, 2], 3, 1, 'same'],
  ];
  it.each(cases)('%s: matches the cpu backend', async (_, shape, size, stride, pad) => {
    const [wasm, cpu] = await onBoth(() => {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
      const y = tf.maxPool(x as tf.Tensor4D, size, stride, pad);
      const w = tf.randomNormal(y.shape, 0, 1, 'float32', 2);
      return tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(v as tf.Tensor4D, size, stride, pad), w)))(x);
    });
    let worst = 0;
    for (let i = 0; i < cpu.length; i++) worst = Math.max(worst, Math.abs(wasm[i] - cpu[i]));
    expect(worst).toBeLessThan(1e-6);
  });
});
