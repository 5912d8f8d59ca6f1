import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { conv2, kerasArchive, kerasH5File, kerasV3Weights } from './keras-fixtures';
import { inspectTeacher } from './teacher-info';
import { loadTeacher } from './teacher-load';
import { maxAbsDiff, modelFiles } from './test-fixtures';

// Keras options tfjs-layers does not take, in files laid out as Keras 2.8 and Keras 3 write them, against
// references computed with plain tfjs ops from the same weights.

beforeAll(async () => {
  await initNodeBackend();
});

type Json = Record<string, unknown>;
const rnd = (shape: number[], seed: number, std = 0.5) => tf.randomNormal(shape, 0, std, 'float32', seed);
const glorot = { class_name: 'GlorotUniform', config: { seed: null } };
const zeros = { class_name: 'Zeros', config: {} };

/** A Keras 2.8 functional layer: config plus inbound nodes from one layer. */
const k2 = (cls: string, config: Json, from?: string): Json => ({
  class_name: cls,
  config: { trainable: true, dtype: 'float32', ...config },
  name: config.name,
  inbound_nodes: from ? [[[from, 0, 0, {}]]] : [],
});

const convCfg = (name: string, filters: number, kernel: number, extra: Json = {}) =>
  conv2(name, filters, { kernel_size: [kernel, kernel], padding: 'same', groups: 1, ...extra }).config as Json;

describe('Keras options rewritten for tfjs', () => {
  it('keras.applications-style head: grouped Conv2D, ReLU(max_value, negative_slope, threshold), DepthwiseConv2D, ZeroPadding2D, GlobalAveragePooling2D(keepdims) → 1×1 conv → Reshape → softmax', async () => {
    const w = {
      g: rnd([3, 3, 2, 6], 1),
      gb: rnd([6], 2, 0.1),
      dw: rnd([3, 3, 6, 2], 3),
      head: rnd([1, 1, 12, 5], 4),
      headB: rnd([5], 5, 0.1),
    };
    const layers = [
      { class_name: 'InputLayer', config: { batch_input_shape: [null, 7, 7, 4], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' }, name: 'input_1', inbound_nodes: [] },
      k2('Conv2D', convCfg('grouped', 6, 3, { groups: 2 }), 'input_1'),
      k2('ReLU', { name: 'relu', max_value: 6, negative_slope: 0.1, threshold: 0.5 }, 'grouped'),
      k2('DepthwiseConv2D', { ...convCfg('dw', 0, 3, { strides: [2, 2], use_bias: false, depth_multiplier: 2 }), filters: undefined }, 'relu'),
      k2('ZeroPadding2D', { name: 'pad', padding: [[0, 1], [0, 1]], data_format: 'channels_last' }, 'dw'),
      k2('GlobalAveragePooling2D', { name: 'gap', data_format: 'channels_last', keepdims: true }, 'pad'),
      k2('Dropout', { name: 'dropout', rate: 0.001, noise_shape: null, seed: null }, 'gap'),
      k2('Conv2D', convCfg('preds', 5, 1), 'dropout'),
      k2('Reshape', { name: 'reshape', target_shape: [5] }, 'preds'),
      k2('Activation', { name: 'predictions', activation: 'softmax' }, 'reshape'),
    ];
    const modelConfig = { class_name: 'Functional', config: { name: 'mobilenet_like', layers, input_layers: [['input_1', 0, 0]], output_layers: [['predictions', 0, 0]] } };
    const file = await kerasH5File('head.h5', {
      modelConfig,
      kerasVersion: '2.8.0',
      layerNames: layers.map((l) => String(l.name)),
      weights: [
        { layer: 'grouped', names: ['grouped/kernel:0', 'grouped/bias:0'], values: [w.g, w.gb] },
        { layer: 'dw', names: ['dw/depthwise_kernel:0'], values: [w.dw] },
        { layer: 'preds', names: ['preds/kernel:0', 'preds/bias:0'], values: [w.head, w.headB] },
      ],
    });
    const reference = (x: tf.Tensor4D) =>
      tf.tidy(() => {
        const halves = tf.split(x, 2, 3).map((xi, i) => tf.conv2d(xi as tf.Tensor4D, tf.slice(w.g, [0, 0, 0, 3 * i], [3, 3, 2, 3]) as tf.Tensor4D, 1, 'same'));
        const g = tf.add(tf.concat(halves, 3), w.gb);
        const relu = tf.minimum(tf.where(tf.greaterEqual(g, 0.5), g, tf.mul(0.1, tf.sub(g, 0.5))), 6);
        const dw = tf.depthwiseConv2d(relu as tf.Tensor4D, w.dw as tf.Tensor4D, 2, 'same');
        const pad = tf.pad(dw, [[0, 0], [0, 1], [0, 1], [0, 0]]);
        const gap = tf.mean(pad, [1, 2], true);
        return tf.reshape(tf.add(tf.conv2d(gap as tf.Tensor4D, w.head as tf.Tensor4D, 1, 'same'), w.headB), [-1, 5]) as tf.Tensor2D;
      });
    const loaded = await loadTeacher([file]);
    expect(loaded.info).toMatchObject({ format: 'keras-h5', inputShape: [7, 7, 4], numClasses: 5, logitsFrom: 'softmax removed' });
    tf.tidy(() => {
      const x = rnd([3, 7, 7, 4], 9, 1) as tf.Tensor4D;
      expect(maxAbsDiff(loaded.teacher.logits(x), reference(x))).toBeLessThan(1e-4);
    });
    expect((await inspectTeacher(loaded)).gradientCheck?.ok).toBe(true);
    loaded.dispose();
    tf.dispose(Object.values(w));
  });

  it('Keras 3 .keras: Rescaling and an adapted Normalization at the input (they set the preprocessing), hard_swish and hard_sigmoid as Keras 3 computes them', async () => {
    const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
    const ref = (layer: string, shape: (number | null)[]) => ({ args: [{ class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [layer, 0, 0] } }], kwargs: {} });
    const k3 = (cls: string, config: Json, from: string, shape: (number | null)[]) => ({
      module: 'keras.layers',
      class_name: cls,
      config: { trainable: true, dtype: policy, ...config },
      registered_name: null,
      name: config.name,
      inbound_nodes: [ref(from, shape)],
    });
    const w = { mean: tf.tensor([0.4, 0.5, 0.6]), variance: tf.tensor([0.04, 0.09, 0.0625]), k: rnd([3, 3, 3, 4], 11), kb: rnd([4], 12, 0.1), d: rnd([4, 3], 13), db: rnd([3], 14, 0.1) };
    const layers = [
      { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 6, 6, 3], dtype: 'float32', sparse: false, name: 'input_layer' }, registered_name: null, name: 'input_layer', inbound_nodes: [] },
      k3('Rescaling', { name: 'rescaling', scale: 1 / 255, offset: 0 }, 'input_layer', [null, 6, 6, 3]),
      k3('Normalization', { name: 'normalization', axis: [-1], mean: null, variance: null, invert: false }, 'rescaling', [null, 6, 6, 3]),
      k3('Conv2D', convCfg('conv', 4, 3, { activation: 'hard_swish' }), 'normalization', [null, 6, 6, 3]),
      k3('GlobalAveragePooling2D', { name: 'gap', data_format: 'channels_last', keepdims: false }, 'conv', [null, 6, 6, 4]),
      k3('Dense', { name: 'dense', units: 3, activation: 'hard_sigmoid', use_bias: true }, 'gap', [null, 4]),
    ];
    const config = { module: 'keras.src.models.functional', class_name: 'Functional', config: { name: 'functional', trainable: true, layers, input_layers: [['input_layer', 0, 0]], output_layers: [['dense', 0, 0]] }, registered_name: 'Functional' };
    const weights = await kerasV3Weights([
      { path: 'layers/normalization', values: [w.mean, w.variance] },
      { path: 'layers/conv2d', values: [w.k, w.kb] },
      { path: 'layers/dense', values: [w.d, w.db] },
    ]);
    const loaded = await loadTeacher([kerasArchive('model.keras', config, weights)]);
    expect(loaded.info.preprocessing).toEqual({ scale: 1, mean: 0, std: 1, inputRange: [0, 255] });
    expect(loaded.info.preprocessingFrom).toMatch(/Rescaling "rescaling" \(×0\.003922\), then Normalization "normalization": it takes raw 0–255 pixels/);
    tf.tidy(() => {
      const x = tf.randomUniform([2, 6, 6, 3], 0, 255, 'float32', 15);
      const normed = tf.div(tf.sub(tf.div(x, 255), w.mean), tf.sqrt(w.variance));
      const c = tf.add(tf.conv2d(normed as tf.Tensor4D, w.k as tf.Tensor4D, 1, 'same'), w.kb);
      const hs = tf.mul(c, tf.div(tf.relu6(tf.add(c, 3)), 6));
      const d = tf.add(tf.matMul(tf.mean(hs, [1, 2]) as tf.Tensor2D, w.d as tf.Tensor2D), w.db);
      expect(maxAbsDiff(loaded.model.predict(x) as tf.Tensor, tf.div(tf.relu6(tf.add(d, 3)), 6))).toBeLessThan(1e-4);
    });
    loaded.dispose();
    tf.dispose(Object.values(w));
  });

  it('Keras 2 Sequential: an adapted Normalization (int64 count) on 0–1 data, ZeroPadding2D by an int, Keras 2 hard_sigmoid', async () => {
    const w = { mean: tf.tensor([0.3, 0.5]), variance: tf.tensor([0.01, 0.04]), d: rnd([2 * 6 * 6, 3], 21), db: rnd([3], 22, 0.1) };
    const modelConfig = {
      class_name: 'Sequential',
      config: {
        name: 'sequential',
        layers: [
          { class_name: 'InputLayer', config: { batch_input_shape: [null, 4, 4, 2], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' } },
          { class_name: 'Normalization', config: { name: 'normalization', trainable: true, dtype: 'float32', axis: [-1], mean: null, variance: null } },
          { class_name: 'ZeroPadding2D', config: { name: 'pad', trainable: true, dtype: 'float32', padding: 1, data_format: 'channels_last' } },
          { class_name: 'Flatten', config: { name: 'flatten', trainable: true, dtype: 'float32', data_format: 'channels_last' } },
          { class_name: 'Dense', config: { name: 'dense', trainable: true, dtype: 'float32', units: 3, activation: 'hard_sigmoid', use_bias: true, kernel_initializer: glorot, bias_initializer: zeros } },
        ],
      },
    };
    const file = await kerasH5File('norm.h5', {
      modelConfig,
      kerasVersion: '2.8.0',
      layerNames: ['normalization', 'pad', 'flatten', 'dense'],
      weights: [
        { layer: 'normalization', names: ['normalization/mean:0', 'normalization/variance:0', 'normalization/count:0'], values: [w.mean, w.variance, 5000n] },
        { layer: 'dense', names: ['dense/kernel:0', 'dense/bias:0'], values: [w.d, w.db] },
      ],
    });
    const loaded = await loadTeacher([file]);
    expect(loaded.info.preprocessing).toEqual({ scale: 1 / 255, mean: 0, std: 1, inputRange: [0, 1] });
    expect(loaded.info.preprocessingFrom).toMatch(/Normalization "normalization" \(mean 0\.4: 0–1 input\)/);
    tf.tidy(() => {
      const x = tf.randomUniform([2, 4, 4, 2], 0, 1, 'float32', 23);
      const n = tf.pad(tf.div(tf.sub(x, w.mean), tf.sqrt(w.variance)), [[0, 0], [1, 1], [1, 1], [0, 0]]);
      const d = tf.add(tf.matMul(tf.reshape(n, [2, -1]) as tf.Tensor2D, w.d as tf.Tensor2D), w.db);
      expect(maxAbsDiff(loaded.model.predict(x) as tf.Tensor, tf.clipByValue(tf.add(tf.mul(d, 0.2), 0.5), 0, 1))).toBeLessThan(1e-4);
    });
    loaded.dispose();
    tf.dispose(Object.values(w));
  });

  it('a tfjs Layers model.json converted from Keras keeps Keras options (GlobalAveragePooling2D keepdims) and loads', async () => {
    const reference = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: 'conv', inputShape: [5, 5, 3], filters: 4, kernelSize: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 31 }) }),
        tf.layers.globalAveragePooling2d({ name: 'gap' }),
        tf.layers.reshape({ name: 'keep', targetShape: [1, 1, 4] }),
        tf.layers.conv2d({ name: 'head', filters: 3, kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 32 }) }),
        tf.layers.flatten({ name: 'flatten' }),
      ],
    });
    const files = await modelFiles(reference, {
      editTopology: (t) => {
        // As tensorflowjs_converter writes a Keras MobileNet: keepdims on the pooling, no Reshape after it.
        const model = (t.model_config ?? t) as Json;
        const layers = (model.config as Json).layers as Json[];
        (layers[1].config as Json).keepdims = true;
        layers.splice(2, 1);
      },
    });
    const loaded = await loadTeacher(files);
    tf.tidy(() => {
      const x = rnd([2, 5, 5, 3], 33, 1);
      expect(maxAbsDiff(loaded.model.predict(x) as tf.Tensor, reference.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
    });
    loaded.dispose();
    reference.dispose();
  });
});
