import { attrFloat, attrInt, attrInts, type Attrs } from './onnx-attrs';
import { decodeTensor, type Static } from './onnx-tensor';
import { normAxis, OpError, prod } from './onnx-values';

// Values known before the model runs, computed in plain JS: constants, and the shape arithmetic exporters write
// around the network (torch's x.view(x.size(0), -1), F.pad, zeros_like, expand, arange; tf2onnx's reshapes).
// onnx-simplifier does this in Python with onnxruntime; here the importer folds every node whose inputs are all
// constants into a constant when the model is read, and evaluates what hangs off Shape(x) (which depends on the
// batch only) in JS at run time, so none of it reaches the backend or the gradient tape. Integers are JS numbers:
// int64 arithmetic is exact up to 2^53, which covers every shape; INT64_MAX (Slice's "to the end") rounds to a
// larger number, which is clamped the same way.

/** `outputs` is the node's output count (Split without sizes makes that many equal parts). */
export type StaticFn = (inputs: (Static | undefined)[], a: Attrs, opset: number, outputs: number) => Static[] | undefined;

/**
 * Ops that grow their input (ConstantOfShape of a feature map's shape, Expand, Tile, Range) stop being evaluated
 * here above this many elements: such a value is made as a tensor by the backend instead of a JS array per run.
 */
export const MAX_STATIC_ELEMENTS = 1 << 16;

type Arr = ArrayLike<number>;

const make = (data: Arr, dims: number[], isInt: boolean): Static => ({ data: isInt ? Array.from(data) : Float32Array.from(data), dims, isInt });
const dimsText = (dims: readonly number[]) => `[${dims.join(',')}]`;

function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

/** Numpy-style (bidirectional) broadcast of shapes, as ONNX's element-wise ops, Expand and Where use. */
export function broadcastShapes(...shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      const v = k >= 0 ? s[k] : 1;
      if (v === 1) continue;
      if (d !== 1 && v !== d) throw new OpError(`cannot broadcast shapes ${shapes.map(dimsText).join(' and ')}`);
      d = v;
    }
    out.push(d);
  }
  return out;
}

/**
 * Values in row-major order of an output of `outDims`, where output index i on axis k reads input index
 * `source(k, i)` along an input stride `strides[k]`: broadcasting, slicing, gathering, tiling and transposing are
 * all this walk. One pass, no per-element allocation.
 */
function walk(data: Arr, strides: readonly number[], outDims: readonly number[], source: (axis: number, i: number) => number): number[] {
  const rank = outDims.length;
  const offsets = outDims.map((n, ax) => Int32Array.from({ length: n }, (_, i) => source(ax, i) * strides[ax]));
  const n = prod(outDims);
  const out = new Array<number>(n);
  if (n === 0) return out;
  const idx = new Array<number>(rank).fill(0);
  let src = offsets.reduce((s, o) => s + o[0], 0);
  for (let k = 0; k < n; k++) {
    out[k] = data[src];
    for (let ax = rank - 1; ax >= 0; ax--) {
      const o = offsets[ax];
      src -= o[idx[ax]];
      idx[ax]++;
      if (idx[ax] < outDims[ax]) {
        src += o[idx[ax]];
        break;
      }
      idx[ax] = 0;
      src += o[0];
    }
  }
  return out;
}

/** `walk` over an input of `inDims` with the same rank as the output. */
const gatherIndex = (data: Arr, inDims: readonly number[], outDims: readonly number[], source: (axis: number, i: number) => number) =>
  walk(data, stridesOf(inDims), outDims, source);

/** The values of `s` broadcast to `dims`. */
function broadcastTo(s: Static, dims: readonly number[]): Arr {
  if (String(s.dims) === String(dims)) return s.data;
  const inDims = [...Array(dims.length - s.dims.length).fill(1), ...s.dims];
  return gatherIndex(s.data, inDims, dims, (ax, i) => (inDims[ax] === 1 ? 0 : i));
}

function need(s: Static | undefined, what: string): Static {
  if (!s) throw new OpError(`has no ${what}`);
  return s;
}

const intsOf = (s: Static | undefined, what: string): number[] => Array.from(need(s, what).data, Number);

/** Axes from the attribute (before `since`) or the optional input at `index`. */
function axesOf(inputs: (Static | undefined)[], a: Attrs, opset: number, index: number, since: number): number[] | undefined {
  if (opset < since) return attrInts(a, 'axes');
  return inputs[index] ? intsOf(inputs[index], 'axes') : undefined;
}

// --- element-wise -----------------------------------------------------------------------------------------------

function elementwise(fn: (...v: number[]) => number, result: 'same' | 'int' | 'float' = 'same'): StaticFn {
  return (inputs) => {
    const xs = inputs.filter((v): v is Static => v !== undefined);
    const dims = broadcastShapes(...xs.map((x) => x.dims));
    const values = xs.map((x) => broadcastTo(x, dims));
    const n = prod(dims);
    const out = new Array<number>(n);
    const args = new Array<number>(xs.length);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < xs.length; k++) args[k] = values[k][i];
      out[i] = fn(...args);
    }
    const isInt = result === 'int' || (result === 'same' && xs.every((x) => x.isInt));
    return [make(out, dims, isInt)];
  };
}

const bool = (b: boolean) => (b ? 1 : 0);

/** Integer division truncates (C semantics, as ONNX Runtime does for int tensors); float division does not. */
const div: StaticFn = (inputs, a, opset) => {
  const intDiv = inputs[0]!.isInt && inputs[1]!.isInt;
  return elementwise((p, q) => (intDiv ? Math.trunc(p / q) : p / q))(inputs, a, opset, 1);
};

const mod: StaticFn = (inputs, a, opset) =>
  elementwise((p, q) => {
    if (attrInt(a, 'fmod', 0) === 1) return p % q;
    const r = p % q;
    return r !== 0 && r < 0 !== q < 0 ? r + q : r;
  })(inputs, a, opset, 1);

const unary = (fn: (v: number) => number, result: 'same' | 'int' | 'float' = 'same'): StaticFn => (inputs, a, opset) =>
  elementwise(fn, result)([inputs[0]], a, opset, 1);

const clip: StaticFn = (inputs, a, opset) => {
  const x = need(inputs[0], 'input');
  let lo = -Infinity;
  let hi = Infinity;
  if (opset < 11) {
    lo = attrFloat(a, 'min', lo);
    hi = attrFloat(a, 'max', hi);
  } else {
    if (inputs[1]) lo = Number(inputs[1].data[0]);
    if (inputs[2]) hi = Number(inputs[2].data[0]);
  }
  return [make(Array.from(x.data, (v) => Math.min(Math.max(v, lo), hi)), x.dims, x.isInt)];
};

/** ONNX data types that are integers (or bool) here. */
const INT_TYPES = new Set([2, 3, 4, 5, 6, 7, 9, 12, 13]);

const cast: StaticFn = ([x], a) => {
  const s = need(x, 'input');
  const to = attrInt(a, 'to', 1);
  if (to === 9) return [make(Array.from(s.data, (v) => bool(v !== 0)), s.dims, true)];
  if (INT_TYPES.has(to)) return [make(Array.from(s.data, (v) => Math.trunc(v)), s.dims, true)];
  return [make(s.data, s.dims, false)];
};

// --- shapes -----------------------------------------------------------------------------------------------------

const shape: StaticFn = ([x], a) => {
  const dims = need(x, 'input').dims;
  const start = normAxis(attrInt(a, 'start', 0), dims.length);
  const end = a.has('end') ? normAxis(attrInt(a, 'end', dims.length), dims.length) : dims.length;
  const out = dims.slice(Math.max(0, start), Math.max(0, end));
  return [make(out, [out.length], true)];
};

/** Reshape's target with 0 (copy) and -1 (infer) resolved against `inDims`. */
export function reshapeTarget(inDims: readonly number[], target: readonly number[], allowZero: boolean): number[] {
  const dims = target.map((d, i) => (d === 0 && !allowZero ? inDims[i] : d));
  const known = prod(dims.filter((d) => d !== -1));
  const size = prod(inDims);
  const out = dims.map((d) => (d === -1 ? size / known : d));
  if (prod(out) !== size || out.some((d) => !Number.isInteger(d) || d < 0))
    throw new OpError(`cannot reshape ${dimsText(inDims)} to ${dimsText(target)}`);
  return out;
}

const reshape: StaticFn = ([x, target], a, opset) => {
  const s = need(x, 'input');
  const t = opset < 5 ? (attrInts(a, 'shape') ?? []) : intsOf(target, 'target shape');
  return [{ ...s, dims: reshapeTarget(s.dims, t, attrInt(a, 'allowzero', 0) === 1) }];
};

const flatten: StaticFn = ([x], a) => {
  const s = need(x, 'input');
  const ax = normAxis(attrInt(a, 'axis', 1), s.dims.length);
  return [{ ...s, dims: [prod(s.dims.slice(0, ax)), prod(s.dims.slice(ax))] }];
};

/** Unsqueeze's output dims. */
export function unsqueezeDims(inDims: readonly number[], axes: readonly number[]): number[] {
  const rank = inDims.length + axes.length;
  const dims = [...inDims];
  for (const ax of axes.map((x) => normAxis(x, rank)).sort((p, q) => p - q)) dims.splice(ax, 0, 1);
  return dims;
}

/** Squeeze's output dims (all size-1 axes when none are named). */
export function squeezeDims(inDims: readonly number[], axes: readonly number[] | undefined): number[] {
  const drop = (axes ?? inDims.flatMap((d, i) => (d === 1 ? [i] : []))).map((ax) => normAxis(ax, inDims.length));
  return inDims.filter((_, i) => !drop.includes(i));
}

const unsqueeze: StaticFn = (inputs, a, opset) => {
  const s = need(inputs[0], 'input');
  return [{ ...s, dims: unsqueezeDims(s.dims, axesOf(inputs, a, opset, 1, 13) ?? []) }];
};

const squeeze: StaticFn = (inputs, a, opset) => {
  const s = need(inputs[0], 'input');
  return [{ ...s, dims: squeezeDims(s.dims, axesOf(inputs, a, opset, 1, 13)) }];
};

const transpose: StaticFn = ([x], a) => {
  const s = need(x, 'input');
  const rank = s.dims.length;
  const perm = attrInts(a, 'perm') ?? [...Array(rank).keys()].reverse();
  const outDims = perm.map((p) => s.dims[p]);
  // Output axis k walks input axis perm[k].
  const inStrides = stridesOf(s.dims);
  const out = walk(s.data, perm.map((p) => inStrides[p]), outDims, (_ax, i) => i);
  return [make(out, outDims, s.isInt)];
};

const concat: StaticFn = (inputs, a) => {
  const xs = inputs.filter((v): v is Static => v !== undefined);
  const rank = xs[0].dims.length;
  const axis = normAxis(attrInt(a, 'axis', 0), rank);
  const outer = prod(xs[0].dims.slice(0, axis));
  const out: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const x of xs) {
      const chunk = prod(x.dims.slice(axis));
      for (let i = o * chunk; i < (o + 1) * chunk; i++) out.push(x.data[i]);
    }
  const dims = [...xs[0].dims];
  dims[axis] = xs.reduce((s, x) => s + x.dims[axis], 0);
  return [make(out, dims, xs.every((x) => x.isInt))];
};

/** Begin, end and step per axis for an ONNX Slice, clamped as the spec says; shared with the tensor op. */
export function sliceBounds(
  dims: readonly number[],
  starts: readonly number[],
  ends: readonly number[],
  axes: readonly number[] | undefined,
  steps: readonly number[] | undefined,
): { begin: number[]; size: number[]; step: number[] } {
  const rank = dims.length;
  const begin = dims.map(() => 0);
  const size = [...dims];
  const step = dims.map(() => 1);
  (axes ?? starts.map((_, i) => i)).forEach((ax0, i) => {
    const ax = normAxis(ax0, rank);
    const n = dims[ax];
    const st = steps?.[i] ?? 1;
    if (st === 0) throw new OpError('has a step of 0');
    const at = (v: number) => (v < 0 ? v + n : v);
    let b: number;
    let e: number;
    if (st > 0) {
      b = Math.min(Math.max(at(starts[i]), 0), n);
      e = Math.min(Math.max(at(ends[i]), 0), n);
    } else {
      b = Math.min(Math.max(at(starts[i]), -1), n - 1);
      e = Math.min(Math.max(at(ends[i]), -1), n - 1);
    }
    begin[ax] = b;
    step[ax] = st;
    size[ax] = Math.max(0, Math.ceil((e - b) / st));
  });
  return { begin, size, step };
}

const slice: StaticFn = (inputs, a, opset) => {
  const s = need(inputs[0], 'input');
  const old = opset < 10;
  const { begin, size, step } = sliceBounds(
    s.dims,
    old ? (attrInts(a, 'starts') ?? []) : intsOf(inputs[1], 'starts'),
    old ? (attrInts(a, 'ends') ?? []) : intsOf(inputs[2], 'ends'),
    old ? attrInts(a, 'axes') : inputs[3] && intsOf(inputs[3], 'axes'),
    old ? undefined : inputs[4] && intsOf(inputs[4], 'steps'),
  );
  return [make(gatherIndex(s.data, s.dims, size, (ax, i) => begin[ax] + i * step[ax]), size, s.isInt)];
};

const gather: StaticFn = ([x, idx], a) => {
  const s = need(x, 'input');
  const ind = need(idx, 'indices');
  const rank = s.dims.length;
  const axis = normAxis(attrInt(a, 'axis', 0), rank);
  const n = s.dims[axis];
  const indices = Array.from(ind.data, (i) => (i < 0 ? i + n : i));
  if (indices.some((i) => i < 0 || i >= n)) throw new OpError(`has an index outside the axis of size ${n}`);
  // Gather along the axis as if the indices were one axis, then give them their own shape.
  const flatDims = [...s.dims];
  flatDims[axis] = indices.length;
  const out = gatherIndex(s.data, s.dims, flatDims, (ax, i) => (ax === axis ? indices[i] : i));
  return [make(out, [...s.dims.slice(0, axis), ...ind.dims, ...s.dims.slice(axis + 1)], s.isInt)];
};

const expand: StaticFn = ([x, target]) => {
  const s = need(x, 'input');
  const dims = broadcastShapes(s.dims, intsOf(target, 'shape'));
  if (prod(dims) > MAX_STATIC_ELEMENTS) return undefined;
  return [make(broadcastTo(s, dims), dims, s.isInt)];
};

const tile: StaticFn = ([x, repeats]) => {
  const s = need(x, 'input');
  const reps = intsOf(repeats, 'repeats');
  const dims = s.dims.map((d, i) => d * reps[i]);
  if (prod(dims) > MAX_STATIC_ELEMENTS) return undefined;
  return [make(gatherIndex(s.data, s.dims, dims, (ax, i) => i % s.dims[ax]), dims, s.isInt)];
};

/** The `value` attribute of ConstantOfShape (a one-element tensor; float 0 when absent). */
export function fillValue(a: Attrs): { value: number; isInt: boolean } {
  const t = a.get('value')?.t;
  if (!t) return { value: 0, isInt: false };
  const s = decodeTensor({ ...t, name: t.name || 'value' }, [], 'the model');
  return { value: Number(s.data[0] ?? 0), isInt: s.isInt };
}

const constantOfShape: StaticFn = ([target], a) => {
  const dims = intsOf(target, 'shape');
  if (prod(dims) > MAX_STATIC_ELEMENTS) return undefined;
  const { value, isInt } = fillValue(a);
  return [make(new Array<number>(prod(dims)).fill(value), dims, isInt)];
};

const range: StaticFn = ([start, limit, delta]) => {
  const [s, l, d] = [start, limit, delta].map((v, i) => Number(need(v, ['start', 'limit', 'delta'][i]).data[0]));
  const n = Math.max(Math.ceil((l - s) / d), 0);
  if (n > MAX_STATIC_ELEMENTS) return undefined;
  return [make(Array.from({ length: n }, (_, i) => s + i * d), [n], start!.isInt && limit!.isInt && delta!.isInt)];
};

const where: StaticFn = ([c, x, y]) => {
  const [cond, p, q] = [need(c, 'condition'), need(x, 'X'), need(y, 'Y')];
  const dims = broadcastShapes(cond.dims, p.dims, q.dims);
  const [cv, pv, qv] = [broadcastTo(cond, dims), broadcastTo(p, dims), broadcastTo(q, dims)];
  return [make(Array.from({ length: prod(dims) }, (_, i) => (cv[i] ? pv[i] : qv[i])), dims, p.isInt && q.isInt)];
};

const split: StaticFn = (inputs, a, opset, outputs) => {
  const s = need(inputs[0], 'input');
  const axis = normAxis(attrInt(a, 'axis', 0), s.dims.length);
  const sizes = splitSizes(s.dims[axis], opset < 13 ? attrInts(a, 'split') : inputs[1] && intsOf(inputs[1], 'split'), attrInt(a, 'num_outputs', 0) || outputs);
  let at = 0;
  return sizes.map((n) => {
    const dims = [...s.dims];
    dims[axis] = n;
    const from = at;
    at += n;
    return make(gatherIndex(s.data, s.dims, dims, (ax, i) => (ax === axis ? from + i : i)), dims, s.isInt);
  });
};

/** Split's part sizes: given, or `parts` parts (num_outputs, else one per output) with a smaller last one. */
export function splitSizes(total: number, given: number[] | undefined, parts: number): number[] {
  if (given && given.length > 0) {
    if (given.reduce((p, q) => p + q, 0) !== total) throw new OpError(`splits an axis of ${total} into parts [${given.join(',')}] that do not add up`);
    return given;
  }
  const each = Math.ceil(total / parts);
  return Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(each, total - i * each)));
}

function reduce(fn: (acc: number, v: number) => number, init: number, finish: (acc: number, n: number) => number = (x) => x, since = 18, result: 'same' | 'float' = 'same'): StaticFn {
  return (inputs, a, opset) => {
    const s = need(inputs[0], 'input');
    const rank = s.dims.length;
    let axes = axesOf(inputs, a, opset, 1, since);
    if (!axes || axes.length === 0) {
      if (attrInt(a, 'noop_with_empty_axes', 0) === 1) return [s];
      axes = [...Array(rank).keys()];
    }
    const set = new Set(axes.map((ax) => normAxis(ax, rank)));
    const keptDims = s.dims.map((d, i) => (set.has(i) ? 1 : d));
    const strides = stridesOf(keptDims);
    const out = new Array<number>(prod(keptDims)).fill(init);
    const inStrides = stridesOf(s.dims);
    const count = prod(s.dims.filter((_, i) => set.has(i)));
    for (let k = 0; k < s.data.length; k++) {
      let o = 0;
      for (let ax = 0; ax < rank; ax++) if (!set.has(ax)) o += Math.floor(k / inStrides[ax]) % s.dims[ax] * strides[ax];
      out[o] = fn(out[o], s.data[k]);
    }
    const dims = attrInt(a, 'keepdims', 1) === 1 ? keptDims : s.dims.filter((_, i) => !set.has(i));
    return [make(out.map((v) => finish(v, count)), dims, result === 'same' && s.isInt)];
  };
}

const constant: StaticFn = (_inputs, a) => {
  const t = a.get('value')?.t;
  if (t) return [decodeTensor({ ...t, name: t.name || 'value' }, [], 'the model')];
  if (a.has('value_float')) return [make([attrFloat(a, 'value_float', 0)], [], false)];
  if (a.has('value_floats')) {
    const fs = a.get('value_floats')!.floats ?? [];
    return [make(fs, [fs.length], false)];
  }
  if (a.has('value_int')) return [make([attrInt(a, 'value_int', 0)], [], true)];
  if (a.has('value_ints')) {
    const is = attrInts(a, 'value_ints')!;
    return [make(is, [is.length], true)];
  }
  throw new OpError(`has no value this reader understands (value, value_float(s) or value_int(s)${a.has('sparse_value') ? '; a sparse value is not supported' : ''})`);
};

const identity: StaticFn = ([x]) => [need(x, 'input')];

/** Every op evaluated in JS when all its inputs are known, by op_type. */
export const STATIC_OPS: Record<string, StaticFn> = {
  Constant: constant,
  Identity: identity,
  Dropout: identity,
  Shape: shape,
  Size: ([x]) => [make([prod(need(x, 'input').dims)], [], true)],
  Reshape: reshape,
  Flatten: flatten,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Transpose: transpose,
  Concat: concat,
  Slice: slice,
  Gather: gather,
  Expand: expand,
  Tile: tile,
  ConstantOfShape: constantOfShape,
  Range: range,
  Where: where,
  Split: split,
  Cast: cast,
  CastLike: ([x, like], _a, opset, outputs) => cast([x], new Map([['to', { i: need(like, 'target').isInt ? 7 : 1 }]]), opset, outputs),
  Add: elementwise((p, q) => p + q),
  Sub: elementwise((p, q) => p - q),
  Mul: elementwise((p, q) => p * q),
  Div: div,
  Mod: mod,
  Pow: elementwise((p, q) => p ** q),
  Max: elementwise((...v) => Math.max(...v)),
  Min: elementwise((...v) => Math.min(...v)),
  Sum: elementwise((...v) => v.reduce((p, q) => p + q, 0)),
  Mean: elementwise((...v) => v.reduce((p, q) => p + q, 0) / v.length, 'float'),
  Equal: elementwise((p, q) => bool(p === q), 'int'),
  Less: elementwise((p, q) => bool(p < q), 'int'),
  LessOrEqual: elementwise((p, q) => bool(p <= q), 'int'),
  Greater: elementwise((p, q) => bool(p > q), 'int'),
  GreaterOrEqual: elementwise((p, q) => bool(p >= q), 'int'),
  And: elementwise((p, q) => bool(p !== 0 && q !== 0), 'int'),
  Or: elementwise((p, q) => bool(p !== 0 || q !== 0), 'int'),
  Xor: elementwise((p, q) => bool((p !== 0) !== (q !== 0)), 'int'),
  Not: unary((v) => bool(v === 0), 'int'),
  Neg: unary((v) => -v),
  Abs: unary(Math.abs),
  Sign: unary(Math.sign),
  Floor: unary(Math.floor),
  Ceil: unary(Math.ceil),
  Round: unary((v) => {
    // Round half to even, as ONNX specifies.
    const r = Math.round(v);
    return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }),
  Sqrt: unary(Math.sqrt, 'float'),
  Reciprocal: unary((v) => 1 / v, 'float'),
  Exp: unary(Math.exp, 'float'),
  Log: unary(Math.log, 'float'),
  Sin: unary(Math.sin, 'float'),
  Cos: unary(Math.cos, 'float'),
  Tanh: unary(Math.tanh, 'float'),
  Sigmoid: unary((v) => 1 / (1 + Math.exp(-v)), 'float'),
  Relu: unary((v) => Math.max(v, 0)),
  Clip: clip,
  ReduceSum: reduce((p, v) => p + v, 0, undefined, 13),
  ReduceMean: reduce((p, v) => p + v, 0, (s, n) => s / n, 18, 'float'),
  ReduceMax: reduce((p, v) => Math.max(p, v), -Infinity),
  ReduceMin: reduce((p, v) => Math.min(p, v), Infinity),
  ReduceProd: reduce((p, v) => p * v, 1),
};

