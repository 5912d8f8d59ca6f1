import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from './node-backend';
import { winogradApplies, winogradConv, winogradFilter } from './winograd-conv';

const relError = (a: tf.Tensor, b: tf.Tensor) =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / Math.max(1e-12, tf.max(tf.abs(b)).dataSync()[0]));

describe('Winograd F(2x2, 3x3) convolution (wasm)', () => {
  beforeAll(async () => {
    await initNodeBackend();
  });

  it('applies to 3x3 stride-1 convolutions with channels in fours only', () => {
    expect(winogradApplies([3, 3, 16, 32], [1, 1], [1, 1])).toBe(true);
    expect(winogradApplies([3, 3, 3, 16], [1, 1], [1, 1])).toBe(false);
    expect(winogradApplies([3, 3, 16, 32], [2, 2], [1, 1])).toBe(false);
    expect(winogradApplies([5, 5, 16, 32], [1, 1], [1, 1])).toBe(false);
    expect(winogradApplies([3, 3, 16, 32], [1, 1], [2, 2])).toBe(false);
  });

  // Odd sizes leave partial tiles at the bottom and right; 'valid' and asymmetric padding move the tile grid.
  const cases: { x: [number, number, number, number]; co: number; pad: 'same' | 'valid' | [[number, number], [number, number]] }[] = [
    { x: [3, 8, 8, 4], co: 8, pad: 'same' },
    { x: [2, 7, 9, 8], co: 4, pad: 'same' },
    { x: [2, 9, 6, 4], co: 12, pad: 'valid' },
    { x: [1, 6, 7, 4], co: 4, pad: [[0, 1], [2, 0]] },
    { x: [65, 4, 4, 4], co: 4, pad: 'same' }, // more tiles than one block of 64
  ];
  for (const c of cases) {
    it(`matches conv2d + bias + residual + clamp for x [${c.x}], ${c.co} outputs, pad ${JSON.stringify(c.pad)}`, () => {
      const [n, h, w, ci] = c.x;
      const x = tf.randomNormal(c.x, 0, 1, 'float32', 1) as tf.Tensor4D;
      const f = tf.randomNormal([3, 3, ci, c.co], 0, 1, 'float32', 2) as tf.Tensor4D;
      const bias = tf.randomNormal([c.co], 0, 1, 'float32', 3) as tf.Tensor1D;
      const pad = typeof c.pad === 'string' ? c.pad : ([[0, 0], ...c.pad, [0, 0]] as never);
      const info = tf.backend_util.computeConv2DInfo(c.x, f.shape, 1, 1, pad);
      const res = tf.randomNormal([n, info.outHeight, info.outWidth, c.co], 0, 1, 'float32', 4);
      const u = tf.tensor(winogradFilter(f.dataSync() as Float32Array, ci, c.co), [16, ci, c.co]);
      const expected = tf.clipByValue(tf.add(tf.add(tf.conv2d(x, f, 1, pad), bias), res), 0, 6);
      const actual = winogradConv(x, u, {
        padTop: info.padInfo.top,
        padLeft: info.padInfo.left,
        outHeight: info.outHeight,
        outWidth: info.outWidth,
        lo: 0,
        hi: 6,
        bias,
        residual: res,
      });
      expect(actual.shape).toEqual(expected.shape);
      expect(relError(actual, expected)).toBeLessThan(1e-5);

      // The input gradient: the flipped filter, 2 - pad rows in front, the input's size out.
      const dy = tf.randomNormal(expected.shape as [number, number, number, number], 0, 1, 'float32', 5) as tf.Tensor4D;
      const ub = tf.tensor(winogradFilter(f.dataSync() as Float32Array, ci, c.co, true), [16, c.co, ci]);
      const dx = winogradConv(dy, ub, {
        padTop: 2 - info.padInfo.top,
        padLeft: 2 - info.padInfo.left,
        outHeight: h,
        outWidth: w,
        lo: -Infinity,
        hi: Infinity,
      });
      const dxExpected = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(t as tf.Tensor4D, f, 1, pad), dy)))(x);
      expect(relError(dx, dxExpected)).toBeLessThan(1e-5);
      tf.dispose([x, f, bias, res, u, expected, actual, dy, ub, dx, dxExpected]);
    });
  }
});
