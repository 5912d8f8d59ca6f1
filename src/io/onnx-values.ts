import * as tf from '@tensorflow/tfjs';
import { attrInts, attrString, type Attrs } from './onnx-attrs';
import type { NodeProtoObj } from './onnx-schema';
import type { Static } from './onnx-tensor';

// The values an ONNX graph passes between nodes while CAKE runs it, and what every op implementation shares.
//
// ONNX tensors are NCHW; tfjs convolutions and pools are NHWC, so a 4-D value may be held transposed
// (`nhwc: true`): conv, pool, normalisation, padding, slicing, concatenation and element-wise ops keep it that way,
// and only an op that needs ONNX's axis order (Flatten, Reshape, …) gets the NCHW tensor back. A ResNet thus
// transposes once on the way in and once at the flatten.
//
// Values known without running the model (initializers, constants, and the shape arithmetic PyTorch exports for
// x.view(x.size(0), -1) or F.pad) are plain JS arrays (`s`, evaluated by onnx-static.ts), so reading them never
// waits on the GPU, and ops that need static arguments (Reshape's shape, Pad's pads) find them there.

export interface Val {
  /** The tensor, when there is one; 4-D tensors may be stored NHWC (see `nhwc`). */
  t?: tf.Tensor;
  nhwc?: boolean;
  /** The values as JS numbers, when known without running tfjs. */
  s?: Static;
}

/** An op with settings CAKE does not run; the message completes "node "n" (Op) …". */
export class OpError extends Error {}

export interface OpContext {
  opset: number;
  /** A float tensor for a static value (cached for initializers). */
  tensorFor(v: Val): tf.Tensor;
  /** The declared fixed batch size of the model's input, when it has one (PyTorch exports often fix it to 1). */
  fixedBatch?: number;
  /** The batch size of the current run. */
  batch: number;
}

/** Per-node tensors derived from initializers once (conv kernels in tfjs layout, folded batch norm). */
export type Prepared = Map<string, tf.Tensor>;

export type OpFn = (inputs: (Val | undefined)[], a: Attrs, ctx: OpContext, node: NodeProtoObj, prepared: Prepared) => Val[];

export const prod = (xs: readonly number[]) => xs.reduce((p, d) => p * d, 1);
export const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

export const tensorVal = (t: tf.Tensor, nhwc = false): Val => ({ t, nhwc });
export const staticVal = (data: Float32Array | number[], dims: number[], isInt: boolean): Val => ({ s: { data, dims, isInt } });

/** Where ONNX axis `axis` of an NHWC-held 4-D tensor lives in storage (C → 3, H → 1, W → 2). */
export const NHWC_AXIS = [0, 3, 1, 2];

/** The NCHW (ONNX-order) tensor of a value. */
export function nchw(v: Val, ctx: OpContext): tf.Tensor {
  if (!v.t) return ctx.tensorFor(v);
  return v.nhwc ? tf.transpose(v.t, [0, 3, 1, 2]) : v.t;
}

/** The NHWC tensor of a 4-D value. */
export function nhwcOf(v: Val, ctx: OpContext): tf.Tensor4D {
  if (v.t && v.nhwc) return v.t as tf.Tensor4D;
  const t = nchw(v, ctx);
  if (t.rank !== 4) throw new OpError(`expects a 4-D (N, C, H, W) input, got shape [${t.shape.join(',')}]`);
  return tf.transpose(t, [0, 2, 3, 1]) as tf.Tensor4D;
}

/**
 * A value as stored, with a map from ONNX axes to storage axes: ops that act along named axes (slice, pad,
 * concat, split, reduce, softmax, tile) work on the NHWC tensor directly instead of transposing it back.
 */
export function stored(v: Val, ctx: OpContext): { t: tf.Tensor; axis: (onnxAxis: number) => number; nhwc: boolean } {
  if (v.t && v.nhwc) return { t: v.t, axis: (a) => NHWC_AXIS[normAxis(a, 4)], nhwc: true };
  const t = nchw(v, ctx);
  return { t, axis: (a) => normAxis(a, t.rank), nhwc: false };
}

/** The ONNX-order shape of a value (an NHWC-held tensor reports N, C, H, W). */
export function onnxShape(v: Val): number[] {
  if (v.t) return v.nhwc ? [0, 3, 1, 2].map((d) => v.t!.shape[d]!) : [...v.t.shape];
  return [...v.s!.dims];
}

/** Static integers of an input (shape arguments, axes, pads…). */
export function ints(v: Val | undefined, what: string): number[] {
  if (!v?.s) throw new OpError(`needs ${what} known before running the model, but it is computed at run time`);
  return Array.from(v.s.data, Number);
}

/** Static floats of an input (scales, clip bounds…). */
export function floats(v: Val | undefined, what: string): number[] {
  return ints(v, what);
}

/** ONNX pads [x1_begin, x2_begin, x1_end, x2_end] for 2-D spatial ops, from auto_pad or pads. */
export function spatialPads(a: Attrs, inH: number, inW: number, kernel: number[], strides: number[], dilations: number[]): [number, number, number, number] {
  const auto = attrString(a, 'auto_pad', 'NOTSET');
  if (auto === 'VALID') return [0, 0, 0, 0];
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const total = [inH, inW].map((size, i) => {
      const out = Math.ceil(size / strides[i]);
      return Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size);
    });
    const small = total.map((t) => Math.floor(t / 2));
    const big = total.map((t, i) => t - small[i]);
    return auto === 'SAME_UPPER' ? [small[0], small[1], big[0], big[1]] : [big[0], big[1], small[0], small[1]];
  }
  const pads = attrInts(a, 'pads') ?? [0, 0, 0, 0];
  if (pads.length !== 4) throw new OpError(`has pads [${pads.join(',')}]; only 2-D convolutions and pools are supported`);
  return pads as [number, number, number, number];
}

export function padNhwc(x: tf.Tensor4D, pads: [number, number, number, number], value = 0): tf.Tensor4D {
  if (pads.every((p) => p === 0)) return x;
  const [t, l, b, r] = pads;
  return tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]], value);
}
