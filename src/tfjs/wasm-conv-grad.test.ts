import * as tf from '@tensorflow/tfjs';
import { beforeAll, afterEach, describe, expect, it } from 'vitest';
import { initNodeBackend } from './node-backend';
import {
  registerWasmGradKernels,
  setCol2imOverride,
  setUseFastConvBackpropInput,
  useFastConvBackpropInput,
  wasmGradKernelFuncs,
} from './wasm-conv-grad';

type Pad = 'same' | 'valid' | number;
type Shape4 = [number, number, number, number];

/** Park-Miller LCG: the same inputs on every run and on both backends. */
function rng(seed: number): () => number {
  let s = seed % 2147483647 || 1;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
}

function randomValues(next: () => number, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() * 2 - 1;
  return out;
}

/** max |a - b| relative to the largest |b|: the tolerance the wasm kernels are held to. */
function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

async function onBackend<T>(name: string, fn: () => T): Promise<T> {
  await tf.setBackend(name);
  try {
    return fn();
  } finally {
    await tf.setBackend('wasm');
  }
}

interface ConvCase {
  x: Shape4;
  /** [kh, kw, inChannels, outChannels] for conv2d; [kh, kw, inChannels, multiplier] for depthwise. */
  filter: Shape4;
  strides: number | [number, number];
  pad: Pad;
  depthwise: boolean;
}

function outShape(c: ConvCase): number[] {
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, undefined, c.depthwise).outShape;
}

/** Gradients of sum(conv(x, w) * r) w.r.t. x and w, with r a fixed random "upstream gradient". */
function convGrads(c: ConvCase, xv: Float32Array, wv: Float32Array, rv: Float32Array): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, c.x);
    const w = tf.tensor4d(wv, c.filter);
    const r = tf.tensor(rv, outShape(c));
    const loss = (a: tf.Tensor, b: tf.Tensor) => {
      const y = c.depthwise
        ? tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad)
        : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad);
      return tf.sum(tf.mul(y, r));
    };
    return tf.grads(loss)([x, w]).map((g) => g.dataSync() as Float32Array);
  });
}

async function compareWithCpu(c: ConvCase, seed: number): Promise<{ dx: number; dw: number }> {
  const next = rng(seed);
  const xv = randomValues(next, c.x);
  const wv = randomValues(next, c.filter);
  const rv = randomValues(next, outShape(c));
  const [dxWasm, dwWasm] = convGrads(c, xv, wv, rv);
  const [dxCpu, dwCpu] = await onBackend('cpu', () => convGrads(c, xv, wv, rv));
  return { dx: relError(dxWasm, dxCpu), dw: relError(dwWasm, dwCpu) };
}

/** Random conv shapes from a fixed seed: odd and even sizes, batch 1 and > 1, strides 1 and 2, same and valid. */
function randomCases(seed: number, count: number, depthwise: boolean): ConvCase[] {
  const next = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)];
  const cases: ConvCase[] = [];
  while (cases.length < count) {
    const k = pick([1, 2, 3, 4, 5]);
    const c: ConvCase = {
      x: [pick([1, 2, 3]), pick([5, 6, 7, 8, 9, 12]), pick([5, 6, 7, 10, 11]), pick([1, 2, 3, 6])],
      filter: [k, next() < 0.75 ? k : pick([1, 2, 3]), 0, depthwise ? pick([1, 2]) : pick([1, 3, 4, 8])],
      strides: pick([1, 2, 1, 2, [1, 2], [2, 1]]) as ConvCase['strides'],
      pad: pick(['same', 'valid'] as Pad[]),
      depthwise,
    };
    c.filter[2] = c.x[3];
    if (c.pad === 'valid' && (c.filter[0] > c.x[1] || c.filter[1] > c.x[2])) continue;
    cases.push(c);
  }
  return cases;
}

const fixedConvCases: ConvCase[] = [
  // LeNet-5 shaped (small batch): valid 5x5, and C5 whose output is 1x1.
  { x: [3, 32, 32, 1], filter: [5, 5, 1, 6], strides: 1, pad: 'valid', depthwise: false },
  { x: [2, 14, 14, 6], filter: [5, 5, 6, 16], strides: 1, pad: 'valid', depthwise: false },
  { x: [4, 5, 5, 16], filter: [5, 5, 16, 12], strides: 1, pad: 'valid', depthwise: false },
  // ResNet-ish: same padding, stride 2 on even and odd sizes.
  { x: [2, 16, 16, 8], filter: [3, 3, 8, 8], strides: 2, pad: 'same', depthwise: false },
  { x: [2, 15, 15, 4], filter: [3, 3, 4, 8], strides: 2, pad: 'same', depthwise: false },
  { x: [1, 9, 9, 3], filter: [3, 3, 3, 5], strides: 2, pad: 'valid', depthwise: false },
  { x: [2, 8, 8, 4], filter: [1, 1, 4, 6], strides: 2, pad: 'same', depthwise: false },
  // Explicit numeric padding.
  { x: [2, 7, 7, 3], filter: [3, 3, 3, 4], strides: 1, pad: 2, depthwise: false },
  { x: [1, 8, 8, 2], filter: [4, 4, 2, 3], strides: 2, pad: 1, depthwise: false },
];

const fixedDepthwiseCases: ConvCase[] = [
  { x: [2, 16, 16, 8], filter: [3, 3, 8, 1], strides: 1, pad: 'same', depthwise: true },
  { x: [2, 16, 16, 8], filter: [3, 3, 8, 2], strides: 2, pad: 'same', depthwise: true },
  { x: [3, 9, 9, 4], filter: [3, 3, 4, 2], strides: 2, pad: 'valid', depthwise: true },
  { x: [1, 7, 10, 3], filter: [5, 5, 3, 1], strides: 1, pad: 'valid', depthwise: true },
  { x: [2, 7, 7, 3], filter: [3, 3, 3, 2], strides: 1, pad: 1, depthwise: true },
];

const TOLERANCE = 1e-4;
const label = (c: ConvCase) =>
  `x=[${c.x}] filter=[${c.filter}] strides=${JSON.stringify(c.strides)} pad=${c.pad}`;

beforeAll(async () => {
  expect(await initNodeBackend()).toBe('wasm');
});

afterEach(async () => {
  await tf.setBackend('wasm');
});

describe('registerWasmGradKernels', () => {
  it('provides the conv gradient kernels that tfjs-backend-wasm 4.22 lacks', () => {
    const missing = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'];
    for (const name of missing) expect(tf.getKernel(name, 'wasm'), name).toBeDefined();
  });

  it('is idempotent', () => {
    const before = ['Conv2DBackpropFilter', 'Conv2DBackpropInput'].map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
    registerWasmGradKernels();
    registerWasmGradKernels();
    const after = ['Conv2DBackpropFilter', 'Conv2DBackpropInput'].map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
    expect(after).toEqual(before);
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc === wasmGradKernelFuncs.conv2DBackpropInput).toBe(
      useFastConvBackpropInput,
    );
  });

  it('useFastConvBackpropInput can be switched off and on again', async () => {
    const c: ConvCase = { x: [2, 9, 9, 4], filter: [3, 3, 4, 5], strides: 2, pad: 'same', depthwise: false };
    try {
      setUseFastConvBackpropInput(false);
      registerWasmGradKernels();
      expect(tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc).not.toBe(wasmGradKernelFuncs.conv2DBackpropInput);
      expect((await compareWithCpu(c, 9)).dx).toBeLessThan(TOLERANCE);
    } finally {
      setUseFastConvBackpropInput(true);
      registerWasmGradKernels();
    }
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc).toBe(wasmGradKernelFuncs.conv2DBackpropInput);
    expect((await compareWithCpu(c, 9)).dx).toBeLessThan(TOLERANCE);
  });

  it('initNodeBackend is idempotent and restores wasm', async () => {
    await tf.setBackend('cpu');
    expect(await initNodeBackend()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('conv2d gradients on wasm match cpu', () => {
  it.each(fixedConvCases.map((c) => [label(c), c] as const))('%s', async (_name, c) => {
    const err = await compareWithCpu(c, 1234);
    expect(err.dw).toBeLessThan(TOLERANCE);
    expect(err.dx).toBeLessThan(TOLERANCE);
  });

  it('random shapes from a fixed seed', async () => {
    const cases = randomCases(42, 40, false);
    for (const [i, c] of cases.entries()) {
      const err = await compareWithCpu(c, 100 + i);
      expect(err.dw, `dW ${label(c)}`).toBeLessThan(TOLERANCE);
      expect(err.dx, `dx ${label(c)}`).toBeLessThan(TOLERANCE);
    }
  });
});

describe('depthwiseConv2d gradients on wasm match cpu', () => {
  it.each(fixedDepthwiseCases.map((c) => [label(c), c] as const))('%s', async (_name, c) => {
    const err = await compareWithCpu(c, 4321);
    expect(err.dw).toBeLessThan(TOLERANCE);
    expect(err.dx).toBeLessThan(TOLERANCE);
  });

  it('random shapes from a fixed seed (channel multipliers 1 and 2)', async () => {
    const cases = randomCases(7, 30, true);
    expect(new Set(cases.map((c) => c.filter[3]))).toEqual(new Set([1, 2]));
    for (const [i, c] of cases.entries()) {
      const err = await compareWithCpu(c, 200 + i);
      expect(err.dw, `dW ${label(c)}`).toBeLessThan(TOLERANCE);
      expect(err.dx, `dx ${label(c)}`).toBeLessThan(TOLERANCE);
    }
  });

  it('supports dilation in the kernels (checked against a direct sum; the cpu kernels ignore dilation)', () => {
    const next = rng(99);
    for (const [B, H, W, C, M, KH, KW, d, pad] of [
      [2, 9, 8, 3, 2, 3, 3, 2, 'same'],
      [1, 10, 7, 2, 1, 2, 3, 3, 'valid'],
    ] as [number, number, number, number, number, number, number, number, Pad][]) {
      const info = tf.backend_util.computeConv2DInfo([B, H, W, C], [KH, KW, C, M], 1, d, pad, undefined, true);
      const { outHeight: OH, outWidth: OW } = info;
      const { top, left } = info.padInfo;
      const xv = randomValues(next, [B, H, W, C]);
      const wv = randomValues(next, [KH, KW, C, M]);
      const gv = randomValues(next, [B, OH, OW, C * M]);
      const dx = new Float32Array(B * H * W * C);
      const dw = new Float32Array(KH * KW * C * M);
      for (let b = 0; b < B; b++)
        for (let oh = 0; oh < OH; oh++)
          for (let ow = 0; ow < OW; ow++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh + kh * d - top;
                const iw = ow + kw * d - left;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                for (let c = 0; c < C; c++)
                  for (let m = 0; m < M; m++) {
                    const g = gv[((b * OH + oh) * OW + ow) * C * M + c * M + m];
                    dx[((b * H + ih) * W + iw) * C + c] += g * wv[((kh * KW + kw) * C + c) * M + m];
                    dw[((kh * KW + kw) * C + c) * M + m] += g * xv[((b * H + ih) * W + iw) * C + c];
                  }
              }
      const [gotDx, gotDw] = tf.tidy(() => {
        const dy = tf.tensor4d(gv, [B, OH, OW, C * M]);
        const attrs = { strides: 1, pad, dilations: d };
        const gx = tf.engine().runKernel(
          'DepthwiseConv2dNativeBackpropInput',
          { dy, filter: tf.tensor4d(wv, [KH, KW, C, M]) },
          { ...attrs, inputShape: [B, H, W, C] },
        ) as tf.Tensor;
        const gw = tf.engine().runKernel(
          'DepthwiseConv2dNativeBackpropFilter',
          { x: tf.tensor4d(xv, [B, H, W, C]), dy },
          { ...attrs, filterShape: [KH, KW, C, M] },
        ) as tf.Tensor;
        return [gx.dataSync(), gw.dataSync()];
      });
      expect(relError(gotDx, dx)).toBeLessThan(TOLERANCE);
      expect(relError(gotDw, dw)).toBeLessThan(TOLERANCE);
    }
  });
});

describe('Conv2DBackpropInput through XNNPACK', () => {
  /** Runs a kernel function directly, as the engine would, and reads its output. */
  function runDirect(kernel: tf.KernelFunc, dy: tf.Tensor, filter: tf.Tensor, attrs: object): Float32Array {
    const args = { inputs: { dy, filter }, backend: tf.backend(), attrs: attrs as tf.NamedAttrMap };
    const info = kernel(args) as tf.TensorInfo;
    const t = tf.engine().makeTensorFromTensorInfo(info);
    const values = t.dataSync() as Float32Array;
    t.dispose();
    return values;
  }

  /** dx on the cpu backend, the reference. */
  const cpuBackpropInput = (c: ConvCase, dyv: Float32Array, wv: Float32Array) =>
    onBackend('cpu', () =>
      tf.tidy(() => {
        const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x } as unknown as tf.NamedAttrMap;
        const inputs = { dy: tf.tensor(dyv, outShape(c)), filter: tf.tensor4d(wv, c.filter) };
        return (tf.engine().runKernel('Conv2DBackpropInput', inputs, attrs) as tf.Tensor).dataSync() as Float32Array;
      }),
    );

  /** Each kernel's input gradient for each case (random dy and filter, seeded from `seed` + the case's index) against cpu's. */
  async function expectBackpropInputAsCpu(cases: ConvCase[], seed: number, kernels: (typeof wasmGradKernelFuncs.conv2DBackpropInput)[]): Promise<void> {
    for (const [i, c] of cases.entries()) {
      const next = rng(seed + i);
      const dyShape = outShape(c);
      const dyv = randomValues(next, dyShape);
      const wv = randomValues(next, c.filter);
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x };
      const expected = await cpuBackpropInput(c, dyv, wv);
      const dy = tf.tensor(dyv, dyShape);
      const filter = tf.tensor4d(wv, c.filter);
      for (const kernel of kernels) expect(relError(runDirect(kernel, dy, filter, attrs), expected), label(c)).toBeLessThan(TOLERANCE);
      tf.dispose([dy, filter]);
    }
  }

  it('each path (stride 1, polyphase, single window, stock) matches cpu', async () => {
    const cases: ConvCase[] = [
      ...fixedConvCases,
      { x: [2, 11, 9, 3], filter: [3, 2, 3, 4], strides: [2, 1], pad: 'same', depthwise: false },
      { x: [2, 10, 10, 2], filter: [5, 5, 2, 3], strides: 3, pad: 'same', depthwise: false },
      { x: [2, 6, 6, 2], filter: [4, 4, 2, 3], strides: 2, pad: 'valid', depthwise: false },
      // Estimated faster on the stock kernel (one input channel, dx mostly outside dy's reach).
      { x: [2, 8, 8, 1], filter: [5, 5, 1, 3], strides: 1, pad: 'valid', depthwise: false },
      // The blocked stride-1 form (few input channels): tiles that fit, tiles cropped, same and explicit padding.
      { x: [2, 32, 32, 1], filter: [5, 5, 1, 6], strides: 1, pad: 'valid', depthwise: false },
      { x: [2, 17, 19, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'same', depthwise: false },
      { x: [1, 12, 13, 2], filter: [5, 4, 2, 8], strides: 1, pad: 2, depthwise: false },
      { x: [3, 28, 28, 1], filter: [5, 5, 1, 3], strides: 1, pad: 'same', depthwise: false },
      ...randomCases(77, 20, false),
    ];
    await expectBackpropInputAsCpu(cases, 300, [wasmGradKernelFuncs.conv2DBackpropInputXnn, wasmGradKernelFuncs.conv2DBackpropInput]);
  });

  it('the col2im form (a matrix product, then each row added into its window) matches cpu, forced on any shape', async () => {
    const cases: ConvCase[] = [
      { x: [2, 14, 14, 3], filter: [5, 5, 3, 8], strides: 1, pad: 'valid', depthwise: false }, // LeNet-5-half's conv 2
      { x: [2, 9, 7, 3], filter: [3, 3, 3, 16], strides: 1, pad: 'same', depthwise: false }, // a colour first layer
      { x: [2, 11, 9, 2], filter: [3, 4, 2, 5], strides: [2, 1], pad: 'same', depthwise: false },
      { x: [1, 12, 13, 4], filter: [5, 4, 4, 8], strides: 1, pad: 2, depthwise: false },
      { x: [2, 10, 10, 1], filter: [5, 5, 1, 3], strides: 3, pad: 'valid', depthwise: false },
    ];
    setCol2imOverride(true);
    try {
      await expectBackpropInputAsCpu(cases, 500, [wasmGradKernelFuncs.conv2DBackpropInput]);
    } finally {
      setCol2imOverride(null);
    }
  });
});

describe('one-channel convolutions by the direct kernel (Conv2D and FusedConv2D)', () => {
  it('match cpu with bias and relu, relu6 or none, valid, same and explicit padding, rows not a multiple of 8', async () => {
    const cases: (ConvCase & { activation: 'linear' | 'relu' | 'relu6' })[] = [
      { x: [3, 32, 32, 1], filter: [5, 5, 1, 6], strides: 1, pad: 'valid', depthwise: false, activation: 'relu' },
      { x: [2, 28, 28, 1], filter: [5, 5, 1, 3], strides: 1, pad: 'same', depthwise: false, activation: 'linear' },
      { x: [1, 12, 19, 1], filter: [4, 5, 1, 5], strides: 1, pad: 'valid', depthwise: false, activation: 'relu6' },
      { x: [2, 10, 13, 1], filter: [3, 3, 1, 16], strides: 1, pad: 2, depthwise: false, activation: 'relu' },
    ];
    for (const [i, c] of cases.entries()) {
      const next = rng(700 + i);
      const xv = randomValues(next, c.x).map((v) => v * 8); // large enough to reach relu6's top
      const wv = randomValues(next, c.filter);
      const bv = randomValues(next, [c.filter[3]]);
      const conv = () =>
        tf.tidy(
          () =>
            tf.fused
              .conv2d({ x: tf.tensor4d(xv, c.x), filter: tf.tensor4d(wv, c.filter), strides: c.strides, pad: c.pad as 'same', bias: tf.tensor1d(bv), activation: c.activation })
              .dataSync() as Float32Array,
        );
      const expected = await onBackend('cpu', conv);
      expect(relError(conv(), expected), label(c)).toBeLessThan(TOLERANCE);
      const unfused = tf.tidy(() => tf.conv2d(tf.tensor4d(xv, c.x), tf.tensor4d(wv, c.filter), c.strides, c.pad).dataSync() as Float32Array);
      const unfusedExpected = await onBackend('cpu', () =>
        tf.tidy(() => tf.conv2d(tf.tensor4d(xv, c.x), tf.tensor4d(wv, c.filter), c.strides, c.pad).dataSync() as Float32Array),
      );
      expect(relError(unfused, unfusedExpected), label(c)).toBeLessThan(TOLERANCE);
    }
  });
});

describe('Conv2D with 1-2 input channels through space-to-depth', () => {
  it('matches cpu for valid, same and explicit padding, even and odd sizes', async () => {
    const cases: ConvCase[] = [
      { x: [3, 32, 32, 1], filter: [5, 5, 1, 6], strides: 1, pad: 'valid', depthwise: false },
      { x: [2, 28, 28, 1], filter: [5, 5, 1, 3], strides: 1, pad: 'same', depthwise: false },
      { x: [2, 13, 11, 2], filter: [3, 3, 2, 4], strides: 1, pad: 'same', depthwise: false },
      { x: [1, 12, 9, 1], filter: [4, 5, 1, 5], strides: 1, pad: 'valid', depthwise: false },
      { x: [2, 10, 10, 2], filter: [5, 5, 2, 8], strides: 1, pad: 2, depthwise: false },
      { x: [2, 9, 9, 1], filter: [2, 2, 1, 3], strides: 1, pad: 'valid', depthwise: false },
    ];
    for (const [i, c] of cases.entries()) {
      const next = rng(500 + i);
      const xv = randomValues(next, c.x);
      const wv = randomValues(next, c.filter);
      const conv = () =>
        tf.tidy(() => tf.conv2d(tf.tensor4d(xv, c.x), tf.tensor4d(wv, c.filter), c.strides, c.pad).dataSync() as Float32Array);
      const expected = await onBackend('cpu', conv);
      expect(relError(conv(), expected), label(c)).toBeLessThan(TOLERANCE);
      const direct = tf.tidy(() => {
        const args = {
          inputs: { x: tf.tensor4d(xv, c.x), filter: tf.tensor4d(wv, c.filter) },
          backend: tf.backend(),
          attrs: { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations: 1 } as unknown as tf.NamedAttrMap,
        };
        const t = tf.engine().makeTensorFromTensorInfo(wasmGradKernelFuncs.conv2DS2d(args) as tf.TensorInfo);
        return t.dataSync() as Float32Array;
      });
      expect(relError(direct, expected), label(c)).toBeLessThan(TOLERANCE);
    }
  });
});

describe('training on wasm', () => {
  /** Trains a conv2d -> depthwise -> dense classifier on class-dependent blobs; returns the loss per step. */
  function trainLosses(): number[] {
    const next = rng(5);
    const n = 24;
    const xv = randomValues(next, [n, 8, 8, 2]).map((v) => v * 0.5);
    for (let i = 0; i < n; i++) {
      const k = i % 3;
      for (let r = 0; r < 4; r++) {
        for (let c = 0; c < 4; c++) xv[((i * 8 + r + 2 * k) * 8 + c + 2 * k) * 2 + (k % 2)] += 1.5;
      }
    }
    return tf.tidy(() => {
      const model = tf.sequential({
        layers: [
          tf.layers.conv2d({
            inputShape: [8, 8, 2],
            filters: 4,
            kernelSize: 3,
            strides: 2,
            padding: 'same',
            activation: 'relu',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
          }),
          tf.layers.depthwiseConv2d({
            kernelSize: 3,
            depthMultiplier: 2,
            padding: 'valid',
            activation: 'relu',
            depthwiseInitializer: tf.initializers.glorotUniform({ seed: 2 }),
          }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
        ],
      });
      const xs = tf.tensor4d(xv, [n, 8, 8, 2]);
      const labels = tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % 3), 'int32'), 3);
      const optimizer = tf.train.sgd(0.2);
      const losses: number[] = [];
      for (let step = 0; step < 20; step++) {
        const loss = optimizer.minimize(
          () => tf.losses.softmaxCrossEntropy(labels, model.predict(xs) as tf.Tensor),
          true,
        ) as tf.Scalar;
        losses.push(loss.dataSync()[0]);
      }
      optimizer.dispose();
      model.dispose();
      return losses;
    });
  }

  it('a small conv model trains with SGD (loss falls over 20 steps) exactly as on cpu', async () => {
    const before = tf.memory().numTensors;
    const losses = trainLosses();
    expect(tf.memory().numTensors).toBe(before);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[19]).toBeLessThan(losses[0] * 0.5);
    const cpuLosses = await onBackend('cpu', trainLosses);
    expect(relError(losses, cpuLosses)).toBeLessThan(1e-3);
  });

  it('repeated gradient calls leak no tensors and no wasm buffers', () => {
    const next = rng(11);
    const x = tf.tensor4d(randomValues(next, [4, 12, 12, 3]), [4, 12, 12, 3]);
    const w = tf.variable(tf.tensor4d(randomValues(next, [3, 3, 3, 8]), [3, 3, 3, 8]));
    const dw = tf.variable(tf.tensor4d(randomValues(next, [3, 3, 8, 2]), [3, 3, 8, 2]));
    const c5 = tf.variable(tf.tensor4d(randomValues(next, [6, 6, 16, 5]), [6, 6, 16, 5]));
    const lossFn = (): tf.Scalar => {
      const h = tf.relu(tf.conv2d(x, w, 2, 'same'));
      const d = tf.depthwiseConv2d(h, dw, 1, 'same');
      return tf.sum(tf.square(tf.conv2d(d, c5, 1, 'valid')));
    };
    const backendData = () =>
      (tf.backend() as unknown as { dataIdMap: { numDataIds(): number } }).dataIdMap.numDataIds();
    const step = () => {
      const { value, grads } = tf.variableGrads(lossFn);
      value.dispose();
      tf.dispose(Object.values(grads));
      // Also the input gradient (Conv2DBackpropInput / DepthwiseConv2dNativeBackpropInput on every layer).
      const inputLoss = (xx: tf.Tensor) => {
        const h = tf.depthwiseConv2d(tf.conv2d(xx as tf.Tensor4D, w, 2, 'same'), dw, 2, 'same');
        return tf.sum(tf.conv2d(h, c5.slice([0, 0, 0, 0], [3, 3, 16, 5]), 1, 'valid'));
      };
      tf.grad(inputLoss)(x).dispose();
    };
    step();
    const tensors = tf.memory().numTensors;
    const buffers = backendData();
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backendData()).toBe(buffers);
    tf.dispose([x, w, dw, c5]);
  });
});
