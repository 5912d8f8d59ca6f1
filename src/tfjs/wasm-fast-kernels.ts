import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { heapOffset, simdKernels } from './wasm-simd';
import { registerTotalVariationKernels } from './tv-kernel';
import { registerFrozenKernels } from './frozen-kernels';
import { registerWinogradKernel } from './winograd-conv';
import { registerStridedInputGradKernel } from './strided-input-grad';

// Replacements for tfjs-backend-wasm 4.22 kernels that are slow enough to matter in a CAKE step. They work on
// the wasm heap in place (views, or the SIMD module of ./wasm-simd.ts) and give the stock kernels' values bit for
// bit, except MaxPoolGrad (see below). CPU times per call at batch 500 on LeNet-5 shapes, measured on the
// 2-vCPU development machine under load from other processes (so only the ratios carry over):
// - Slice ~56 ms -> 0.3-3 ms for a [500, 32, 32, 1] crop: the stock kernel copies its whole input out of the heap
//   (readSync) and then copies one innermost row at a time, i.e. one JS call per element for a [B, H, W-1, 1]
//   crop. Here axes taken whole are merged first, so a crop copies a few long runs.
// - PadV2 (a slice's gradient) ~60 ms -> ~6 ms: the same, backwards.
// - Identity and same-dtype Cast: the stock kernels copy the tensor; these share the buffer (reference counted),
//   as the cpu backend and wasm's own Reshape do. tfjs' ReLU gradient casts its float input on every step.
// - MaxPoolGrad ~50 ms -> ~6 ms (2x2/2) for [500, 28, 28, 6]. The stock C++ kernel also starts its running maximum
//   at FLT_MIN rather than -inf, so a window whose values are all <= 0 passes its gradient nowhere (see
//   wasm-maxpool-grad.ts); here the first maximal element of a window gets the gradient, as in the cpu backend,
//   TensorFlow and PyTorch. After a ReLU the two agree exactly: all-zero windows have zero ReLU gradient either way.
// - BatchMatMul with a transposed operand (every dense layer's backward pass) ~8 ms -> ~0.6 ms for [500, 84] x
//   [120, 84]^T: wasm uses XNNPACK only without transposes, so the operand is transposed explicitly first.
// - Add of a per-channel bias over [..., C] ~10 ms -> ~2 ms for [500, 28, 28, 6] + [6]: XNNPACK's broadcast with an
//   innermost extent of C is slow for small C; the bias is tiled to a few hundred values first.
// - Transpose ~6 ms -> ~2 ms for 2.35 M floats, for permutations that swap two adjacent axis groups (the ones the
//   conv kernels of wasm-conv-grad.ts use); others keep the stock kernel.

const BACKEND = 'wasm';

type Heap = Float32Array | Int32Array | Uint8Array;
interface WasmBackend {
  incRef(dataId: object): void;
  disposeData(dataId: object): boolean;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: Float32Array): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Heap;
}

/**
 * Merges axes so that a strided copy has as few, as long, runs as possible: size-1 axes are dropped, and an axis
 * is merged into the one before it when it is taken whole. Returns the input shape, begin and size of the merged
 * view (at least rank 1). Every size must be above 0.
 */
export function mergeSliceAxes(
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
): { shape: number[]; begin: number[]; size: number[] } {
  const s: number[] = [];
  const b: number[] = [];
  const z: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const n = s.length;
    if (n > 0 && size[i] === shape[i]) {
      // Taken whole: fold into the previous (outer) axis, whose range then stays contiguous.
      s[n - 1] *= shape[i];
      b[n - 1] *= shape[i];
      z[n - 1] *= shape[i];
      continue;
    }
    s.push(shape[i]);
    b.push(begin[i]);
    z.push(size[i]);
  }
  if (s.length === 0) return { shape: [1], begin: [0], size: [1] };
  return { shape: s, begin: b, size: z };
}

/**
 * Moves the box `begin`/`size` of a tensor with merged-axis shape `shape` between its strided place and a dense
 * array: 'gather' copies box → dense (Slice), 'scatter' copies dense → box (PadV2). One odometer walks the outer
 * axes; the innermost axis is copied as a run.
 */
function moveBox(
  boxed: Heap,
  dense: Heap,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
  direction: 'gather' | 'scatter',
): void {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  const run = size[rank - 1];
  let off = 0;
  for (let i = 0; i < rank; i++) off += begin[i] * strides[i];
  const total = size.reduce((a, v) => a * v, 1);
  if (total === 0) return;
  const gather = direction === 'gather';
  const idx = new Array<number>(Math.max(0, rank - 1)).fill(0);
  const rows = total / run;
  for (let r = 0, d = 0; r < rows; r++, d += run) {
    if (run >= 32) {
      if (gather) dense.set(boxed.subarray(off, off + run), d);
      else boxed.set(dense.subarray(d, d + run), off);
    } else if (gather) {
      for (let k = 0; k < run; k++) dense[d + k] = boxed[off + k];
    } else {
      for (let k = 0; k < run; k++) boxed[off + k] = dense[d + k];
    }
    if (rank === 1) break;
    // Advance the odometer over the outer axes.
    let a = rank - 2;
    off += strides[a];
    idx[a]++;
    while (a > 0 && idx[a] === size[a]) {
      off -= size[a] * strides[a];
      idx[a] = 0;
      a--;
      off += strides[a];
      idx[a]++;
    }
  }
}

const stock = new Map<string, KernelConfig>();
const setUpFor = new Map<string, unknown>();

/** Runs the kernel that was registered before ours (binding its C++ function first if that never happened). */
function runStock(name: string, args: Parameters<KernelFunc>[0]): ReturnType<KernelFunc> {
  const config = stock.get(name);
  if (config == null) throw new Error(`wasm-fast-kernels: no stock '${name}' kernel to fall back to`);
  if (setUpFor.get(name) !== args.backend) {
    // A kernel's setupFunc runs on setBackend only while it is registered; ours may have been registered first.
    config.setupFunc?.(args.backend);
    setUpFor.set(name, args.backend);
  }
  return config.kernelFunc(args);
}

const slice: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  if (x.dtype === 'string' || x.dtype === 'complex64') return runStock('Slice', args);
  const { begin, size } = attrs as unknown as tf.SliceAttrs;
  const [begin_, size_] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
  const b = backend as unknown as WasmBackend;
  // Allocate first: a heap growth detaches views made earlier.
  const out = b.makeOutput(size_, x.dtype);
  if (size_.some((d) => d === 0)) return out;
  const m = mergeSliceAxes(x.shape, begin_, size_);
  moveBox(b.typedArrayFromHeap(x), b.typedArrayFromHeap(out), m.shape, m.begin, m.size, 'gather');
  return out;
};

const identity: KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: TensorInfo };
  (backend as unknown as WasmBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

const padV2: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  if (x.dtype === 'string' || x.dtype === 'complex64') return runStock('PadV2', args);
  const { paddings, constantValue } = attrs as unknown as tf.PadV2Attrs;
  const outShape = x.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
  const b = backend as unknown as WasmBackend;
  const out = b.makeOutput(outShape, x.dtype);
  const dst = b.typedArrayFromHeap(out);
  const src = b.typedArrayFromHeap(x);
  dst.fill(constantValue);
  if (src.length === 0) return out;
  // Writing x into the box [pad, pad + shape) of the output is moveBox in the scatter direction: merge the axes of the
  // output view, then scatter runs.
  const m = mergeSliceAxes(
    outShape,
    paddings.map((p) => p[0]),
    x.shape,
  );
  moveBox(dst, src, m.shape, m.begin, m.size, 'scatter');
  return out;
};


const maxPoolGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const b = backend as unknown as WasmBackend;
  const out = b.makeOutput(input.shape, 'float32');
  const dx = b.typedArrayFromHeap(out) as Float32Array;
  const x = b.typedArrayFromHeap(input) as Float32Array;
  const g = b.typedArrayFromHeap(dy) as Float32Array;
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { strideHeight: sH, strideWidth: sW, dilationHeight: dH, dilationWidth: dW } = info;
  const { effectiveFilterHeight: fH, effectiveFilterWidth: fW } = info;
  const { top, left } = info.padInfo;
  if (fH === 2 && fW === 2 && sH === 2 && sW === 2 && top === 0 && left === 0) {
    const simd = H === 2 * OH && W === 2 * OW ? simdKernels(backend) : null;
    if (simd != null) {
      simd.max_pool_grad_2x2(
        heapOffset(backend, input),
        heapOffset(backend, dy),
        heapOffset(backend, out),
        batchSize * OH,
        OW,
        C,
      );
    } else {
      maxPoolGrad2x2(x, g, dx, batchSize, H, W, C, OH, OW);
    }
    return out;
  }
  dx.fill(0);
  const rowStride = W * C;
  for (let n = 0; n < batchSize; n++) {
    const xBatch = n * H * rowStride;
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * sH - top;
      let hMin = h0;
      while (hMin < 0) hMin += dH;
      const hMax = Math.min(H, h0 + fH);
      for (let ow = 0; ow < OW; ow++) {
        const w0 = ow * sW - left;
        let wMin = w0;
        while (wMin < 0) wMin += dW;
        const wMax = Math.min(W, w0 + fW);
        const q = ((n * OH + oh) * OW + ow) * C;
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let where = -1;
          for (let h = hMin; h < hMax; h += dH) {
            for (let w = wMin, p = xBatch + h * rowStride + wMin * C + c; w < wMax; w += dW, p += dW * C) {
              const v = x[p];
              if (v > best) {
                best = v;
                where = p;
              }
            }
          }
          if (where >= 0) dx[where] += g[q + c];
        }
      }
    }
  }
  return out;
};

/**
 * The common 2x2, stride-2, unpadded pool: windows do not overlap, so every dx element is written exactly once
 * (no zero fill, no accumulation) and the first maximum of the four is picked without branches on the data.
 */
function maxPoolGrad2x2(
  x: Float32Array,
  g: Float32Array,
  dx: Float32Array,
  N: number,
  H: number,
  W: number,
  C: number,
  OH: number,
  OW: number,
): void {
  const rowStride = W * C;
  // Rows/columns past the last full window (odd H or W) get no gradient.
  if (H !== 2 * OH || W !== 2 * OW) dx.fill(0);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const r0 = (n * H + 2 * oh) * rowStride;
      const r1 = r0 + rowStride;
      let q = ((n * OH + oh) * OW) * C;
      for (let ow = 0; ow < OW; ow++) {
        const a0 = r0 + 2 * ow * C;
        const b0 = r1 + 2 * ow * C;
        for (let c = 0; c < C; c++, q++) {
          const pa = a0 + c;
          const pb = pa + C;
          const pc = b0 + c;
          const pd = pc + C;
          const va = x[pa];
          const vb = x[pb];
          const vc = x[pc];
          const vd = x[pd];
          // First maximum in the order a, b, c, d (strict comparisons keep the earlier one on ties).
          const top2 = vb > va ? vb : va;
          const iTop = vb > va ? 1 : 0;
          const bottom = vd > vc ? vd : vc;
          const iBottom = vd > vc ? 3 : 2;
          // A window of -inf only passes no gradient, as in the general loop. (With NaNs the pick may differ
          // from the general loop's; the step is not finite then anyway.)
          const sel = bottom > top2 ? iBottom : top2 > -Infinity ? iTop : -1;
          const gv = g[q];
          dx[pa] = sel === 0 ? gv : 0;
          dx[pb] = sel === 1 ? gv : 0;
          dx[pc] = sel === 2 ? gv : 0;
          dx[pd] = sel === 3 ? gv : 0;
        }
      }
    }
  }
}

/** Runs the registered wasm kernel `name` (Reshape, Transpose: ones this file does not replace). */
function run(name: string, backend: unknown, inputs: Record<string, TensorInfo>, attrs: object): TensorInfo {
  const kernel = tf.getKernel(name, BACKEND);
  if (kernel == null) throw new Error(`wasm-fast-kernels: wasm kernel '${name}' is missing`);
  return kernel.kernelFunc({ inputs, backend, attrs } as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
}

/**
 * BatchMatMul: wasm runs it through XNNPACK only without transposes (and with a batch of 1); a transposed operand
 * takes a scalar C++ loop ~15x slower. Every dense layer's backward pass has one (dx = dy·Wᵀ, dW = xᵀ·dy), so
 * transpose that operand explicitly (a small copy next to the product) and multiply untransposed.
 */
const batchMatMul: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
  const batchA = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const batchB = b.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  if ((!transposeA && !transposeB) || batchA !== 1 || batchB !== 1 || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return runStock('BatchMatMul', args);
  }
  const wb = backend as unknown as WasmBackend;
  const owned: TensorInfo[] = [];
  const flat = (t: TensorInfo, transpose: boolean): TensorInfo => {
    const [r, c] = t.shape.slice(-2);
    const t2 = run('Reshape', backend, { x: t }, { shape: [r, c] });
    owned.push(t2);
    if (!transpose) return t2;
    const tt = run('Transpose', backend, { x: t2 }, { perm: [1, 0] });
    owned.push(tt);
    return tt;
  };
  try {
    const a2 = flat(a, transposeA);
    const b2 = flat(b, transposeB);
    const out = runStock('BatchMatMul', {
      inputs: { a: a2, b: b2 },
      backend,
      attrs: { transposeA: false, transposeB: false } as unknown as tf.NamedAttrMap,
    }) as TensorInfo;
    const outer = a.shape.length >= b.shape.length ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
    return { dataId: out.dataId, shape: [...outer, a2.shape[0], b2.shape[1]], dtype: out.dtype };
  } finally {
    for (const t of owned) wb.disposeData(t.dataId);
  }
};

/**
 * Add: a bias of C values broadcast over [..., C] (every conv and dense layer's forward pass) takes XNNPACK's
 * broadcasting path with an innermost extent of C, ~5x slower than a same-shape add for small C. Tiling the bias
 * to a few hundred values and viewing the other operand as rows of that length gives the same sums ~5x faster.
 */
const TILE_TARGET = 256;

const add: KernelFunc = (args) => {
  const { inputs, backend } = args;
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const plan = biasPlan(a, b) ?? biasPlan(b, a);
  if (plan == null) return runStock('Add', args);
  const { big, bias, rows, reps } = plan;
  const wb = backend as unknown as WasmBackend;
  const owned: TensorInfo[] = [];
  try {
    const c = bias.shape[bias.shape.length - 1];
    const biasVals = wb.typedArrayFromHeap(bias) as Float32Array;
    const tiled = new Float32Array(c * reps);
    for (let r = 0; r < reps; r++) tiled.set(biasVals.subarray(0, c), r * c);
    const tiledT = wb.makeOutput([c * reps], 'float32', undefined, tiled);
    owned.push(tiledT);
    const big2 = run('Reshape', backend, { x: big }, { shape: [rows, c * reps] });
    owned.push(big2);
    // Keep the operand order (a + b), so the sums are bit-identical to the stock kernel's.
    const ins = big === a ? { a: big2, b: tiledT } : { a: tiledT, b: big2 };
    const out = runStock('Add', { inputs: ins, backend, attrs: {} as tf.NamedAttrMap }) as TensorInfo;
    return { dataId: out.dataId, shape: [...big.shape], dtype: out.dtype };
  } finally {
    for (const t of owned) wb.disposeData(t.dataId);
  }
};

/** When `bias` is C values (shape [C] or [1, ..., 1, C]) added along the last axis of the larger `big`. */
function biasPlan(big: TensorInfo, bias: TensorInfo): { big: TensorInfo; bias: TensorInfo; rows: number; reps: number } | null {
  if (big.dtype !== 'float32' || bias.dtype !== 'float32' || big.shape.length < 2) return null;
  const c = bias.shape[bias.shape.length - 1];
  if (bias.shape.some((d, i) => i < bias.shape.length - 1 && d !== 1)) return null;
  if (bias.shape.length > big.shape.length || c !== big.shape[big.shape.length - 1] || c >= TILE_TARGET / 2) return null;
  const size = big.shape.reduce((p, d) => p * d, 1);
  // reps: the largest product of trailing axes (before C) that keeps the tile within TILE_TARGET.
  let reps = 1;
  for (let i = big.shape.length - 2; i >= 0 && reps * big.shape[i] * c <= TILE_TARGET; i--) reps *= big.shape[i];
  if (reps === 1) return null;
  return { big, bias, rows: size / (reps * c), reps };
}

/** Cast to the dtype a tensor already has (tfjs' ReLU gradient casts its float input): share, as Identity does. */
const cast: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  if ((attrs as unknown as tf.CastAttrs).dtype !== x.dtype || x.dtype === 'string' || x.dtype === 'complex64') {
    return runStock('Cast', args);
  }
  (backend as unknown as WasmBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

/**
 * The transpose as (a, b, c, d) with perm [0, 2, 1, 3] once size-1 axes are dropped and axes that stay adjacent are
 * merged, or null for permutations that do not reduce to that form.
 */
export function swapForm(shape: readonly number[], perm: readonly number[]): [number, number, number, number] | null {
  const kept = shape.map((d, i) => (d === 1 ? -1 : i)).filter((i) => i >= 0);
  const index = new Map(kept.map((axis, i) => [axis, i]));
  const p = perm.filter((axis) => shape[axis] !== 1).map((axis) => index.get(axis)!);
  const dims = kept.map((axis) => shape[axis]);
  // Runs of output axes that are consecutive input axes become one axis.
  const groups: number[][] = [];
  for (const axis of p) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] + 1 === axis) last.push(axis);
    else groups.push([axis]);
  }
  const byInput = [...groups].sort((g, h) => g[0] - h[0]);
  const size = (g: number[]) => g.reduce((s, axis) => s * dims[axis], 1);
  const order = groups.map((g) => byInput.indexOf(g));
  const sizes = byInput.map(size);
  const key = order.join(',');
  if (groups.length <= 1) return [1, 1, 1, sizes[0] ?? 1];
  if (key === '1,0') return [1, sizes[0], sizes[1], 1];
  if (key === '0,2,1') return [sizes[0], sizes[1], sizes[2], 1];
  if (key === '1,0,2') return [1, sizes[0], sizes[1], sizes[2]];
  if (key === '0,2,1,3') return [sizes[0], sizes[1], sizes[2], sizes[3]];
  return null;
}

/**
 * Transpose: wasm's C++ kernel walks element by element (~6 ms for 2.35 M floats); the permutations the conv
 * kernels use (two adjacent axis groups swapped) copy contiguous runs instead, in the SIMD module.
 */
const transpose: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  const { perm } = attrs as unknown as tf.TransposeAttrs;
  const simd = x.dtype === 'float32' ? simdKernels(backend) : null;
  const form = simd ? swapForm(x.shape, perm) : null;
  if (simd == null || form == null) return runStock('Transpose', args);
  const out = (backend as unknown as WasmBackend).makeOutput(
    perm.map((p) => x.shape[p]),
    x.dtype,
  );
  if (form.every((d) => d > 0)) simd.swap_middle(heapOffset(backend, x), heapOffset(backend, out), ...form);
  return out;
};

const configs: KernelConfig[] = [
  { kernelName: 'Slice', backendName: BACKEND, kernelFunc: slice },
  { kernelName: 'Identity', backendName: BACKEND, kernelFunc: identity },
  { kernelName: 'PadV2', backendName: BACKEND, kernelFunc: padV2 },
  { kernelName: 'MaxPoolGrad', backendName: BACKEND, kernelFunc: maxPoolGrad },
  { kernelName: 'BatchMatMul', backendName: BACKEND, kernelFunc: batchMatMul },
  { kernelName: 'Add', backendName: BACKEND, kernelFunc: add },
  { kernelName: 'Cast', backendName: BACKEND, kernelFunc: cast },
  { kernelName: 'Transpose', backendName: BACKEND, kernelFunc: transpose },
];

/**
 * Swaps in the faster kernels above for wasm. Safe to call repeatedly, before or after tf.setBackend('wasm').
 * `unregisterWasmFastKernels` puts the stock ones back (for comparisons in tests and benchmarks).
 */
export function registerWasmFastKernels(): void {
  for (const config of configs) install(config);
  registerTotalVariationKernels();
  registerFrozenKernels();
  registerWinogradKernel();
  registerStridedInputGradKernel();
}

function install(config: KernelConfig): void {
  const current = tf.getKernel(config.kernelName, BACKEND);
  if (current?.kernelFunc === config.kernelFunc) return;
  if (current != null) {
    // The kernel found first is kept for the fallbacks and for unregistering.
    if (!stock.has(config.kernelName)) stock.set(config.kernelName, current);
    tf.unregisterKernel(config.kernelName, BACKEND);
  }
  tf.registerKernel(config);
}

/** Installs only the MaxPoolGrad replacement (see wasm-maxpool-grad.ts for why the stock one is wrong). */
export function registerWasmFastMaxPoolGrad(): void {
  install(configs.find((c) => c.kernelName === 'MaxPoolGrad')!);
}

export function unregisterWasmFastKernels(): void {
  for (const config of configs) {
    const current = tf.getKernel(config.kernelName, BACKEND);
    const original = stock.get(config.kernelName);
    if (current?.kernelFunc !== config.kernelFunc || original == null) continue;
    tf.unregisterKernel(config.kernelName, BACKEND);
    tf.registerKernel(original);
    if (tf.getBackend() === BACKEND) original.setupFunc?.(tf.backend());
  }
}

export const wasmFastKernelFuncs = { slice, identity, padV2, maxPoolGrad, batchMatMul, add, cast, transpose };
