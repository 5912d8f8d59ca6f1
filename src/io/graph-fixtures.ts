import * as tf from '@tensorflow/tfjs';
import type { NamedFile } from './files';
import { jsonFile } from './test-fixtures';

// Test-only: TensorFlow.js graph models written by hand, node by node, in the layout tensorflowjs_converter
// produces (a GraphDef as JSON plus a weights manifest), with seeded weights and a reference forward pass built
// from plain tfjs ops. The default graph mirrors a LeNet exported from TensorFlow 1.x: Conv2D, Add, Relu, MaxPool,
// the Shape → StridedSlice → Pack → Reshape flatten, MatMul, Add, Softmax.

export interface GraphFixtureOptions {
  /** Pre-1.0 converter layout: no format, signature or generatedBy; numeric dtypes and byte-array strings. */
  legacy?: boolean;
  /** End in Softmax (default) or emit the logits. */
  softmax?: boolean;
  /** Crop the feature map with a strided StridedSlice (rows and columns 0, 2, 4): a StridedSlice on the data path. */
  crop?: boolean;
  /** Insert a node with this op (one tfjs does not know) after the first Relu. */
  extraOp?: string;
  /** Insert a Cumprod over the channels after the first Relu: tfjs runs it but has no gradient for it. */
  cumprod?: boolean;
  /** Declare this fixed batch size on the input instead of -1. */
  fixedBatch?: number;
  classes?: number;
  /** Shard file name (legacy converters wrote shards without ".bin"). */
  shardName?: string;
  dir?: string;
  seed?: number;
}

export interface GraphFixture {
  files: NamedFile[];
  /** The logits (pre-softmax) the graph computes, from the same weights. */
  reference(x: tf.Tensor): tf.Tensor2D;
  inputShape: number[];
  params: number;
  dispose(): void;
}

type Node = { name: string; op: string; input: string[]; attr: Record<string, unknown> };

export function graphModelFixture(opts: GraphFixtureOptions = {}): GraphFixture {
  const { legacy = false, softmax = true, crop = false, classes = 5, dir = '', seed = 11 } = opts;
  const shardName = opts.shardName ?? (legacy ? 'group1-shard1of1' : 'group1-shard1of1.bin');
  const DT_FLOAT = legacy ? 1 : 'DT_FLOAT';
  const DT_INT32 = legacy ? 3 : 'DT_INT32';
  const str = (s: string) => (legacy ? [...s].map((c) => c.charCodeAt(0)) : btoa(s));
  const ints = (v: number[]) => ({ list: { i: v.map(String) } });
  const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });

  const H = 12;
  const C = 4;
  const pooled = 5; // (12 − 3 + 1) / 2
  const side = crop ? 3 : pooled;
  const flat = side * side * C;
  const hidden = 8;
  const w = {
    conv: tf.randomNormal([3, 3, 1, C], 0, 0.5, 'float32', seed),
    convB: tf.randomNormal([C], 0, 0.1, 'float32', seed + 1),
    fc1: tf.randomNormal([flat, hidden], 0, 0.3, 'float32', seed + 2),
    fc1B: tf.randomNormal([hidden], 0, 0.1, 'float32', seed + 3),
    fc2: tf.randomNormal([hidden, classes], 0, 0.5, 'float32', seed + 4),
    fc2B: tf.randomNormal([classes], 0, 0.1, 'float32', seed + 5),
  };

  const nodes: Node[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  const konst = (name: string, t: tf.Tensor | number[] | number, dtype: 'float32' | 'int32' = 'float32') => {
    const tensor = t instanceof tf.Tensor ? t : tf.tensor(t, undefined, dtype);
    nodes.push({
      name,
      op: 'Const',
      input: [],
      attr: { value: { tensor: { dtype: dtype === 'float32' ? DT_FLOAT : DT_INT32, tensorShape: dims(tensor.shape) } }, dtype: { type: dtype === 'float32' ? DT_FLOAT : DT_INT32 } },
    });
    specs.push({ name, shape: tensor.shape, dtype });
    buffers.push((tensor.dataSync() as Float32Array | Int32Array).slice().buffer);
    if (!(t instanceof tf.Tensor)) tensor.dispose();
  };
  const op = (name: string, type: string, input: string[], attr: Record<string, unknown> = {}) =>
    nodes.push({ name, op: type, input, attr: { T: { type: DT_FLOAT }, ...attr } });

  nodes.push({ name: 'x', op: 'Placeholder', input: [], attr: { dtype: { type: DT_FLOAT }, shape: { shape: dims([opts.fixedBatch ?? -1, H, H, 1]) } } });
  konst('conv/kernel', w.conv);
  konst('conv/bias', w.convB);
  konst('dense/kernel', w.fc1);
  konst('dense/bias', w.fc1B);
  konst('logits/kernel', w.fc2);
  konst('logits/bias', w.fc2B);
  op('conv/Conv2D', 'Conv2D', ['x', 'conv/kernel'], { padding: { s: str('VALID') }, strides: ints([1, 1, 1, 1]), dilations: ints([1, 1, 1, 1]), data_format: { s: str('NHWC') } });
  op('conv/add', 'Add', ['conv/Conv2D', 'conv/bias']);
  op('conv/Relu', 'Relu', ['conv/add']);
  let last = 'conv/Relu';
  if (opts.extraOp) {
    op('mystery', opts.extraOp, [last]);
    last = 'mystery';
  }
  if (opts.cumprod) {
    konst('cumprod/axis', 3, 'int32');
    op('cumprod', 'Cumprod', [last, 'cumprod/axis'], { exclusive: { b: false }, reverse: { b: false }, Tidx: { type: DT_INT32 } });
    last = 'cumprod';
  }
  op('pool/MaxPool', 'MaxPool', [last], { ksize: ints([1, 2, 2, 1]), strides: ints([1, 2, 2, 1]), padding: { s: str('VALID') }, data_format: { s: str('NHWC') } });
  last = 'pool/MaxPool';
  const sliceAttrs = (begin: number, end: number, shrink: number) => ({
    Index: { type: DT_INT32 },
    T: { type: DT_INT32 },
    begin_mask: { i: String(begin) },
    end_mask: { i: String(end) },
    ellipsis_mask: { i: '0' },
    new_axis_mask: { i: '0' },
    shrink_axis_mask: { i: String(shrink) },
  });
  if (crop) {
    konst('crop/begin', [0, 0, 0, 0], 'int32');
    konst('crop/end', [0, 5, 5, 0], 'int32');
    konst('crop/strides', [1, 2, 2, 1], 'int32');
    op('crop/StridedSlice', 'StridedSlice', [last, 'crop/begin', 'crop/end', 'crop/strides'], { ...sliceAttrs(9, 9, 0), T: { type: DT_FLOAT } });
    last = 'crop/StridedSlice';
  }
  // Keras' Flatten in a TF 1.x graph: reshape to [shape[0], -1], the batch size read at run time.
  konst('flatten/stack', [0], 'int32');
  konst('flatten/stack_1', [1], 'int32');
  konst('flatten/minus_one', -1, 'int32');
  nodes.push({ name: 'flatten/Shape', op: 'Shape', input: [last], attr: { T: { type: DT_FLOAT }, out_type: { type: DT_INT32 } } });
  nodes.push({ name: 'flatten/strided_slice', op: 'StridedSlice', input: ['flatten/Shape', 'flatten/stack', 'flatten/stack_1', 'flatten/stack_1'], attr: sliceAttrs(0, 0, 1) });
  nodes.push({ name: 'flatten/shape', op: 'Pack', input: ['flatten/strided_slice', 'flatten/minus_one'], attr: { T: { type: DT_INT32 }, axis: { i: '0' }, N: { i: '2' } } });
  op('flatten/Reshape', 'Reshape', [last, 'flatten/shape'], { Tshape: { type: DT_INT32 } });
  op('dense/MatMul', 'MatMul', ['flatten/Reshape', 'dense/kernel'], { transpose_a: { b: false }, transpose_b: { b: false } });
  op('dense/add', 'Add', ['dense/MatMul', 'dense/bias']);
  op('dense/Relu', 'Relu', ['dense/add']);
  op('logits/MatMul', 'MatMul', ['dense/Relu', 'logits/kernel'], { transpose_a: { b: false }, transpose_b: { b: false } });
  op('logits/add', 'Add', ['logits/MatMul', 'logits/bias']);
  let output = 'logits/add';
  if (softmax) {
    op('probs', 'Softmax', [output]);
    output = 'probs';
  }
  if (!legacy) {
    op('Identity', 'Identity', [output]);
    output = 'Identity';
  }

  const bytes = new Uint8Array(buffers.reduce((s, b) => s + b.byteLength, 0));
  let at = 0;
  for (const b of buffers) {
    bytes.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  const modelTopology = { node: nodes, library: {}, versions: legacy ? {} : { producer: 1286 } };
  const weightsManifest = [{ paths: [shardName], weights: specs }];
  const json = legacy
    ? { modelTopology, weightsManifest }
    : {
        format: 'graph-model',
        generatedBy: '2.15.0',
        convertedBy: 'TensorFlow.js Converter v4.22.0',
        signature: {
          inputs: { image: { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: dims([opts.fixedBatch ?? -1, H, H, 1]) } },
          outputs: { probabilities: { name: `${output}:0`, dtype: 'DT_FLOAT', tensorShape: dims([-1, classes]) } },
        },
        modelTopology,
        weightsManifest,
      };

  const reference = (x: tf.Tensor): tf.Tensor2D =>
    tf.tidy(() => {
      let h = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, w.conv as tf.Tensor4D, 1, 'valid'), w.convB)) as tf.Tensor4D;
      h = tf.maxPool(h, 2, 2, 'valid');
      // Rows and columns 0, 2, 4 without gather (whose gradient the wasm backend lacks): pad to 6, fold pairs, keep the first.
      if (crop) h = tf.reshape(tf.slice(tf.reshape(tf.pad(h, [[0, 0], [0, 1], [0, 1], [0, 0]]), [-1, 3, 2, 3, 2, C]), [0, 0, 0, 0, 0, 0], [-1, 3, 1, 3, 1, C]), [-1, 3, 3, C]);
      const f = tf.reshape(h, [x.shape[0], -1]) as tf.Tensor2D;
      const d = tf.relu(tf.add(tf.matMul(f, w.fc1 as tf.Tensor2D), w.fc1B)) as tf.Tensor2D;
      return tf.add(tf.matMul(d, w.fc2 as tf.Tensor2D), w.fc2B) as tf.Tensor2D;
    });
  const params = Object.values(w).reduce((s, t) => s + t.size, 0);
  return {
    files: [jsonFile(`${dir}model.json`, json), { name: `${dir}${shardName}`, data: bytes.buffer }],
    reference,
    inputShape: [H, H, 1],
    params,
    dispose: () => tf.dispose(Object.values(w)),
  };
}
