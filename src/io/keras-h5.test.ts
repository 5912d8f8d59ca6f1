import * as tf from '@tensorflow/tfjs';
import { strToU8, zipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import type { NamedFile } from './files';
import { keras2Lenet, keras2Nested, keras3Functional, keras3SequentialH5, kerasArchive, kerasH5File, kerasV3Weights, writeH5, type KerasFixture } from './keras-fixtures';
import { toSnakeCase } from './keras-config';
import { inspectTeacher } from './teacher-info';
import { loadTeacher, type LoadedTeacher } from './teacher-load';
import { bytesFile, maxAbsDiff, loadError } from './test-fixtures';

beforeAll(async () => {
  await initNodeBackend();
});


/** The loaded model reproduces the reference's outputs, and its logits are the reference's pre-softmax values. */
function expectSameAsReference(loaded: LoadedTeacher, fx: KerasFixture): void {
  tf.tidy(() => {
    const x = tf.randomNormal([4, ...loaded.info.inputShape], 0, 1, 'float32', 3);
    const probs = fx.reference.predict(x) as tf.Tensor;
    expect(maxAbsDiff(loaded.model.predict(x) as tf.Tensor, probs)).toBeLessThan(1e-5);
    expect(maxAbsDiff(tf.softmax(loaded.teacher.logits(x)), probs)).toBeLessThan(1e-5);
  });
}

describe('Keras HDF5 and .keras', () => {
  it('a Keras 2.1.6 .h5 like TensorSpace mnist.h5 (list config, InputLayer, stray batch_input_shape)', async () => {
    const fx = await keras2Lenet();
    const loaded = await loadTeacher([fx.file]);
    expect(loaded.info).toMatchObject({
      format: 'keras-h5',
      inputName: 'input_1',
      inputShape: [28, 28],
      layout: 'HW',
      numClasses: 10,
      outputKind: 'probabilities',
      logitsFrom: 'softmax removed',
      params: fx.params,
      warnings: [],
    });
    expectSameAsReference(loaded, fx);
    loaded.dispose();
    fx.reference.dispose();
  });

  it('a Keras 2 .h5 with a nested Sequential and BatchNormalization', async () => {
    const fx = await keras2Nested();
    const loaded = await loadTeacher([fx.file]);
    expect(loaded.info).toMatchObject({ format: 'keras-h5', inputShape: [8, 8, 3], numClasses: 3, params: fx.params, logitsFrom: 'softmax removed' });
    expectSameAsReference(loaded, fx);
    loaded.dispose();
    fx.reference.dispose();
  });

  it('a Keras 3 .keras archive (functional, DTypePolicy, __keras_tensor__ nodes, BatchNormalization, Dropout)', async () => {
    const fx = await keras3Functional();
    const loaded = await loadTeacher([fx.file]);
    expect(loaded.info).toMatchObject({ format: 'keras', inputName: 'input_layer', inputShape: [10, 10, 3], layout: 'NHWC', numClasses: 4, params: fx.params, logitsFrom: 'softmax removed' });
    expectSameAsReference(loaded, fx);
    expect((await inspectTeacher(loaded)).gradientCheck?.ok).toBe(true);
    loaded.dispose();
    fx.reference.dispose();
  });

  it('the unpacked members of a .keras archive, and a .keras inside a zip', async () => {
    const fx = await keras3Functional();
    const loose: NamedFile[] = [
      { name: 'm/config.json', data: strToU8(JSON.stringify(fx.config)).slice().buffer as ArrayBuffer },
      { name: 'm/metadata.json', data: strToU8('{"keras_version": "3.4.1"}').slice().buffer as ArrayBuffer },
      { name: 'm/model.weights.h5', data: fx.weightsH5 },
    ];
    const loaded = await loadTeacher(loose);
    expect(loaded.info.format).toBe('keras');
    expectSameAsReference(loaded, fx);
    loaded.dispose();
    fx.reference.dispose();
  });

  it('a Keras 3 legacy .h5 (batch_shape, DTypePolicy, two Dense layers, path weight names)', async () => {
    const fx = await keras3SequentialH5();
    const loaded = await loadTeacher([fx.file, { name: 'labels.txt', data: strToU8('a\nb\nc\nd\ne').slice().buffer as ArrayBuffer }]);
    expect(loaded.info).toMatchObject({ format: 'keras-h5', inputShape: [6, 6], numClasses: 5, params: fx.params, classNames: ['a', 'b', 'c', 'd', 'e'] });
    expectSameAsReference(loaded, fx);
    loaded.dispose();
    fx.reference.dispose();
  });

  it('a Keras 3 .keras Sequential with a nested Sequential and two Dense layers (class-named weight folders)', async () => {
    const base = tf.sequential({
      name: 'base',
      layers: [
        tf.layers.conv2d({ name: 'conv', inputShape: [6, 6, 2], filters: 3, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), biasInitializer: 'ones' }),
        tf.layers.flatten({ name: 'flat' }),
      ],
    });
    const d1 = tf.layers.dense({ name: 'hidden', units: 5, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }), biasInitializer: 'ones' });
    const d2 = tf.layers.dense({ name: 'out', units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) });
    const reference = tf.sequential({ layers: [base, d1, d2] });
    const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
    const layer = (cls: string, config: Record<string, unknown>) => ({ module: 'keras.layers', class_name: cls, config: { trainable: true, dtype: policy, ...config }, registered_name: null });
    const config = {
      module: 'keras',
      class_name: 'Sequential',
      config: {
        name: 'sequential',
        layers: [
          { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 6, 6, 2], dtype: 'float32', name: 'input_layer' }, registered_name: null },
          {
            module: 'keras',
            class_name: 'Sequential',
            config: {
              name: 'base',
              layers: [
                { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 6, 6, 2], dtype: 'float32', name: 'input_layer_1' }, registered_name: null },
                layer('Conv2D', { name: 'conv', filters: 3, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', activation: 'relu', use_bias: true }),
                layer('Flatten', { name: 'flat' }),
              ],
            },
            registered_name: null,
          },
          layer('Dense', { name: 'hidden', units: 5, activation: 'relu', use_bias: true }),
          layer('Dense', { name: 'out', units: 3, activation: 'linear', use_bias: true }),
        ],
      },
      registered_name: null,
    };
    const weights = await kerasV3Weights([
      { path: 'layers/sequential/layers/conv2d', values: base.layers[0].getWeights() },
      { path: 'layers/dense', values: d1.getWeights() },
      { path: 'layers/dense_1', values: d2.getWeights() },
    ]);
    const loaded = await loadTeacher([kerasArchive('nested.keras', config, weights)]);
    expect(loaded.info).toMatchObject({ format: 'keras', inputShape: [6, 6, 2], numClasses: 3, params: reference.countParams(), outputKind: 'logits' });
    tf.tidy(() => {
      const x = tf.randomNormal([3, 6, 6, 2], 0, 1, 'float32', 4);
      expect(maxAbsDiff(loaded.teacher.logits(x), reference.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
    });
    loaded.dispose();
    reference.dispose();
  });

  it("names layers the way Keras 3's saving_lib does", () => {
    expect(['Conv2D', 'MaxPooling2D', 'BatchNormalization', 'Dense', 'DepthwiseConv2D', 'GlobalAveragePooling2D'].map(toSnakeCase)).toEqual([
      'conv2d',
      'max_pooling2d',
      'batch_normalization',
      'dense',
      'depthwise_conv2d',
      'global_average_pooling2d',
    ]);
  });
});

describe('Keras files: refusals', () => {
  it('a truncated .h5', async () => {
    const fx = await keras2Lenet();
    fx.reference.dispose();
    const e = await loadError([{ name: 'mnist.h5', data: fx.file.data.slice(0, 2000) }]);
    expect(e.code).toBe('bad-hdf5');
    expect(e.message).toMatch(/^"mnist\.h5" is not a readable HDF5 file \(.*\); it may be truncated or damaged$/);
    const junk = await loadError([bytesFile('junk.h5', [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a], 64)]);
    expect(junk.code).toBe('bad-hdf5');
    expect(junk.message).toBe('"junk.h5" is not a readable HDF5 file (bad byte number in an address); it may be truncated or damaged');
  });

  it('a weights-only .h5, and an HDF5 file that is not a model', async () => {
    const weightsOnly = { name: 'weights.h5', data: await writeH5((f) => f.create_attribute('layer_names', ['dense'])) };
    expect((await loadError([weightsOnly])).message).toBe(
      '"weights.h5" holds only weights (saved with save_weights), not the model\'s architecture: save the whole model with model.save("model.h5") or model.save("model.keras")',
    );
    const data = { name: 'data.h5', data: await writeH5((f) => f.create_dataset({ name: 'x', data: new Float32Array(4), shape: [4], dtype: '<f' })) };
    expect((await loadError([data])).message).toBe('"data.h5" is an HDF5 file but not a Keras model: it has no model_config attribute');
  });

  it('a model_config that is not JSON, and a subclassed model', async () => {
    const bad = await kerasH5File('m.h5', { modelConfig: 'x', kerasVersion: '2.4.0', layerNames: [], weights: [] });
    expect((await loadError([bad])).message).toBe('the model_config in "m.h5" is not a Keras model config (no class_name and config)');
    const sub = await kerasH5File('m.h5', { modelConfig: { class_name: 'MyNet', config: {} }, kerasVersion: '2.4.0', layerNames: [], weights: [] });
    expect((await loadError([sub])).message).toContain('describes a MyNet, a subclassed model');
  });

  it('names every layer TensorFlow.js lacks', async () => {
    const cfg = {
      class_name: 'Sequential',
      config: {
        name: 's',
        layers: [
          { class_name: 'InputLayer', config: { batch_input_shape: [null, 4], name: 'in' } },
          { class_name: 'Lambda', config: { name: 'lambda_1', function: 'x' } },
          { class_name: 'RandomFlip', config: { name: 'flip', mode: 'horizontal' } },
          { class_name: 'Dense', config: { name: 'dense', units: 2 } },
        ],
      },
    };
    const e = await loadError([await kerasH5File('odd.h5', { modelConfig: cfg, kerasVersion: '2.15.0', layerNames: [], weights: [] })]);
    expect(e.code).toBe('build-failed');
    expect(e.message).toBe(
      'odd.h5 uses layers TensorFlow.js does not have: Lambda ("lambda_1"), RandomFlip ("flip"); rebuild the model without them (preprocessing and augmentation layers can be applied outside the model)',
    );
  });

  it('weights that do not fit the config', async () => {
    const fx = await keras3SequentialH5();
    const cfg = JSON.parse(JSON.stringify(fx.reference.toJSON(null, false)));
    fx.reference.dispose();
    cfg.config.layers[1].config.units = 13;
    const e = await loadError([
      await kerasH5File('m.h5', {
        modelConfig: cfg,
        kerasVersion: '2.15.0',
        layerNames: ['flatten', 'dense', 'dense_1'],
        weights: ['dense', 'dense_1'].map((n) => ({ layer: n, names: [`${n}/kernel:0`, `${n}/bias:0`], values: [tf.zeros(n === 'dense' ? [36, 12] : [12, 5]), tf.zeros([n === 'dense' ? 12 : 5])] })),
      }),
    ]);
    expect(e.code).toBe('bad-keras');
    expect(e.message).toBe('m.h5: weight "dense/dense/kernel:0" has shape [36,12] but the model config needs [36,13]');
  });

  it('a .keras archive without weights, and a damaged one', async () => {
    const fx = await keras3Functional();
    fx.reference.dispose();
    const noWeights = kerasArchive('model.keras', fx.config, new ArrayBuffer(0), { skipWeights: true });
    expect((await loadError([noWeights])).message).toBe('"model.keras" has no model.weights.h5, so it holds no trained weights');
    const npz = { name: 'model.keras', data: zipSync({ 'config.json': strToU8(JSON.stringify(fx.config)), 'model.weights.npz': new Uint8Array(4) }).slice().buffer as ArrayBuffer };
    expect((await loadError([npz])).message).toContain('stores its weights as model.weights.npz');
    const wrongWeights = kerasArchive('model.keras', fx.config, await writeH5((f) => f.create_group('layers')));
    expect((await loadError([wrongWeights])).message).toBe('model.keras has no weights for layer "conv2d" (expected layers/conv2d/vars)');
  });
});
