import * as tf from '@tensorflow/tfjs';
import { attrFloat, attrInt, attrInts, attrString, type Attrs } from './onnx-attrs';
import { einsum } from './onnx-einsum';
import { instanceNorm, layerNorm } from './onnx-ops-norm';
import { convTranspose, resize, upsample } from './onnx-ops-resample';
import { SHAPE_OPS } from './onnx-ops-shape';
import { reshapeTarget, sliceBounds, squeezeDims, unsqueezeDims } from './onnx-static';
import {
  ints,
  nchw,
  nhwcOf,
  normAxis,
  onnxShape,
  OpError,
  padNhwc,
  prod,
  spatialPads,
  stored,
  tensorVal,
  type OpContext,
  type OpFn,
  type Val,
} from './onnx-values';

// ONNX operators as differentiable tfjs ops, for the nodes that depend on the model's input (everything known
// before the run is evaluated in JS by onnx-static.ts). Every op here must have a gradient on every backend CAKE
// runs on, because synthesis backpropagates to the input through all of them; where tfjs' own op has none
// (Gather on wasm, DepthToSpace, Einsum) the op is written with ops that do.

export { OpError, type Prepared, type Val, type OpContext } from './onnx-values';
export { nchw } from './onnx-values';

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

// --- element-wise -----------------------------------------------------------------------------------------------

const unary = (fn: (x: tf.Tensor, a: Attrs) => tf.Tensor): OpFn => ([x], a) => {
  if (!x!.t && x!.s) return [tensorVal(fn(tf.tensor(x!.s.data, x!.s.dims, x!.s.isInt ? 'int32' : 'float32'), a))];
  return [tensorVal(fn(x!.t!, a), x!.nhwc)];
};

/**
 * Another operand of an element-wise op with an NHWC-held tensor, in NHWC order: its ONNX shape is broadcast to
 * rank 4 and moved like the tensor (a reshape when H and W are 1, as for per-channel constants); undefined when it
 * has more than 4 axes.
 */
function alongNhwc(v: Val, ctx: OpContext): tf.Tensor | undefined {
  if (v.nhwc) return v.t!;
  const dims = onnxShape(v);
  if (dims.length > 4) return undefined;
  const t = v.t ?? ctx.tensorFor(v);
  if (prod(dims) === 1) return tf.reshape(t, []);
  const [n, c, h, w] = [...Array(4 - dims.length).fill(1), ...dims];
  if (h === 1 && w === 1) return tf.reshape(t, [n, 1, 1, c]);
  return tf.transpose(tf.reshape(t, [n, c, h, w]), [0, 2, 3, 1]);
}

/** An element-wise op over any number of inputs; stays NHWC when one of them is. */
const elementwise = (fn: (...xs: tf.Tensor[]) => tf.Tensor): OpFn => (inputs, _a, ctx) => {
  const vals = inputs.filter((v): v is Val => v !== undefined);
  if (vals.some((v) => v.nhwc)) {
    const moved = vals.map((v) => alongNhwc(v, ctx));
    if (moved.every((t): t is tf.Tensor => t !== undefined)) return [tensorVal(fn(...moved), true)];
  }
  return [tensorVal(fn(...vals.map((v) => nchw(v, ctx))))];
};

const binary = (fn: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor): OpFn => elementwise((x, y) => fn(x, y));
const variadic = (fn: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor): OpFn => elementwise((...xs) => xs.slice(1).reduce(fn, xs[0]));

function softmaxLike(fn: (x: tf.Tensor) => tf.Tensor): OpFn {
  return ([x], a, ctx) => {
    if (ctx.opset < 13) {
      // Opset < 13: flatten to 2-D at `axis` (default 1), normalise each row, reshape back.
      const t = nchw(x!, ctx);
      const axis = normAxis(attrInt(a, 'axis', 1), t.rank);
      const rows = prod(t.shape.slice(0, axis));
      return [tensorVal(tf.reshape(fn(tf.reshape(t, [rows, -1])), t.shape))];
    }
    const { t, axis, nhwc } = stored(x!, ctx);
    const ax = axis(attrInt(a, 'axis', -1));
    const rank = t.rank;
    if (ax === rank - 1) return [tensorVal(fn(t), nhwc)];
    const perm = [...Array(rank).keys()].filter((d) => d !== ax).concat(ax);
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [tensorVal(tf.transpose(fn(tf.transpose(t, perm)), inverse), nhwc)];
  };
}

// --- convolution, pooling, normalisation ------------------------------------------------------------------------

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
  const st = strides as [number, number];
  const dil = dilations as [number, number];
  // The convolution pads itself (explicit padding): a separate Pad before it, and the Slice its gradient needs,
  // would be two more kernels per convolution on every step.
  const [top, left, bottom, right] = pads;
  const explicit = [[0, 0], [top, bottom], [left, right], [0, 0]] as tf.backend_util.ExplicitPadding;
  let y: tf.Tensor4D;
  if (kind === 'conv') y = tf.conv2d(input, kernel as tf.Tensor4D, st, explicit, 'NHWC', dil);
  else if (kind === 'depthwise') y = tf.depthwiseConv2d(padNhwc(input, pads), kernel as tf.Tensor4D, st, 'valid', 'NHWC', dil);
  else {
    const xs = tf.split(input, group, 3);
    const ks = tf.split(kernel as tf.Tensor4D, group, 3);
    y = tf.concat(xs.map((xi, i) => tf.conv2d(xi as tf.Tensor4D, ks[i] as tf.Tensor4D, st, explicit, 'NHWC', dil)), 3) as tf.Tensor4D;
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

/** MatMul with numpy's rules: 1-D operands get an axis added and removed, batch axes broadcast. */
const matMul: OpFn = ([x, y], _a, ctx) => {
  let p = nchw(x!, ctx);
  let q = nchw(y!, ctx);
  const vecA = p.rank === 1;
  const vecB = q.rank === 1;
  if (vecA) p = tf.reshape(p, [1, -1]);
  if (vecB) q = tf.reshape(q, [-1, 1]);
  let out = tf.matMul(p, q);
  if (vecA || vecB) out = tf.reshape(out, [...out.shape.slice(0, -2), ...(vecA ? [] : [out.shape[out.rank - 2]]), ...(vecB ? [] : [out.shape[out.rank - 1]])]);
  return [tensorVal(out)];
};

// --- shapes and axes --------------------------------------------------------------------------------------------

const flatten: OpFn = ([x], a, ctx) => {
  const t = nchw(x!, ctx);
  const ax = normAxis(attrInt(a, 'axis', 1), t.rank);
  return [tensorVal(tf.reshape(t, [prod(t.shape.slice(0, ax)), prod(t.shape.slice(ax))]))];
};

const reshape: OpFn = ([x, shapeVal], a, ctx) => {
  let target = ctx.opset < 5 ? (attrInts(a, 'shape') ?? []) : ints(shapeVal, 'its target shape');
  const inShape = onnxShape(x!);
  // A batch dimension fixed at export time (x.view(1, -1) from a batch-1 trace): follow the run's batch instead.
  if (ctx.fixedBatch !== undefined && target[0] === ctx.fixedBatch && inShape[0] === ctx.batch && ctx.batch !== ctx.fixedBatch)
    target = [ctx.batch, ...target.slice(1)];
  const dims = reshapeTarget(inShape, target, attrInt(a, 'allowzero', 0) === 1);
  // [N,C,1,1] → [N,C] (the flatten after a global pool) reads the same memory in NHWC: no transpose.
  if (x!.nhwc && x!.t!.shape[1] === 1 && x!.t!.shape[2] === 1 && dims.length === 2 && dims[0] === inShape[0]) return [tensorVal(tf.reshape(x!.t!, dims))];
  return [tensorVal(tf.reshape(nchw(x!, ctx), dims))];
};

const transpose: OpFn = ([x], a, ctx) => {
  const t = x!.t ?? ctx.tensorFor(x!);
  const rank = t.rank;
  const perm = attrInts(a, 'perm') ?? [...Array(rank).keys()].reverse();
  if (x!.nhwc) {
    // Compose with the NHWC storage: canonical = transpose(stored, [0,3,1,2]).
    const composed = perm.map((p) => [0, 3, 1, 2][p]);
    if (String(composed) === String([0, 3, 1, 2])) return [tensorVal(t, true)];
    return [tensorVal(composed.every((p, i) => p === i) ? t : tf.transpose(t, composed))];
  }
  // NCHW → NHWC of a plain tensor (tf2onnx's input transpose, read back): hold it as NHWC for free.
  if (rank === 4 && String(perm) === '0,3,1,2') return [tensorVal(t, true)];
  return [tensorVal(tf.transpose(t, perm))];
};

const unsqueeze: OpFn = (inputs, a, ctx) => {
  const [x] = inputs;
  const axes = ctx.opset < 13 ? (attrInts(a, 'axes') ?? []) : ints(inputs[1], 'its axes');
  return [tensorVal(tf.reshape(nchw(x!, ctx), unsqueezeDims(onnxShape(x!), axes)))];
};

const squeeze: OpFn = (inputs, a, ctx) => {
  const [x] = inputs;
  const axes = ctx.opset < 13 ? attrInts(a, 'axes') : inputs[1] ? ints(inputs[1], 'its axes') : undefined;
  const dims = squeezeDims(onnxShape(x!), axes);
  // [N,C,1,1] → [N,C] from NHWC storage is a plain reshape too.
  if (x!.nhwc && x!.t!.shape[1] === 1 && x!.t!.shape[2] === 1 && dims.length === 2) return [tensorVal(tf.reshape(x!.t!, dims))];
  return [tensorVal(tf.reshape(nchw(x!, ctx), dims))];
};

const concat: OpFn = (inputs, a, ctx) => {
  // Empty inputs (a zero-length constant some exporters leave in) add nothing.
  const given = inputs.filter((v): v is Val => v !== undefined);
  const nonEmpty = given.filter((v) => prod(onnxShape(v)) > 0);
  const vals = nonEmpty.length > 0 ? nonEmpty : given;
  const axisAttr = attrInt(a, 'axis', 0);
  // Any NHWC input and all 4-D: concatenate in NHWC (DenseNet's and ShuffleNet's channel concats).
  if (vals.some((v) => v.nhwc) && vals.every((v) => onnxShape(v).length === 4)) {
    const ax = [0, 3, 1, 2][normAxis(axisAttr, 4)];
    return [tensorVal(tf.concat(vals.map((v) => nhwcOf(v, ctx)), ax), true)];
  }
  const ts = vals.map((v) => nchw(v, ctx));
  return [tensorVal(tf.concat(ts, normAxis(axisAttr, ts[0].rank)))];
};

const pad: OpFn = (inputs, a, ctx) => {
  const [x, padsVal, valueVal, axesVal] = inputs;
  const mode = attrString(a, 'mode', 'constant');
  const { t, axis, nhwc } = stored(x!, ctx);
  const rank = t.rank;
  let pads = ctx.opset < 11 ? (attrInts(a, 'pads') ?? attrInts(a, 'paddings') ?? []) : ints(padsVal, 'its pads');
  const value = ctx.opset < 11 ? attrFloat(a, 'value', 0) : valueVal?.s ? Number(valueVal.s.data[0] ?? 0) : 0;
  const axes = axesVal ? ints(axesVal, 'its axes') : [...Array(rank).keys()];
  const n = axes.length;
  const pairs: [number, number][] = [...Array(rank)].map(() => [0, 0]);
  axes.forEach((ax, i) => {
    pairs[axis(ax)] = [pads[i], pads[i + n]];
  });
  if (pairs.some(([b, e]) => b < 0 || e < 0)) {
    // Negative pads crop.
    const begin = pairs.map(([b]) => Math.max(0, -b));
    const size = pairs.map(([b, e], d) => t.shape[d] - Math.max(0, -b) - Math.max(0, -e));
    const cropped = tf.slice(t, begin, size);
    const rest = pairs.map(([b, e]) => [Math.max(0, b), Math.max(0, e)] as [number, number]);
    return padded(cropped, rest, mode, value, nhwc);
  }
  return padded(t, pairs, mode, value, nhwc);
};

/**
 * Constant padding with tf.pad; edge and reflect padding by concatenating slices of the border (reversed for
 * reflect): tfjs' mirrorPad gradient only slices dy back and drops what the reflected cells pass on.
 */
function padded(t: tf.Tensor, pairs: [number, number][], mode: string, value: number, nhwc: boolean): Val[] {
  if (pairs.every(([b, e]) => b === 0 && e === 0)) return [tensorVal(t, nhwc)];
  if (mode === 'constant') return [tensorVal(tf.pad(t, pairs, value), nhwc)];
  if (mode !== 'edge' && mode !== 'reflect') throw new OpError(`uses mode "${mode}"; constant, reflect and edge padding are supported`);
  let y = t;
  pairs.forEach(([b, e], d) => {
    if (b === 0 && e === 0) return;
    const n = y.shape[d];
    const part = (from: number, count: number) => {
      const begin = y.shape.map((_, k) => (k === d ? from : 0));
      const size = y.shape.map((m, k) => (k === d ? count : m));
      return tf.slice(y, begin, size);
    };
    if (mode === 'reflect' && (b >= n || e >= n)) throw new OpError(`reflects ${Math.max(b, e)} cells of an axis of ${n}; reflect padding needs fewer than the axis holds`);
    const before = mode === 'edge' ? Array<tf.Tensor>(b).fill(part(0, 1)) : b > 0 ? [tf.reverse(part(1, b), d)] : [];
    const after = mode === 'edge' ? Array<tf.Tensor>(e).fill(part(n - 1, 1)) : e > 0 ? [tf.reverse(part(n - 1 - e, e), d)] : [];
    y = tf.concat([...before, y, ...after], d);
  });
  return [tensorVal(y, nhwc)];
}

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
  const dims = onnxShape(x!);
  const start = normAxis(attrInt(a, 'start', 0), dims.length);
  const end = a.has('end') ? normAxis(attrInt(a, 'end', dims.length), dims.length) : dims.length;
  const out = dims.slice(Math.max(0, start), Math.max(0, end));
  return [{ s: { data: out, dims: [out.length], isInt: true } }];
};

const sizeOp: OpFn = ([x]) => [{ s: { data: [prod(onnxShape(x!))], dims: [], isInt: true } }];

/**
 * Slices of `t` along `axis` at the given indices, concatenated: Gather without tfjs' gather, whose gradient
 * (UnsortedSegmentSum) the wasm backend does not have. Consecutive indices make one slice.
 */
export function gatherBySlices(t: tf.Tensor, axis: number, indices: number[]): tf.Tensor {
  const runs: [number, number][] = [];
  for (const i of indices) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === i) last[1]++;
    else runs.push([i, 1]);
  }
  const parts = runs.map(([start, count]) => {
    const begin = t.shape.map((_, d) => (d === axis ? start : 0));
    const size = t.shape.map((n, d) => (d === axis ? count : n));
    return tf.slice(t, begin, size);
  });
  return parts.length === 1 ? parts[0] : tf.concat(parts, axis);
}

const gather: OpFn = ([x, idx], a, ctx) => {
  const indexDims = idx!.s?.dims ?? [];
  const raw = ints(idx, 'its indices');
  const dims = onnxShape(x!);
  const axis = normAxis(attrInt(a, 'axis', 0), dims.length);
  const n = dims[axis];
  const indices = raw.map((i) => (i < 0 ? i + n : i));
  if (indices.some((i) => i < 0 || i >= n)) throw new OpError(`has an index outside the axis of size ${n}`);
  if (indexDims.length === 1) {
    // Same rank out as in: gather on the stored tensor, NHWC or not.
    const s = stored(x!, ctx);
    return [tensorVal(gatherBySlices(s.t, s.axis(axis), indices), s.nhwc)];
  }
  const g = gatherBySlices(nchw(x!, ctx), axis, indices);
  return [tensorVal(tf.reshape(g, [...dims.slice(0, axis), ...indexDims, ...dims.slice(axis + 1)]))];
};

const slice: OpFn = (inputs, a, ctx) => {
  const [x] = inputs;
  const old = ctx.opset < 10;
  const { t, axis, nhwc } = stored(x!, ctx);
  const dims = onnxShape(x!);
  const b = sliceBounds(
    dims,
    old ? (attrInts(a, 'starts') ?? []) : ints(inputs[1], 'its starts'),
    old ? (attrInts(a, 'ends') ?? []) : ints(inputs[2], 'its ends'),
    old ? attrInts(a, 'axes') : inputs[3] ? ints(inputs[3], 'its axes') : undefined,
    old ? undefined : inputs[4] ? ints(inputs[4], 'its steps') : undefined,
  );
  // Bounds in ONNX order, moved to storage order.
  const begin = new Array<number>(t.rank);
  const size = new Array<number>(t.rank);
  const step = new Array<number>(t.rank);
  dims.forEach((_, d) => {
    begin[axis(d)] = b.begin[d];
    size[axis(d)] = b.size[d];
    step[axis(d)] = b.step[d];
  });
  if (step.every((s) => s === 1)) return [tensorVal(tf.slice(t, begin, size), nhwc)];
  // Strided: end = begin + size·step, exclusive; a reversed slice that runs past index 0 gets an end mask.
  const end = begin.map((bg, d) => bg + size[d] * step[d]);
  const endMask = end.reduce((m, e, d) => (e < 0 ? m | (1 << d) : m), 0);
  return [tensorVal(tf.stridedSlice(t, begin, end, step, 0, endMask), nhwc)];
};

const cast: OpFn = ([x], a) => {
  const to = attrInt(a, 'to', 1);
  if (to === 9) return [tensorVal(tf.cast(x!.t!, 'bool'), x!.nhwc)];
  const toInt = [2, 3, 4, 5, 6, 7, 12, 13].includes(to);
  return [tensorVal(tf.cast(x!.t!, toInt ? 'int32' : 'float32'), x!.nhwc)];
};

/** Reductions; NHWC-held tensors reduce in place (PyTorch's x.mean([2, 3]) reduces H, W directly). */
function reduce(fn: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor, since: number): OpFn {
  return (inputs, a, ctx) => {
    const [x] = inputs;
    const keep = attrInt(a, 'keepdims', 1) === 1;
    const dims = onnxShape(x!);
    const rank = dims.length;
    let axes = ctx.opset < since ? attrInts(a, 'axes') : inputs[1] ? ints(inputs[1], 'its axes') : undefined;
    if (!axes || axes.length === 0) {
      if (attrInt(a, 'noop_with_empty_axes', 0) === 1) return [x!];
      axes = [...Array(rank).keys()];
    }
    axes = axes.map((ax) => normAxis(ax, rank));
    const s = stored(x!, ctx);
    if (!s.nhwc) return [tensorVal(fn(s.t, axes, keep))];
    const y = fn(s.t, axes.map(s.axis), true);
    if (keep) return [tensorVal(y, true)];
    // Without keepdims the remaining axes must come out in ONNX order: a reshape when storage keeps that order.
    const left = dims.map((_, d) => d).filter((d) => !axes!.includes(d));
    const inOrder = left.map(s.axis).every((p, i, ps) => i === 0 || p > ps[i - 1]);
    const outDims = left.map((d) => dims[d]);
    return [tensorVal(tf.reshape(inOrder ? y : tf.transpose(y, [0, 3, 1, 2]), outDims))];
  };
}

const globalPool = (fn: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor): OpFn => ([x], _a, ctx) => [tensorVal(fn(nhwcOf(x!, ctx), [1, 2], true), true)];

const identity: OpFn = ([x]) => [x!];

const prelu: OpFn = (inputs, a, ctx) => elementwise((x, s) => tf.prelu(x, s))(inputs, a, ctx, {}, new Map());

const gelu = (x: tf.Tensor, a: Attrs) => {
  if (attrString(a, 'approximate', 'none') === 'tanh') {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  }
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
};

const reduceL2 = (x: tf.Tensor, axes: number[], keep: boolean) => tf.sqrt(tf.sum(tf.square(x), axes, keep));

/** Every op that runs on tensors (the default ONNX domain), by op_type. */
export const OPS: Record<string, OpFn> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  Gemm: gemm,
  MatMul: matMul,
  Einsum: einsum,
  Add: binary(tf.add),
  Sub: binary(tf.sub),
  Mul: binary(tf.mul),
  Div: binary(tf.div),
  Pow: binary(tf.pow),
  Max: variadic(tf.maximum),
  Min: variadic(tf.minimum),
  Sum: variadic(tf.add),
  Mean: (inputs, a, ctx, node, prepared) => {
    const n = inputs.filter((v) => v !== undefined).length;
    return elementwise((...xs) => tf.div(xs.slice(1).reduce((p, q) => tf.add(p, q), xs[0]), n))(inputs, a, ctx, node, prepared);
  },
  Relu: unary((x) => tf.relu(x)),
  LeakyRelu: unary((x, a) => tf.leakyRelu(x, attrFloat(a, 'alpha', 0.01))),
  Elu: unary((x, a) => {
    const alpha = attrFloat(a, 'alpha', 1);
    return alpha === 1 ? tf.elu(x) : tf.where(tf.greater(x, 0), x, tf.mul(alpha, tf.sub(tf.exp(x), 1)));
  }),
  Celu: unary((x, a) => {
    const alpha = attrFloat(a, 'alpha', 1);
    return tf.add(tf.relu(x), tf.minimum(0, tf.mul(alpha, tf.sub(tf.exp(tf.div(x, alpha)), 1))));
  }),
  Selu: unary((x) => tf.selu(x)),
  PRelu: prelu,
  Sigmoid: unary((x) => tf.sigmoid(x)),
  HardSigmoid: unary((x, a) => tf.clipByValue(tf.add(tf.mul(x, attrFloat(a, 'alpha', 0.2)), attrFloat(a, 'beta', 0.5)), 0, 1)),
  HardSwish: unary((x) => tf.mul(x, tf.clipByValue(tf.add(tf.div(x, 6), 0.5), 0, 1))),
  Mish: unary((x) => tf.mul(x, tf.tanh(tf.softplus(x)))),
  Gelu: unary(gelu),
  Tanh: unary((x) => tf.tanh(x)),
  Softplus: unary((x) => tf.softplus(x)),
  Softsign: unary((x) => tf.div(x, tf.add(1, tf.abs(x)))),
  Exp: unary((x) => tf.exp(x)),
  Log: unary((x) => tf.log(x)),
  Sqrt: unary((x) => tf.sqrt(x)),
  Reciprocal: unary((x) => tf.reciprocal(x)),
  Neg: unary((x) => tf.neg(x)),
  Abs: unary((x) => tf.abs(x)),
  Erf: unary((x) => tf.erf(x)),
  Sin: unary((x) => tf.sin(x)),
  Cos: unary((x) => tf.cos(x)),
  Floor: unary((x) => tf.floor(x)),
  Ceil: unary((x) => tf.ceil(x)),
  Round: unary((x) => tf.round(x)),
  Sign: unary((x) => tf.sign(x)),
  Clip: clip,
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: globalPool((x, axes, keep) => tf.mean(x, axes, keep)),
  GlobalMaxPool: globalPool((x, axes, keep) => tf.max(x, axes, keep)),
  BatchNormalization: batchNorm,
  InstanceNormalization: instanceNorm,
  LayerNormalization: layerNorm,
  Resize: resize,
  Upsample: upsample,
  Flatten: flatten,
  Reshape: reshape,
  Transpose: transpose,
  Concat: concat,
  Pad: pad,
  Softmax: softmaxLike((x) => tf.softmax(x)),
  LogSoftmax: softmaxLike((x) => tf.logSoftmax(x)),
  Identity: identity,
  Dropout: identity,
  Shape: shapeOp,
  Size: sizeOp,
  Gather: gather,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Slice: slice,
  Cast: cast,
  ReduceMean: reduce((x, axes, keep) => tf.mean(x, axes, keep), 18),
  ReduceSum: reduce((x, axes, keep) => tf.sum(x, axes, keep), 13),
  ReduceMax: reduce((x, axes, keep) => tf.max(x, axes, keep), 18),
  ReduceMin: reduce((x, axes, keep) => tf.min(x, axes, keep), 18),
  ReduceProd: reduce((x, axes, keep) => tf.prod(x, axes, keep), 18),
  ReduceL1: reduce((x, axes, keep) => tf.sum(tf.abs(x), axes, keep), 18),
  ReduceL2: reduce(reduceL2, 18),
  ReduceSumSquare: reduce((x, axes, keep) => tf.sum(tf.square(x), axes, keep), 18),
  ReduceLogSumExp: reduce((x, axes, keep) => tf.logSumExp(x, axes, keep), 18),
  ...SHAPE_OPS,
};

/** The ops whose outputs are pass-throughs of their first input at inference (for finding a final softmax). */
export const PASS_THROUGH_OPS = new Set(['Identity', 'Dropout']);
