import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from './node-backend';
import { stridedInputGrad, stridedInputGradPlan } from './strided-input-grad';

const relError = (a: tf.Tensor, b: tf.Tensor) =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / Math.max(1e-12, tf.max(tf.abs(b)).dataSync()[0]));

describe('strided conv input gradient by phases (wasm)', () => {
  beforeAll(async () => {
    await initNodeBackend();
  });

  const cases: { x: [number, number, number, number]; filter: [number, number, number, number]; strides: [number, number]; pad: 'same' | 'valid' }[] = [
    { x: [2, 8, 8, 4], filter: [3, 3, 4, 8], strides: [2, 2], pad: 'same' }, // ResNet's downsampling conv
    { x: [2, 9, 7, 3], filter: [3, 3, 3, 5], strides: [2, 2], pad: 'same' }, // odd sizes
    { x: [2, 8, 8, 4], filter: [1, 1, 4, 8], strides: [2, 2], pad: 'same' }, // a shortcut: three phases are zero
    { x: [1, 11, 10, 2], filter: [3, 3, 2, 4], strides: [2, 2], pad: 'valid' },
    { x: [1, 12, 9, 2], filter: [5, 4, 2, 3], strides: [3, 2], pad: 'same' },
  ];
  for (const c of cases) {
    it(`matches tfjs for x [${c.x}], filter [${c.filter}], strides ${c.strides}, ${c.pad}`, () => {
      const x = tf.randomNormal(c.x, 0, 1, 'float32', 1) as tf.Tensor4D;
      const f = tf.randomNormal(c.filter, 0, 1, 'float32', 2) as tf.Tensor4D;
      const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
      const plan = stridedInputGradPlan(() => f.dataSync() as Float32Array, c.filter, info);
      expect(plan).not.toBeNull();
      const dy = tf.randomNormal([c.x[0], info.outHeight, info.outWidth, c.filter[3]], 0, 1, 'float32', 3) as tf.Tensor4D;
      const expected = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(t as tf.Tensor4D, f, c.strides, c.pad), dy)))(x);
      const actual = stridedInputGrad(dy, plan!);
      expect(actual.shape).toEqual(c.x);
      expect(relError(actual, expected)).toBeLessThan(1e-5);
      tf.dispose([x, f, dy, expected, actual, ...plan!.filters]);
    });
  }

  it('declines stride 1 and dilated convolutions', () => {
    const info1 = tf.backend_util.computeConv2DInfo([1, 8, 8, 2], [3, 3, 2, 2], 1, 1, 'same');
    expect(stridedInputGradPlan(() => new Float32Array(36), [3, 3, 2, 2], info1)).toBeNull();
  });
});
