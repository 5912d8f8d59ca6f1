import * as tf from '@tensorflow/tfjs';
import { DataType, modelProto } from './onnx-schema';

// A tfjs LayersModel (the distilled student) as an ONNX model (opset 13), so PyTorch and ONNX Runtime users can
// deploy it without Python's tf2onnx. Each Keras layer class maps to ONNX nodes in LAYERS below; a layer without a
// rule stops the export with its name and class.
//
// Layout: Keras image tensors are NHWC, ONNX's Conv and pooling are NCHW. Rather than wrapping every conv in a pair
// of Transposes (tf2onnx's approach before its optimiser runs), each value remembers in which ONNX axis each of its
// Keras axes lives (`perm`), and a Transpose is written only where an op needs another arrangement. A chain of
// convs and pools then stays NCHW from the first Transpose to the Flatten, and a Permute layer costs nothing: the
// student of an NCHW (PyTorch) teacher starts with Permute([2,3,1]), which turns the NCHW input into exactly the
// arrangement the convs want, so its ONNX graph takes the teacher's [N,C,H,W] input with no Transpose at all.

/** The opset written: 13 has every op used here with its current attributes (Softmax on any axis, Clip as inputs). */
export const ONNX_OPSET = 13;
/** IR version 7 goes with opset 13 (onnx/onnx docs/Versioning.md), so older runtimes read the file too. */
const IR_VERSION = 7;

export class OnnxExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxExportError';
  }
}

export interface OnnxExportOptions {
  /** The graph input's name; the teacher's, so the student drops into code that feeds the teacher. Default: the model's input layer name. */
  inputName?: string;
  /** The graph output's name (default "logits"). */
  outputName?: string;
  /** Stored as the model's metadata_props (e.g. class names), one string each. */
  metadata?: Record<string, string>;
  /** The model's doc_string. */
  doc?: string;
}

type Obj = Record<string, unknown>;

/** A Keras tensor in the ONNX graph: `perm[i]` is the ONNX axis holding Keras axis i (identity: same layout). */
interface Value {
  name: string;
  perm: number[];
  /** The Keras shape, batch axis null. */
  shape: (number | null)[];
}

const identity = (rank: number) => Array.from({ length: rank }, (_, i) => i);
const inverse = (p: number[]) => {
  const inv = new Array<number>(p.length);
  p.forEach((v, i) => (inv[v] = i));
  return inv;
};
const sameArray = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
/** Keras NHWC held as ONNX NCHW: H in axis 2, W in 3, C in 1. */
const NCHW_OF_NHWC = [0, 2, 3, 1];

const attr = {
  int: (name: string, i: number) => ({ name, type: 2, i }),
  ints: (name: string, ints: number[]) => ({ name, type: 7, ints }),
  float: (name: string, f: number) => ({ name, type: 1, f }),
  string: (name: string, s: string) => ({ name, type: 3, s: new TextEncoder().encode(s) }),
};

/** Collects nodes and initializers with unique names. */
class GraphWriter {
  readonly nodes: Obj[] = [];
  readonly initializers: Obj[] = [];
  private readonly used = new Set<string>();

  unique(base: string): string {
    const clean = base.replace(/[^\w./:-]/g, '_') || 'v';
    let name = clean;
    for (let k = 1; this.used.has(name); k++) name = `${clean}_${k}`;
    this.used.add(name);
    return name;
  }

  reserve(name: string): void {
    this.used.add(name);
  }

  /** One node; returns its (first) output's name. */
  node(op: string, inputs: string[], base: string, attributes: Obj[] = [], output?: string): string {
    const out = output ?? this.unique(base);
    this.nodes.push({ op_type: op, input: inputs, output: [out], name: out, attribute: attributes });
    return out;
  }

  floats(base: string, values: Float32Array | number[], dims: number[]): string {
    const name = this.unique(base);
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    this.initializers.push({ name, dims, data_type: DataType.FLOAT, raw_data: new Uint8Array(data.slice().buffer) });
    return name;
  }

  int64s(base: string, values: number[]): string {
    const name = this.unique(base);
    this.initializers.push({ name, dims: [values.length], data_type: DataType.INT64, raw_data: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
    return name;
  }

  scalar(base: string, v: number): string {
    const name = this.unique(base);
    this.initializers.push({ name, dims: [], data_type: DataType.FLOAT, raw_data: new Uint8Array(Float32Array.of(v).buffer) });
    return name;
  }

  /** `v` rearranged so Keras axis i lives in ONNX axis want[i]; a Transpose only when it is not already so. */
  arrange(v: Value, want: number[], base: string): Value {
    if (sameArray(v.perm, want)) return v;
    const inv = inverse(want);
    const name = this.node('Transpose', [v.name], `${base}/transpose`, [attr.ints('perm', inv.map((k) => v.perm[k]))]);
    return { name, perm: want, shape: v.shape };
  }

  native(v: Value, base: string): Value {
    return this.arrange(v, identity(v.shape.length), base);
  }
}

/** A layer's weights by their short name ("kernel", "bias", "gamma", …), as float32 values with their shapes. */
function weightsOf(layer: tf.layers.Layer): Map<string, { values: Float32Array; shape: number[] }> {
  const out = new Map<string, { values: Float32Array; shape: number[] }>();
  for (const w of layer.weights) {
    const short = w.originalName.split('/').pop()!.replace(/:\d+$/, '');
    out.set(short, { values: w.read().dataSync() as Float32Array, shape: w.shape as number[] });
  }
  return out;
}

/** Values of a tensor transposed by `perm`, as a flat float32 array. */
function transposed(values: Float32Array, shape: number[], perm: number[]): Float32Array {
  return tf.tidy(() => tf.transpose(tf.tensor(values, shape), perm).dataSync() as Float32Array);
}

type Config = Record<string, unknown>;
const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)]);

/** Padding for a Keras 'same' window: TensorFlow puts the odd pixel at the end, as ONNX's SAME_UPPER does. */
function windowPads(v: Value, spatialAxes: [number, number], kernel: [number, number], strides: [number, number], dilation: [number, number], padding: string): Obj[] {
  if (padding === 'valid') return [];
  if (padding !== 'same') throw new Error(`padding "${padding}"`);
  const sizes = spatialAxes.map((a) => v.shape[a]);
  if (sizes.some((s) => s === null)) return [attr.string('auto_pad', 'SAME_UPPER')];
  const begin: number[] = [];
  const end: number[] = [];
  sizes.forEach((s, i) => {
    const out = Math.ceil(s! / strides[i]);
    const total = Math.max((out - 1) * strides[i] + (kernel[i] - 1) * dilation[i] + 1 - s!, 0);
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
  });
  return [attr.ints('pads', [...begin, ...end])];
}

/** Keras' output shape of the layer at its node, batch axis null. */
function outShape(t: tf.SymbolicTensor): (number | null)[] {
  return [...t.shape];
}

/** Where the convolution-like layers want their input: NCHW in ONNX, whichever layout Keras holds. */
function convLayout(c: Config): { want: number[]; spatial: [number, number] } {
  return c.dataFormat === 'channelsFirst' ? { want: identity(4), spatial: [2, 3] } : { want: NCHW_OF_NHWC, spatial: [1, 2] };
}

/** The value produced by Keras' `activation` argument (or Activation layer) applied to `x`. */
function activation(g: GraphWriter, x: Value, fn: string, base: string): Value {
  const name = String(fn).replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
  const unary = (op: string, attrs: Obj[] = [], input = x.name) => g.node(op, [input], `${base}/${op.toLowerCase()}`, attrs);
  const mul = (a: string, b: string) => g.node('Mul', [a, b], `${base}/mul`);
  let out: string;
  switch (name) {
    case 'linear':
      return x;
    case 'relu':
      out = unary('Relu');
      break;
    case 'relu6':
      out = g.node('Clip', [x.name, g.scalar(`${base}/min`, 0), g.scalar(`${base}/max`, 6)], `${base}/relu6`);
      break;
    case 'elu':
      out = unary('Elu');
      break;
    case 'selu':
      out = unary('Selu');
      break;
    case 'sigmoid':
      out = unary('Sigmoid');
      break;
    case 'hardSigmoid':
      out = unary('HardSigmoid', [attr.float('alpha', 0.2), attr.float('beta', 0.5)]);
      break;
    case 'tanh':
      out = unary('Tanh');
      break;
    case 'softplus':
      out = unary('Softplus');
      break;
    case 'softsign':
      out = unary('Softsign');
      break;
    case 'softmax':
      out = unary('Softmax', [attr.int('axis', x.perm[x.shape.length - 1])]);
      break;
    case 'logSoftmax':
      out = unary('LogSoftmax', [attr.int('axis', x.perm[x.shape.length - 1])]);
      break;
    case 'swish':
      out = mul(x.name, unary('Sigmoid'));
      break;
    case 'mish':
      out = mul(x.name, g.node('Tanh', [unary('Softplus')], `${base}/tanh`));
      break;
    case 'gelu': {
      // 0.5·x·(1 + erf(x/√2)), as tfjs computes it; ONNX has Gelu only from opset 20.
      const erf = g.node('Erf', [g.node('Div', [x.name, g.scalar(`${base}/sqrt2`, Math.SQRT2)], `${base}/div`)], `${base}/erf`);
      const cdf = g.node('Mul', [g.node('Add', [erf, g.scalar(`${base}/one`, 1)], `${base}/add`), g.scalar(`${base}/half`, 0.5)], `${base}/cdf`);
      out = mul(x.name, cdf);
      break;
    }
    default:
      throw new Error(`activation "${fn}"`);
  }
  return { ...x, name: out };
}

interface LayerContext {
  g: GraphWriter;
  layer: tf.layers.Layer;
  config: Config;
  inputs: Value[];
  /** Keras' shape of the layer's output, batch null. */
  shape: (number | null)[];
  base: string;
}

type LayerRule = (ctx: LayerContext) => Value;

/** The one input of a single-input layer. */
const only = (ctx: LayerContext) => ctx.inputs[0];

function conv2d(ctx: LayerContext): Value {
  const { g, config: c, base } = ctx;
  const { want, spatial } = convLayout(c);
  const x = g.arrange(only(ctx), want, base);
  const w = weightsOf(ctx.layer);
  const kernel = w.get('kernel')!;
  const [kh, kw] = kernel.shape;
  // Keras [kh, kw, in, out] → ONNX [out, in, kh, kw].
  const inputs = [x.name, g.floats(`${base}/kernel`, transposed(kernel.values, kernel.shape, [3, 2, 0, 1]), [kernel.shape[3], kernel.shape[2], kh, kw])];
  const bias = w.get('bias');
  if (bias) inputs.push(g.floats(`${base}/bias`, bias.values, bias.shape));
  const strides = pair(c.strides ?? 1);
  const dilation = pair(c.dilationRate ?? 1);
  const out = g.node('Conv', inputs, `${base}/conv`, [
    attr.ints('kernel_shape', [kh, kw]),
    attr.ints('strides', strides),
    attr.ints('dilations', dilation),
    ...windowPads(x, spatial, [kh, kw], strides, dilation, String(c.padding)),
  ]);
  return activation(g, { name: out, perm: want, shape: ctx.shape }, String(c.activation ?? 'linear'), base);
}

/** A depthwise convolution: one group per input channel, `multiplier` outputs each (Keras orders them c·m + k, as ONNX groups do). */
function depthwise(g: GraphWriter, x: Value, kernel: { values: Float32Array; shape: number[] }, bias: { values: Float32Array; shape: number[] } | undefined, c: Config, spatial: [number, number], base: string): string {
  const [kh, kw, cin, mult] = kernel.shape;
  const weights = transposed(kernel.values, kernel.shape, [2, 3, 0, 1]);
  const inputs = [x.name, g.floats(`${base}/depthwise_kernel`, weights, [cin * mult, 1, kh, kw])];
  if (bias) inputs.push(g.floats(`${base}/bias`, bias.values, bias.shape));
  const strides = pair(c.strides ?? 1);
  const dilation = pair(c.dilationRate ?? 1);
  return g.node('Conv', inputs, `${base}/depthwise`, [
    attr.ints('kernel_shape', [kh, kw]),
    attr.ints('strides', strides),
    attr.ints('dilations', dilation),
    attr.int('group', cin),
    ...windowPads(x, spatial, [kh, kw], strides, dilation, String(c.padding)),
  ]);
}

function depthwiseConv2d(ctx: LayerContext): Value {
  const { g, config: c, base } = ctx;
  const { want, spatial } = convLayout(c);
  const x = g.arrange(only(ctx), want, base);
  const w = weightsOf(ctx.layer);
  const out = depthwise(g, x, w.get('depthwise_kernel')!, w.get('bias'), c, spatial, base);
  return activation(g, { name: out, perm: want, shape: ctx.shape }, String(c.activation ?? 'linear'), base);
}

function separableConv2d(ctx: LayerContext): Value {
  const { g, config: c, base } = ctx;
  const { want, spatial } = convLayout(c);
  const x = g.arrange(only(ctx), want, base);
  const w = weightsOf(ctx.layer);
  const mid = depthwise(g, x, w.get('depthwise_kernel')!, undefined, c, spatial, base);
  const pointwise = w.get('pointwise_kernel')!;
  const [, , cin, cout] = pointwise.shape;
  const inputs = [mid, g.floats(`${base}/pointwise_kernel`, transposed(pointwise.values, pointwise.shape, [3, 2, 0, 1]), [cout, cin, 1, 1])];
  const bias = w.get('bias');
  if (bias) inputs.push(g.floats(`${base}/bias`, bias.values, bias.shape));
  const out = g.node('Conv', inputs, `${base}/pointwise`, [attr.ints('kernel_shape', [1, 1])]);
  return activation(g, { name: out, perm: want, shape: ctx.shape }, String(c.activation ?? 'linear'), base);
}

function dense(ctx: LayerContext): Value {
  const { g, config: c, base } = ctx;
  const x = g.native(only(ctx), base);
  const w = weightsOf(ctx.layer);
  const kernel = w.get('kernel')!;
  const bias = w.get('bias');
  const k = g.floats(`${base}/kernel`, kernel.values, kernel.shape);
  let out: string;
  if (x.shape.length === 2) {
    out = g.node('Gemm', bias ? [x.name, k, g.floats(`${base}/bias`, bias.values, bias.shape)] : [x.name, k], `${base}/gemm`);
  } else {
    // Keras applies Dense to the last axis of any rank.
    out = g.node('MatMul', [x.name, k], `${base}/matmul`);
    if (bias) out = g.node('Add', [out, g.floats(`${base}/bias`, bias.values, bias.shape)], `${base}/add`);
  }
  return activation(g, { name: out, perm: identity(ctx.shape.length), shape: ctx.shape }, String(c.activation ?? 'linear'), base);
}

/** The Keras axis `axis` counted from the front (negative axes count from the back). */
const keraAxis = (axis: unknown, rank: number) => {
  const a = Number(Array.isArray(axis) ? axis[0] : axis);
  return a < 0 ? a + rank : a;
};

function batchNormalization(ctx: LayerContext): Value {
  const { g, config: c, base } = ctx;
  const x0 = only(ctx);
  const rank = x0.shape.length;
  const axis = keraAxis(c.axis ?? -1, rank);
  // ONNX normalises axis 1: hold the Keras axis there, the others in their order.
  const onnxOrder = [0, axis, ...identity(rank).filter((a) => a !== 0 && a !== axis)];
  const x = g.arrange(x0, inverse(onnxOrder), base);
  const w = weightsOf(ctx.layer);
  const mean = w.get('moving_mean')!;
  const n = mean.values.length;
  const gamma = w.get('gamma')?.values ?? new Float32Array(n).fill(1);
  const beta = w.get('beta')?.values ?? new Float32Array(n);
  const out = g.node(
    'BatchNormalization',
    [x.name, g.floats(`${base}/gamma`, gamma, [n]), g.floats(`${base}/beta`, beta, [n]), g.floats(`${base}/moving_mean`, mean.values, [n]), g.floats(`${base}/moving_variance`, w.get('moving_variance')!.values, [n])],
    `${base}/batchnorm`,
    [attr.float('epsilon', Number(c.epsilon ?? 1e-3))],
  );
  return { name: out, perm: x.perm, shape: ctx.shape };
}

function pooling(op: 'MaxPool' | 'AveragePool'): LayerRule {
  return (ctx) => {
    const { g, config: c, base } = ctx;
    const { want, spatial } = convLayout(c);
    const x = g.arrange(only(ctx), want, base);
    const kernel = pair(c.poolSize ?? 2);
    const strides = pair(c.strides ?? kernel);
    // count_include_pad stays 0: TensorFlow's 'same' average pooling divides by the pixels inside the image.
    const out = g.node(op, [x.name], `${base}/${op.toLowerCase()}`, [
      attr.ints('kernel_shape', kernel),
      attr.ints('strides', strides),
      ...windowPads(x, spatial, kernel, strides, [1, 1], String(c.padding ?? 'valid')),
    ]);
    return { name: out, perm: want, shape: ctx.shape };
  };
}

function globalPooling(op: 'GlobalMaxPool' | 'GlobalAveragePool'): LayerRule {
  return (ctx) => {
    const { g, config: c, base } = ctx;
    const { want } = convLayout(c);
    const x = g.arrange(only(ctx), want, base);
    const pooled = g.node(op, [x.name], `${base}/${op.toLowerCase()}`);
    // [N, C, 1, 1] → Keras' [N, C].
    const out = g.node('Flatten', [pooled], `${base}/flatten`, [attr.int('axis', 1)]);
    return { name: out, perm: [0, 1], shape: ctx.shape };
  };
}

function flatten(ctx: LayerContext): Value {
  const { g, base } = ctx;
  // Keras flattens in its own (NHWC) order: the values must be in Keras' layout first.
  const x = g.native(only(ctx), base);
  return { name: g.node('Flatten', [x.name], `${base}/flatten`, [attr.int('axis', 1)]), perm: [0, 1], shape: ctx.shape };
}

function reshape(ctx: LayerContext): Value {
  const { g, config: c, base } = ctx;
  const x = g.native(only(ctx), base);
  // 0 copies the batch size from the input; the target shape may hold one -1.
  const target = g.int64s(`${base}/shape`, [0, ...(c.targetShape as number[])]);
  return { name: g.node('Reshape', [x.name, target], `${base}/reshape`), perm: identity(ctx.shape.length), shape: ctx.shape };
}

function permute(ctx: LayerContext): Value {
  const x = only(ctx);
  const dims = [0, ...(ctx.config.dims as number[])];
  // Keras axis i of the output is Keras axis dims[i] of the input: only the bookkeeping changes.
  return { name: x.name, perm: dims.map((d) => x.perm[d]), shape: ctx.shape };
}

function rescaling(ctx: LayerContext): Value {
  const { g, config: c, base } = ctx;
  const x = only(ctx);
  const scaled = g.node('Mul', [x.name, g.scalar(`${base}/scale`, Number(c.scale ?? 1))], `${base}/mul`);
  return { ...x, name: g.node('Add', [scaled, g.scalar(`${base}/offset`, Number(c.offset ?? 0))], `${base}/add`) };
}

const pass: LayerRule = (ctx) => ({ ...only(ctx), shape: ctx.shape });

function activationLayer(ctx: LayerContext): Value {
  const c = ctx.config;
  const x = only(ctx);
  const { g, base } = ctx;
  switch (ctx.layer.getClassName()) {
    case 'Activation':
      return activation(g, x, String(c.activation), base);
    case 'ReLU':
      if (c.maxValue === null || c.maxValue === undefined) return activation(g, x, 'relu', base);
      return { ...x, name: g.node('Clip', [x.name, g.scalar(`${base}/min`, 0), g.scalar(`${base}/max`, Number(c.maxValue))], `${base}/clip`) };
    case 'LeakyReLU':
      return { ...x, name: g.node('LeakyRelu', [x.name], `${base}/leakyrelu`, [attr.float('alpha', Number(c.alpha ?? 0.3))]) };
    case 'ELU':
      return { ...x, name: g.node('Elu', [x.name], `${base}/elu`, [attr.float('alpha', Number(c.alpha ?? 1))]) };
    case 'ThresholdedReLU':
      return { ...x, name: g.node('ThresholdedRelu', [x.name], `${base}/thresholdedrelu`, [attr.float('alpha', Number(c.theta ?? 1))]) };
    case 'Softmax':
      return { ...x, name: g.node('Softmax', [x.name], `${base}/softmax`, [attr.int('axis', x.perm[keraAxis(c.axis ?? -1, x.shape.length)])]) };
    default:
      throw new Error('no activation rule');
  }
}

function prelu(ctx: LayerContext): Value {
  const { g, base } = ctx;
  const x = only(ctx);
  const alpha = weightsOf(ctx.layer).get('alpha')!;
  // alpha has Keras' shape without the batch axis (1 on shared axes); ONNX broadcasts it over the value's layout.
  const order = inverse(x.perm).slice(1).map((k) => k - 1);
  const slope = g.floats(`${base}/alpha`, transposed(alpha.values, alpha.shape, order), order.map((k) => alpha.shape[k]));
  return { ...x, name: g.node('PRelu', [x.name, slope], `${base}/prelu`) };
}

function merge(op: 'Sum' | 'Mul' | 'Mean' | 'Max' | 'Min'): LayerRule {
  return (ctx) => {
    const { g, base } = ctx;
    const first = ctx.inputs[0];
    const inputs = ctx.inputs.map((v, i) => g.arrange(v, first.perm, `${base}/in${i}`).name);
    const name = op === 'Sum' && inputs.length === 2 ? g.node('Add', inputs, `${base}/add`) : g.node(op, inputs, `${base}/${op.toLowerCase()}`);
    return { name, perm: first.perm, shape: ctx.shape };
  };
}

function concatenate(ctx: LayerContext): Value {
  const { g, base } = ctx;
  const first = ctx.inputs[0];
  const inputs = ctx.inputs.map((v, i) => g.arrange(v, first.perm, `${base}/in${i}`).name);
  const axis = first.perm[keraAxis(ctx.config.axis ?? -1, first.shape.length)];
  return { name: g.node('Concat', inputs, `${base}/concat`, [attr.int('axis', axis)]), perm: first.perm, shape: ctx.shape };
}

/** Per Keras spatial axis [before, after] amounts for ZeroPadding2D and Cropping2D, as ONNX per-axis lists. */
function spatialAmounts(x: Value, c: Config, amounts: unknown): { begin: number[]; end: number[] } {
  const [[top, bottom], [left, right]] = amounts as [[number, number], [number, number]];
  const [h, w] = c.dataFormat === 'channelsFirst' ? [2, 3] : [1, 2];
  const begin = new Array<number>(x.shape.length).fill(0);
  const end = new Array<number>(x.shape.length).fill(0);
  begin[x.perm[h]] = top;
  end[x.perm[h]] = bottom;
  begin[x.perm[w]] = left;
  end[x.perm[w]] = right;
  return { begin, end };
}

function zeroPadding2d(ctx: LayerContext): Value {
  const { g, base } = ctx;
  const x = only(ctx);
  const { begin, end } = spatialAmounts(x, ctx.config, ctx.config.padding);
  return { ...x, shape: ctx.shape, name: g.node('Pad', [x.name, g.int64s(`${base}/pads`, [...begin, ...end])], `${base}/pad`) };
}

function cropping2d(ctx: LayerContext): Value {
  const { g, base } = ctx;
  const x = only(ctx);
  const { begin, end } = spatialAmounts(x, ctx.config, ctx.config.cropping);
  const axes = identity(x.shape.length).filter((a) => begin[a] > 0 || end[a] > 0);
  if (axes.length === 0) return { ...x, shape: ctx.shape };
  const starts = g.int64s(`${base}/starts`, axes.map((a) => begin[a]));
  // A negative end counts from the back; -0 would mean "nothing", so uncropped ends go to the largest int64.
  const ends = g.int64s(`${base}/ends`, axes.map((a) => (end[a] > 0 ? -end[a] : Number.MAX_SAFE_INTEGER)));
  return { ...x, shape: ctx.shape, name: g.node('Slice', [x.name, starts, ends, g.int64s(`${base}/axes`, axes)], `${base}/slice`) };
}

function upSampling2d(ctx: LayerContext): Value {
  const { g, config: c, base } = ctx;
  const x = only(ctx);
  const [sh, sw] = pair(c.size ?? 2);
  const scales = new Array<number>(x.shape.length).fill(1);
  const [h, w] = c.dataFormat === 'channelsFirst' ? [2, 3] : [1, 2];
  scales[x.perm[h]] = sh;
  scales[x.perm[w]] = sw;
  const mode = c.interpolation === 'bilinear' ? 'linear' : 'nearest';
  // tfjs resizes without half-pixel centres or aligned corners: ONNX's 'asymmetric' with floor for nearest.
  const attrs = [attr.string('mode', mode), attr.string('coordinate_transformation_mode', 'asymmetric'), ...(mode === 'nearest' ? [attr.string('nearest_mode', 'floor')] : [])];
  return { ...x, shape: ctx.shape, name: g.node('Resize', [x.name, '', g.floats(`${base}/scales`, scales, [scales.length])], `${base}/resize`, attrs) };
}

/** Each Keras layer class the exporter maps, and how. */
const LAYERS: Record<string, LayerRule> = {
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  Dense: dense,
  BatchNormalization: batchNormalization,
  MaxPooling2D: pooling('MaxPool'),
  AveragePooling2D: pooling('AveragePool'),
  GlobalMaxPooling2D: globalPooling('GlobalMaxPool'),
  GlobalAveragePooling2D: globalPooling('GlobalAveragePool'),
  Flatten: flatten,
  Reshape: reshape,
  Permute: permute,
  Activation: activationLayer,
  ReLU: activationLayer,
  LeakyReLU: activationLayer,
  ELU: activationLayer,
  ThresholdedReLU: activationLayer,
  Softmax: activationLayer,
  PReLU: prelu,
  Add: merge('Sum'),
  Multiply: merge('Mul'),
  Average: merge('Mean'),
  Maximum: merge('Max'),
  Minimum: merge('Min'),
  Concatenate: concatenate,
  ZeroPadding2D: zeroPadding2d,
  Cropping2D: cropping2d,
  UpSampling2D: upSampling2d,
  Rescaling: rescaling,
  // Identities at inference.
  Dropout: pass,
  SpatialDropout1D: pass,
  SpatialDropout2D: pass,
  GaussianNoise: pass,
  GaussianDropout: pass,
  AlphaDropout: pass,
  ActivityRegularization: pass,
};

/** Keras layer classes `exportOnnx` can write. */
export const ONNX_LAYER_CLASSES: readonly string[] = Object.keys(LAYERS);

const valueInfo = (name: string, shape: (number | null)[]) => ({
  name,
  type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: shape.map((d) => (d === null ? { dim_param: 'batch' } : { dim_value: d })) } } },
});

/** Writes the graph of a single-input, single-output LayersModel as an ONNX ModelProto (plain object). */
function buildGraph(model: tf.LayersModel, opts: OnnxExportOptions): Obj {
  if (model.inputs.length !== 1 || model.outputs.length !== 1)
    throw new OnnxExportError(`the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; ONNX export handles one of each`);
  const g = new GraphWriter();
  const input = model.inputs[0];
  const inputName = opts.inputName ?? input.sourceLayer.name;
  const outputName = opts.outputName ?? 'logits';
  g.reserve(inputName);
  g.reserve(outputName);
  const values = new Map<number, Value>([[input.id, { name: inputName, perm: identity(input.shape.length), shape: outShape(input) }]]);

  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer') continue;
    if (layer instanceof tf.LayersModel)
      throw new OnnxExportError(`layer "${layer.name}" is a nested model (${cls}); ONNX export needs a flat model: rebuild it without nesting`);
    const rule = LAYERS[cls];
    if (!rule) throw new OnnxExportError(`layer "${layer.name}" (${cls}) has no ONNX mapping; layers that can be exported are ${ONNX_LAYER_CLASSES.join(', ')}`);
    for (const node of layer.inboundNodes) {
      const inputs = node.inputTensors.map((t) => values.get(t.id));
      // Nodes of a shared layer outside this model (or not yet reachable) are not part of this graph.
      if (inputs.some((v) => v === undefined)) continue;
      if (node.outputTensors.length !== 1) throw new OnnxExportError(`layer "${layer.name}" (${cls}) has ${node.outputTensors.length} outputs; ONNX export handles one`);
      let out: Value;
      try {
        out = rule({ g, layer, config: layer.getConfig() as Config, inputs: inputs as Value[], shape: outShape(node.outputTensors[0]), base: layer.name });
      } catch (e) {
        if (e instanceof OnnxExportError) throw e;
        throw new OnnxExportError(`layer "${layer.name}" (${cls}) cannot be exported to ONNX: unsupported ${(e as Error).message}`);
      }
      values.set(node.outputTensors[0].id, out);
    }
  }

  const output = model.outputs[0];
  let last = values.get(output.id);
  if (!last) throw new OnnxExportError("internal: the model's output was not reached from its input");
  last = g.native(last, 'output');
  // The output gets its public name: the producing node's output is renamed, or, when the value is the input or
  // also feeds other nodes, an Identity carries it.
  const producer = g.nodes.find((n) => (n.output as string[])[0] === last!.name);
  const consumed = g.nodes.some((n) => (n.input as string[]).includes(last!.name));
  if (producer && !consumed) {
    (producer.output as string[])[0] = outputName;
    producer.name = outputName;
  } else g.node('Identity', [last.name], outputName, [], outputName);

  return {
    ir_version: IR_VERSION,
    producer_name: 'CAKE Studio',
    producer_version: `tfjs-layers ${tf.version_layers}`,
    doc_string: opts.doc ?? '',
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    metadata_props: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: model.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(inputName, outShape(input))],
      output: [valueInfo(outputName, outShape(output))],
    },
  };
}

/** The model as the bytes of an .onnx file. */
export function exportOnnx(model: tf.LayersModel, opts: OnnxExportOptions = {}): Uint8Array {
  const proto = buildGraph(model, opts);
  const type = modelProto();
  return type.encode(type.fromObject(proto)).finish();
}
