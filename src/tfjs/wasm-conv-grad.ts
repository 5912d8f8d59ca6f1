import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
import { heapOffset, simdKernels } from './wasm-simd';
import { registerWasmFastKernels } from './wasm-fast-kernels';

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

  /** A new, uninitialised float32 tensor in the wasm heap. */
  empty(shape: number[]): TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32');
    this.owned.push(out);
    return out;
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
  const simd = info.inChannels === 1 && info.strideHeight === 1 && info.strideWidth === 1 ? simdKernels(backend) : null;
  if (simd != null) {
    // One input channel (an image's first layer): the conv below (batch as channels, dy as a huge filter with
    // K*K output pixels) runs at a fraction of XNNPACK's speed; the SIMD module sums x * dy per image and output
    // channel instead, with both in L1 (~16 -> ~8 ms at LeNet-5-half's first layer, batch 256).
    return withScope(backend, (s) => {
      const [kh, kw] = [info.filterHeight, info.filterWidth];
      const b = info.batchSize;
      const co = info.outChannels;
      const hp = info.outHeight + kh - 1;
      const wp = info.outWidth + kw - 1;
      const { top, left } = info.padInfo;
      const xp = s.padSpatial(x, [top, hp - top - info.inHeight], [left, wp - left - info.inWidth]);
      // dy as [co, batch, oh, wp]: transposed, each row padded with zeros to x's row length.
      const dyRows = s.empty([co, b, info.outHeight, wp]);
      simd.transpose_pad_rows(heapOffset(backend, dy), heapOffset(backend, dyRows), b * info.outHeight, info.outWidth, co, wp);
      const dw = s.fromValues([kh * kw * co], new Float32Array(kh * kw * co));
      simd.filter_grad_1ch(
        heapOffset(backend, xp),
        heapOffset(backend, dyRows),
        heapOffset(backend, dw),
        b,
        hp,
        wp,
        kh,
        kw,
        info.outHeight,
        info.outWidth,
        co,
      );
      return s.release(dw, filterShape);
    });
  }
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
function xnnSpeedup(channels: number): number {
  return channels >= 4 ? 8 : 1.8 * channels;
}

function preferXnnInputGrad(info: tf.backend_util.Conv2DInfo, plan: InputGradPlan): boolean {
  const useful = info.outHeight * info.outWidth * info.filterHeight * info.filterWidth;
  const computed = info.inHeight * info.inWidth * plan.kmH * plan.kmW;
  const channels = info.inChannels * info.strideHeight * info.strideWidth;
  return computed / useful < xnnSpeedup(channels) * 0.9;
}

/** For experiments and tests: force the blocked form (where stride is 1) with this block size; null for automatic. */
let blockOverride: number | null = null;
export function setBlockOverride(s: number | null): void {
  blockOverride = s;
}

/*
 * Stride 1 with few input channels (an image's first layer: dx has 1 or 3 channels) leaves the direct form a
 * Conv2D with 1-3 output channels, which XNNPACK runs at a fraction of its speed. The blocked form computes dx in
 * s x s tiles instead: one Conv2D with stride s whose s^2 * Ci output channels are the tile's pixels, over a
 * (K + s - 1)^2 filter holding the flipped filter at every offset within the tile. It does 2-3x the multiply-adds
 * of the direct form but runs faster. CPU ms per call measured here (5x5 filters, direct -> blocked):
 * 76 -> 28 at [500, 32, 32, 1] (s = 4; s = 2 gives 34), 12.5 -> 9.8 at [256, 14, 14, 3] and 107 -> 80 at
 * [128, 32, 32, 3] (s = 2; s = 4 is no faster than direct there); at 6 channels both block sizes are slower.
 */
function blockSize(inChannels: number): number {
  return inChannels === 1 ? 4 : 2;
}

function blockedInputGradCost(info: tf.backend_util.Conv2DInfo): number {
  const s = blockSize(info.inChannels);
  const kb = (info.filterHeight + s - 1) * (info.filterWidth + s - 1);
  const tiles = Math.ceil(info.inHeight / s) * Math.ceil(info.inWidth / s);
  return (tiles * kb * s * s) / xnnSpeedup(s * s * info.inChannels);
}

/** Whether the blocked form is estimated faster than both the direct XNNPACK form and (unless forced) stock. */
function preferBlockedInputGrad(info: tf.backend_util.Conv2DInfo, plan: InputGradPlan, forceXnn: boolean): boolean {
  if (blockOverride != null) return info.strideHeight === 1 && info.strideWidth === 1;
  if (info.strideHeight !== 1 || info.strideWidth !== 1 || info.inChannels > 3) return false;
  const s = blockSize(info.inChannels);
  if (info.inHeight < 2 * s || info.inWidth < 2 * s) return false;
  const blocked = blockedInputGradCost(info);
  const direct = (info.inHeight * info.inWidth * plan.kmH * plan.kmW) / xnnSpeedup(info.inChannels);
  const stock = info.outHeight * info.outWidth * info.filterHeight * info.filterWidth;
  return blocked < direct && (forceXnn || blocked < stock * 0.9);
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
  if (!forceXnn && preferCol2im(info) && simdKernels(backend) != null) return col2imBackpropInput(backend, dy, filter, info);
  const plan = inputGradPlan(info);
  if (preferBlockedInputGrad(info, plan, forceXnn || stockBackpropInput == null)) {
    return blockedBackpropInput(backend, dy, filter, info, blockOverride ?? blockSize(info.inChannels));
  }
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

/*
 * Few input channels (dx with 2-4 channels: a colour image's first layer, or a small student's second conv): every
 * convolution form leaves XNNPACK only those few channels to vectorise over. As a matrix product instead, cols =
 * dy [B·OH·OW, Co] × Wᵀ [Co, KH·KW·Ci] puts the whole window in each row, which XNNPACK runs at full speed, and
 * col2im (simd/frozen.c) adds each row into its window of dx. CPU ms per call measured here (under load, so only
 * the ratios carry over): 7.9 → 4.1 for [256, 10, 10, 8] → [256, 14, 14, 3] with 5×5 filters (LeNet-5-half's second
 * conv) and 41 → 36 for ResNet-8's first layer ([500, 32, 32, 16] → [500, 32, 32, 3], 3×3).
 */
let col2imOverride: boolean | null = null;
/** For tests and comparisons: force the col2im form on (true) or off (false); null for automatic. */
export function setCol2imOverride(on: boolean | null): void {
  col2imOverride = on;
}

function preferCol2im(info: tf.backend_util.Conv2DInfo): boolean {
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) return false;
  if (col2imOverride != null) return col2imOverride;
  // Measured: faster at stride 1 with 2-4 input channels; slower for 1 channel (the blocked form wins) and at stride 2
  // (the polyphase form wins).
  return info.inChannels >= 2 && info.inChannels <= 4 && info.outChannels >= 4 && info.strideHeight === 1 && info.strideWidth === 1;
}

function col2imBackpropInput(backend: unknown, dy: TensorInfo, filter: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co, batchSize: b } = info;
  return withScope(backend, (s) => {
    const rows = b * info.outHeight * info.outWidth;
    const window = kh * kw * ci;
    const wT = s.transpose(s.reshape(filter, [1, window, co]), [0, 2, 1]);
    const cols = s.run('BatchMatMul', { a: s.reshape(dy, [1, rows, co]), b: wT }, { transposeA: false, transposeB: false });
    const dx = s.empty([b, info.inHeight, info.inWidth, ci]);
    simdKernels(backend)!.col2im(
      heapOffset(backend, cols),
      heapOffset(backend, dx),
      b,
      info.outHeight,
      info.outWidth,
      kh,
      kw,
      ci,
      info.inHeight,
      info.inWidth,
      info.strideHeight,
      info.strideWidth,
      info.padInfo.top,
      info.padInfo.left,
    );
    return s.release(dx, [b, info.inHeight, info.inWidth, ci]);
  });
}

/*
 * The blocked stride-1 form (see blockSize). With Wf the flipped filter, dx[p, q, ci] = sum over (u, v, co) of
 * dyPad[p + u, q + v, co] * W[K-1-u, K-1-v, ci, co]; writing p = s*a + r and q = s*b + t,
 * dx[s*a + r, s*b + t, ci] = sum over (u', v', co) of dyPad[s*a + u', s*b + v', co] *
 * F[u', v', co, (r, t, ci)], with F[u', v', co, (r, t, ci)] = W[K-1-(u'-r), K-1-(v'-t), ci, co] where
 * 0 <= u'-r, v'-t < K and 0 elsewhere. dyPad is dy with K-1-padTop rows in front and enough behind for
 * ceil(H / s) tiles; the tiles are interleaved back by one rank-4 transpose and cropped to H x W.
 */
function blockedBackpropInput(
  backend: unknown,
  dy: TensorInfo,
  filter: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  s: number,
): TensorInfo {
  const { filterHeight: kh, filterWidth: kw, inHeight: inH, inWidth: inW, inChannels: ci, outChannels: co } = info;
  const b = info.batchSize;
  const kbH = kh + s - 1;
  const kbW = kw + s - 1;
  const qH = Math.ceil(inH / s);
  const qW = Math.ceil(inW / s);
  return withScope(backend, (sc) => {
    const wv = sc.read(filter);
    const outC = s * s * ci;
    const f = new Float32Array(kbH * kbW * co * outC);
    for (let u = 0; u < kbH; u++) {
      for (let v = 0; v < kbW; v++) {
        for (let r = 0; r < s; r++) {
          const a = kh - 1 - (u - r);
          if (a < 0 || a >= kh) continue;
          for (let t = 0; t < s; t++) {
            const a2 = kw - 1 - (v - t);
            if (a2 < 0 || a2 >= kw) continue;
            for (let ic = 0; ic < ci; ic++) {
              const src = ((a * kw + a2) * ci + ic) * co;
              const dst = ((u * kbW + v) * co) * outC + (r * s + t) * ci + ic;
              for (let oc = 0; oc < co; oc++) f[dst + oc * outC] = wv[src + oc];
            }
          }
        }
      }
    }
    const tileFilter = sc.fromValues([kbH, kbW, co, outC], f);
    const frontH = kh - 1 - info.padInfo.top;
    const frontW = kw - 1 - info.padInfo.left;
    const h: Pair = [frontH, s * qH + kh - 1 - frontH - info.outHeight];
    const w: Pair = [frontW, s * qW + kw - 1 - frontW - info.outWidth];
    const dyIn = sc.cropSpatial(dy, h, w);
    const tiles = sc.run(
      'Conv2D',
      { x: dyIn, filter: tileFilter },
      { strides: [s, s], dilations: [1, 1], pad: explicitPad(h, w), dataFormat: 'NHWC' },
    );
    // [B*qH, qW, r, (t, ci)] -> [B*qH, r, qW, (t, ci)]: rows of dx, then crop the tile padding.
    const interleaved = sc.transpose(sc.reshape(tiles, [b * qH, qW, s, s * ci]), [0, 2, 1, 3]);
    const rows = sc.reshape(interleaved, [b, qH * s, qW * s * ci]);
    const dx =
      qH * s > inH || qW * s > inW
        ? sc.run('Slice', { x: rows }, { begin: [0, 0, 0], size: [b, inH, inW * ci] })
        : rows;
    return sc.release(dx, [b, inH, inW, ci]);
  });
}

/*
 * Forward Conv2D with 1-2 input channels and stride 1 (an image's first layer): XNNPACK vectorises over input
 * channels poorly at 1. Space-to-depth makes it a conv with 4x the input channels and 4x the output channels: x is
 * cut into 2x2 pixel blocks (4 * Ci channels), each output 2x2 block (4 * Co channels) is a 3x3 (for K = 5) conv over
 * those, with F[da, db, (r', t', ci), (r, t, co)] = W[2da + r' - r, 2db + t' - t, ci, co] (0 outside the filter),
 * and the output blocks are interleaved back. ~1.4x the multiply-adds at several times the speed per MAC.
 */
function preferS2dConv(info: tf.backend_util.Conv2DInfo): boolean {
  return (
    info.inChannels <= 2 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    info.outHeight >= 4 &&
    info.outWidth >= 4 &&
    info.filterHeight > 1 &&
    info.filterWidth > 1
  );
}

/** The conv's geometry for NHWC data; null for NCHW (which our kernels leave to the stock ones). */
function nhwcConvInfo(x: TensorInfo, filter: TensorInfo, attrs: tf.Conv2DAttrs): tf.backend_util.Conv2DInfo | null {
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs;
  if (dataFormat != null && dataFormat !== 'NHWC') return null;
  return tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
}

const conv2DS2d: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
  const info = nhwcConvInfo(x, filter, attrs as unknown as tf.Conv2DAttrs);
  if (info != null && x.dtype === 'float32' && preferDirect1ch(info) && simdKernels(backend) != null) {
    return direct1ch(backend, x, filter, null, info, -Infinity, Infinity);
  }
  if (info == null || !preferS2dConv(info) || x.dtype !== 'float32') return runStockConv2D(args);
  const { batchSize: b, filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  const { outHeight: oh, outWidth: ow, inHeight: inH, inWidth: inW } = info;
  const kbH = Math.floor(kh / 2) + 1;
  const kbW = Math.floor(kw / 2) + 1;
  const qH = Math.ceil(oh / 2);
  const qW = Math.ceil(ow / 2);
  const QH = qH + kbH - 1;
  const QW = qW + kbW - 1;
  return withScope(backend, (sc) => {
    const wv = sc.read(filter);
    const inC = 4 * ci;
    const outC = 4 * co;
    const f = new Float32Array(kbH * kbW * inC * outC);
    for (let da = 0; da < kbH; da++) {
      for (let db = 0; db < kbW; db++) {
        for (let r2 = 0; r2 < 2; r2++) {
          for (let t2 = 0; t2 < 2; t2++) {
            for (let r = 0; r < 2; r++) {
              const u = 2 * da + r2 - r;
              if (u < 0 || u >= kh) continue;
              for (let t = 0; t < 2; t++) {
                const v = 2 * db + t2 - t;
                if (v < 0 || v >= kw) continue;
                for (let c = 0; c < ci; c++) {
                  const row = ((da * kbW + db) * inC + (r2 * 2 + t2) * ci + c) * outC + (r * 2 + t) * co;
                  const src = ((u * kw + v) * ci + c) * co;
                  for (let o = 0; o < co; o++) f[row + o] = wv[src + o];
                }
              }
            }
          }
        }
      }
    }
    const blockFilter = sc.fromValues([kbH, kbW, inC, outC], f);
    // Pad (or crop) x to exactly 2*QH x 2*QW, cut it into 2x2 blocks.
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    const xp = sc.padSpatial(x, [top, 2 * QH - top - inH], [left, 2 * QW - left - inW]);
    const blocks = sc.reshape(sc.transpose(sc.reshape(xp, [b * QH, 2, QW, 2 * ci]), [0, 2, 1, 3]), [b, QH, QW, inC]);
    const y = sc.run(
      'Conv2D',
      { x: blocks, filter: blockFilter },
      { strides: [1, 1], dilations: [1, 1], pad: 'valid', dataFormat: 'NHWC' },
    );
    // [B*qH, qW, r, (t, co)] -> [B*qH, r, qW, (t, co)], then crop the odd row/column of padding.
    const rows = sc.reshape(sc.transpose(sc.reshape(y, [b * qH, qW, 2, 2 * co]), [0, 2, 1, 3]), [b, 2 * qH, 2 * qW * co]);
    const out = 2 * qH > oh || 2 * qW > ow ? sc.run('Slice', { x: rows }, { begin: [0, 0, 0], size: [b, oh, ow * co] }) : rows;
    return sc.release(out, [b, oh, ow, co]);
  });
};

/*
 * One input channel at stride 1 (an image's first layer): a direct kernel (simd/frozen.c conv_1ch) whose vectors run
 * along output rows, with the bias and a relu/relu6 clamp fused. CPU ms per call with bias and relu, measured here
 * under load (the ratios carry over): [256, 32, 32, 1] with 5×5×3 filters (LeNet-5-half's first layer) 5.8 → 1.8,
 * [500, 32, 32, 1] with 5×5×6 (LeNet-5's) 11.8 → 8.2, against XNNPACK's FusedConv2D (space-to-depth: 4-5 and ~17).
 */
function preferDirect1ch(info: tf.backend_util.Conv2DInfo): boolean {
  return (
    info.inChannels === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    info.outWidth >= 8
  );
}

function direct1ch(
  backend: unknown,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | null,
  info: tf.backend_util.Conv2DInfo,
  lo: number,
  hi: number,
): TensorInfo {
  const { batchSize: b, filterHeight: kh, filterWidth: kw, outChannels: co, outHeight: oh, outWidth: ow } = info;
  return withScope(backend, (s) => {
    const { top, left } = info.padInfo;
    // Pad (or crop) x to exactly the rows and columns the 'valid' convolution reads.
    const xp = s.padSpatial(x, [top, oh + kh - 1 - top - info.inHeight], [left, ow + kw - 1 - left - info.inWidth]);
    const y = s.empty([b, oh, ow, co]);
    const row = s.empty([co * ow]);
    simdKernels(backend)!.conv_1ch(
      heapOffset(backend, xp),
      heapOffset(backend, filter),
      bias ? heapOffset(backend, bias) : 0,
      heapOffset(backend, y),
      heapOffset(backend, row),
      b,
      oh + kh - 1,
      ow + kw - 1,
      kh,
      kw,
      co,
      lo,
      hi,
    );
    return s.release(y, [b, oh, ow, co]);
  });
}

/** FusedConv2D: the direct one-channel kernel where it applies (bias and relu/relu6 fused into it), else stock. */
const fusedConv2D: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x, filter, bias, preluActivationWeights } = inputs as { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  const { activation } = attrs as unknown as tf.FusedConv2DAttrs;
  const clamp: Record<string, [number, number]> = { linear: [-Infinity, Infinity], relu: [0, Infinity], relu6: [0, 6] };
  const range = clamp[activation ?? 'linear'];
  if (range && !preluActivationWeights && x.dtype === 'float32' && (!bias || bias.shape.length === 1) && simdKernels(backend) != null) {
    const info = nhwcConvInfo(x, filter, attrs as unknown as tf.FusedConv2DAttrs);
    if (info && preferDirect1ch(info)) return direct1ch(backend, x, filter, bias ?? null, info, range[0], range[1]);
  }
  return runStockFused(args);
};

/** A stock kernel replaced by ours, kept to fall back to; binds its C++ function to a backend on first use there. */
class StockKernel {
  config: KernelConfig | undefined;
  private setUpFor: unknown;

  constructor(private readonly name: string) {}

  run(args: Parameters<KernelFunc>[0]): ReturnType<KernelFunc> {
    if (this.config == null) throw new Error(`wasm-conv-grad: the stock ${this.name} kernel is missing`);
    if (this.setUpFor !== args.backend) {
      // A kernel's setupFunc runs on setBackend only while it is registered; ours may have been registered first.
      this.config.setupFunc?.(args.backend);
      this.setUpFor = args.backend;
    }
    return this.config.kernelFunc(args);
  }
}

const stockFusedConv2D = new StockKernel('FusedConv2D');
const stockConv2D = new StockKernel('Conv2D');
const runStockFused = (args: Parameters<KernelFunc>[0]) => stockFusedConv2D.run(args);
const runStockConv2D = (args: Parameters<KernelFunc>[0]) => stockConv2D.run(args);

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
 * Also swaps in the faster Slice, Identity, PadV2 and MaxPoolGrad of ./wasm-fast-kernels.
 */
export function registerWasmGradKernels(): void {
  registerWasmFastKernels();
  const conv = tf.getKernel('Conv2D', BACKEND);
  if (conv != null && conv.kernelFunc !== conv2DS2d) {
    stockConv2D.config = conv;
    tf.unregisterKernel('Conv2D', BACKEND);
    tf.registerKernel({ kernelName: 'Conv2D', backendName: BACKEND, kernelFunc: conv2DS2d });
  }
  const fused = tf.getKernel('FusedConv2D', BACKEND);
  if (fused != null && fused.kernelFunc !== fusedConv2D) {
    stockFusedConv2D.config = fused;
    tf.unregisterKernel('FusedConv2D', BACKEND);
    tf.registerKernel({ kernelName: 'FusedConv2D', backendName: BACKEND, kernelFunc: fusedConv2D });
  }
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
  conv2DS2d,
  fusedConv2D,
  conv2DBackpropFilter,
  depthwiseBackpropFilter,
  depthwiseBackpropInput,
  conv2DBackpropInput,
  conv2DBackpropInputXnn,
};
