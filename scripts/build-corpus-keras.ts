/**
 * `node --import tsx scripts/build-corpus-keras.ts [out_dir]` (default corpus/): the Keras and TensorFlow.js half of
 * the import corpus. keras.applications-style families at a small width (32×32×3 input, 10 classes, random seeded
 * weights, softmax heads), each written three ways:
 *   - Keras 2.8 .h5 (model.save("m.h5"): model_config, model_weights/<layer>/<layer>/<weight>:0),
 *   - Keras 3 .keras (config.json in Keras 3's serialisation, model.weights.h5 under layers/<snake_case>/vars),
 *   - a TensorFlow.js Layers model.json + weights, as tensorflowjs_converter writes a Keras model (the Keras config
 *     copied as it is, Keras-only options included).
 * Models are built with tfjs layers (so weights and shapes are consistent), then their configs are edited into what
 * Keras writes where Keras differs: GlobalAveragePooling2D(keepdims=True) (MobileNet), Normalization (EfficientNet),
 * ReLU(max_value=6.0) with negative_slope and threshold, Conv2D groups, Activation("hard_swish") (Keras 3's
 * MobileNetV3). Three TensorFlow.js graph models (a TF 1.x LeNet as tensorflowjs_converter writes it) join them.
 * Appends to <out>/manifest.json (replacing earlier Keras/tfjs entries).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { graphModelFixture } from '../src/io/graph-fixtures';
import { toSnakeCase } from '../src/io/keras-config';
import { kerasArchive, kerasH5File, kerasV3Weights } from '../src/io/keras-fixtures';
import { CakeActivation, CakeNormalization } from '../src/io/keras-layers';
import { modelFiles } from '../src/io/test-fixtures';
import { initNodeBackend } from '../src/tfjs/node-backend';
import type { CorpusEntry } from './corpus-check';

type Json = Record<string, unknown>;
type T = tf.SymbolicTensor;

const OUT = process.argv[2] ?? 'corpus';
const SIZE = 32;
const CLASSES = 10;
let seed = 1;
const init = () => tf.initializers.heNormal({ seed: seed++ });
const L = tf.layers;

// --- the families ------------------------------------------------------------------------------------------------

function bnRelu6(x: T, name: string): T {
  const b = L.batchNormalization({ name: `${name}_bn`, gammaInitializer: tf.initializers.randomUniform({ minval: 0.8, maxval: 1.2, seed: seed++ }), betaInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed: seed++ }) }).apply(x) as T;
  return L.reLU({ name: `${name}_relu`, maxValue: 6 }).apply(b) as T;
}

function conv(x: T, name: string, filters: number, kernel: number, strides = 1, padding: 'same' | 'valid' = 'same', activation?: string, useBias = false): T {
  return L.conv2d({ name, filters, kernelSize: kernel, strides, padding, useBias, activation: activation as never, kernelInitializer: init() }).apply(x) as T;
}

/** keras.applications.MobileNet (v1), alpha 0.25: ZeroPadding2D before strided depthwise convs, a keepdims head. */
function mobilenet(input: T): T {
  let x = bnRelu6(conv(input, 'conv1', 8, 3, 2), 'conv1');
  const block = (c: number, id: number, stride: number) => {
    if (stride === 2) x = L.zeroPadding2d({ name: `conv_pad_${id}`, padding: [[0, 1], [0, 1]] }).apply(x) as T;
    x = L.depthwiseConv2d({ name: `conv_dw_${id}`, kernelSize: 3, strides: stride, padding: stride === 2 ? 'valid' : 'same', useBias: false, depthwiseInitializer: init() }).apply(x) as T;
    x = bnRelu6(x, `conv_dw_${id}`);
    x = bnRelu6(conv(x, `conv_pw_${id}`, c, 1), `conv_pw_${id}`);
  };
  block(16, 1, 1);
  block(32, 2, 2);
  block(32, 3, 1);
  block(64, 4, 2);
  x = L.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as T;
  // Keras writes GlobalAveragePooling2D(keepdims=True) here; the edit below folds this Reshape into it.
  x = L.reshape({ name: 'keepdims_reshape', targetShape: [1, 1, 64] }).apply(x) as T;
  x = L.dropout({ name: 'dropout', rate: 0.001 }).apply(x) as T;
  x = conv(x, 'conv_preds', CLASSES, 1, 1, 'same', undefined, true);
  x = L.reshape({ name: 'reshape_2', targetShape: [CLASSES] }).apply(x) as T;
  return L.activation({ name: 'predictions', activation: 'softmax' }).apply(x) as T;
}

/** keras.applications.MobileNetV2, alpha 0.35: inverted residuals with Add, ReLU(6.). */
function mobilenetV2(input: T): T {
  let x = bnRelu6(conv(input, 'Conv1', 8, 3, 2), 'Conv1');
  const block = (c: number, id: number, stride: number, expand: number) => {
    const inC = x.shape[3]!;
    let y = x;
    if (expand > 1) y = bnRelu6(conv(y, `block_${id}_expand`, inC * expand, 1), `block_${id}_expand`);
    if (stride === 2) y = L.zeroPadding2d({ name: `block_${id}_pad`, padding: [[0, 1], [0, 1]] }).apply(y) as T;
    y = L.depthwiseConv2d({ name: `block_${id}_depthwise`, kernelSize: 3, strides: stride, padding: stride === 2 ? 'valid' : 'same', useBias: false, depthwiseInitializer: init() }).apply(y) as T;
    y = bnRelu6(y, `block_${id}_depthwise`);
    y = conv(y, `block_${id}_project`, c, 1);
    y = L.batchNormalization({ name: `block_${id}_project_BN` }).apply(y) as T;
    x = stride === 1 && inC === c ? (L.add({ name: `block_${id}_add` }).apply([x, y]) as T) : y;
  };
  block(8, 0, 1, 1);
  block(8, 1, 2, 6);
  block(8, 2, 1, 6);
  block(16, 3, 2, 6);
  x = bnRelu6(conv(x, 'Conv_1', 128, 1), 'Conv_1');
  x = L.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as T;
  return L.dense({ name: 'predictions', units: CLASSES, activation: 'softmax', kernelInitializer: init() }).apply(x) as T;
}

/** keras.applications.ResNet50 (v1 bottlenecks) with one block per stage at a quarter width. */
function resnet50(input: T): T {
  let x = L.zeroPadding2d({ name: 'conv1_pad', padding: [[3, 3], [3, 3]] }).apply(input) as T;
  x = conv(x, 'conv1_conv', 16, 7, 2, 'valid', undefined, true);
  x = L.batchNormalization({ name: 'conv1_bn', epsilon: 1.001e-5 }).apply(x) as T;
  x = L.activation({ name: 'conv1_relu', activation: 'relu' }).apply(x) as T;
  x = L.zeroPadding2d({ name: 'pool1_pad', padding: [[1, 1], [1, 1]] }).apply(x) as T;
  x = L.maxPooling2d({ name: 'pool1_pool', poolSize: 3, strides: 2 }).apply(x) as T;
  const stage = (filters: number, stride: number, name: string) => {
    const shortcut = L.batchNormalization({ name: `${name}_0_bn`, epsilon: 1.001e-5 }).apply(conv(x, `${name}_0_conv`, 4 * filters, 1, stride, 'same', undefined, true)) as T;
    let y = x;
    [[filters, 1, stride], [filters, 3, 1], [4 * filters, 1, 1]].forEach(([f, k, s], i) => {
      y = conv(y, `${name}_${i + 1}_conv`, f, k, s, 'same', undefined, true);
      y = L.batchNormalization({ name: `${name}_${i + 1}_bn`, epsilon: 1.001e-5 }).apply(y) as T;
      if (i < 2) y = L.activation({ name: `${name}_${i + 1}_relu`, activation: 'relu' }).apply(y) as T;
    });
    x = L.activation({ name: `${name}_out`, activation: 'relu' }).apply(L.add({ name: `${name}_add` }).apply([shortcut, y]) as T) as T;
  };
  stage(16, 1, 'conv2_block1');
  stage(32, 2, 'conv3_block1');
  stage(64, 2, 'conv4_block1');
  x = L.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as T;
  return L.dense({ name: 'predictions', units: CLASSES, activation: 'softmax', kernelInitializer: init() }).apply(x) as T;
}

/** keras.applications.EfficientNetB0's layout: Rescaling, Normalization, swish MBConv blocks with squeeze-excitation. */
function efficientnet(input: T): T {
  let x = L.rescaling({ name: 'rescaling', scale: 1 / 255 }).apply(input) as T;
  // Keras' Normalization, adapted on ImageNet; built with its tfjs stand-in and renamed in the edit below.
  x = new CakeNormalization({ name: 'normalization', axis: -1, withCount: true }).apply(x) as T;
  x = L.zeroPadding2d({ name: 'stem_conv_pad', padding: [[0, 1], [0, 1]] }).apply(x) as T;
  x = conv(x, 'stem_conv', 8, 3, 2, 'valid');
  x = L.activation({ name: 'stem_activation', activation: 'swish' }).apply(L.batchNormalization({ name: 'stem_bn' }).apply(x) as T) as T;
  const block = (name: string, out: number, expand: number, stride: number) => {
    const inC = x.shape[3]!;
    let y = x;
    if (expand > 1) y = L.activation({ name: `${name}expand_activation`, activation: 'swish' }).apply(L.batchNormalization({ name: `${name}expand_bn` }).apply(conv(y, `${name}expand_conv`, inC * expand, 1)) as T) as T;
    y = L.depthwiseConv2d({ name: `${name}dwconv`, kernelSize: 3, strides: stride, padding: 'same', useBias: false, depthwiseInitializer: init() }).apply(y) as T;
    y = L.activation({ name: `${name}activation`, activation: 'swish' }).apply(L.batchNormalization({ name: `${name}bn` }).apply(y) as T) as T;
    const c = y.shape[3]!;
    let se = L.globalAveragePooling2d({ name: `${name}se_squeeze` }).apply(y) as T;
    se = L.reshape({ name: `${name}se_reshape`, targetShape: [1, 1, c] }).apply(se) as T;
    se = conv(se, `${name}se_reduce`, Math.max(1, Math.floor(inC / 4)), 1, 1, 'same', 'swish', true);
    se = conv(se, `${name}se_expand`, c, 1, 1, 'same', 'sigmoid', true);
    y = L.multiply({ name: `${name}se_excite` }).apply([y, se]) as T;
    y = L.batchNormalization({ name: `${name}project_bn` }).apply(conv(y, `${name}project_conv`, out, 1)) as T;
    if (stride === 1 && inC === out) x = L.add({ name: `${name}add` }).apply([L.dropout({ name: `${name}drop`, rate: 0.2 }).apply(y) as T, x]) as T;
    else x = y;
  };
  block('block1a_', 8, 1, 1);
  block('block2a_', 12, 6, 2);
  block('block2b_', 12, 6, 1);
  x = L.activation({ name: 'top_activation', activation: 'swish' }).apply(L.batchNormalization({ name: 'top_bn' }).apply(conv(x, 'top_conv', 64, 1)) as T) as T;
  x = L.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as T;
  x = L.dropout({ name: 'top_dropout', rate: 0.2 }).apply(x) as T;
  return L.dense({ name: 'predictions', units: CLASSES, activation: 'softmax', kernelInitializer: init() }).apply(x) as T;
}

/** keras.applications.DenseNet121's layout: dense blocks that Concatenate, transitions with AveragePooling2D. */
function densenet(input: T): T {
  let x = L.zeroPadding2d({ name: 'zero_padding2d', padding: [[3, 3], [3, 3]] }).apply(input) as T;
  x = conv(x, 'conv1/conv', 16, 7, 2, 'valid');
  x = L.activation({ name: 'conv1/relu', activation: 'relu' }).apply(L.batchNormalization({ name: 'conv1/bn', epsilon: 1.001e-5 }).apply(x) as T) as T;
  const denseBlock = (name: string, blocks: number) => {
    for (let i = 1; i <= blocks; i++) {
      let y = L.activation({ name: `${name}_block${i}_0_relu`, activation: 'relu' }).apply(L.batchNormalization({ name: `${name}_block${i}_0_bn`, epsilon: 1.001e-5 }).apply(x) as T) as T;
      y = conv(y, `${name}_block${i}_1_conv`, 16, 1);
      y = L.activation({ name: `${name}_block${i}_1_relu`, activation: 'relu' }).apply(L.batchNormalization({ name: `${name}_block${i}_1_bn`, epsilon: 1.001e-5 }).apply(y) as T) as T;
      y = conv(y, `${name}_block${i}_2_conv`, 4, 3);
      x = L.concatenate({ name: `${name}_block${i}_concat`, axis: 3 }).apply([x, y]) as T;
    }
  };
  denseBlock('conv2', 2);
  x = L.activation({ name: 'pool2_relu', activation: 'relu' }).apply(L.batchNormalization({ name: 'pool2_bn', epsilon: 1.001e-5 }).apply(x) as T) as T;
  x = L.averagePooling2d({ name: 'pool2_pool', poolSize: 2, strides: 2 }).apply(conv(x, 'pool2_conv', 12, 1)) as T;
  denseBlock('conv3', 2);
  x = L.activation({ name: 'relu', activation: 'relu' }).apply(L.batchNormalization({ name: 'bn', epsilon: 1.001e-5 }).apply(x) as T) as T;
  x = L.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as T;
  return L.dense({ name: 'predictions', units: CLASSES, activation: 'softmax', kernelInitializer: init() }).apply(x) as T;
}

/** keras.applications.Xception's layout: SeparableConv2D blocks with strided 1×1 shortcuts. */
function xception(input: T): T {
  let x = L.activation({ name: 'block1_conv1_act', activation: 'relu' }).apply(L.batchNormalization({ name: 'block1_conv1_bn' }).apply(conv(input, 'block1_conv1', 8, 3, 2, 'valid')) as T) as T;
  const block = (id: number, f: number) => {
    const residual = L.batchNormalization({ name: `batch_normalization_${id}` }).apply(conv(x, `conv2d_${id}`, f, 1, 2)) as T;
    let y = L.activation({ name: `block${id}_sepconv1_act`, activation: 'relu' }).apply(x) as T;
    y = L.batchNormalization({ name: `block${id}_sepconv1_bn` }).apply(L.separableConv2d({ name: `block${id}_sepconv1`, filters: f, kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init(), pointwiseInitializer: init() }).apply(y) as T) as T;
    y = L.activation({ name: `block${id}_sepconv2_act`, activation: 'relu' }).apply(y) as T;
    y = L.batchNormalization({ name: `block${id}_sepconv2_bn` }).apply(L.separableConv2d({ name: `block${id}_sepconv2`, filters: f, kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init(), pointwiseInitializer: init() }).apply(y) as T) as T;
    y = L.maxPooling2d({ name: `block${id}_pool`, poolSize: 3, strides: 2, padding: 'same' }).apply(y) as T;
    x = L.add({ name: `add_${id}` }).apply([y, residual]) as T;
  };
  block(2, 16);
  block(3, 32);
  x = L.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as T;
  return L.dense({ name: 'predictions', units: CLASSES, activation: 'softmax', kernelInitializer: init() }).apply(x) as T;
}

/** keras.applications.VGG16's layout: conv blocks, Flatten and two Dense layers. */
function vgg(input: T): T {
  let x = input;
  [[8, 2], [16, 2], [32, 3]].forEach(([f, n], b) => {
    for (let i = 1; i <= n; i++) x = conv(x, `block${b + 1}_conv${i}`, f, 3, 1, 'same', 'relu', true);
    x = L.maxPooling2d({ name: `block${b + 1}_pool`, poolSize: 2, strides: 2 }).apply(x) as T;
  });
  x = L.flatten({ name: 'flatten' }).apply(x) as T;
  x = L.dense({ name: 'fc1', units: 64, activation: 'relu', kernelInitializer: init() }).apply(x) as T;
  return L.dense({ name: 'predictions', units: CLASSES, activation: 'softmax', kernelInitializer: init() }).apply(x) as T;
}

/** Keras 3's MobileNetV3Small layout: Rescaling, hard_swish activations, squeeze-excitation with hard_sigmoid. */
function mobilenetV3(input: T): T {
  let x = L.rescaling({ name: 'rescaling', scale: 1 / 127.5, offset: -1 }).apply(input) as T;
  x = L.batchNormalization({ name: 'conv_bn' }).apply(conv(x, 'conv', 8, 3, 2)) as T;
  x = new CakeActivation({ name: 'activation', activation: 'hard_swish', kerasMajor: 3 }).apply(x) as T;
  let y = L.depthwiseConv2d({ name: 'expanded_conv_depthwise', kernelSize: 3, strides: 2, padding: 'same', useBias: false, depthwiseInitializer: init() }).apply(x) as T;
  y = L.reLU({ name: 're_lu' }).apply(L.batchNormalization({ name: 'expanded_conv_depthwise_bn' }).apply(y) as T) as T;
  let se = L.globalAveragePooling2d({ name: 'expanded_conv_squeeze_excite_avg_pool' }).apply(y) as T;
  se = L.reshape({ name: 'se_keepdims', targetShape: [1, 1, 8] }).apply(se) as T;
  se = conv(se, 'expanded_conv_squeeze_excite_conv', 8, 1, 1, 'same', 'relu', true);
  se = conv(se, 'expanded_conv_squeeze_excite_conv_1', 8, 1, 1, 'same', undefined, true);
  se = new CakeActivation({ name: 'expanded_conv_squeeze_excite_hard_sigmoid', activation: 'hard_sigmoid', kerasMajor: 3 }).apply(se) as T;
  y = L.multiply({ name: 'expanded_conv_squeeze_excite_mul' }).apply([y, se]) as T;
  x = L.batchNormalization({ name: 'expanded_conv_project_bn' }).apply(conv(y, 'expanded_conv_project', 16, 1)) as T;
  x = new CakeActivation({ name: 'activation_1', activation: 'hard_swish', kerasMajor: 3 }).apply(L.batchNormalization({ name: 'conv_1_bn' }).apply(conv(x, 'conv_1', 64, 1)) as T) as T;
  x = L.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as T;
  x = L.reshape({ name: 'keepdims_reshape', targetShape: [1, 1, 64] }).apply(x) as T;
  x = new CakeActivation({ name: 'activation_2', activation: 'hard_swish', kerasMajor: 3 }).apply(conv(x, 'conv_2', 96, 1, 1, 'same', undefined, true)) as T;
  x = conv(x, 'logits', CLASSES, 1, 1, 'same', undefined, true);
  x = L.flatten({ name: 'flatten' }).apply(x) as T;
  return L.activation({ name: 'predictions', activation: 'softmax' }).apply(x) as T;
}

const FAMILIES: Record<string, (input: T) => T> = { mobilenet, mobilenet_v2: mobilenetV2, resnet50: resnet50, efficientnet_b0: efficientnet, densenet121: densenet, xception, vgg16: vgg, mobilenet_v3_small: mobilenetV3 };
/** Families Keras 3 writes differently (hard_swish as an activation): no Keras 2 or tfjs version. */
const KERAS3_ONLY = new Set(['mobilenet_v3_small']);

// --- the config edits: what Keras writes where tfjs' own toJSON differs -----------------------------------------------

const configOf = (l: Json) => l.config as Json;

/** Keras 2.8's config for a model built here: keepdims pooling, Normalization, Keras' ReLU and Conv2D fields. */
function kerasConfig(model: tf.LayersModel): Json {
  const json = JSON.parse(model.toJSON(null, true) as string) as Json;
  const top = (json.model_config ?? json) as Json;
  const cfg = top.config as Json;
  let layers = cfg.layers as Json[];
  // A GlobalAveragePooling2D followed by a keepdims Reshape becomes GlobalAveragePooling2D(keepdims=True).
  for (const r of layers.filter((l) => String(configOf(l).name).endsWith('keepdims_reshape') || configOf(l).name === 'se_keepdims')) {
    const source = ((r.inbound_nodes as unknown[][][])[0][0] as unknown[])[0] as string;
    configOf(layers.find((l) => configOf(l).name === source)!).keepdims = true;
    const name = configOf(r).name;
    for (const l of layers) l.inbound_nodes = JSON.parse(JSON.stringify(l.inbound_nodes ?? []).replaceAll(`"${name}"`, `"${source}"`));
    cfg.output_layers = JSON.parse(JSON.stringify(cfg.output_layers).replaceAll(`"${name}"`, `"${source}"`));
    layers = layers.filter((l) => l !== r);
  }
  for (const l of layers) {
    const c = configOf(l);
    if (l.class_name === 'CakeNormalization') Object.assign(l, { class_name: 'Normalization', config: { name: c.name, trainable: true, dtype: 'float32', axis: [-1], mean: null, variance: null } });
    if (l.class_name === 'CakeActivation') Object.assign(l, { class_name: 'Activation', config: { name: c.name, trainable: true, dtype: 'float32', activation: c.activation } });
    if (l.class_name === 'ReLU') Object.assign(c, { max_value: c.max_value ?? null, negative_slope: 0, threshold: 0 });
    if (l.class_name === 'Conv2D' || l.class_name === 'DepthwiseConv2D' || l.class_name === 'SeparableConv2D') c.groups = 1;
    if (String(l.class_name).startsWith('Global')) c.keepdims ??= false;
  }
  cfg.layers = layers;
  return top;
}

/** The weights of every layer that has any, in Keras' order, with Normalization's count as Keras 2 saves it. */
function layerWeights(model: tf.LayersModel): { layer: string; cls: string; names: string[]; values: (tf.Tensor | bigint)[] }[] {
  return model.layers
    .filter((l) => l.weights.length > 0)
    .map((l) => {
      const names = l.weights.map((w) => w.originalName.split('/').pop()!);
      const values: (tf.Tensor | bigint)[] = l.getWeights();
      const count = names.indexOf('count');
      if (count >= 0) values[count] = 1000n;
      return { layer: l.name, cls: l.getClassName(), names, values };
    });
}

/** Keras 3's config.json for a Keras 2 style functional config (module and registered_name, DTypePolicy, keras tensors). */
function keras3Config(k2: Json, model: tf.LayersModel): Json {
  const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
  const cfg = k2.config as Json;
  const shapeOf = (name: string) => model.getLayer(name).outputShape as (number | null)[];
  const tensor = (ref: unknown[]) => ({ class_name: '__keras_tensor__', config: { shape: shapeOf(ref[0] as string), dtype: 'float32', keras_history: [ref[0], ref[1], ref[2]] } });
  const layers = (cfg.layers as Json[]).map((l) => {
    const c = { ...configOf(l) };
    if (l.class_name === 'InputLayer')
      return { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: c.batch_input_shape, dtype: 'float32', sparse: false, name: c.name }, registered_name: null, name: c.name, inbound_nodes: [] };
    const refs = ((l.inbound_nodes as unknown[][][])[0] ?? []) as unknown[][];
    return {
      module: 'keras.layers',
      class_name: l.class_name,
      config: { ...c, dtype: policy, ...(l.class_name === 'Normalization' ? { invert: false } : {}) },
      registered_name: null,
      build_config: { input_shape: refs.length === 1 ? shapeOf(refs[0][0] as string) : refs.map((r) => shapeOf(r[0] as string)) },
      name: c.name,
      inbound_nodes: [{ args: refs.length === 1 ? [tensor(refs[0])] : [refs.map(tensor)], kwargs: {} }],
    };
  });
  return { module: 'keras.src.models.functional', class_name: 'Functional', config: { name: cfg.name, trainable: true, layers, input_layers: cfg.input_layers, output_layers: cfg.output_layers }, registered_name: 'Functional', build_config: { input_shape: null } };
}

// --- writing -------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  await initNodeBackend();
  await mkdir(path.join(OUT, 'keras'), { recursive: true });
  const entries: CorpusEntry[] = [];
  const entry = (file: string, model: string, toolchain: string, version: string): CorpusEntry => ({
    file,
    model,
    toolchain,
    version,
    inputShape: [SIZE, SIZE, 3],
    layout: 'NHWC',
    classes: CLASSES,
    outputKind: 'probabilities',
  });
  for (const [family, build] of Object.entries(FAMILIES)) {
    const input = tf.input({ shape: [SIZE, SIZE, 3], name: 'input_1' });
    const model = tf.model({ inputs: input, outputs: build(input), name: family });
    // Normalization's adapted statistics (ImageNet's, as keras.applications sets them).
    for (const l of model.layers.filter((x) => x.getClassName() === 'CakeNormalization'))
      l.setWeights([tf.tensor([0.485, 0.456, 0.406]), tf.tensor([0.229 ** 2, 0.224 ** 2, 0.225 ** 2]), tf.scalar(1000)]);
    const k2 = kerasConfig(model);
    const weights = layerWeights(model);
    if (!KERAS3_ONLY.has(family)) {
      const h5 = await kerasH5File(`${family}.h5`, {
        modelConfig: k2,
        kerasVersion: '2.8.0',
        layerNames: model.layers.map((l) => l.name),
        weights: weights.map((w) => ({ layer: w.layer, names: w.names.map((n) => `${w.layer}/${n}:0`), values: w.values })),
      });
      await writeFile(path.join(OUT, 'keras', h5.name), new Uint8Array(h5.data));
      entries.push(entry(`keras/${h5.name}`, family, 'Keras 2.8 model.save(".h5")', 'HDF5, Keras 2.8'));
      // tensorflowjs_converter --input_format keras: the Keras config as it is, weights named layer/weight.
      const files = await modelFiles(model, { dir: `${family}-tfjs/`, editTopology: (t) => Object.assign(t, { keras_version: '2.8.0', backend: 'tensorflow', model_config: k2 }) });
      await mkdir(path.join(OUT, 'keras', `${family}-tfjs`), { recursive: true });
      for (const f of files) await writeFile(path.join(OUT, 'keras', f.name), new Uint8Array(f.data));
      entries.push(entry(`keras/${family}-tfjs/model.json`, family, 'tensorflowjs_converter (Keras 2.8 model)', 'tfjs Layers model.json'));
    }
    // Keras 3: variables under layers/<snake_case class name>[_k]/vars, counted per class in model order.
    const used = new Map<string, number>();
    const k3Weights = await kerasV3Weights(
      weights.map((w) => {
        const base = toSnakeCase(w.cls === 'CakeNormalization' ? 'Normalization' : w.cls);
        const n = used.get(base);
        used.set(base, (n ?? -1) + 1);
        // Keras 3's Normalization keeps mean and variance, not count.
        const values = w.cls === 'CakeNormalization' ? w.values.slice(0, 2) : w.values;
        return { path: `layers/${n === undefined ? base : `${base}_${n + 1}`}`, values: values as tf.Tensor[] };
      }),
    );
    const archive = kerasArchive(`${family}.keras`, keras3Config(k2, model), k3Weights);
    await writeFile(path.join(OUT, 'keras', archive.name), new Uint8Array(archive.data));
    entries.push(entry(`keras/${archive.name}`, family, 'Keras 3 model.save(".keras")', '.keras, Keras 3.4'));
    model.dispose();
    process.stdout.write(`${family}: written\n`);
  }
  // TensorFlow.js graph models (tensorflowjs_converter of a TF 1.x LeNet SavedModel): current and pre-1.0 layouts,
  // and one with a strided crop on the data path and its batch fixed at export.
  const graphs: [string, string, Parameters<typeof graphModelFixture>[0]][] = [
    ['lenet-graph', 'tfjs GraphModel (format graph-model)', {}],
    ['lenet-graph-legacy', 'tfjs GraphModel, pre-1.0 converter (no format, shard without .bin)', { legacy: true }],
    ['lenet-graph-crop-batch1', 'tfjs GraphModel with StridedSlice on the data path, batch fixed to 1', { crop: true, fixedBatch: 1 }],
  ];
  for (const [name, version, opts] of graphs) {
    const fx = graphModelFixture({ ...opts, classes: CLASSES, dir: `${name}/` });
    await mkdir(path.join(OUT, 'tfjs', name), { recursive: true });
    for (const f of fx.files) await writeFile(path.join(OUT, 'tfjs', f.name), new Uint8Array(f.data));
    entries.push({ ...entry(`tfjs/${name}/model.json`, 'lenet (TF 1.x)', 'tensorflowjs_converter (TF SavedModel)', version), inputShape: fx.inputShape });
    fx.dispose();
  }
  const manifestPath = path.join(OUT, 'manifest.json');
  const before = JSON.parse(await readFile(manifestPath, 'utf8').catch(() => '[]')) as CorpusEntry[];
  const kept = before.filter((e) => !e.file.startsWith('keras/') && !e.file.startsWith('tfjs/'));
  await writeFile(manifestPath, JSON.stringify([...kept, ...entries], null, 1));
}

await main();
