import * as tf from '@tensorflow/tfjs';
import type { NamedFile } from './files';
import { DataType, modelProto } from './onnx-schema';

// Test-only: ONNX models written from the protobuf schema, node by node, the way torch.onnx.export and tf2onnx lay
// them out, with seeded weights and reference forward passes written directly in tfjs ops.

type Obj = Record<string, unknown>;

export const aInt = (name: string, i: number) => ({ name, type: 2, i });
export const aInts = (name: string, ints: number[]) => ({ name, type: 7, ints });
export const aFloat = (name: string, f: number) => ({ name, type: 1, f });
export const aString = (name: string, s: string) => ({ name, type: 3, s: new TextEncoder().encode(s) });
export const aTensor = (name: string, t: Obj) => ({ name, type: 4, t });

export function node(op: string, input: string[], output: string[], attribute: Obj[] = [], name = output[0]): Obj {
  return { op_type: op, input, output, attribute, name };
}

/** A float TensorProto, as raw little-endian bytes (PyTorch's way) or in float_data. */
export function floatTensor(name: string, t: tf.Tensor, raw = true): Obj {
  const values = t.dataSync() as Float32Array;
  return raw
    ? { name, dims: t.shape, data_type: DataType.FLOAT, raw_data: new Uint8Array(values.slice().buffer) }
    : { name, dims: t.shape, data_type: DataType.FLOAT, float_data: Array.from(values) };
}

/** A JS number as int64; ±2^63 (what 9223372036854775807 becomes as a double) saturates, as exporters write INT64_MAX. */
const toInt64 = (v: number) => {
  const b = BigInt(v);
  const max = 2n ** 63n - 1n;
  return b > max ? max : b < -max - 1n ? -max - 1n : b;
};

/** An int64 TensorProto (shapes, axes, indices), raw or in int64_data. */
export function int64Tensor(name: string, values: number[], dims = [values.length], raw = true): Obj {
  return raw
    ? { name, dims, data_type: DataType.INT64, raw_data: new Uint8Array(BigInt64Array.from(values.map(toInt64)).buffer) }
    : { name, dims, data_type: DataType.INT64, int64_data: values };
}

export function valueInfo(name: string, dims: (number | string)[], elemType: number = DataType.FLOAT): Obj {
  return { name, type: { tensor_type: { elem_type: elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } } };
}

export function onnxModel(graph: Obj, opset = 13, producer = 'pytorch'): Obj {
  return { ir_version: 8, producer_name: producer, producer_version: '2.3.0', opset_import: [{ domain: '', version: opset }], graph: { name: 'main_graph', ...graph } };
}

export function onnxFile(name: string, model: Obj): NamedFile {
  const type = modelProto();
  const bytes = type.encode(type.fromObject(model)).finish();
  return { name, data: Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer };
}

/** Deterministic shuffle, so tests see nodes out of topological order. */
export function shuffled<T>(xs: T[], seed = 3): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export interface OnnxFixture {
  file: NamedFile;
  model: Obj;
  /** Pre-softmax logits from the same weights, computed with plain tfjs ops. */
  reference(x: tf.Tensor): tf.Tensor2D;
  inputShape: number[];
  params: number;
  dispose(): void;
}

const rnd = (shape: number[], seed: number, std = 0.5) => tf.randomNormal(shape, 0, std, 'float32', seed);
const nchwConv = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | undefined, pad: number, group = 1, stride = 1): tf.Tensor =>
  tf.tidy(() => {
    const xh = tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
    const padded = tf.pad(xh, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
    let y: tf.Tensor4D;
    if (group === 1) y = tf.conv2d(padded, tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D, stride, 'valid');
    else y = tf.depthwiseConv2d(padded, tf.transpose(w, [2, 3, 0, 1]) as tf.Tensor4D, stride, 'valid');
    if (b) y = tf.add(y, b);
    return tf.transpose(y, [0, 3, 1, 2]);
  });

/**
 * A small PyTorch-style conv net on NCHW [N,1,size,size] (size 8 by default): Conv(pad 1) → BatchNormalization → Relu → MaxPool → depthwise
 * Conv → Clip(0, 6) → AveragePool(pad 1) → Add (residual) → Conv 1×1 → LeakyRelu → Concat → the x.view(x.size(0),
 * -1) flatten (Shape, Gather, Unsqueeze, Concat, Reshape) → Gemm(transB) → Softmax. Initializers alternate between
 * raw_data and float_data; nodes are shuffled.
 */
export function onnxConvNet(opts: { classes?: number; fixedBatch?: boolean; name?: string; size?: number } = {}): OnnxFixture {
  const { classes = 4, name = 'convnet.onnx', size = 8 } = opts;
  const half = size / 2;
  const w = {
    w1: rnd([4, 1, 3, 3], 1),
    b1: rnd([4], 2, 0.1),
    bnScale: tf.randomUniform([4], 0.5, 1.5, 'float32', 3),
    bnBias: rnd([4], 4, 0.1),
    bnMean: rnd([4], 5, 0.1),
    bnVar: tf.randomUniform([4], 0.5, 2, 'float32', 6),
    w2: rnd([4, 1, 3, 3], 7),
    b2: rnd([4], 8, 0.1),
    w3: rnd([6, 4, 1, 1], 9),
    b3: rnd([6], 10, 0.1),
    fc: rnd([classes, 10 * half * half], 11, 0.2),
    fcB: rnd([classes], 12, 0.1),
  };
  const initializers = Object.entries(w).map(([k, t], i) => floatTensor(k, t, i % 2 === 0));
  const nodes = [
    node('Conv', ['input.1', 'w1', 'b1'], ['conv1'], [aInts('kernel_shape', [3, 3]), aInts('pads', [1, 1, 1, 1]), aInts('strides', [1, 1]), aInts('dilations', [1, 1]), aInt('group', 1)]),
    node('BatchNormalization', ['conv1', 'bnScale', 'bnBias', 'bnMean', 'bnVar'], ['bn1'], [aFloat('epsilon', 1e-5), aFloat('momentum', 0.9)]),
    node('Relu', ['bn1'], ['relu1']),
    node('MaxPool', ['relu1'], ['pool1'], [aInts('kernel_shape', [2, 2]), aInts('strides', [2, 2]), aInts('pads', [0, 0, 0, 0]), aInt('ceil_mode', 0)]),
    node('Conv', ['pool1', 'w2', 'b2'], ['dw'], [aInts('kernel_shape', [3, 3]), aInts('pads', [1, 1, 1, 1]), aInt('group', 4)]),
    node('Constant', [], ['clip_min'], [aTensor('value', { dims: [], data_type: DataType.FLOAT, raw_data: new Uint8Array(new Float32Array([0]).buffer) })]),
    node('Constant', [], ['clip_max'], [aTensor('value', { dims: [], data_type: DataType.FLOAT, float_data: [6] })]),
    node('Clip', ['dw', 'clip_min', 'clip_max'], ['clip']),
    node('AveragePool', ['clip'], ['avg'], [aInts('kernel_shape', [3, 3]), aInts('strides', [1, 1]), aInts('pads', [1, 1, 1, 1]), aInt('count_include_pad', 0)]),
    node('Add', ['avg', 'pool1'], ['res']),
    node('Conv', ['res', 'w3', 'b3'], ['conv3'], [aInts('kernel_shape', [1, 1])]),
    node('LeakyRelu', ['conv3'], ['lrelu'], [aFloat('alpha', 0.1)]),
    node('Concat', ['lrelu', 'res'], ['cat'], [aInt('axis', 1)]),
    node('Shape', ['cat'], ['shape']),
    node('Constant', [], ['zero'], [aTensor('value', int64Tensor('', [0], []))]),
    node('Gather', ['shape', 'zero'], ['batch'], [aInt('axis', 0)]),
    node('Constant', [], ['axes0'], [aTensor('value', int64Tensor('', [0], [1], false))]),
    node('Unsqueeze', ['batch', 'axes0'], ['batch1']),
    node('Constant', [], ['minus1'], [aTensor('value', int64Tensor('', [-1], [1]))]),
    node('Concat', ['batch1', 'minus1'], ['flat_shape'], [aInt('axis', 0)]),
    node('Reshape', ['cat', 'flat_shape'], ['flat']),
    node('Gemm', ['flat', 'fc', 'fcB'], ['logits'], [aFloat('alpha', 1), aFloat('beta', 1), aInt('transB', 1)]),
    node('Softmax', ['logits'], ['probs'], [aInt('axis', 1)]),
  ];
  const model = onnxModel({
    node: shuffled(nodes),
    initializer: initializers,
    input: [valueInfo('input.1', [opts.fixedBatch ? 1 : 'batch_size', 1, size, size])],
    output: [valueInfo('probs', [opts.fixedBatch ? 1 : 'batch_size', classes])],
  });
  const reference = (x: tf.Tensor): tf.Tensor2D =>
    tf.tidy(() => {
      const bn = (t: tf.Tensor) => {
        const r = (v: tf.Tensor) => tf.reshape(v, [1, 4, 1, 1]);
        return tf.add(tf.mul(tf.div(tf.sub(t, r(w.bnMean)), tf.sqrt(tf.add(r(w.bnVar), 1e-5))), r(w.bnScale)), r(w.bnBias));
      };
      const relu1 = tf.relu(bn(nchwConv(x, w.w1, w.b1, 1)));
      const pool1 = tf.transpose(tf.maxPool(tf.transpose(relu1, [0, 2, 3, 1]) as tf.Tensor4D, 2, 2, 'valid'), [0, 3, 1, 2]);
      const clip = tf.clipByValue(nchwConv(pool1, w.w2, w.b2, 1, 4), 0, 6);
      // 3×3 average with zero padding that does not count: window sums over window cell counts.
      const clipH = tf.transpose(clip, [0, 2, 3, 1]) as tf.Tensor4D;
      const perChannelSum = tf.depthwiseConv2d(tf.pad(clipH, [[0, 0], [1, 1], [1, 1], [0, 0]]), tf.ones([3, 3, 4, 1]) as tf.Tensor4D, 1, 'valid');
      const counts = tf.depthwiseConv2d(tf.pad(tf.ones([1, half, half, 1]) as tf.Tensor4D, [[0, 0], [1, 1], [1, 1], [0, 0]]), tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, 'valid');
      const avg = tf.transpose(tf.div(perChannelSum, counts), [0, 3, 1, 2]);
      const res = tf.add(avg, pool1);
      const conv3 = nchwConv(res, w.w3, w.b3, 0);
      const lrelu = tf.leakyRelu(conv3, 0.1);
      const cat = tf.concat([lrelu, res], 1);
      const flat = tf.reshape(cat, [x.shape[0], -1]) as tf.Tensor2D;
      return tf.add(tf.matMul(flat, w.fc as tf.Tensor2D, false, true), w.fcB) as tf.Tensor2D;
    });
  const params = Object.values(w).reduce((s, t) => s + t.size, 0);
  return { file: onnxFile(name, model), model, reference, inputShape: [1, size, size], params, dispose: () => tf.dispose(Object.values(w)) };
}

/**
 * An MLP on [N,6,6]: Reshape (to [1,-1] when the batch is fixed, as a batch-1 trace of x.view(1, -1) writes it;
 * else Flatten) → MatMul → Add → Tanh → Pad → Sub → Mul → Div → Gemm(alpha, beta) → Identity → Dropout → Softmax
 * (opset 11, axis 1).
 */
export function onnxMlp(opts: { fixedBatch?: boolean; classes?: number; name?: string; opset?: number } = {}): OnnxFixture {
  const { classes = 3, name = 'mlp.onnx', opset = 11 } = opts;
  const w = {
    w1: rnd([36, 16], 21, 0.3),
    b1: rnd([16], 22, 0.1),
    shift: rnd([1], 23, 0.1),
    scale: tf.randomUniform([18], 0.5, 1.5, 'float32', 24),
    w2: rnd([18, classes], 25, 0.5),
    b2: rnd([classes], 26, 0.1),
  };
  const flattenNodes = opts.fixedBatch
    ? [node('Reshape', ['x', 'shape'], ['flat'])]
    : [node('Flatten', ['x'], ['flat'], [aInt('axis', 1)])];
  const nodes = [
    ...flattenNodes,
    node('MatMul', ['flat', 'w1'], ['mm']),
    node('Add', ['mm', 'b1'], ['h']),
    node('Tanh', ['h'], ['t']),
    node('Pad', ['t', 'pads', 'padValue'], ['p'], [aString('mode', 'constant')]),
    node('Sub', ['p', 'shift'], ['s']),
    node('Mul', ['s', 'scale'], ['m']),
    node('Div', ['m', 'two'], ['d']),
    node('Gemm', ['d', 'w2', 'b2'], ['g'], [aFloat('alpha', 0.5), aFloat('beta', 2)]),
    node('Identity', ['g'], ['logits']),
    node('Dropout', ['logits'], ['dropped'], [aFloat('ratio', 0.5)]),
    node('Softmax', ['dropped'], ['probs'], [aInt('axis', 1)]),
  ];
  const initializers = [
    ...Object.entries(w).map(([k, t], i) => floatTensor(k, t, i % 2 === 1)),
    int64Tensor('pads', [0, 1, 0, 1], [4], false),
    floatTensor('padValue', tf.scalar(0.25)),
    floatTensor('two', tf.scalar(2), false),
    ...(opts.fixedBatch ? [int64Tensor('shape', [1, -1])] : []),
  ];
  const batch = opts.fixedBatch ? 1 : 'N';
  const model = onnxModel(
    {
      node: shuffled(nodes, 7),
      initializer: initializers,
      // IR < 4 listed initializers among the graph inputs too.
      input: [valueInfo('x', [batch, 6, 6]), valueInfo('w1', [36, 16])],
      output: [valueInfo('probs', [batch, classes])],
    },
    opset,
  );
  const reference = (x: tf.Tensor): tf.Tensor2D =>
    tf.tidy(() => {
      const t = tf.tanh(tf.add(tf.matMul(tf.reshape(x, [-1, 36]) as tf.Tensor2D, w.w1 as tf.Tensor2D), w.b1));
      const p = tf.pad(t, [[0, 0], [1, 1]], 0.25);
      const d = tf.div(tf.mul(tf.sub(p, w.shift), w.scale), 2) as tf.Tensor2D;
      return tf.add(tf.mul(tf.matMul(d, w.w2 as tf.Tensor2D), 0.5), tf.mul(w.b2, 2)) as tf.Tensor2D;
    });
  const params = Object.values(w).reduce((s, t) => s + t.size, 0) + 2;
  return { file: onnxFile(name, model), model, reference, inputShape: [6, 6], params, dispose: () => tf.dispose(Object.values(w)) };
}

/** A tf2onnx-style model on NHWC [N,8,8,3]: Transpose → Conv(stride 2, SAME_UPPER) → Relu → GlobalAveragePool → Flatten → Gemm: raw logits. */
export function onnxNhwcLogits(name = 'keras.onnx'): OnnxFixture {
  const w = { k: rnd([5, 3, 3, 3], 31), kb: rnd([5], 32, 0.1), fc: rnd([5, 4], 33), fcb: rnd([4], 34, 0.1) };
  const nodes = [
    node('Transpose', ['input_1'], ['nchw'], [aInts('perm', [0, 3, 1, 2])]),
    node('Conv', ['nchw', 'k', 'kb'], ['conv'], [aInts('kernel_shape', [3, 3]), aInts('strides', [2, 2]), aString('auto_pad', 'SAME_UPPER')]),
    node('Relu', ['conv'], ['relu']),
    node('GlobalAveragePool', ['relu'], ['gap']),
    node('Flatten', ['gap'], ['flat']),
    node('Gemm', ['flat', 'fc', 'fcb'], ['dense']),
  ];
  const model = onnxModel(
    {
      node: nodes,
      initializer: Object.entries(w).map(([k, t]) => floatTensor(k, t)),
      input: [valueInfo('input_1', ['unk__6', 8, 8, 3])],
      output: [valueInfo('dense', ['unk__7', 4])],
    },
    13,
    'tf2onnx',
  );
  const reference = (x: tf.Tensor): tf.Tensor2D =>
    tf.tidy(() => {
      const y = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, tf.transpose(w.k, [2, 3, 1, 0]) as tf.Tensor4D, 2, 'same'), w.kb));
      return tf.add(tf.matMul(tf.mean(y, [1, 2]) as tf.Tensor2D, w.fc as tf.Tensor2D), w.fcb) as tf.Tensor2D;
    });
  const params = Object.values(w).reduce((s, t) => s + t.size, 0);
  return { file: onnxFile(name, model), model, reference, inputShape: [8, 8, 3], params, dispose: () => tf.dispose(Object.values(w)) };
}
