import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from './node-backend';
import { setSimdKernelsEnabled, simdKernels } from './wasm-simd';
import { mergeSliceAxes, registerWasmFastKernels, swapForm, unregisterWasmFastKernels } from './wasm-fast-kernels';

beforeAll(async () => {
  expect(await initNodeBackend()).toBe('wasm');
});

afterAll(() => {
  setSimdKernelsEnabled(true);
  registerWasmFastKernels();
});

/** f's values and dtype with the stock wasm kernels and with ours. */
function stockAndFast(f: () => tf.Tensor): { stock: tf.TypedArray; fast: tf.TypedArray; shapes: number[][]; dtypes: string[] } {
  unregisterWasmFastKernels();
  const a = tf.tidy(f);
  registerWasmFastKernels();
  const b = tf.tidy(f);
  const out = { stock: a.dataSync(), fast: b.dataSync(), shapes: [a.shape, b.shape], dtypes: [a.dtype, b.dtype] };
  tf.dispose([a, b]);
  return out;
}

function expectIdentical(f: () => tf.Tensor): void {
  const { stock, fast, shapes, dtypes } = stockAndFast(f);
  expect(shapes[1]).toEqual(shapes[0]);
  expect(dtypes[1]).toBe(dtypes[0]);
  // Equal values; +0 and -0 count as the same (a product with a zero mask keeps the sign of the other factor).
  const plain = (v: tf.TypedArray) => Array.from(v, (e) => e + 0);
  expect(plain(fast)).toEqual(plain(stock));
}

const seeded = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

describe('mergeSliceAxes', () => {
  it('merges axes taken whole into the axis before them and drops size-1 axes', () => {
    expect(mergeSliceAxes([500, 32, 32, 1], [0, 1, 0, 0], [500, 31, 32, 1])).toEqual({
      shape: [500, 1024],
      begin: [0, 32],
      size: [500, 992],
    });
    expect(mergeSliceAxes([500, 32, 32, 1], [0, 0, 1, 0], [500, 32, 31, 1])).toEqual({
      shape: [16000, 32],
      begin: [0, 1],
      size: [16000, 31],
    });
    expect(mergeSliceAxes([1, 1], [0, 0], [1, 1])).toEqual({ shape: [1], begin: [0], size: [1] });
  });
});

describe('swapForm', () => {
  it('reduces permutations to a swap of two middle axis groups, or null', () => {
    expect(swapForm([4, 3, 5, 2], [0, 2, 1, 3])).toEqual([4, 3, 5, 2]);
    expect(swapForm([4, 3, 5, 2], [1, 2, 0, 3])).toEqual([1, 4, 15, 2]);
    expect(swapForm([7, 3, 5, 1], [3, 1, 2, 0])).toEqual([1, 7, 15, 1]);
    expect(swapForm([4, 3, 5], [0, 2, 1])).toEqual([4, 3, 5, 1]);
    expect(swapForm([4, 3], [1, 0])).toEqual([1, 4, 3, 1]);
    expect(swapForm([4, 3, 5], [0, 1, 2])).toEqual([1, 1, 1, 60]);
    expect(swapForm([4, 3, 5], [2, 0, 1])).toEqual([1, 12, 5, 1]);
    expect(swapForm([4, 3, 5, 2], [3, 2, 1, 0])).toBeNull();
  });
});

describe.each(['simd', 'js'])('fast wasm kernels (%s) give the stock kernels’ values', (mode) => {
  beforeAll(() => setSimdKernelsEnabled(mode === 'simd'));

  it('Slice, for crops along every axis, ints and bools', () => {
    const x = seeded([3, 5, 7, 4], 1);
    const boxes: [number[], number[]][] = [
      [[0, 0, 0, 0], [3, 5, 7, 4]],
      [[1, 2, 3, 1], [2, 3, 4, 2]],
      [[0, 1, 0, 0], [3, 4, 7, 4]],
      [[2, 0, 0, 3], [1, 5, 7, 1]],
      [[0, 0, 6, 0], [3, 5, 1, 4]],
      [[0, 0, 1, 0], [3, 5, 6, 4]],
    ];
    for (const [begin, size] of boxes) expectIdentical(() => tf.slice(x, begin, size));
    expectIdentical(() => tf.slice(tf.range(0, 30, 1, 'int32').reshape([5, 6]), [1, 2], [3, 3]));
    expectIdentical(() => tf.slice(tf.greater(x, 0), [0, 1, 2, 0], [2, 2, 2, 4]));
    expectIdentical(() => tf.slice(x, [0, 0, 0, 0], [3, 0, 7, 4]));
    x.dispose();
  });

  it('PadV2, Identity and Cast', () => {
    const x = seeded([3, 5, 7, 4], 2);
    expectIdentical(() => tf.pad(x, [[1, 0], [0, 2], [3, 1], [0, 0]], 0.5));
    expectIdentical(() => tf.pad(tf.range(0, 10), [[2, 3]]));
    expectIdentical(() => tf.pad(tf.range(0, 10, 1, 'int32').reshape([2, 5]), [[0, 1], [2, 3]], 7));
    expectIdentical(() => tf.clone(x));
    expectIdentical(() => tf.cast(x, 'float32'));
    expectIdentical(() => tf.cast(x, 'int32'));
    x.dispose();
  });

  it('Transpose, for the permutations it speeds up and others', () => {
    const x = seeded([4, 3, 5, 2], 11);
    for (const perm of [[0, 2, 1, 3], [1, 2, 0, 3], [3, 1, 2, 0], [0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 1, 3], [1, 0, 2, 3]]) {
      expectIdentical(() => tf.transpose(x, perm));
    }
    expectIdentical(() => tf.transpose(seeded([6, 1, 4, 1], 12), [2, 1, 0, 3]));
    expectIdentical(() => tf.transpose(tf.range(0, 12, 1, 'int32').reshape([3, 4]), [1, 0]));
    x.dispose();
  });

  it('Add with a broadcast bias, in either order, and other adds', () => {
    const x = seeded([7, 5, 6, 3], 3);
    const bias = seeded([3], 4);
    expectIdentical(() => tf.add(x, bias));
    expectIdentical(() => tf.add(bias, x));
    expectIdentical(() => tf.add(x, bias.reshape([1, 1, 1, 3])));
    expectIdentical(() => tf.add(x, x));
    expectIdentical(() => tf.add(x, 2));
    expectIdentical(() => tf.add(tf.range(0, 12, 1, 'int32').reshape([4, 3]), tf.tensor1d([1, 2, 3], 'int32')));
    tf.dispose([x, bias]);
  });

  it('BatchMatMul with transposed operands', () => {
    const a = seeded([13, 7], 5);
    const b = seeded([9, 7], 6);
    const c = seeded([13, 9], 7);
    const d = seeded([5, 13], 8);
    expectIdentical(() => tf.matMul(a, b, false, true));
    expectIdentical(() => tf.matMul(a, c, true, false));
    expectIdentical(() => tf.matMul(c, d, true, true));
    expectIdentical(() => tf.matMul(a.reshape([1, 13, 7]), b.reshape([1, 9, 7]), false, true));
    expectIdentical(() => tf.matMul(tf.stack([a, a]), tf.stack([b, b]), false, true));
    tf.dispose([a, b, c, d]);
  });

  it('MaxPoolGrad after a ReLU (where the stock kernel is right)', () => {
    for (const [shape, size, stride, pad] of [
      [[2, 8, 8, 6], 2, 2, 'valid'],
      [[3, 28, 28, 5], 2, 2, 'valid'],
      [[2, 7, 9, 3], 2, 2, 'valid'],
      [[2, 9, 9, 4], 3, 2, 'same'],
    ] as [number[], number, number, 'valid' | 'same'][]) {
      // The gradient through ReLU then the pool: all-zero windows differ before the ReLU's gradient zeroes them.
      const x = seeded(shape, 9);
      const y = tf.maxPool(x as tf.Tensor4D, size, stride, pad);
      const w = seeded(y.shape, 10);
      const pooled = (v: tf.Tensor) => tf.maxPool(tf.relu(v) as tf.Tensor4D, size, stride, pad);
      expectIdentical(() => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(pooled(v), w)))(x));
      tf.dispose([x, y, w]);
    }
  });
});

describe('MaxPoolGrad on wasm matches the cpu backend', () => {
  /** Windows with ties, negative values and -inf: the first maximum gets the gradient; -inf-only windows none. */
  it.each(['simd', 'js'])('2x2/2 with ties, negatives and -inf (%s)', async (mode) => {
    setSimdKernelsEnabled(mode === 'simd');
    const values = [
      [1, 1, 1, 1], // tie: first
      [-3, -1, -1, -2], // negatives, tie between b and c: b
      [-Infinity, -Infinity, -Infinity, -Infinity], // nothing
      [-Infinity, -5, -Infinity, -5], // b
      [0, 0, 0, 2], // d
      [0, 3, 3, 0], // b
    ];
    // One window per channel: [1, 2, 2, 6].
    const data = new Float32Array(24);
    values.forEach((v, c) => v.forEach((val, k) => (data[k * 6 + c] = val)));
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(data, [1, 2, 2, 6]);
        const w = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 1, 1, 6]);
        return tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(v as tf.Tensor4D, 2, 2, 'valid'), w)))(x).dataSync();
      });
    const wasm = Array.from(run());
    await tf.setBackend('cpu');
    const cpu = Array.from(run());
    await tf.setBackend('wasm');
    setSimdKernelsEnabled(true);
    expect(wasm).toEqual(cpu);
  });
});

describe('SIMD kernels', () => {
  it('load on the Node wasm backend', () => {
    setSimdKernelsEnabled(true);
    expect(simdKernels(tf.backend())).not.toBeNull();
  });
});
