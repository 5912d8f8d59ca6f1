import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';

// @tensorflow/tfjs-backend-wasm 4.22 ships no Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter or
// DepthwiseConv2dNativeBackpropInput kernel, so training any conv student on wasm throws "kernel not registered".
// Rather than writing new C++ we express each gradient as one forward convolution (which wasm runs through
// XNNPACK, its fastest path) plus cheap layout kernels. The same idea replaces wasm's slow Conv2DBackpropInput,
// which every input-gradient (synthesis) step runs. The kernels below call the wasm kernel functions
// directly instead of going through the engine: that keeps the intermediates off the autodiff tape and out of
// tf.memory(), and each one is freed with backend.disposeData before the kernel returns.

const BACKEND = 'wasm';

type Pair = [number, number];
/** The parts of tfjs-backend-wasm's BackendWasm used here (its own kernels use the same methods). */
type Backend = {
  disposeData(dataId: object, force?: boolean): boolean;
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: 'float32', memoryOffset?: number, values?: Float32Array): TensorInfo;
};
type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

/**
 * Whether registerWasmGradKernels() replaces wasm's Conv2DBackpropInput (a plain C++ loop, not XNNPACK) with the
 * XNNPACK-based version below; change it with setUseFastConvBackpropInput and call registerWasmGradKernels()
 * again. Default on: 1.5-10x faster on LeNet-sized layers at batch 256 (and the stock kernel is still used for
 * shapes where it is estimated faster), and equal to the cpu backend to 1e-4 in the tests.
 */
export let useFastConvBackpropInput = true;

export function setUseFastConvBackpropInput(on: boolean): void {
  useFastConvBackpropInput = on;
}

/** One call's worth of wasm kernel invocations; every output it makes is freed by `release` unless kept. */
class Scope {
  private readonly owned: TensorInfo[] = [];

  constructor(private readonly backend: Backend) {}

  run(kernelName: string, inputs: Record<string, TensorInfo>, attrs: object = {}): TensorInfo {
    const kernel = tf.getKernel(kernelName, BACKEND);
    if (kernel == null) throw new Error(`wasm-conv-grad: wasm kernel '${kernelName}' is missing`);
    const out = kernel.kernelFunc({
      inputs,
      attrs: attrs as unknown as NamedAttrMap,
      backend: this.backend as unknown as tf.KernelBackend,
    }) as TensorInfo;
    this.owned.push(out);
    return out;
  }

  /** A copy of a (small) tensor's values. */
  read(x: TensorInfo): ArrayLike<number> {
    return this.backend.readSync(x.dataId);
  }

  /** A new tensor in the wasm heap holding `values`. */
  fromValues(shape: number[], values: Float32Array): TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32', undefined, values);
    this.owned.push(out);
    return out;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    if (sameShape(x.shape, shape)) return x;
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    const outShape = perm.map((p) => x.shape[p]);
    // A permutation that only moves size-1 axes is a reshape; wasm would copy the buffer for it.
    const nonUnit = perm.filter((p) => x.shape[p] !== 1);
    if (nonUnit.every((p, i) => i === 0 || nonUnit[i - 1] < p)) return this.reshape(x, outShape);
    return this.run('Transpose', { x }, { perm });
  }

  /** Crops (negative amounts) and zero-pads (positive amounts) the two spatial axes of an NHWC tensor. */
  cropSpatial(x: TensorInfo, h: Pair, w: Pair): TensorInfo {
    const begin = [0, Math.max(0, -h[0]), Math.max(0, -w[0]), 0];
    const size = [
      x.shape[0],
      x.shape[1] + Math.min(0, h[0]) + Math.min(0, h[1]),
      x.shape[2] + Math.min(0, w[0]) + Math.min(0, w[1]),
      x.shape[3],
    ];
    if (sameShape(size, x.shape)) return x;
    return this.run('Slice', { x }, { begin, size });
  }

  /** Like cropSpatial, then zero-pads where the amounts are positive. */
  padSpatial(x: TensorInfo, h: Pair, w: Pair): TensorInfo {
    const cropped = this.cropSpatial(x, h, w);
    const p = explicitPad(h, w);
    if (p.every(([a, z]) => a === 0 && z === 0)) return cropped;
    return this.run('PadV2', { x: cropped }, { paddings: p, constantValue: 0 });
  }

  /** Interleaves s-1 zeros after every row/column of an NHWC tensor (the "fractional stride" of a transposed conv). */
  zeroInsert(x: TensorInfo, sH: number, sW: number): TensorInfo {
    if (sH === 1 && sW === 1) return x;
    const [b, h, w, c] = x.shape;
    const x6 = this.reshape(x, [b, h, 1, w, 1, c]);
    const padded = this.run(
      'PadV2',
      { x: x6 },
      { paddings: [[0, 0], [0, 0], [0, sH - 1], [0, 0], [0, sW - 1], [0, 0]], constantValue: 0 },
    );
    return this.reshape(padded, [b, h * sH, w * sW, c]);
  }

  /** Frees every intermediate except `result`, which is handed to the engine with `shape`. */
  release(result: TensorInfo, shape: number[]): TensorInfo {
    const i = this.owned.indexOf(result);
    if (i < 0) throw new Error('wasm-conv-grad: result must be produced inside the scope');
    this.owned.splice(i, 1);
    this.dispose();
    return { dataId: result.dataId, shape, dtype: result.dtype };
  }

  dispose(): void {
    for (const t of this.owned) this.backend.disposeData(t.dataId);
    this.owned.length = 0;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function explicitPad(h: Pair, w: Pair): ExplicitPad {
  return [[0, 0], [Math.max(0, h[0]), Math.max(0, h[1])], [Math.max(0, w[0]), Math.max(0, w[1])], [0, 0]];
}

function assertNHWC(kernel: string, dataFormat: unknown): void {
  if (dataFormat != null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`${kernel} on wasm supports dataFormat NHWC only, got '${String(dataFormat)}'`);
  }
}

function withScope(backend: unknown, body: (s: Scope) => TensorInfo): TensorInfo {
  const scope = new Scope(backend as Backend);
  try {
    return body(scope);
  } catch (e) {
    scope.dispose();
    throw e;
  }
}

/*
 * Filter gradients. With x_pad the padded input,
 *   dW[kh,kw,ci,co] = sum_{b,oh,ow} x_pad[b, oh*s + kh*d, ow*s + kw*d, ci] * dy[b, oh, ow, co],
 * which is a forward convolution in which the batch axis plays the part of the channels: input x^T
 * [ci, H, W, B], filter dy^T [OH, OW, B, co], stride d, dilation s, giving [ci, KH, KW, co].
 * The bottom/right padding is whatever makes that output exactly KH x KW: rows the forward conv never read
 * (valid padding whose stride does not divide evenly) are cropped off instead.
 */
function spatialPads(inSize: number, outSize: number, k: number, s: number, d: number, before: number): Pair {
  const needed = (outSize - 1) * s + (k - 1) * d + 1;
  return [before, needed - before - inSize];
}

const conv2DBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertNHWC('Conv2DBackpropFilter', dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  checkDy('Conv2DBackpropFilter', dy, info.outShape);
  const h = spatialPads(info.inHeight, info.outHeight, info.filterHeight, info.strideHeight, 1, info.padInfo.top);
  const w = spatialPads(info.inWidth, info.outWidth, info.filterWidth, info.strideWidth, 1, info.padInfo.left);
  return withScope(backend, (s) => {
    const xc = s.cropSpatial(x, [0, h[1]], [0, w[1]]);
    const xT = s.transpose(xc, [3, 1, 2, 0]);
    const dyT = s.transpose(dy, [1, 2, 0, 3]);
    const dw = s.run(
      'Conv2D',
      { x: xT, filter: dyT },
      {
        strides: [1, 1],
        dilations: [info.strideHeight, info.strideWidth],
        pad: explicitPad(h, w),
        dataFormat: 'NHWC',
      },
    );
    const out = s.transpose(dw, [1, 2, 0, 3]);
    return s.release(out, filterShape);
  });
};

/*
 * The depthwise filter gradient is the same sum with the channel kept apart, so each (batch, channel) pair
 * becomes one depthwise channel of x^T [1, H, W, B*C] and dy^T [OH, OW, B*C, M] is its filter; the batch is
 * summed out afterwards. XNNPACK runs this ~10x slower per MAC than the forward depthwise conv (dy as a filter is
 * streamed from memory once per output tap). Tiling dy into 9-tap filters, gathering the windows in JS and
 * other rearrangements measured no faster in CPU time, since they move the same data the same number of times.
 */
const depthwiseBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dilations, dimRoundingMode, filterShape } =
    attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
  checkDy('DepthwiseConv2dNativeBackpropFilter', dy, info.outShape);
  const [kh, kw, c, m] = filterShape;
  const b = x.shape[0];
  const { strideHeight: sH, strideWidth: sW, dilationHeight: dH, dilationWidth: dW } = info;
  const h = spatialPads(info.inHeight, info.outHeight, kh, sH, dH, info.padInfo.top);
  const w = spatialPads(info.inWidth, info.outWidth, kw, sW, dW, info.padInfo.left);
  return withScope(backend, (s) => {
    // Every (batch, channel) pair becomes one depthwise channel; the batch is summed out afterwards.
    const xc = s.cropSpatial(x, [0, h[1]], [0, w[1]]);
    const xT = s.transpose(xc, [1, 2, 0, 3]);
    const xIn = s.reshape(xT, [1, xT.shape[0], xT.shape[1], b * c]);
    const dyT = s.transpose(dy, [1, 2, 0, 3]);
    const dyF = s.reshape(dyT, [dyT.shape[0], dyT.shape[1], b * c, m]);
    const dwAll = s.run(
      'DepthwiseConv2dNative',
      { x: xIn, filter: dyF },
      { strides: [dH, dW], dilations: [sH, sW], pad: explicitPad(h, w) },
    );
    let dwSum = s.reshape(dwAll, [kh, kw, b, c * m]);
    if (b > 1) dwSum = s.run('Sum', { x: dwSum }, { axis: [2], keepDims: false });
    return s.release(dwSum, filterShape);
  });
};

/*
 * Input gradients as a transposed convolution: dy with s-1 zeros interleaved, padded by
 * (K-1)*d - padBefore in front, correlated (stride 1, dilation d) with the spatially flipped filter.
 */
function inputGradPads(inSize: number, dyUpSize: number, k: number, d: number, before: number): Pair {
  const front = (k - 1) * d - before;
  return [front, inSize + (k - 1) * d - front - dyUpSize];
}

const depthwiseBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dilations, dimRoundingMode, inputShape } =
    attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
  checkDy('DepthwiseConv2dNativeBackpropInput', dy, info.outShape);
  const [kh, kw, c, m] = filter.shape;
  const [b, inH, inW] = inputShape;
  return withScope(backend, (s) => {
    const dyUp = s.zeroInsert(dy, info.strideHeight, info.strideWidth);
    const h = inputGradPads(inH, dyUp.shape[1], kh, info.dilationHeight, info.padInfo.top);
    const w = inputGradPads(inW, dyUp.shape[2], kw, info.dilationWidth, info.padInfo.left);
    const dyIn = s.cropSpatial(dyUp, h, w);
    const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
    const f = s.reshape(flipped, [kh, kw, c * m, 1]);
    let dx = s.run(
      'DepthwiseConv2dNative',
      { x: dyIn, filter: f },
      { strides: [1, 1], dilations: [info.dilationHeight, info.dilationWidth], pad: explicitPad(h, w) },
    );
    if (m > 1) {
      const dx5 = s.reshape(dx, [b, inH, inW, c, m]);
      dx = s.run('Sum', { x: dx5 }, { axis: [4], keepDims: false });
    }
    return s.release(dx, [b, inH, inW, c]);
  });
};

/*
 * Conv2DBackpropInput through XNNPACK. For stride 1, dx is the correlation of dy (padded by K-1-padBefore) with
 * the flipped, in/out-swapped filter. For stride s > 1 that form would need s-1 zeros interleaved into dy and
 * would spend most of its work on them, so we use the polyphase form instead: the dx pixels with
 * (i + padTop) % s == r only meet the filter taps k == r (mod s), so each of the sH*sW phases is a stride-1
 * transposed conv with the sub-filter W[rh::sH, rw::sW]. Zero-padding the sub-filters to a common ceil(K/s) size
 * lets one Conv2D compute all phases as sH*sW*Ci output channels, and a transpose interleaves them back into dx.
 */
interface InputGradPlan {
  /** Per-phase sub-filter size (K for stride 1). */
  kmH: number;
  kmW: number;
  /** dx rows/cols per phase, counted from the top/left edge of the padding. */
  qH: number;
  qW: number;
}

function inputGradPlan(info: tf.backend_util.Conv2DInfo): InputGradPlan {
  const { strideHeight: sH, strideWidth: sW } = info;
  return {
    kmH: Math.ceil(info.filterHeight / sH),
    kmW: Math.ceil(info.filterWidth / sW),
    qH: Math.ceil((info.padInfo.top + info.inHeight) / sH),
    qW: Math.ceil((info.padInfo.left + info.inWidth) / sW),
  };
}

/*
 * The XNNPACK forms do more multiply-adds than the stock loop (taps over zero padding and phase padding), but
 * run much faster per MAC once the conv has a few output channels to vectorise over. Measured here (Node 20,
 * wasm SIMD, 1 thread): stock ~0.5 GMAC/s of useful work; XNNPACK ~5 GMAC/s with >= 4 output channels and
 * ~0.85 GMAC/s per channel below that. Shapes the estimate does not favour keep the stock kernel.
 */
function preferXnnInputGrad(info: tf.backend_util.Conv2DInfo, plan: InputGradPlan): boolean {
  const useful = info.outHeight * info.outWidth * info.filterHeight * info.filterWidth;
  const computed = info.inHeight * info.inWidth * plan.kmH * plan.kmW;
  const channels = info.inChannels * info.strideHeight * info.strideWidth;
  const speedup = channels >= 4 ? 8 : 1.8 * channels;
  return computed / useful < speedup * 0.9;
}

function backpropInputPlan(args: Parameters<KernelFunc>[0], forceXnn: boolean): TensorInfo | TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    attrs as unknown as tf.Conv2DBackpropInputAttrs;
  assertNHWC('Conv2DBackpropInput', dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  checkDy('Conv2DBackpropInput', dy, info.outShape);
  const [kh, kw, , co] = filter.shape;
  const [b, inH, inW, ci] = inputShape;
  const { top, left } = info.padInfo;
  const { strideHeight: sH, strideWidth: sW } = info;
  if (info.outHeight === 1 && info.outWidth === 1) {
    // One output pixel (a LeNet C5-style layer): dx is a single window, dy[B, Co] x filter^T.
    return withScope(backend, (s) => {
      const dy2 = s.reshape(dy, [1, b, co]);
      // wasm's BatchMatMul is only fast (XNNPACK) untransposed, so transpose the (small) filter instead.
      const f2 = s.transpose(s.reshape(filter, [1, kh * kw * ci, co]), [0, 2, 1]);
      const cols = s.run('BatchMatMul', { a: dy2, b: f2 }, { transposeA: false, transposeB: false });
      const patch = s.reshape(cols, [b, kh, kw, ci]);
      const dx = s.padSpatial(patch, [-top, inH + top - kh], [-left, inW + left - kw]);
      return s.release(dx, [b, inH, inW, ci]);
    });
  }
  const plan = inputGradPlan(info);
  if (!forceXnn && stockBackpropInput != null && !preferXnnInputGrad(info, plan)) {
    // Its setup (binding the C++ function) runs on setBackend only for registered kernels, and it may have been
    // unregistered before the backend first initialised.
    if (stockSetUpFor !== backend) {
      stockBackpropInput.setupFunc?.(backend);
      stockSetUpFor = backend;
    }
    return stockBackpropInput.kernelFunc(args);
  }
  if (sH === 1 && sW === 1) {
    return withScope(backend, (s) => {
      const h = inputGradPads(inH, info.outHeight, kh, 1, top);
      const w = inputGradPads(inW, info.outWidth, kw, 1, left);
      const dyIn = s.cropSpatial(dy, h, w);
      const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
      const f = s.transpose(flipped, [0, 1, 3, 2]);
      const dx = s.run(
        'Conv2D',
        { x: dyIn, filter: f },
        { strides: [1, 1], dilations: [1, 1], pad: explicitPad(h, w), dataFormat: 'NHWC' },
      );
      return s.release(dx, [b, inH, inW, ci]);
    });
  }
  const { kmH, kmW, qH, qW } = plan;
  return withScope(backend, (s) => {
    // Sub-filters: F[j, j', co, (rh*sW + rw)*Ci + ci] = W[rh + sH*(kmH-1-j), rw + sW*(kmW-1-j'), ci, co], zero
    // past K. Built in JS: the filter is small, and as wasm kernels this takes a rank-6 Transpose, which is slow.
    const wv = s.read(filter);
    const phases = sH * sW * ci;
    const f = new Float32Array(kmH * kmW * co * phases);
    for (let j = 0, o = 0; j < kmH; j++) {
      for (let j2 = 0; j2 < kmW; j2++) {
        for (let oc = 0; oc < co; oc++) {
          for (let rh = 0; rh < sH; rh++) {
            const a = rh + sH * (kmH - 1 - j);
            for (let rw = 0; rw < sW; rw++) {
              const a2 = rw + sW * (kmW - 1 - j2);
              if (a >= kh || a2 >= kw) {
                o += ci;
                continue;
              }
              for (let ic = 0, src = (a * kw + a2) * ci * co + oc; ic < ci; ic++, src += co) f[o++] = wv[src];
            }
          }
        }
      }
    }
    const subFilters = s.fromValues([kmH, kmW, co, phases], f);
    const h: Pair = [kmH - 1, qH - info.outHeight];
    const w: Pair = [kmW - 1, qW - info.outWidth];
    const dyIn = s.cropSpatial(dy, h, w);
    const byPhase = s.run(
      'Conv2D',
      { x: dyIn, filter: subFilters },
      { strides: [1, 1], dilations: [1, 1], pad: explicitPad(h, w), dataFormat: 'NHWC' },
    );
    // Interleave the phases, [B*qH, qW, rh, rw*Ci] -> [B*qH, rh, qW, rw*Ci] (wasm's DepthToSpace is much slower
    // and needs equal strides), then crop to the rows/cols [pad, pad + size) that are dx.
    const interleaved = s.transpose(s.reshape(byPhase, [b * qH, qW, sH, sW * ci]), [0, 2, 1, 3]);
    const rows = s.reshape(interleaved, [b, qH * sH, qW * sW * ci]);
    const needsCrop = top > 0 || left > 0 || qH * sH > inH || qW * sW > inW;
    const dx = needsCrop
      ? s.run('Slice', { x: rows }, { begin: [0, top, left * ci], size: [b, inH, inW * ci] })
      : rows;
    return s.release(dx, [b, inH, inW, ci]);
  });
}

const conv2DBackpropInput: KernelFunc = (args) => backpropInputPlan(args, false);
const conv2DBackpropInputXnn: KernelFunc = (args) => backpropInputPlan(args, true);

function checkDy(kernel: string, dy: TensorInfo, expected: readonly number[]): void {
  if (!sameShape(dy.shape, expected)) {
    throw new Error(`${kernel}: dy shape [${dy.shape}] does not match the conv output shape [${expected}]`);
  }
}

const missingKernels: KernelConfig[] = [
  { kernelName: 'Conv2DBackpropFilter', backendName: BACKEND, kernelFunc: conv2DBackpropFilter },
  { kernelName: 'DepthwiseConv2dNativeBackpropFilter', backendName: BACKEND, kernelFunc: depthwiseBackpropFilter },
  { kernelName: 'DepthwiseConv2dNativeBackpropInput', backendName: BACKEND, kernelFunc: depthwiseBackpropInput },
];

const fastBackpropInput: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: BACKEND,
  kernelFunc: conv2DBackpropInput,
};

/** The stock wasm Conv2DBackpropInput, kept so the override can be undone. */
let stockBackpropInput: KernelConfig | undefined;
let stockSetUpFor: unknown;

/**
 * Registers the conv gradient kernels that the wasm backend lacks. Safe to call repeatedly, and before or after
 * tf.setBackend('wasm'): only kernel registration is involved, and kernels wasm already has are left alone
 * (except Conv2DBackpropInput, swapped for the faster version while `useFastConvBackpropInput` is on).
 */
export function registerWasmGradKernels(): void {
  for (const config of missingKernels) {
    if (tf.getKernel(config.kernelName, BACKEND) == null) tf.registerKernel(config);
  }
  const current = tf.getKernel('Conv2DBackpropInput', BACKEND);
  if (useFastConvBackpropInput) {
    if (current != null && current.kernelFunc !== conv2DBackpropInput) {
      stockBackpropInput = current;
      tf.unregisterKernel('Conv2DBackpropInput', BACKEND);
    }
    if (tf.getKernel('Conv2DBackpropInput', BACKEND) == null) tf.registerKernel(fastBackpropInput);
  } else if (current != null && current.kernelFunc === conv2DBackpropInput && stockBackpropInput != null) {
    tf.unregisterKernel('Conv2DBackpropInput', BACKEND);
    tf.registerKernel(stockBackpropInput);
    if (tf.getBackend() === BACKEND) stockBackpropInput.setupFunc?.(tf.backend());
  }
}

/** The kernel functions, for tests and benchmarks that want to compare against the stock kernels. */
export const wasmGradKernelFuncs = {
  conv2DBackpropFilter,
  depthwiseBackpropFilter,
  depthwiseBackpropInput,
  conv2DBackpropInput,
  conv2DBackpropInputXnn,
};
