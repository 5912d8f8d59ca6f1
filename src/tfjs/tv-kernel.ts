import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { heapOffset, simdKernels } from './wasm-simd';

/*
 * The anisotropic total variation of CAKE's image prior, mean |x[.., i+1, ..] - x[.., i, ..]| along the height axis
 * plus the same along the width axis, as two fused wasm kernels (value, and gradient). Written with tfjs ops it
 * is 4 slices, 2 subs, 2 abs and 2 means forward and ~15 ops backward (pads, a full-size JS `ones` per mean,
 * sign, adds), ~20 ms per synthesis step at batch 500 on 32x32x1; each fused kernel is one pass over x.
 *
 * Numerics: the same sums as the op graph, accumulated in float64 (forward) and float32 (backward, at most four
 * terms per element); a zero difference gets the gradient of a negative one, as tfjs' Abs gradient gives it
 * (dy * step(d, -1)). Backends without these kernels (webgl, webgpu, cpu)
 * keep the op graph: `fusedTotalVariation` returns null there.
 */

export const TV_KERNEL = 'CakeTotalVariation';
export const TV_GRAD_KERNEL = 'CakeTotalVariationGrad';
const BACKEND = 'wasm';

interface TvAttrs {
  hAxis: number;
  wAxis: number;
}

interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

/** [outer, n, stride] of an axis: x viewed as [outer, n, stride] with the axis in the middle. */
function axisView(shape: readonly number[], axis: number): [number, number, number] {
  let outer = 1;
  let stride = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) stride *= shape[i];
  return [outer, shape[axis], stride];
}

function meanAbsDiff(x: Float32Array, shape: readonly number[], axis: number): number {
  const [outer, n, stride] = axisView(shape, axis);
  if (n < 2 || outer * stride === 0) return 0;
  let sum = 0;
  for (let o = 0; o < outer; o++) {
    const base = o * n * stride;
    const end = base + (n - 1) * stride;
    for (let i = base; i < end; i++) sum += Math.abs(x[i + stride] - x[i]);
  }
  return sum / (outer * (n - 1) * stride);
}

/** dx += c * d/dx sum|diff along axis| (c = dy / count, folded in by the caller). */
function addMeanAbsDiffGrad(x: Float32Array, dx: Float32Array, shape: readonly number[], axis: number, c: number): void {
  const [outer, n, stride] = axisView(shape, axis);
  for (let o = 0; o < outer; o++) {
    const base = o * n * stride;
    const end = base + (n - 1) * stride;
    for (let i = base; i < end; i++) {
      // tfjs' Abs gradient is dy * step(d, -1): a zero difference counts as negative. Written without a branch
      // on the data (2x faster on noise, whose differences have random signs).
      const g = c * (2 * +(x[i + stride] - x[i] > 0) - 1);
      dx[i + stride] += g;
      dx[i] -= g;
    }
  }
}

const tvValue: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const { hAxis, wAxis } = attrs as unknown as TvAttrs;
  const b = backend as unknown as WasmBackend;
  const out = b.makeOutput([], 'float32');
  const simd = simdKernels(backend);
  let value: number;
  if (simd != null) {
    const at = heapOffset(backend, x);
    const mean = (axis: number) => {
      const [outer, n, stride] = axisView(x.shape, axis);
      return n < 2 || outer * stride === 0 ? 0 : simd.sum_abs_diff(at, outer, n, stride) / (outer * (n - 1) * stride);
    };
    value = mean(hAxis) + mean(wAxis);
  } else {
    const xs = b.typedArrayFromHeap(x);
    value = meanAbsDiff(xs, x.shape, hAxis) + meanAbsDiff(xs, x.shape, wAxis);
  }
  b.typedArrayFromHeap(out)[0] = value;
  return out;
};

const tvGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { hAxis, wAxis } = attrs as unknown as TvAttrs;
  const b = backend as unknown as WasmBackend;
  const out = b.makeOutput([...x.shape], 'float32');
  const dx = b.typedArrayFromHeap(out);
  const g = b.typedArrayFromHeap(dy)[0];
  dx.fill(0);
  const simd = simdKernels(backend);
  for (const axis of [hAxis, wAxis]) {
    const [outer, n, stride] = axisView(x.shape, axis);
    if (n < 2 || outer * stride === 0) continue;
    const c = Math.fround(g / (outer * (n - 1) * stride));
    if (simd != null) simd.add_abs_diff_grad(heapOffset(backend, x), heapOffset(backend, out), outer, n, stride, c);
    else addMeanAbsDiffGrad(b.typedArrayFromHeap(x), dx, x.shape, axis, c);
  }
  return out;
};

const configs: KernelConfig[] = [
  { kernelName: TV_KERNEL, backendName: BACKEND, kernelFunc: tvValue },
  { kernelName: TV_GRAD_KERNEL, backendName: BACKEND, kernelFunc: tvGrad },
];

/** Registers the fused total-variation kernels for wasm. Idempotent. */
export function registerTotalVariationKernels(): void {
  for (const c of configs) if (tf.getKernel(c.kernelName, c.backendName) == null) tf.registerKernel(c);
}

/**
 * mean |Δ along hAxis| + mean |Δ along wAxis| of float32 x through the fused kernels, differentiable w.r.t. x; null
 * when the active backend has no such kernels (the caller then uses tfjs ops).
 */
export function fusedTotalVariation(x: tf.Tensor, hAxis: number, wAxis: number): tf.Scalar | null {
  const backend = tf.getBackend();
  if (x.dtype !== 'float32' || tf.getKernel(TV_KERNEL, backend) == null || tf.getKernel(TV_GRAD_KERNEL, backend) == null) {
    return null;
  }
  const attrs = { hAxis, wAxis } as unknown as tf.NamedAttrMap;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([input]);
    const value = tf.engine().runKernel(TV_KERNEL, { x: input }, attrs) as tf.Scalar;
    return {
      value,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) =>
        tf.engine().runKernel(TV_GRAD_KERNEL, { x: saved[0], dy }, attrs) as tf.Tensor,
    };
  });
  return f(x) as tf.Scalar;
}
