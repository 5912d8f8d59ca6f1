import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import type { NamedFile } from './files';
import { graphModelFixture } from './graph-fixtures';
import { stridedSliceBackward } from './strided-slice-grad';
import { inspectTeacher } from './teacher-info';
import { loadTeacher } from './teacher-load';
import { jsonFile, maxAbsDiff, zipOf, loadError } from './test-fixtures';

beforeAll(async () => {
  await initNodeBackend();
});


/** Logits and input gradients of the loaded teacher against the fixture's plain-tfjs reference. */
function expectMatchesReference(teacher: { logits(x: tf.Tensor): tf.Tensor2D }, reference: (x: tf.Tensor) => tf.Tensor2D, shape: number[]): void {
  tf.tidy(() => {
    const x = tf.randomNormal([3, ...shape], 0, 1, 'float32', 5);
    expect(maxAbsDiff(teacher.logits(x), reference(x))).toBeLessThan(1e-4);
    const w = tf.randomNormal([3, reference(x).shape[1]], 0, 1, 'float32', 6);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(teacher.logits(v), w)))(x);
    const gRef = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(reference(v), w)))(x);
    expect(tf.max(tf.abs(gRef)).dataSync()[0]).toBeGreaterThan(0);
    expect(maxAbsDiff(g, gRef)).toBeLessThan(1e-4);
  });
}

describe('graph models', () => {
  it('a legacy graph model (no format, no signature, shard without .bin) like the TensorSpace LeNet', async () => {
    const fx = graphModelFixture({ legacy: true });
    expect(fx.files.map((f) => f.name)).toEqual(['model.json', 'group1-shard1of1']);
    const before = tf.memory().numTensors;
    const loaded = await loadTeacher(fx.files);
    expect(loaded.info).toMatchObject({
      format: 'tfjs-graph',
      inputName: 'x',
      inputShape: [12, 12, 1],
      layout: 'NHWC',
      numClasses: 5,
      outputKind: 'probabilities',
      logitsFrom: 'softmax removed',
      params: fx.params,
      warnings: [],
    });
    expect(loaded.teacher.inputShape).toEqual([12, 12, 1]);
    expectMatchesReference(loaded.teacher, fx.reference, fx.inputShape);
    // The model as exported still gives probabilities; the wrapper behaves like any LayersModel.
    tf.tidy(() => {
      const x = tf.randomNormal([2, 12, 12, 1], 0, 1, 'float32', 9);
      expect(maxAbsDiff(loaded.model.predict(x) as tf.Tensor, tf.softmax(fx.reference(x)))).toBeLessThan(1e-5);
    });
    const info = await inspectTeacher(loaded);
    expect(info.gradientCheck?.ok).toBe(true);
    loaded.dispose();
    fx.dispose();
    expect(tf.memory().numTensors).toBe(before - 6);
  });

  it('a graph model with format, signature and an Identity output, from a zip', async () => {
    const fx = graphModelFixture({ classes: 3, dir: 'web_model/' });
    const loaded = await loadTeacher([zipOf('web_model.zip', fx.files)]);
    expect(loaded.info).toMatchObject({ format: 'tfjs-graph', inputName: 'x', numClasses: 3, logitsFrom: 'softmax removed' });
    expectMatchesReference(loaded.teacher, fx.reference, fx.inputShape);
    loaded.dispose();
    fx.dispose();
  });

  it('keeps a graph that already outputs logits', async () => {
    const fx = graphModelFixture({ softmax: false });
    const loaded = await loadTeacher(fx.files);
    expect(loaded.info.outputKind).toBe('logits');
    expect(loaded.info.logitsFrom).toBe('logits');
    expect(loaded.logitsModel).toBe(loaded.model);
    expectMatchesReference(loaded.teacher, fx.reference, fx.inputShape);
    loaded.dispose();
    fx.dispose();
  });

  it('differentiates through a StridedSlice on the data path (tfjs has no gradient for it)', async () => {
    const fx = graphModelFixture({ crop: true });
    const loaded = await loadTeacher(fx.files);
    expectMatchesReference(loaded.teacher, fx.reference, fx.inputShape);
    expect((await inspectTeacher(loaded)).gradientCheck?.ok).toBe(true);
    loaded.dispose();
    fx.dispose();
  });

  it('relaxes a fixed batch dimension and says so', async () => {
    const fx = graphModelFixture({ fixedBatch: 1 });
    const loaded = await loadTeacher(fx.files);
    expect(loaded.info.warnings).toEqual(["the graph model's input declares a fixed batch of 1; CAKE runs it on batches of any size"]);
    expectMatchesReference(loaded.teacher, fx.reference, fx.inputShape);
    loaded.dispose();
    fx.dispose();
  });

  it('reads class names from a side file', async () => {
    const fx = graphModelFixture({ classes: 3 });
    const loaded = await loadTeacher([...fx.files, { name: 'labels.txt', data: new TextEncoder().encode('cat\ndog\nbird\n').buffer as ArrayBuffer }]);
    expect(loaded.info.classNames).toEqual(['cat', 'dog', 'bird']);
    loaded.dispose();
    fx.dispose();
  });
});

describe('graph models: refusals', () => {
  it('names an op TensorFlow.js cannot run', async () => {
    const fx = graphModelFixture({ extraOp: 'MysteryOp' });
    const e = await loadError(fx.files);
    fx.dispose();
    expect(e.code).toBe('unsupported-op');
    expect(e.message).toBe('model.json uses the TensorFlow op MysteryOp, which TensorFlow.js cannot run; re-export the model without it');
  });

  it('names an op without a gradient', async () => {
    const fx = graphModelFixture({ cumprod: true });
    const e = await loadError(fx.files);
    fx.dispose();
    expect(e.code).toBe('no-gradient');
    expect(e.message).toBe('model.json uses the op Cumprod, which has no gradient in TensorFlow.js, so CAKE cannot synthesise inputs through it');
  });

  it('malformed graph models get their own messages', async () => {
    const noNodes = await loadError([jsonFile('model.json', { format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] })]);
    expect(noNodes.message).toBe('model.json holds a graph model (format: graph-model), but its modelTopology lists no graph nodes');
    const legacy = await loadError([jsonFile('model.json', { modelTopology: { node: [{ name: 'x' }], versions: {} }, weightsManifest: [] })]);
    expect(legacy.message).toBe('model.json holds a graph model (a legacy one without format), but node 1 of its graph has no name or op');
    const fx = graphModelFixture({ legacy: true });
    const missing = await loadError([fx.files[0]]);
    expect(missing.message).toBe('weights file "group1-shard1of1" is missing: drop it together with model.json');
    const short = await loadError([fx.files[0], { name: 'group1-shard1of1', data: fx.files[1].data.slice(0, 100) }]);
    expect(short.code).toBe('weights-size');
    fx.dispose();
  });
});

describe('the StridedSlice gradient', () => {
  const cases: [string, number[], number[], number[], number, number, number][] = [
    // [what, begin, end, strides, beginMask, endMask, shrinkAxisMask]
    ['a crop', [0, 1, 1, 0], [0, 4, 5, 0], [1, 1, 1, 1], 9, 9, 0],
    ['every other row and column', [0, 0, 1, 0], [0, 5, 5, 0], [1, 2, 2, 1], 9, 9, 0],
    ['reversed columns', [0, 0, -1, 0], [0, 5, -6, 0], [1, 1, -1, 1], 9, 9, 0],
    ['one row, shrunk', [0, 2, 0, 0], [0, 3, 0, 0], [1, 1, 1, 1], 13, 13, 2],
  ];
  it.each(cases)('%s', (_, begin, end, strides, beginMask, endMask, shrink) => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 1);
      const y = tf.stridedSlice(x, begin, end, strides, beginMask, endMask, 0, 0, shrink);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 2);
      const dx = stridedSliceBackward(dy, x.shape, { begin, end, strides, beginMask, endMask, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: shrink });
      expect(dx.shape).toEqual(x.shape);
      // <dy, slice(x)> = <dx, x> for every x: the gradient is the adjoint of the slice.
      const z = tf.randomNormal(x.shape, 0, 1, 'float32', 3);
      const lhs = tf.sum(tf.mul(dy, tf.stridedSlice(z, begin, end, strides, beginMask, endMask, 0, 0, shrink))).dataSync()[0];
      const rhs = tf.sum(tf.mul(dx, z)).dataSync()[0];
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * Math.max(1, Math.abs(lhs)));
    });
  });
});
