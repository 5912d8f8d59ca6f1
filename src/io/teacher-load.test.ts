import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import type { NamedFile } from './files';
import { loadTeacher, type LoadedTeacher } from './teacher-load';
import { TeacherError } from './teacher-error';
import { bytesFile, convClassifier, denseClassifier, jsonFile, maxAbsDiff, modelFiles, textFile, zipOf } from './test-fixtures';

beforeAll(async () => {
  await initNodeBackend();
});

/** softmax(teacher.logits(x)) must reproduce the original model's probabilities. */
function expectLogitsMatch(loaded: LoadedTeacher, tolerance = 1e-5): void {
  tf.tidy(() => {
    const x = tf.randomNormal([5, ...loaded.info.inputShape], 0, 1, 'float32', 42);
    const probs = loaded.model.predict(x) as tf.Tensor;
    const logits = loaded.teacher.logits(x);
    expect(logits.shape).toEqual([5, loaded.info.numClasses]);
    expect(maxAbsDiff(tf.softmax(logits), probs)).toBeLessThan(tolerance);
  });
}

/** The TeacherError a load throws (fails the test when it does not throw one). */
async function loadError(files: NamedFile[]): Promise<TeacherError> {
  try {
    const loaded = await loadTeacher(files);
    loaded.dispose();
  } catch (e) {
    expect(e).toBeInstanceOf(TeacherError);
    return e as TeacherError;
  }
  throw new Error('expected loadTeacher to throw');
}

describe('loadTeacher: good models', () => {
  it('loads a softmax classifier and removes the softmax for exact logits', async () => {
    const before = tf.memory().numTensors;
    const model = denseClassifier();
    const loaded = await loadTeacher(await modelFiles(model));
    model.dispose();
    expect(loaded.info).toMatchObject({
      format: 'tfjs-layers',
      inputShape: [4, 4, 1],
      layout: 'NHWC',
      numClasses: 3,
      outputKind: 'probabilities',
      logitsFrom: 'softmax removed',
      params: 16 * 8 + 8 + 8 * 3 + 3,
    });
    expect(loaded.teacher.inputShape).toEqual([4, 4, 1]);
    expect(loaded.teacher.numClasses).toBe(3);
    expect(loaded.logitsModel).not.toBe(loaded.model);
    expectLogitsMatch(loaded);
    // The logits really are pre-softmax: rows do not sum to 1.
    const rowSum = tf.tidy(() => tf.sum(loaded.teacher.logits(tf.ones([1, 4, 4, 1]))).dataSync()[0]);
    expect(Math.abs(rowSum - 1)).toBeGreaterThan(1e-3);
    loaded.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps a model that already outputs logits as it is', async () => {
    const model = denseClassifier({ activation: 'linear' });
    const loaded = await loadTeacher(await modelFiles(model));
    expect(loaded.info.logitsFrom).toBe('logits');
    expect(loaded.info.outputKind).toBe('logits');
    expect(loaded.logitsModel).toBe(loaded.model);
    tf.tidy(() => {
      const x = tf.randomNormal([3, 4, 4, 1], 0, 1, 'float32', 1);
      expect(maxAbsDiff(loaded.teacher.logits(x), model.predict(x) as tf.Tensor)).toBe(0);
    });
    model.dispose();
    loaded.dispose();
  });

  it('reads a legacy model.json without format, generatedBy or convertedBy', async () => {
    const model = convClassifier();
    const loaded = await loadTeacher(await modelFiles(model, { legacy: true }));
    expect(loaded.info.logitsFrom).toBe('softmax removed');
    expectLogitsMatch(loaded);
    model.dispose();
    loaded.dispose();
  });

  it('matches shards that have no .bin extension', async () => {
    const model = convClassifier();
    const files = await modelFiles(model, { noBinExtension: true, shards: 2 });
    expect(files.map((f) => f.name)).toEqual(['model.json', 'group1-shard1of2', 'group1-shard2of2']);
    const loaded = await loadTeacher(files);
    expectLogitsMatch(loaded);
    model.dispose();
    loaded.dispose();
  });

  it('joins two weight groups of two shards each, in manifest order', async () => {
    const model = convClassifier();
    const files = await modelFiles(model, { twoGroups: true, shards: 2 });
    expect(files.filter((f) => f.name.endsWith('.bin'))).toHaveLength(4);
    // Dropped in scrambled order: matching is by name, not position.
    const loaded = await loadTeacher([...files].reverse());
    tf.tidy(() => {
      const x = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 3);
      expect(maxAbsDiff(loaded.model.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
    });
    model.dispose();
    loaded.dispose();
  });

  it('unwraps a softmax inside nested Sequential containers (Teachable Machine style)', async () => {
    const base = tf.sequential({
      name: 'base',
      layers: [tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, activation: 'relu' }), tf.layers.flatten()],
    });
    const head = tf.sequential({
      name: 'head',
      layers: [tf.layers.dense({ inputShape: [72], units: 6, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })],
    });
    const model = tf.sequential({ layers: [base, head] });
    const loaded = await loadTeacher(await modelFiles(model));
    expect(loaded.info.logitsFrom).toBe('softmax removed');
    expect(loaded.info.numClasses).toBe(3);
    expectLogitsMatch(loaded);
    model.dispose();
    loaded.dispose();
  });

  it('drops a trailing Activation("softmax") layer', async () => {
    const model = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [3, 3, 1] }), tf.layers.dense({ units: 4 }), tf.layers.activation({ activation: 'softmax' })],
    });
    const loaded = await loadTeacher(await modelFiles(model));
    expect(loaded.info.logitsFrom).toBe('softmax removed');
    expect(loaded.logitsModel.layers.map((l) => l.getClassName())).toEqual(['Flatten', 'Dense']);
    expectLogitsMatch(loaded);
    model.dispose();
    loaded.dispose();
  });

  it('drops a Softmax layer from a functional model, behind a Dropout', async () => {
    const input = tf.input({ shape: [6] });
    const dense = tf.layers.dense({ units: 3 }).apply(input) as tf.SymbolicTensor;
    const soft = tf.layers.softmax().apply(dense) as tf.SymbolicTensor;
    const out = tf.layers.dropout({ rate: 0.5 }).apply(soft) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const loaded = await loadTeacher(await modelFiles(model));
    expect(loaded.info.logitsFrom).toBe('softmax removed');
    expect(loaded.info.layout).toBe('flat');
    expectLogitsMatch(loaded);
    model.dispose();
    loaded.dispose();
  });

  it('falls back to log-probabilities when the softmax cannot be unwrapped (an averaged ensemble)', async () => {
    const input = tf.input({ shape: [5] });
    const a = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.average().apply([a, b]) as tf.SymbolicTensor });
    const loaded = await loadTeacher(await modelFiles(model));
    expect(loaded.info.logitsFrom).toBe('log-probabilities');
    expect(loaded.info.outputKind).toBe('probabilities');
    expectLogitsMatch(loaded, 1e-5);
    const before = tf.memory().numTensors;
    model.dispose();
    loaded.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });

  it('strips a multi-unit sigmoid head', async () => {
    const model = denseClassifier({ activation: 'sigmoid', classes: 4 });
    const loaded = await loadTeacher(await modelFiles(model));
    expect(loaded.info.logitsFrom).toBe('sigmoid removed');
    tf.tidy(() => {
      const x = tf.randomNormal([3, 4, 4, 1], 0, 1, 'float32', 5);
      expect(maxAbsDiff(tf.sigmoid(loaded.teacher.logits(x)), model.predict(x) as tf.Tensor)).toBeLessThan(1e-6);
    });
    model.dispose();
    loaded.dispose();
  });

  it('takes rank-3 inputs [null, 28, 28] (no channel axis)', async () => {
    const model = denseClassifier({ inputShape: [28, 28], classes: 10 });
    const loaded = await loadTeacher(await modelFiles(model));
    expect(loaded.info.inputShape).toEqual([28, 28]);
    expect(loaded.info.layout).toBe('HW');
    expect(loaded.teacher.inputShape).toEqual([28, 28]);
    expectLogitsMatch(loaded);
    model.dispose();
    loaded.dispose();
  });

  it('loads a zip of the model folder, ignoring __MACOSX and folder entries', async () => {
    const model = convClassifier();
    const files = await modelFiles(model, { dir: 'my teacher/', shards: 2 });
    const zip = zipOf('teacher.zip', [...files, textFile('my teacher/labels.txt', 'a\nb\nc\nd\n')], {
      '__MACOSX/my teacher/._model.json': new Uint8Array([0, 5, 22, 7]),
      'my teacher/.DS_Store': new Uint8Array([1, 2, 3]),
    });
    const loaded = await loadTeacher([zip]);
    expect(loaded.info.classNames).toEqual(['a', 'b', 'c', 'd']);
    expectLogitsMatch(loaded);
    model.dispose();
    loaded.dispose();
  });
});

describe('loadTeacher: failures say what is wrong in one sentence', () => {
  it('model.json that is not JSON', async () => {
    const e = await loadError([textFile('model.json', '{"modelTopology": nope}'), bytesFile('group1-shard1of1.bin', [], 4)]);
    expect(e.code).toBe('not-json');
    expect(e.message).toBe('model.json is not valid JSON (Unexpected token \'o\' near ..."pology": nope}")');
    const cut = await loadError([textFile('model.json', '{"modelTopology": {"a": 1,')]);
    expect(cut.message).toMatch(/^model\.json is not valid JSON \((Expected double-quoted property name in JSON at position 26|.*end of JSON input.*)\)$/);
  });

  it('an empty model.json', async () => {
    const e = await loadError([bytesFile('model.json', [])]);
    expect(e.message).toBe('model.json is empty (0 bytes)');
  });

  it('a PNG named model.json', async () => {
    const e = await loadError([bytesFile('model.json', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 64)]);
    expect(e.message).toBe('model.json is not a model: it is a PNG image');
  });

  it('a missing weight shard', async () => {
    const model = convClassifier();
    const files = (await modelFiles(model, { shards: 2 })).filter((f) => f.name !== 'group1-shard2of2.bin');
    model.dispose();
    const e = await loadError(files);
    expect(e.code).toBe('missing-weights');
    expect(e.message).toBe('weights file "group1-shard2of2.bin" is missing: drop it together with model.json');
  });

  it('a weight file of the wrong size', async () => {
    const model = convClassifier();
    const [json] = await modelFiles(model);
    model.dispose();
    const e = await loadError([json, bytesFile('group1-shard1of1.bin', [], 1000)]);
    // conv 3·3·1·3 + 3 = 30, then 6×6×3 pooled to 3×3×3 = 27 features, dense 27·4 + 4 = 112: 142 float32 values.
    expect(e.message).toBe(`weights "group1-shard1of1.bin" hold 1000 bytes but model.json declares ${142 * 4}`);
  });

  it('an empty weight file', async () => {
    const model = convClassifier();
    const [json] = await modelFiles(model);
    model.dispose();
    const e = await loadError([json, bytesFile('group1-shard1of1.bin', [])]);
    expect(e.message).toBe(`weights file "group1-shard1of1.bin" is empty (0 bytes) but model.json declares ${142 * 4} bytes`);
  });

  it('quantized weights count their stored bytes', async () => {
    const model = convClassifier();
    const [jsonFileIn, bin] = await modelFiles(model);
    model.dispose();
    const json = JSON.parse(new TextDecoder().decode(jsonFileIn.data));
    for (const w of json.weightsManifest[0].weights) w.quantization = { dtype: 'uint8', scale: 0.01, min: -1 };
    const e = await loadError([jsonFile('model.json', json), bin]);
    expect(e.message).toBe(`weights "group1-shard1of1.bin" hold ${142 * 4} bytes but model.json declares 142`);
    // With matching bytes, tfjs dequantizes and the model loads.
    const loaded = await loadTeacher([jsonFile('model.json', json), bytesFile('group1-shard1of1.bin', [], 142)]);
    expect(loaded.info.numClasses).toBe(4);
    loaded.dispose();
  });

  it('a graph model that is malformed, with and without the format key (graph-model.test.ts covers good ones)', async () => {
    const graph = { format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] };
    const e1 = await loadError([jsonFile('model.json', graph)]);
    expect(e1.code).toBe('graph-model');
    expect(e1.message).toBe('model.json holds a graph model (format: graph-model), but its modelTopology lists no graph nodes');
    const legacy = { modelTopology: { node: [{ name: 'x', op: 'Placeholder' }], versions: {} }, weightsManifest: [] };
    const e = await loadError([jsonFile('model.json', legacy)]);
    expect(e.code).toBe('input-shape');
    expect(e.message).toBe('the graph model\'s input "x" has no declared shape; CAKE needs a fixed input size such as [-1,28,28,1]');
  });

  it('a model with two inputs', async () => {
    const a = tf.input({ shape: [3] });
    const b = tf.input({ shape: [3] });
    const joined = tf.layers.concatenate().apply([a, b]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [a, b], outputs: tf.layers.dense({ units: 2 }).apply(joined) as tf.SymbolicTensor });
    const e = await loadError(await modelFiles(model));
    model.dispose();
    expect(e.message).toBe('this model has 2 inputs; CAKE needs a single image input');
  });

  it('a model with two outputs', async () => {
    const input = tf.input({ shape: [3] });
    const model = tf.model({
      inputs: input,
      outputs: [tf.layers.dense({ units: 2 }).apply(input) as tf.SymbolicTensor, tf.layers.dense({ units: 2 }).apply(input) as tf.SymbolicTensor],
    });
    const e = await loadError(await modelFiles(model));
    model.dispose();
    expect(e.message).toBe('this model has 2 outputs; CAKE needs a single classifier output');
  });

  it('an output that is not [batch, classes]', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [5, 5], units: 5 })] });
    const e = await loadError(await modelFiles(model));
    model.dispose();
    expect(e.message).toBe("the model's output has shape [null,5,5]; CAKE needs a classifier with output [batch, classes]");
  });

  it('a single output class, and a single sigmoid unit', async () => {
    const linear = denseClassifier({ classes: 1, activation: 'linear' });
    expect((await loadError(await modelFiles(linear))).message).toBe('the model has 1 output class; a classifier needs at least 2');
    linear.dispose();
    const sigmoid = denseClassifier({ classes: 1, activation: 'sigmoid' });
    const e = await loadError(await modelFiles(sigmoid));
    sigmoid.dispose();
    expect(e.code).toBe('classes');
    expect(e.message).toContain('the model has 1 output class; a classifier needs at least 2');
    expect(e.message).toContain('single sigmoid unit');
  });

  it('NaN or infinite weights, naming the weight', async () => {
    const model = convClassifier();
    const files = await modelFiles(model);
    const spec = model.weights[2].originalName; // the dense kernel
    model.dispose();
    const json = JSON.parse(new TextDecoder().decode(files[0].data));
    const names: string[] = json.weightsManifest[0].weights.map((w: { name: string }) => w.name);
    expect(names).toContain(spec);
    const bin = new Float32Array(files[1].data.slice(0));
    // The dense kernel starts after the conv kernel (27 values) and bias (3).
    bin[30] = NaN;
    bin[31] = Infinity;
    const e = await loadError([files[0], { name: files[1].name, data: bin.buffer }]);
    expect(e.code).toBe('non-finite-weights');
    expect(e.message).toContain(`weight "${names[2]}" holds 2 NaN or infinite values (of 108)`);
  });

  it('free input dimensions', async () => {
    const model = tf.sequential({
      layers: [tf.layers.conv2d({ inputShape: [null, null, 1] as unknown as number[], filters: 2, kernelSize: 1 }), tf.layers.globalAveragePooling2d({})],
    });
    const e = await loadError(await modelFiles(model));
    model.dispose();
    expect(e.code).toBe('input-shape');
    expect(e.message).toContain('[null,null,null,1]');
  });

  it('a layer tfjs does not know', async () => {
    const model = denseClassifier();
    const files = await modelFiles(model, {
      editTopology: (t) => {
        const layers = (t as { config: { layers: { class_name: string }[] } }).config.layers;
        layers[1].class_name = 'Lambda';
      },
    });
    model.dispose();
    const e = await loadError(files);
    expect(e.code).toBe('build-failed');
    expect(e.message).toBe('model.json uses a layer TensorFlow.js does not know (Lambda); re-export the model without custom layers');
  });

  it('formats we cannot read get a conversion hint; a damaged Keras file gets its own message', async () => {
    const tflite = await loadError([bytesFile('model.tflite', [0x1c, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33], 64)]);
    expect(tflite.code).toBe('foreign-format');
    expect(tflite.message).toContain('"model.tflite" is a TensorFlow Lite model; TensorFlow Lite cannot be imported');
    const h5 = await loadError([bytesFile('mnist.h5', [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a], 64)]);
    expect(h5.code).toBe('bad-hdf5');
    expect(h5.message).toContain('"mnist.h5" is not a readable HDF5 file');
  });

  it('no files, no model, several models', async () => {
    expect((await loadError([])).code).toBe('no-files');
    const none = await loadError([bytesFile('cat.png', [0x89, 0x50, 0x4e, 0x47], 20), textFile('notes.txt', 'hello')]);
    expect(none.message).toMatch(/^no model\.json found among the files \(cat\.png, notes\.txt\)/);
    const model = denseClassifier();
    const a = await modelFiles(model, { dir: 'a/' });
    const b = await modelFiles(model, { dir: 'b/' });
    model.dispose();
    expect((await loadError([...a, ...b])).message).toBe('found 2 model files (a/model.json, b/model.json); drop one model at a time');
  });

  it('a JSON file that is not a model', async () => {
    const e = await loadError([jsonFile('model.json', { hello: 'world' })]);
    expect(e.message).toBe('model.json has no modelTopology, so it is not a TensorFlow.js model');
  });

  it('a damaged zip', async () => {
    const zip = bytesFile('teacher.zip', [0x50, 0x4b, 0x03, 0x04, 1, 2, 3], 40);
    const e = await loadError([zip]);
    expect(e.code).toBe('bad-zip');
    expect(e.message).toContain('"teacher.zip" is not a readable zip archive');
  });
});
