import * as tf from '@tensorflow/tfjs';
import { strToU8, zipSync } from 'fflate';
import type { NamedFile } from './files';
import { hdf5 } from './keras-h5';

// Test-only: Keras files written with h5wasm in the layouts Keras writes them, from configs written the way Keras
// 2 and Keras 3 serialise models, with weights taken from a tfjs model of the same architecture (the reference).

type H5 = Awaited<ReturnType<typeof hdf5>>;
type Group = InstanceType<H5['Group']>;

let counter = 0;

/** Write an HDF5 file in memory with `fill` (a new one, or `from`'s bytes edited), and return its bytes. */
export async function writeH5(fill: (file: InstanceType<H5['File']>) => void, from?: ArrayBuffer): Promise<ArrayBuffer> {
  const h5 = await hdf5();
  const path = `/cake-fixture-${++counter}.h5`;
  if (from) h5.FS.writeFile(path, new Uint8Array(from));
  const file = new h5.File(path, from ? 'a' : 'w');
  try {
    fill(file);
  } finally {
    file.close();
  }
  const bytes = h5.FS.readFile(path) as Uint8Array;
  h5.FS.unlink(path);
  return bytes.slice().buffer as ArrayBuffer;
}

/** A group at a slash-separated path under `root`, created as needed. */
function groupAt(root: Group, path: string): Group {
  let g = root;
  for (const part of path.split('/').filter(Boolean)) {
    const existing = g.get(part);
    g = (existing as Group | null) ?? g.create_group(part);
  }
  return g;
}

/** A float32 dataset at a slash-separated path (Keras' weight names hold slashes: "dense_1/kernel:0"). */
export function writeDataset(root: Group, path: string, values: Float32Array, shape: number[]): void {
  const parts = path.split('/');
  const name = parts.pop()!;
  groupAt(root, parts.join('/')).create_dataset({ name, data: values, shape, dtype: '<f' });
}

/** A list-of-strings attribute; an empty list as h5py writes it (an empty float array). */
export function writeStringList(g: Group, name: string, values: string[]): void {
  if (values.length === 0) g.create_attribute(name, new Float64Array(0), [0], '<d');
  else g.create_attribute(name, values);
}

export interface LegacyLayerWeights {
  /** The group name: the layer's name. */
  layer: string;
  /** Keras' weight names, in layer.weights order, e.g. "conv2d_1/kernel:0" (Keras 2) or "conv2d/kernel" (Keras 3). */
  names: string[];
  /** Tensors, or an int64 scalar (Normalization's count) as Keras writes it. */
  values: (tf.Tensor | bigint)[];
}

/** A model.save("….h5") file: attributes model_config, keras_version, backend; groups model_weights/<layer>/<weight>. */
export async function kerasH5File(
  name: string,
  opts: { modelConfig: unknown; kerasVersion: string; layerNames: string[]; weights: LegacyLayerWeights[]; trainingConfig?: unknown },
): Promise<NamedFile> {
  const data = await writeH5((f) => {
    f.create_attribute('model_config', JSON.stringify(opts.modelConfig));
    f.create_attribute('keras_version', opts.kerasVersion);
    f.create_attribute('backend', 'tensorflow');
    if (opts.trainingConfig) f.create_attribute('training_config', JSON.stringify(opts.trainingConfig));
    const mw = f.create_group('model_weights');
    writeStringList(mw, 'layer_names', opts.layerNames);
    mw.create_attribute('backend', 'tensorflow');
    mw.create_attribute('keras_version', opts.kerasVersion);
    for (const layer of opts.layerNames) {
      // DenseNet's layer names hold slashes ("conv1/conv"): h5py makes the groups along the way.
      const g = groupAt(mw, layer);
      const w = opts.weights.find((x) => x.layer === layer);
      writeStringList(g, 'weight_names', w?.names ?? []);
      w?.names.forEach((n, i) => {
        const v = w.values[i];
        if (typeof v === 'bigint') {
          const parts = n.split('/');
          const leaf = parts.pop()!;
          groupAt(g, parts.join('/')).create_dataset({ name: leaf, data: BigInt64Array.of(v), shape: [], dtype: '<q' });
        } else writeDataset(g, n, v.dataSync() as Float32Array, v.shape);
      });
    }
  });
  return { name, data };
}

/** A Keras 3 model.weights.h5: `layers/<path>/vars/<i>` per layer that has weights. */
export async function kerasV3Weights(layers: { path: string; values: tf.Tensor[] }[]): Promise<ArrayBuffer> {
  return writeH5((f) => {
    groupAt(f, 'vars');
    for (const l of layers) {
      const vars = groupAt(f, `${l.path}/vars`);
      l.values.forEach((t, i) => vars.create_dataset({ name: String(i), data: t.dataSync() as Float32Array, shape: t.shape, dtype: '<f' }));
    }
    groupAt(f, 'optimizer/vars');
  });
}

/** A .keras archive: metadata.json, config.json, model.weights.h5. */
export function kerasArchive(name: string, config: unknown, weights: ArrayBuffer, members: { skipWeights?: boolean } = {}): NamedFile {
  const entries: Record<string, Uint8Array> = {
    'metadata.json': strToU8(JSON.stringify({ keras_version: '3.4.1', date_saved: '2024-07-01@12:00:00' })),
    'config.json': strToU8(JSON.stringify(config)),
  };
  if (!members.skipWeights) entries['model.weights.h5'] = new Uint8Array(weights);
  return { name, data: zipSync(entries).slice().buffer as ArrayBuffer };
}

// ---------------------------------------------------------------------------------------------------------------
// Keras 2: a LeNet saved by Keras 2.1.6, config and layout as in TensorSpace's mnist.h5.

const vs = { class_name: 'VarianceScaling', config: { scale: 1.0, mode: 'fan_avg', distribution: 'uniform', seed: null } };
const zeros = { class_name: 'Zeros', config: {} };
/** A Keras 2 Conv2D layer as Keras writes it (5×5, valid, linear unless `extra` says otherwise). */
export const conv2 = (name: string, filters: number, extra: Record<string, unknown> = {}) => ({
  class_name: 'Conv2D',
  config: {
    name,
    trainable: true,
    filters,
    kernel_size: [5, 5],
    strides: [1, 1],
    padding: 'valid',
    data_format: 'channels_last',
    dilation_rate: [1, 1],
    activation: 'linear',
    use_bias: true,
    kernel_initializer: vs,
    bias_initializer: zeros,
    kernel_regularizer: null,
    bias_regularizer: null,
    activity_regularizer: null,
    kernel_constraint: null,
    bias_constraint: null,
    ...extra,
  },
});
const dense2 = (name: string, units: number, activation: string) => ({
  class_name: 'Dense',
  config: { name, trainable: true, units, activation, use_bias: true, kernel_initializer: vs, bias_initializer: zeros, kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null },
});
const pool2 = (name: string) => ({ class_name: 'MaxPooling2D', config: { name, trainable: true, pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' } });

export interface KerasFixture {
  file: NamedFile;
  /** A tfjs model with the same weights, for reference outputs. */
  reference: tf.LayersModel;
  params: number;
}

/** The Keras 2.1.6 LeNet (rank-3 input, Reshape, two valid 5×5 convs with linear activation, softmax head). */
export async function keras2Lenet(name = 'mnist.h5', size = 28, classes = 10): Promise<KerasFixture> {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const bias = (seed: number) => tf.initializers.randomNormal({ mean: 0, stddev: 0.1, seed });
  const reference = tf.sequential({
    layers: [
      tf.layers.reshape({ inputShape: [size, size], targetShape: [size, size, 1], name: 'reshape_1' }),
      tf.layers.conv2d({ name: 'Conv2D_1', filters: 6, kernelSize: 5, kernelInitializer: init(1), biasInitializer: bias(2) }),
      tf.layers.maxPooling2d({ name: 'MaxPooling2D_1', poolSize: 2 }),
      tf.layers.conv2d({ name: 'Conv2D_2', filters: 16, kernelSize: 5, kernelInitializer: init(3), biasInitializer: bias(4) }),
      tf.layers.maxPooling2d({ name: 'MaxPooling2D_2', poolSize: 2 }),
      tf.layers.flatten({ name: 'flatten_1' }),
      tf.layers.dense({ name: 'Dense_1', units: 32, activation: 'relu', kernelInitializer: init(5), biasInitializer: bias(6) }),
      tf.layers.dense({ name: 'Softmax', units: classes, activation: 'softmax', kernelInitializer: init(7), biasInitializer: bias(8) }),
    ],
  });
  const modelConfig = {
    class_name: 'Sequential',
    config: [
      { class_name: 'InputLayer', config: { batch_input_shape: [null, size, size], dtype: 'float32', sparse: false, name: 'input_1' } },
      { class_name: 'Reshape', config: { name: 'reshape_1', trainable: true, batch_input_shape: [null, size, size], dtype: 'float32', target_shape: [size, size, 1] } },
      conv2('Conv2D_1', 6, { batch_input_shape: [null, size, size, 1], dtype: 'float32' }),
      pool2('MaxPooling2D_1'),
      conv2('Conv2D_2', 16),
      pool2('MaxPooling2D_2'),
      { class_name: 'Flatten', config: { name: 'flatten_1', trainable: true, data_format: 'channels_last' } },
      dense2('Dense_1', 32, 'relu'),
      dense2('Softmax', classes, 'softmax'),
    ],
  };
  const weighted = reference.layers.filter((l) => l.weights.length > 0);
  const file = await kerasH5File(name, {
    modelConfig,
    kerasVersion: '2.1.6',
    layerNames: ['input_1', ...reference.layers.map((l) => l.name)],
    weights: weighted.map((l) => ({ layer: l.name, names: [`${l.name}/kernel:0`, `${l.name}/bias:0`], values: l.getWeights() })),
    trainingConfig: { optimizer_config: { class_name: 'Adam', config: { lr: 0.001 } }, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] },
  });
  return { file, reference, params: reference.countParams() };
}

/** Keras 2 with a nested Sequential base (as Teachable Machine and transfer-learning scripts save them). */
export async function keras2Nested(name = 'nested.h5'): Promise<KerasFixture> {
  const base = tf.sequential({
    name: 'base',
    layers: [
      tf.layers.conv2d({ name: 'conv2d_1', inputShape: [8, 8, 3], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), biasInitializer: 'ones' }),
      tf.layers.batchNormalization({ name: 'bn_1', betaInitializer: tf.initializers.randomNormal({ seed: 9 }), movingMeanInitializer: tf.initializers.randomNormal({ seed: 10 }), movingVarianceInitializer: 'ones' }),
      tf.layers.flatten({ name: 'flatten_1' }),
    ],
  });
  const reference = tf.sequential({ layers: [base, tf.layers.dense({ name: 'head', units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })] });
  const bnConfig = { name: 'bn_1', trainable: true, axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true, beta_initializer: zeros, gamma_initializer: { class_name: 'Ones', config: {} }, moving_mean_initializer: zeros, moving_variance_initializer: { class_name: 'Ones', config: {} }, beta_regularizer: null, gamma_regularizer: null, beta_constraint: null, gamma_constraint: null };
  const modelConfig = {
    class_name: 'Sequential',
    config: {
      name: 'sequential_1',
      layers: [
        {
          class_name: 'Sequential',
          config: {
            name: 'base',
            layers: [
              { class_name: 'Conv2D', config: { ...conv2('conv2d_1', 4).config, kernel_size: [3, 3], activation: 'relu', batch_input_shape: [null, 8, 8, 3], dtype: 'float32' } },
              { class_name: 'BatchNormalization', config: bnConfig },
              { class_name: 'Flatten', config: { name: 'flatten_1', trainable: true, data_format: 'channels_last' } },
            ],
          },
        },
        dense2('head', 3, 'softmax'),
      ],
    },
  };
  const [conv, bn] = [base.layers[0], base.layers[1]];
  const file = await kerasH5File(name, {
    modelConfig,
    kerasVersion: '2.4.0',
    layerNames: ['base', 'head'],
    weights: [
      {
        layer: 'base',
        // Keras' nested model weights: all trainable weights, then all non-trainable ones.
        names: ['conv2d_1/kernel:0', 'conv2d_1/bias:0', 'bn_1/gamma:0', 'bn_1/beta:0', 'bn_1/moving_mean:0', 'bn_1/moving_variance:0'],
        values: [...conv.getWeights(), ...bn.getWeights()],
      },
      { layer: 'head', names: ['head/kernel:0', 'head/bias:0'], values: reference.layers[1].getWeights() },
    ],
  });
  return { file, reference, params: reference.countParams() };
}

// ---------------------------------------------------------------------------------------------------------------
// Keras 3: configs as keras.saving.serialize_keras_object writes them.

const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const k3init = (cls: string, config: Record<string, unknown> = {}) => ({ module: 'keras.initializers', class_name: cls, config, registered_name: null });
const tensorRef = (layer: string, shape: (number | null)[]) => ({ class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [layer, 0, 0] } });
const k3layer = (cls: string, config: Record<string, unknown>, inbound?: { layer: string; shape: (number | null)[]; kwargs?: Record<string, unknown> }) => ({
  module: 'keras.layers',
  class_name: cls,
  config: { trainable: true, dtype: policy, ...config },
  registered_name: null,
  ...(inbound
    ? {
        build_config: { input_shape: inbound.shape },
        name: config.name,
        inbound_nodes: [{ args: [tensorRef(inbound.layer, inbound.shape)], kwargs: inbound.kwargs ?? {} }],
      }
    : {}),
});

/** A Keras 3 functional conv net: Conv2D(relu) → BatchNormalization → MaxPooling2D → Flatten → Dropout → Dense(softmax), NHWC 10×10×3. */
export async function keras3Functional(name = 'model.keras'): Promise<KerasFixture & { config: unknown; weightsH5: ArrayBuffer }> {
  const input = tf.input({ shape: [10, 10, 3], name: 'input_layer' });
  const c = tf.layers.conv2d({ name: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), biasInitializer: tf.initializers.randomNormal({ seed: 2 }) }).apply(input) as tf.SymbolicTensor;
  const bnLayer = tf.layers.batchNormalization({
    name: 'batch_normalization',
    gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 3 }),
    betaInitializer: tf.initializers.randomNormal({ seed: 4 }),
    movingMeanInitializer: tf.initializers.randomNormal({ seed: 5 }),
    movingVarianceInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 2, seed: 6 }),
  });
  const b = bnLayer.apply(c) as tf.SymbolicTensor;
  const p = tf.layers.maxPooling2d({ name: 'max_pooling2d', poolSize: 2 }).apply(b) as tf.SymbolicTensor;
  const f = tf.layers.flatten({ name: 'flatten' }).apply(p) as tf.SymbolicTensor;
  const d = tf.layers.dropout({ name: 'dropout', rate: 0.3 }).apply(f) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'dense', units: 4, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }) }).apply(d) as tf.SymbolicTensor;
  const reference = tf.model({ inputs: input, outputs: out });

  const convCfg = { name: 'conv2d', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'relu', use_bias: true, kernel_initializer: k3init('GlorotUniform', { seed: null }), bias_initializer: k3init('Zeros'), kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null };
  const bnCfg = { name: 'batch_normalization', axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true, beta_initializer: k3init('Zeros'), gamma_initializer: k3init('Ones'), moving_mean_initializer: k3init('Zeros'), moving_variance_initializer: k3init('Ones'), beta_regularizer: null, gamma_regularizer: null, beta_constraint: null, gamma_constraint: null, synchronized: false };
  const config = {
    module: 'keras.src.models.functional',
    class_name: 'Functional',
    config: {
      name: 'functional',
      trainable: true,
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 10, 10, 3], dtype: 'float32', sparse: false, name: 'input_layer' }, registered_name: null, name: 'input_layer', inbound_nodes: [] },
        k3layer('Conv2D', convCfg, { layer: 'input_layer', shape: [null, 10, 10, 3] }),
        k3layer('BatchNormalization', bnCfg, { layer: 'conv2d', shape: [null, 8, 8, 4], kwargs: { training: false } }),
        k3layer('MaxPooling2D', { name: 'max_pooling2d', pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' }, { layer: 'batch_normalization', shape: [null, 8, 8, 4] }),
        k3layer('Flatten', { name: 'flatten', data_format: 'channels_last' }, { layer: 'max_pooling2d', shape: [null, 4, 4, 4] }),
        k3layer('Dropout', { name: 'dropout', rate: 0.3, seed: null, noise_shape: null }, { layer: 'flatten', shape: [null, 64] }),
        k3layer(
          'Dense',
          { name: 'dense', units: 4, activation: 'softmax', use_bias: true, kernel_initializer: k3init('GlorotUniform', { seed: null }), bias_initializer: k3init('Zeros'), kernel_regularizer: null, bias_regularizer: null, kernel_constraint: null, bias_constraint: null, lora_rank: null },
          { layer: 'dropout', shape: [null, 64] },
        ),
      ],
      input_layers: [['input_layer', 0, 0]],
      output_layers: [['dense', 0, 0]],
    },
    registered_name: 'Functional',
    build_config: { input_shape: null },
    compile_config: { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] },
  };
  const layer = (n: string) => reference.getLayer(n);
  const weightsH5 = await kerasV3Weights([
    { path: 'layers/conv2d', values: layer('conv2d').getWeights() },
    { path: 'layers/batch_normalization', values: layer('batch_normalization').getWeights() },
    { path: 'layers/dense', values: layer('dense').getWeights() },
  ]);
  return { file: kerasArchive(name, config, weightsH5), reference, params: reference.countParams(), config, weightsH5 };
}

/**
 * A Keras 3 Sequential MLP saved in the legacy .h5 format (model.save("m.h5") in Keras 3): InputLayer with
 * batch_shape, DTypePolicy dtypes, two Dense layers of the same class (weights under "dense" and "dense_1"), and
 * weight names as variable paths ("dense/kernel").
 */
export async function keras3SequentialH5(name = 'mlp.h5'): Promise<KerasFixture> {
  const reference = tf.sequential({
    layers: [
      tf.layers.flatten({ name: 'flatten', inputShape: [6, 6] }),
      tf.layers.dense({ name: 'dense', units: 12, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), biasInitializer: tf.initializers.randomNormal({ seed: 2 }) }),
      tf.layers.dense({ name: 'dense_1', units: 5, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
    ],
  });
  const dense3 = (n: string, units: number, activation: string) => ({
    module: 'keras.layers',
    class_name: 'Dense',
    config: { name: n, trainable: true, dtype: policy, units, activation, use_bias: true, kernel_initializer: k3init('GlorotUniform', { seed: null }), bias_initializer: k3init('Zeros'), kernel_regularizer: null, bias_regularizer: null, kernel_constraint: null, bias_constraint: null },
    registered_name: null,
    build_config: { input_shape: [null, 36] },
  });
  const modelConfig = {
    class_name: 'Sequential',
    config: {
      name: 'sequential',
      trainable: true,
      dtype: policy,
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 6, 6], dtype: 'float32', sparse: false, name: 'input_layer' }, registered_name: null },
        { module: 'keras.layers', class_name: 'Flatten', config: { name: 'flatten', trainable: true, dtype: policy, data_format: 'channels_last' }, registered_name: null, build_config: { input_shape: [null, 6, 6] } },
        dense3('dense', 12, 'relu'),
        dense3('dense_1', 5, 'softmax'),
      ],
      build_input_shape: [null, 6, 6],
    },
  };
  const file = await kerasH5File(name, {
    modelConfig,
    kerasVersion: '3.4.1',
    layerNames: ['flatten', 'dense', 'dense_1'],
    weights: ['dense', 'dense_1'].map((n) => ({ layer: n, names: [`sequential/${n}/kernel`, `sequential/${n}/bias`], values: reference.getLayer(n).getWeights() })),
  });
  return { file, reference, params: reference.countParams() };
}
