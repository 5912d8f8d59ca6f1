import * as tf from '@tensorflow/tfjs';
import type { AttributeProtoObj, NodeProtoObj } from './onnx-schema';

// ONNX operators as differentiable tfjs ops. ONNX tensors are NCHW; tfjs convolutions and pools are NHWC, so a
// 4-D value may be held transposed (`nhwc: true`): conv, pool, batch norm and element-wise ops keep it that way,
// and any op that cares about axis order (Flatten, Reshape, Transpose, Concat on other axes, …) gets the NCHW
// tensor back. A chain conv → relu → pool → conv thus transposes once on the way in and once at the flatten.
//
// Values known without running the model (initializers, Constant nodes, and the shape arithmetic PyTorch exports
// for x.view(x.size(0), -1): Shape, Gather, Unsqueeze, Concat, …) are kept as plain JS arrays (`s`), so reading
// them never waits on the GPU, and ops that need static arguments (Reshape's shape, Pad's pads) find them there.

export interface Static {
  data: Float32Array | number[];
  dims: number[];
  isInt: boolean;
}

export interface Val {
  /** The tensor, when there is one; 4-D tensors may be stored NHWC (see `nhwc`). */
  t?: tf.Tensor;
  nhwc?: boolean;
  /** The values as JS numbers, when known without running tfjs. */
  s?: Static;
}

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

type Attrs = Map<string, AttributeProtoObj>;

export const attrsOf = (node: NodeProtoObj): Attrs => new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
const attrInt = (a: Attrs, name: string, fallback: number) => (a.has(name) ? Number(a.get(name)!.i ?? fallback) : fallback);
const attrFloat = (a: Attrs, name: string, fallback: number) => (a.has(name) ? Number(a.get(name)!.f ?? fallback) : fallback);
const attrInts = (a: Attrs, name: string): number[] | undefined => (a.has(name) ? (a.get(name)!.ints ?? []).map(Number) : undefined);
const attrString = (a: Attrs, name: string, fallback: string) => {
  const s = a.get(name)?.s;
  return s && s.length > 0 ? new TextDecoder().decode(s) : fallback;
};

const prod = (xs: readonly number[]) => xs.reduce((p, d) => p * d, 1);
const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

/** The NCHW (ONNX-order) tensor of a value. */
export function nchw(v: Val, ctx: OpContext): tf.Tensor {
  if (!v.t) return ctx.tensorFor(v);
  return v.nhwc ? tf.transpose(v.t, [0, 3, 1, 2]) : v.t;
}

/** The NHWC tensor of a 4-D value. */
function nhwcOf(v: Val, ctx: OpContext): tf.Tensor4D {
  if (v.t && v.nhwc) return v.t as tf.Tensor4D;
  const t = nchw(v, ctx);
  if (t.rank !== 4) throw new OpError(`expects a 4-D (N, C, H, W) input, got shape [${t.shape.join(',')}]`);
  return tf.transpose(t, [0, 2, 3, 1]) as tf.Tensor4D;
}

const tensorVal = (t: tf.Tensor, nhwc = false): Val => ({ t, nhwc });
const staticVal = (data: Float32Array | number[], dims: number[], isInt: boolean): Val => ({ s: { data, dims, isInt } });

/** Static integers of an input (shape arguments, axes, pads…). */
function ints(v: Val | undefined, what: string): number[] {
  if (!v?.s) throw new OpError(`needs ${what} known before running the model, but it is computed at run time`);
  return Array.from(v.s.data, Number);
}

const optionalInput = (inputs: (Val | undefined)[], i: number) => inputs[i];

/** ONNX pads [x1_begin, x2_begin, x1_end, x2_end] for 2-D spatial ops, from auto_pad or pads. */
function spatialPads(a: Attrs, inH: number, inW: number, kernel: number[], strides: number[], dilations: number[]): [number, number, number, number] {
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

function padNhwc(x: tf.Tensor4D, pads: [number, number, number, number], value = 0): tf.Tensor4D {
  if (pads.every((p) => p === 0)) return x;
  const [t, l, b, r] = pads;
  return tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]], value);
}

// --- prepared weights -------------------------------------------------------------------------------------------

/** Per-node tensors derived from initializers once (conv kernels in tfjs layout, folded batch norm). */
export type Prepared = Map<string, tf.Tensor>;

type ConvKind = 'conv' | 'depthwise' | 'grouped';

function convKind(wDims: number[], group: number, inChannels: number): ConvKind {
  if (group === 1) return 'conv';
  if (wDims[1] === 1 && group === inChannels) return 'depthwise';
  return 'grouped';
}

/** ONNX conv weights [O, I/group, kH, kW] in tfjs' layout: [kH, kW, I, O], or [kH, kW, C, multiplier] for depthwise. */
function convKernel(w: tf.Tensor, kind: ConvKind, inChannels: number): tf.Tensor {
  if (kind === 'depthwise') {
    const m = w.shape[0] / inChannels;
    return tf.transpose(tf.reshape(w, [inChannels, m, w.shape[2]!, w.shape[3]!]), [2, 3, 0, 1]);
  }
  return tf.transpose(w, [2, 3, 1, 0]);
}

// --- the operators ----------------------------------------------------------------------------------------------

type OpFn = (inputs: (Val | undefined)[], a: Attrs, ctx: OpContext, node: NodeProtoObj, prepared: Prepared) => Val[];

const unary = (fn: (x: tf.Tensor, a: Attrs) => tf.Tensor): OpFn => ([x], a) => {
  if (!x!.t && x!.s) return [tensorVal(fn(tf.tensor(x!.s.data, x!.s.dims, x!.s.isInt ? 'int32' : 'float32'), a))];
  return [tensorVal(fn(x!.t!, a), x!.nhwc)];
};

/** The constant (static) operand of a binary op reshaped for an NHWC left-hand side, when that is possible. */
function forNhwc(b: Val, ctx: OpContext): tf.Tensor | undefined {
  if (!b.s) return undefined;
  const dims = b.s.dims;
  const size = prod(dims);
  if (size === 1) return tf.reshape(ctx.tensorFor(b), []);
  // Per-channel constants: [C,1,1] or [1,C,1,1].
  const trimmed = dims.length === 4 && dims[0] === 1 ? dims.slice(1) : dims;
  if (trimmed.length === 3 && trimmed[1] === 1 && trimmed[2] === 1) return tf.reshape(ctx.tensorFor(b), [trimmed[0]]);
  return undefined;
}

const binary = (fn: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor): OpFn => ([x, y], _a, ctx) => {
  const a = x!;
  const b = y!;
  if (a.nhwc && b.nhwc) return [tensorVal(fn(a.t!, b.t!), true)];
  if (a.nhwc) {
    const c = forNhwc(b, ctx);
    if (c) return [tensorVal(fn(a.t!, c), true)];
  }
  if (b.nhwc) {
    const c = forNhwc(a, ctx);
    if (c) return [tensorVal(fn(c, b.t!), true)];
  }
  return [tensorVal(fn(nchw(a, ctx), nchw(b, ctx)))];
};

/** Integer arithmetic on static values (shape computations). */
const staticBinary = (fn: (x: number, y: number) => number) => (a: Static, b: Static): Static | undefined => {
  if (!a.isInt || !b.isInt) return undefined;
  if (prod(b.dims) === 1) return { data: Array.from(a.data, (v) => fn(v, b.data[0])), dims: a.dims, isInt: true };
  if (prod(a.dims) === 1) return { data: Array.from(b.data, (v) => fn(a.data[0], v)), dims: b.dims, isInt: true };
  if (String(a.dims) === String(b.dims)) return { data: Array.from(a.data, (v, i) => fn(v, b.data[i])), dims: a.dims, isInt: true };
  return undefined;
};

const withStatic = (op: OpFn, onStatic: (a: Static, b: Static) => Static | undefined): OpFn => (inputs, a, ctx, node, prepared) => {
  const [x, y] = inputs;
  if (x?.s && y?.s && !x.t && !y.t) {
    const s = onStatic(x.s, y.s);
    if (s) return [{ s }];
  }
  return op(inputs, a, ctx, node, prepared);
};

function softmaxLike(fn: (x: tf.Tensor) => tf.Tensor): OpFn {
  return ([x], a, ctx) => {
    const t = nchw(x!, ctx);
    const rank = t.rank;
    if (ctx.opset < 13) {
      // Opset < 13: flatten to 2-D at `axis` (default 1), normalise each row, reshape back.
      const axis = normAxis(attrInt(a, 'axis', 1), rank);
      const rows = prod(t.shape.slice(0, axis));
      return [tensorVal(tf.reshape(fn(tf.reshape(t, [rows, -1])), t.shape))];
    }
    const axis = normAxis(attrInt(a, 'axis', -1), rank);
    if (axis === rank - 1) return [tensorVal(fn(t))];
    const perm = [...Array(rank).keys()].filter((d) => d !== axis).concat(axis);
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [tensorVal(tf.transpose(fn(tf.transpose(t, perm)), inverse))];
  };
}

const conv: OpFn = (inputs, a, ctx, node, prepared) => {
  const [x, w, b] = inputs;
  if (!w?.s) throw new OpError('needs its weights as an initializer');
  const wDims = w.s.dims;
  if (wDims.length !== 4) throw new OpError(`has weights of shape [${wDims.join(',')}]; only 2-D convolutions are supported`);
  const input = nhwcOf(x!, ctx);
  const group = attrInt(a, 'group', 1);
  const inC = input.shape[3];
  const kernelShape = wDims.slice(2);
  const strides = attrInts(a, 'strides') ?? [1, 1];
  const dilations = attrInts(a, 'dilations') ?? [1, 1];
  if (inC !== wDims[1] * group)
    throw new OpError(`gets ${inC} input channels but its weights [${wDims.join(',')}] with group ${group} expect ${wDims[1] * group}`);
  const kind = convKind(wDims, group, inC);
  const key = `${node.output?.[0]}:kernel`;
  let kernel = prepared.get(key);
  if (!kernel) {
    kernel = tf.keep(convKernel(ctx.tensorFor(w), kind, inC));
    prepared.set(key, kernel);
  }
  const pads = spatialPads(a, input.shape[1], input.shape[2], kernelShape, strides, dilations);
  const padded = padNhwc(input, pads);
  const st = strides as [number, number];
  const dil = dilations as [number, number];
  let y: tf.Tensor4D;
  if (kind === 'conv') y = tf.conv2d(padded, kernel as tf.Tensor4D, st, 'valid', 'NHWC', dil);
  else if (kind === 'depthwise') y = tf.depthwiseConv2d(padded, kernel as tf.Tensor4D, st, 'valid', 'NHWC', dil);
  else {
    const xs = tf.split(padded, group, 3);
    const ks = tf.split(kernel as tf.Tensor4D, group, 3);
    y = tf.concat(xs.map((xi, i) => tf.conv2d(xi as tf.Tensor4D, ks[i] as tf.Tensor4D, st, 'valid', 'NHWC', dil)), 3) as tf.Tensor4D;
  }
  if (b) y = tf.add(y, ctx.tensorFor(b)) as tf.Tensor4D;
  return [tensorVal(y, true)];
};

function pool(kind: 'max' | 'avg'): OpFn {
  return ([x], a, ctx) => {
    const input = nhwcOf(x!, ctx);
    const kernel = attrInts(a, 'kernel_shape');
    if (!kernel || kernel.length !== 2) throw new OpError('only 2-D pooling with a kernel_shape is supported');
    const strides = attrInts(a, 'strides') ?? [1, 1];
    const dilations = attrInts(a, 'dilations') ?? [1, 1];
    if (dilations.some((d) => d !== 1)) throw new OpError('dilated pooling is not supported');
    const pads = spatialPads(a, input.shape[1], input.shape[2], kernel, strides, dilations);
    // ceil_mode: pad the end so the last partial window counts; those cells never enter an average.
    const extra = [input.shape[1], input.shape[2]].map((size, i) => {
      if (attrInt(a, 'ceil_mode', 0) !== 1) return 0;
      const span = size + pads[i] + pads[i + 2] - kernel[i];
      const out = Math.ceil(span / strides[i]) + 1;
      // The last window must start inside the input or its left padding (as in PyTorch and ONNX Runtime).
      const outFixed = (out - 1) * strides[i] >= size + pads[i] ? out - 1 : out;
      return Math.max(0, (outFixed - 1) * strides[i] + kernel[i] - (size + pads[i] + pads[i + 2]));
    });
    const all: [number, number, number, number] = [pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1]];
    const k = kernel as [number, number];
    const st = strides as [number, number];
    if (kind === 'max') return [tensorVal(tf.maxPool(padNhwc(input, all, -3.4e38), k, st, 'valid'), true)];
    if (all.every((p) => p === 0)) return [tensorVal(tf.avgPool(input, k, st, 'valid'), true)];
    // Averages over the cells that count: the input, plus the explicit pads when count_include_pad is set.
    const include = attrInt(a, 'count_include_pad', 0) === 1;
    const [, h, w] = input.shape;
    const ones = tf.ones([1, h, w, 1]) as tf.Tensor4D;
    const mask = include ? padNhwc(padNhwc(ones, pads, 1), [0, 0, extra[0], extra[1]], 0) : padNhwc(ones, all, 0);
    const sums = tf.avgPool(padNhwc(input, all, 0), k, st, 'valid');
    const counts = tf.avgPool(mask, k, st, 'valid');
    return [tensorVal(tf.div(sums, counts), true)];
  };
}

const batchNorm: OpFn = (inputs, a, ctx, node, prepared) => {
  const [x, scale, bias, mean, variance] = inputs;
  const key = `${node.output?.[0]}:bn`;
  let ab = prepared.get(key);
  if (!ab) {
    const eps = attrFloat(a, 'epsilon', 1e-5);
    ab = tf.keep(
      tf.tidy(() => {
        const mul = tf.div(ctx.tensorFor(scale!), tf.sqrt(tf.add(ctx.tensorFor(variance!), eps)));
        const add = tf.sub(ctx.tensorFor(bias!), tf.mul(ctx.tensorFor(mean!), mul));
        return tf.stack([tf.reshape(mul, [-1]), tf.reshape(add, [-1])]);
      }),
    );
    prepared.set(key, ab);
  }
  const [mul, add] = tf.unstack(ab);
  if (x!.nhwc) return [tensorVal(tf.add(tf.mul(x!.t!, mul), add), true)];
  const t = nchw(x!, ctx);
  if (t.rank === 4) {
    const nh = tf.transpose(t, [0, 2, 3, 1]);
    return [tensorVal(tf.add(tf.mul(nh, mul), add), true)];
  }
  // [N, C] or [N, C, L]: channels on axis 1.
  const shape = [mul.shape[0], ...Array(Math.max(0, t.rank - 2)).fill(1)];
  return [tensorVal(tf.add(tf.mul(t, tf.reshape(mul, shape)), tf.reshape(add, shape)))];
};

const gemm: OpFn = ([A, B, C], a, ctx) => {
  const alpha = attrFloat(a, 'alpha', 1);
  const beta = attrFloat(a, 'beta', 1);
  let y = tf.matMul(nchw(A!, ctx) as tf.Tensor2D, nchw(B!, ctx) as tf.Tensor2D, attrInt(a, 'transA', 0) === 1, attrInt(a, 'transB', 0) === 1) as tf.Tensor;
  if (alpha !== 1) y = tf.mul(y, alpha);
  if (C) y = tf.add(y, beta === 1 ? nchw(C, ctx) : tf.mul(nchw(C, ctx), beta));
  return [tensorVal(y)];
};

const flatten: OpFn = ([x], a, ctx) => {
  const axis = attrInt(a, 'axis', 1);
  if (x!.s && !x!.t) {
    const ax = normAxis(axis, x!.s.dims.length);
    return [{ s: { ...x!.s, dims: [prod(x!.s.dims.slice(0, ax)), prod(x!.s.dims.slice(ax))] } }];
  }
  const t = nchw(x!, ctx);
  const ax = normAxis(axis, t.rank);
  return [tensorVal(tf.reshape(t, [prod(t.shape.slice(0, ax)), prod(t.shape.slice(ax))]))];
};

const reshape: OpFn = ([x, shapeVal], a, ctx) => {
  let target = ctx.opset < 5 ? (attrInts(a, 'shape') ?? []) : ints(shapeVal, 'its target shape');
  const allowZero = attrInt(a, 'allowzero', 0) === 1;
  const inShape = x!.s && !x!.t ? x!.s.dims : nchw(x!, ctx).shape;
  target = target.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  // A batch dimension fixed at export time (x.view(1, -1) from a batch-1 trace): follow the run's batch instead.
  if (ctx.fixedBatch !== undefined && target[0] === ctx.fixedBatch && inShape[0] === ctx.batch && ctx.batch !== ctx.fixedBatch)
    target = [ctx.batch, ...target.slice(1)];
  if (x!.s && !x!.t) {
    const size = prod(x!.s.dims);
    const known = prod(target.filter((d) => d !== -1));
    return [{ s: { ...x!.s, dims: target.map((d) => (d === -1 ? size / known : d)) } }];
  }
  return [tensorVal(tf.reshape(nchw(x!, ctx), target))];
};

const transpose: OpFn = ([x], a, ctx) => {
  const t = x!.t ?? ctx.tensorFor(x!);
  const rank = t.rank;
  const perm = attrInts(a, 'perm') ?? [...Array(rank).keys()].reverse();
  if (x!.nhwc) {
    // Compose with the NHWC storage: stored = transpose(canonical, [0,2,3,1]), canonical = transpose(stored, [0,3,1,2]).
    const composed = perm.map((p) => [0, 3, 1, 2][p]);
    return [tensorVal(composed.every((p, i) => p === i) ? t : tf.transpose(t, composed))];
  }
  return [tensorVal(tf.transpose(t, perm))];
};

const concat: OpFn = (inputs, a, ctx) => {
  const vals = inputs.filter((v): v is Val => v !== undefined);
  const axisAttr = attrInt(a, 'axis', 0);
  if (vals.every((v) => v.s && !v.t)) {
    const rank = vals[0].s!.dims.length;
    const axis = normAxis(axisAttr, rank);
    if (rank === 1 && axis === 0)
      return [staticVal(vals.flatMap((v) => Array.from(v.s!.data)), [vals.reduce((s, v) => s + v.s!.dims[0], 0)], vals.every((v) => v.s!.isInt))];
  }
  if (vals.every((v) => v.nhwc) && normAxis(axisAttr, 4) === 1) return [tensorVal(tf.concat(vals.map((v) => v.t!), 3), true)];
  const ts = vals.map((v) => nchw(v, ctx));
  return [tensorVal(tf.concat(ts, normAxis(axisAttr, ts[0].rank)))];
};

const pad: OpFn = (inputs, a, ctx) => {
  const [x, padsVal, valueVal, axesVal] = inputs;
  const mode = attrString(a, 'mode', 'constant');
  const t = nchw(x!, ctx);
  const rank = t.rank;
  let pads = ctx.opset < 11 ? (attrInts(a, 'pads') ?? attrInts(a, 'paddings') ?? []) : ints(padsVal, 'its pads');
  const value = ctx.opset < 11 ? attrFloat(a, 'value', 0) : valueVal?.s ? Number(valueVal.s.data[0] ?? 0) : 0;
  if (axesVal) {
    const axes = ints(axesVal, 'its axes').map((ax) => normAxis(ax, rank));
    const full = Array(2 * rank).fill(0);
    axes.forEach((ax, i) => {
      full[ax] = pads[i];
      full[ax + rank] = pads[i + axes.length];
    });
    pads = full;
  }
  const pairs = [...Array(rank).keys()].map((d) => [pads[d], pads[d + rank]] as [number, number]);
  if (pairs.some(([b, e]) => b < 0 || e < 0)) throw new OpError('has negative pads (cropping), which is not supported');
  if (mode === 'constant') return [tensorVal(tf.pad(t, pairs, value))];
  if (mode === 'reflect') return [tensorVal(tf.mirrorPad(t, pairs, 'reflect'))];
  throw new OpError(`uses mode "${mode}"; only constant and reflect padding are supported`);
};

const clip: OpFn = (inputs, a, ctx) => {
  const [x, minV, maxV] = inputs;
  let lo = -3.4e38;
  let hi = 3.4e38;
  if (ctx.opset < 11) {
    lo = attrFloat(a, 'min', lo);
    hi = attrFloat(a, 'max', hi);
  } else {
    if (minV) lo = Number(ints(minV, 'its min')[0]);
    if (maxV) hi = Number(ints(maxV, 'its max')[0]);
  }
  return [tensorVal(tf.clipByValue(x!.t ?? ctx.tensorFor(x!), lo, hi), x!.nhwc)];
};

/** Shape: the run's actual shape (batch included) as static ints; ONNX order even for NHWC-held tensors. */
const shapeOp: OpFn = ([x], a) => {
  let dims = x!.t ? [...x!.t.shape] : [...x!.s!.dims];
  if (x!.nhwc) dims = [dims[0], dims[3], dims[1], dims[2]];
  const start = normAxis(attrInt(a, 'start', 0), dims.length);
  const end = a.has('end') ? normAxis(attrInt(a, 'end', dims.length), dims.length) : dims.length;
  const out = dims.slice(start, end);
  return [staticVal(out, [out.length], true)];
};

const gather: OpFn = ([x, idx], a, ctx) => {
  const axis = attrInt(a, 'axis', 0);
  const indices = ints(idx, 'its indices');
  if (x!.s && !x!.t && x!.s.dims.length === 1 && normAxis(axis, 1) === 0) {
    const n = x!.s.dims[0];
    const out = indices.map((i) => x!.s!.data[i < 0 ? i + n : i]);
    return [staticVal(out, idx!.s!.dims, x!.s.isInt)];
  }
  const t = nchw(x!, ctx);
  const ax = normAxis(axis, t.rank);
  const fixed = indices.map((i) => (i < 0 ? i + t.shape[ax] : i));
  const g = tf.gather(t, tf.tensor(fixed, idx!.s!.dims.length ? idx!.s!.dims : [], 'int32'), ax);
  return [tensorVal(g)];
};

function axesFrom(inputs: (Val | undefined)[], a: Attrs, ctx: OpContext, inputIndex: number, since: number): number[] | undefined {
  if (ctx.opset < since) return attrInts(a, 'axes');
  const v = optionalInput(inputs, inputIndex);
  return v ? ints(v, 'its axes') : undefined;
}

const unsqueeze: OpFn = (inputs, a, ctx) => {
  const [x] = inputs;
  const axes = axesFrom(inputs, a, ctx, 1, 13) ?? [];
  const inDims = x!.s && !x!.t ? x!.s.dims : nchw(x!, ctx).shape;
  const rank = inDims.length + axes.length;
  const sorted = axes.map((ax) => normAxis(ax, rank)).sort((p, q) => p - q);
  const dims = [...inDims];
  for (const ax of sorted) dims.splice(ax, 0, 1);
  if (x!.s && !x!.t) return [{ s: { ...x!.s, dims } }];
  return [tensorVal(tf.reshape(nchw(x!, ctx), dims))];
};

const squeeze: OpFn = (inputs, a, ctx) => {
  const [x] = inputs;
  const inDims = x!.s && !x!.t ? x!.s.dims : nchw(x!, ctx).shape;
  const axes = (axesFrom(inputs, a, ctx, 1, 13) ?? inDims.flatMap((d, i) => (d === 1 ? [i] : []))).map((ax) => normAxis(ax, inDims.length));
  const dims = inDims.filter((_, i) => !axes.includes(i));
  if (x!.s && !x!.t) return [{ s: { ...x!.s, dims } }];
  return [tensorVal(tf.reshape(nchw(x!, ctx), dims))];
};

const slice: OpFn = (inputs, a, ctx) => {
  const [x] = inputs;
  const starts = ctx.opset < 10 ? (attrInts(a, 'starts') ?? []) : ints(inputs[1], 'its starts');
  const ends = ctx.opset < 10 ? (attrInts(a, 'ends') ?? []) : ints(inputs[2], 'its ends');
  const dims = x!.s && !x!.t ? x!.s.dims : nchw(x!, ctx).shape;
  const rank = dims.length;
  const axes = (ctx.opset < 10 ? attrInts(a, 'axes') : inputs[3] ? ints(inputs[3], 'its axes') : undefined) ?? starts.map((_, i) => i);
  const steps = ctx.opset >= 10 && inputs[4] ? ints(inputs[4], 'its steps') : starts.map(() => 1);
  const begin = dims.map(() => 0);
  const end = [...dims];
  const stride = dims.map(() => 1);
  axes.forEach((ax0, i) => {
    const ax = normAxis(ax0, rank);
    const n = dims[ax];
    const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
    stride[ax] = steps[i];
    if (steps[i] > 0) {
      begin[ax] = clampIdx(starts[i], 0, n);
      end[ax] = clampIdx(ends[i], 0, n);
    } else {
      begin[ax] = clampIdx(starts[i], -1, n - 1);
      end[ax] = ends[i] < -n ? -1 : clampIdx(ends[i], -1, n - 1);
    }
  });
  if (x!.s && !x!.t && rank === 1) {
    const out: number[] = [];
    for (let i = begin[0]; stride[0] > 0 ? i < end[0] : i > end[0]; i += stride[0]) out.push(x!.s.data[i]);
    return [staticVal(out, [out.length], x!.s.isInt)];
  }
  const t = nchw(x!, ctx);
  if (stride.every((s) => s === 1)) return [tensorVal(tf.slice(t, begin, end.map((e, i) => Math.max(0, e - begin[i]))))];
  // Negative ends for reversed slices mean "past the start": give stridedSlice an end mask for them.
  const endMask = end.reduce((m, e, i) => (e < 0 ? m | (1 << i) : m), 0);
  return [tensorVal(tf.stridedSlice(t, begin, end, stride, 0, endMask))];
};

const cast: OpFn = ([x], a) => {
  const to = attrInt(a, 'to', 1);
  const toInt = [2, 3, 4, 5, 6, 7, 9, 12, 13].includes(to);
  if (x!.s && !x!.t) return [staticVal(toInt ? Array.from(x!.s.data, (v) => Math.trunc(Number(v))) : Float32Array.from(x!.s.data), x!.s.dims, toInt)];
  return [tensorVal(tf.cast(x!.t!, toInt ? 'int32' : 'float32'), x!.nhwc)];
};

function reduce(fn: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor, since: number): OpFn {
  return (inputs, a, ctx) => {
    const [x] = inputs;
    const keep = attrInt(a, 'keepdims', 1) === 1;
    const rank = (x!.t ?? ctx.tensorFor(x!)).rank;
    let axes = axesFrom(inputs, a, ctx, 1, since);
    if (!axes || axes.length === 0) {
      if (attrInt(a, 'noop_with_empty_axes', 0) === 1) return [x!];
      axes = [...Array(rank).keys()];
    }
    axes = axes.map((ax) => normAxis(ax, rank));
    // Spatial reductions of an NHWC tensor (PyTorch's x.mean([2, 3])): reduce over H, W directly.
    if (x!.nhwc && [...axes].sort().join() === '2,3') {
      const y = fn(x!.t!, [1, 2], keep);
      return [tensorVal(y, keep)];
    }
    return [tensorVal(fn(nchw(x!, ctx), axes, keep))];
  };
}

const globalPool = (fn: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor): OpFn => ([x], _a, ctx) => [tensorVal(fn(nhwcOf(x!, ctx), [1, 2], true), true)];

const constant: OpFn = (_inputs, a) => {
  // The value attribute is turned into a static value when the model is read (onnx.ts); these are the scalars.
  if (a.has('value_float')) return [staticVal(Float32Array.of(attrFloat(a, 'value_float', 0)), [], false)];
  if (a.has('value_floats')) {
    const fs = a.get('value_floats')!.floats ?? [];
    return [staticVal(Float32Array.from(fs), [fs.length], false)];
  }
  if (a.has('value_int')) return [staticVal([attrInt(a, 'value_int', 0)], [], true)];
  if (a.has('value_ints')) {
    const is = attrInts(a, 'value_ints')!;
    return [staticVal(is, [is.length], true)];
  }
  throw new OpError('has no value this reader understands (value, value_float(s) or value_int(s))');
};

const identity: OpFn = ([x]) => [x!];

const prelu: OpFn = ([x, slope], _a, ctx) => {
  const s = slope!.s && x!.nhwc ? forNhwc(slope!, ctx) : undefined;
  if (x!.nhwc && s) return [tensorVal(tf.prelu(x!.t!, s), true)];
  return [tensorVal(tf.prelu(nchw(x!, ctx), nchw(slope!, ctx)))];
};

/** Every supported op (the default ONNX domain), by op_type. */
export const OPS: Record<string, OpFn> = {
  Conv: conv,
  Gemm: gemm,
  MatMul: ([x, y], _a, ctx) => [tensorVal(tf.matMul(nchw(x!, ctx), nchw(y!, ctx)))],
  Add: withStatic(binary(tf.add), staticBinary((p, q) => p + q)),
  Sub: withStatic(binary(tf.sub), staticBinary((p, q) => p - q)),
  Mul: withStatic(binary(tf.mul), staticBinary((p, q) => p * q)),
  Div: withStatic(binary(tf.div), staticBinary((p, q) => Math.trunc(p / q))),
  Max: binary(tf.maximum),
  Min: binary(tf.minimum),
  Sum: (inputs, a, ctx, node, prepared) => inputs.slice(1).reduce<Val[]>((acc, v) => binary(tf.add)([acc[0], v], a, ctx, node, prepared), [inputs[0]!]),
  Pow: binary(tf.pow),
  Relu: unary((x) => tf.relu(x)),
  LeakyRelu: unary((x, a) => tf.leakyRelu(x, attrFloat(a, 'alpha', 0.01))),
  Elu: unary((x, a) => {
    const alpha = attrFloat(a, 'alpha', 1);
    return alpha === 1 ? tf.elu(x) : tf.where(tf.greater(x, 0), x, tf.mul(alpha, tf.sub(tf.exp(x), 1)));
  }),
  Selu: unary((x) => tf.selu(x)),
  PRelu: prelu,
  Sigmoid: unary((x) => tf.sigmoid(x)),
  HardSigmoid: unary((x, a) => tf.clipByValue(tf.add(tf.mul(x, attrFloat(a, 'alpha', 0.2)), attrFloat(a, 'beta', 0.5)), 0, 1)),
  HardSwish: unary((x) => tf.mul(x, tf.clipByValue(tf.add(tf.div(x, 6), 0.5), 0, 1))),
  Tanh: unary((x) => tf.tanh(x)),
  Softplus: unary((x) => tf.softplus(x)),
  Exp: unary((x) => tf.exp(x)),
  Log: unary((x) => tf.log(x)),
  Sqrt: unary((x) => tf.sqrt(x)),
  Neg: unary((x) => tf.neg(x)),
  Abs: unary((x) => tf.abs(x)),
  Erf: unary((x) => tf.erf(x)),
  Clip: clip,
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: globalPool((x, axes, keep) => tf.mean(x, axes, keep)),
  GlobalMaxPool: globalPool((x, axes, keep) => tf.max(x, axes, keep)),
  BatchNormalization: batchNorm,
  Flatten: flatten,
  Reshape: reshape,
  Transpose: transpose,
  Concat: concat,
  Pad: pad,
  Softmax: softmaxLike((x) => tf.softmax(x)),
  LogSoftmax: softmaxLike((x) => tf.logSoftmax(x)),
  Constant: constant,
  Identity: identity,
  Dropout: identity,
  Shape: shapeOp,
  Gather: gather,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Slice: slice,
  Cast: cast,
  ReduceMean: reduce((x, axes, keep) => tf.mean(x, axes, keep), 18),
  ReduceSum: reduce((x, axes, keep) => tf.sum(x, axes, keep), 13),
  ReduceMax: reduce((x, axes, keep) => tf.max(x, axes, keep), 18),
};

/** The ops whose outputs are pass-throughs of their first input at inference (for finding a final softmax). */
export const PASS_THROUGH_OPS = new Set(['Identity', 'Dropout']);
