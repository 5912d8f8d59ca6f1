import * as tf from '@tensorflow/tfjs';
import { attrInt, attrInts, attrString } from './onnx-attrs';
import { broadcastShapes, fillValue, splitSizes } from './onnx-static';
import { ints, nchw, nhwcOf, normAxis, onnxShape, OpError, stored, tensorVal, type OpContext, type OpFn, type Val } from './onnx-values';

// The tensor side of the ops exporters write around the network: torch's zeros_like, expand, repeat, torch.where
// on masks, chunk and split, pixel shuffle. With constant arguments they are folded away at import
// (onnx-static.ts); these run when an argument is the data itself, or when the result is too large to keep as a
// constant (a feature map of zeros). All are differentiable with respect to their data inputs.

/** A value as a tensor in ONNX order; integers stay int32. */
function tensorOf(v: Val, ctx: OpContext): tf.Tensor {
  if (v.t) return nchw(v, ctx);
  if (v.s!.isInt) return tf.tensor(Array.from(v.s!.data), v.s!.dims, 'int32');
  return ctx.tensorFor(v);
}

const constantOfShape: OpFn = ([shape], a) => {
  const dims = ints(shape, 'its shape');
  const { value, isInt } = fillValue(a);
  return [tensorVal(tf.fill(dims, value, isInt ? 'int32' : 'float32'))];
};

const expand: OpFn = ([x, shape], _a, ctx) => {
  const target = ints(shape, 'its shape');
  const dims = broadcastShapes(onnxShape(x!), target);
  const t = tensorOf(x!, ctx);
  return [tensorVal(String(t.shape) === String(dims) ? t : broadcast(t, dims))];
};

/**
 * `t` broadcast to `dims` by adding zeros: tf.broadcastTo runs the Tile kernel, whose gradient tfjs has only up to
 * rank 4, while Add's gradient sums over broadcast axes at any rank.
 */
export function broadcast(t: tf.Tensor, dims: number[]): tf.Tensor {
  return tf.add(t, tf.zeros(dims, t.dtype));
}

const tile: OpFn = ([x, repeats], _a, ctx) => {
  const reps = ints(repeats, 'its repeats');
  const s = stored(x!, ctx);
  const moved = new Array<number>(reps.length);
  reps.forEach((r, d) => (moved[s.axis(d)] = r));
  if (s.t.rank <= 4) return [tensorVal(tf.tile(s.t, moved), s.nhwc)];
  // Above rank 4 (where tfjs' Tile has no gradient): copies concatenated along each repeated axis.
  const tiled = moved.reduce((t, r, d) => (r === 1 ? t : tf.concat(Array<tf.Tensor>(r).fill(t), d)), s.t);
  return [tensorVal(tiled, s.nhwc)];
};

/** Where(cond, x, y): tfjs' where takes one shape, so the three are broadcast first. Gradients reach x and y. */
const where: OpFn = ([c, x, y], _a, ctx) => {
  const dims = broadcastShapes(onnxShape(c!), onnxShape(x!), onnxShape(y!));
  const to = (t: tf.Tensor) => (String(t.shape) === String(dims) ? t : broadcast(t, dims));
  const cond = tf.cast(to(tf.cast(tensorOf(c!, ctx), 'int32')), 'bool');
  let p = tensorOf(x!, ctx);
  let q = tensorOf(y!, ctx);
  if (p.dtype !== q.dtype) [p, q] = [tf.cast(p, 'float32'), tf.cast(q, 'float32')];
  return [tensorVal(tf.where(cond, to(p), to(q)))];
};

const compare = (fn: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor): OpFn => ([x, y], _a, ctx) => {
  const p = tensorOf(x!, ctx);
  const q = tensorOf(y!, ctx);
  // Compare in one dtype: an int shape value against float data is compared as floats.
  const same = p.dtype === q.dtype;
  return [tensorVal(fn(same ? p : tf.cast(p, 'float32'), same ? q : tf.cast(q, 'float32')))];
};

const logical = (fn: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor): OpFn => ([x, y], _a, ctx) => [
  tensorVal(fn(tf.cast(tensorOf(x!, ctx), 'bool'), tf.cast(tensorOf(y!, ctx), 'bool'))),
];

const split: OpFn = (inputs, a, ctx, node) => {
  const [x] = inputs;
  const dims = onnxShape(x!);
  const axis = normAxis(attrInt(a, 'axis', 0), dims.length);
  const given = ctx.opset < 13 ? attrInts(a, 'split') : inputs[1] ? ints(inputs[1], 'its split') : undefined;
  const sizes = splitSizes(dims[axis], given, attrInt(a, 'num_outputs', 0) || (node.output ?? []).length);
  const s = stored(x!, ctx);
  return tf.split(s.t, sizes, s.axis(axis)).map((t) => tensorVal(t, s.nhwc));
};

const range: OpFn = ([start, limit, delta]) => {
  const [s, l, d] = [start, limit, delta].map((v, i) => Number(ints(v, ['its start', 'its limit', 'its delta'][i])[0]));
  const isInt = [start, limit, delta].every((v) => v!.s!.isInt);
  return [tensorVal(tf.range(s, l, d, isInt ? 'int32' : 'float32'))];
};

/**
 * DepthToSpace (pixel shuffle) as reshape and transpose of the NHWC tensor: tfjs' depthToSpace has no gradient.
 * DCR (the default, TensorFlow's order) reads channels as [block, block, C]; CRD (PyTorch's PixelShuffle) as
 * [C, block, block].
 */
const depthToSpace: OpFn = ([x], a, ctx) => {
  const b = attrInt(a, 'blocksize', 0);
  const t = nhwcOf(x!, ctx);
  const [n, h, w, c] = t.shape;
  if (!(b > 0) || c % (b * b) !== 0) throw new OpError(`has blocksize ${b}, which does not divide its ${c} channels into blocks`);
  const out = c / (b * b);
  const crd = attrString(a, 'mode', 'DCR') === 'CRD';
  // Move the two block axes next to H and W: [n, h, b, w, b, out].
  const six = crd ? tf.transpose(tf.reshape(t, [n * h, w, out, b, b]), [0, 3, 1, 4, 2]) : tf.transpose(tf.reshape(t, [n * h, w, b, b, out]), [0, 2, 1, 3, 4]);
  return [tensorVal(tf.reshape(six, [n, h * b, w * b, out]), true)];
};

/** SpaceToDepth, the inverse of DepthToSpace in DCR order. */
const spaceToDepth: OpFn = ([x], a, ctx) => {
  const b = attrInt(a, 'blocksize', 0);
  const t = nhwcOf(x!, ctx);
  const [n, h, w, c] = t.shape;
  if (!(b > 0) || h % b !== 0 || w % b !== 0) throw new OpError(`has blocksize ${b}, which does not divide its ${h}×${w} input`);
  const blocks = tf.transpose(tf.reshape(t, [n * (h / b), b, w / b, b * c]), [0, 2, 1, 3]);
  return [tensorVal(tf.reshape(blocks, [n, h / b, w / b, b * b * c]), true)];
};

/** The tensor versions of shape and selection ops, by op_type. */
export const SHAPE_OPS: Record<string, OpFn> = {
  ConstantOfShape: constantOfShape,
  Expand: expand,
  Tile: tile,
  Where: where,
  Equal: compare(tf.equal),
  Less: compare(tf.less),
  LessOrEqual: compare(tf.lessEqual),
  Greater: compare(tf.greater),
  GreaterOrEqual: compare(tf.greaterEqual),
  Not: ([x], _a, ctx) => [tensorVal(tf.logicalNot(tf.cast(tensorOf(x!, ctx), 'bool')))],
  And: logical(tf.logicalAnd),
  Or: logical(tf.logicalOr),
  Xor: logical(tf.logicalXor),
  Split: split,
  Range: range,
  DepthToSpace: depthToSpace,
  SpaceToDepth: spaceToDepth,
};

