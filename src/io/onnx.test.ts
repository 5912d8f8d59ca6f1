import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import type { NamedFile } from './files';
import { detectKind } from './files';
import { aInt, aInts, floatTensor, node, onnxConvNet, onnxFile, onnxMlp, onnxModel, onnxNhwcLogits, valueInfo, type OnnxFixture } from './onnx-fixtures';
import { inspectTeacher } from './teacher-info';
import { loadTeacher, type LoadedTeacher } from './teacher-load';
import { maxAbsDiff, loadError } from './test-fixtures';

beforeAll(async () => {
  await initNodeBackend();
});


/** Logits and input gradients against the fixture's plain-tfjs reference. */
function expectMatchesReference(loaded: LoadedTeacher, fx: OnnxFixture, batch = 3): void {
  tf.tidy(() => {
    const x = tf.randomNormal([batch, ...fx.inputShape], 0, 1, 'float32', 5);
    const ref = fx.reference(x);
    expect(maxAbsDiff(loaded.teacher.logits(x), ref)).toBeLessThan(1e-4);
    const w = tf.randomNormal(ref.shape, 0, 1, 'float32', 6);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(loaded.teacher.logits(v), w)))(x);
    const gRef = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(fx.reference(v), w)))(x);
    expect(tf.max(tf.abs(gRef)).dataSync()[0]).toBeGreaterThan(0);
    expect(maxAbsDiff(g, gRef)).toBeLessThan(1e-4);
  });
}

describe('ONNX models', () => {
  it('a PyTorch-style conv net (NCHW, shuffled nodes, raw and typed initializers, dynamic flatten)', async () => {
    const fx = onnxConvNet();
    expect(detectKind(fx.file)).toBe('onnx');
    const before = tf.memory().numTensors;
    const loaded = await loadTeacher([fx.file]);
    expect(loaded.info).toMatchObject({
      format: 'onnx',
      inputName: 'input.1',
      inputShape: [1, 8, 8],
      layout: 'NCHW',
      numClasses: 4,
      outputKind: 'probabilities',
      logitsFrom: 'softmax removed',
      params: fx.params,
      warnings: [],
    });
    expect(loaded.teacher.layout).toBe('NCHW');
    expectMatchesReference(loaded, fx);
    tf.tidy(() => {
      const x = tf.randomNormal([2, 1, 8, 8], 0, 1, 'float32', 8);
      expect(maxAbsDiff(loaded.model.predict(x) as tf.Tensor, tf.softmax(fx.reference(x)))).toBeLessThan(1e-5);
    });
    expect((await inspectTeacher(loaded)).gradientCheck?.ok).toBe(true);
    loaded.dispose();
    expect(tf.memory().numTensors).toBe(before);
    fx.dispose();
  });

  it('a fixed batch dimension (batch-1 export) runs on any batch', async () => {
    const fx = onnxConvNet({ fixedBatch: true });
    const loaded = await loadTeacher([fx.file]);
    expect(loaded.info.warnings).toEqual(["the ONNX model's input declares a fixed batch of 1; CAKE runs it on batches of any size"]);
    expectMatchesReference(loaded, fx, 5);
    loaded.dispose();
    fx.dispose();
  });

  it('an MLP (opset 11) with Pad, Sub, Mul, Div, Gemm(alpha, beta), Identity, Dropout', async () => {
    const fx = onnxMlp();
    const loaded = await loadTeacher([fx.file]);
    expect(loaded.info).toMatchObject({ format: 'onnx', inputName: 'x', inputShape: [6, 6], layout: 'HW', numClasses: 3, params: fx.params, logitsFrom: 'softmax removed' });
    expectMatchesReference(loaded, fx);
    loaded.dispose();
    fx.dispose();
  });

  it('an MLP whose batch-1 trace reshapes to a constant [1, -1]', async () => {
    const fx = onnxMlp({ fixedBatch: true });
    const loaded = await loadTeacher([fx.file]);
    expectMatchesReference(loaded, fx, 4);
    loaded.dispose();
    fx.dispose();
  });

  it('a tf2onnx-style NHWC model that outputs logits', async () => {
    const fx = onnxNhwcLogits();
    const loaded = await loadTeacher([fx.file]);
    expect(loaded.info).toMatchObject({ inputShape: [8, 8, 3], layout: 'NHWC', numClasses: 4, outputKind: 'logits', logitsFrom: 'logits' });
    expectMatchesReference(loaded, fx);
    loaded.dispose();
    fx.dispose();
  });
});

describe('ONNX ops with less common settings', () => {
  it('grouped Conv, MaxPool with ceil_mode, AveragePool counting its pads, Transpose', async () => {
    const w = tf.randomNormal([6, 2, 3, 3], 0, 0.5, 'float32', 41);
    const fc = tf.randomNormal([96, 3], 0, 0.3, 'float32', 42);
    const model = onnxModel({
      node: [
        node('Conv', ['x', 'w'], ['c'], [aInts('kernel_shape', [3, 3]), aInt('group', 2)]),
        node('MaxPool', ['c'], ['m'], [aInts('kernel_shape', [2, 2]), aInts('strides', [2, 2]), aInt('ceil_mode', 1)]),
        node('AveragePool', ['m'], ['a'], [aInts('kernel_shape', [2, 2]), aInts('pads', [1, 1, 1, 1]), aInt('count_include_pad', 1)]),
        node('Transpose', ['a'], ['t'], [aInts('perm', [0, 2, 3, 1])]),
        node('Flatten', ['t'], ['f']),
        node('MatMul', ['f', 'fc'], ['y']),
      ],
      initializer: [floatTensor('w', w), floatTensor('fc', fc)],
      input: [valueInfo('x', ['N', 4, 7, 7])],
      output: [valueInfo('y', ['N', 3])],
    });
    const reference = (x: tf.Tensor): tf.Tensor2D =>
      tf.tidy(() => {
        const xh = tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
        const halves = tf.split(xh, 2, 3).map((xi, i) =>
          tf.conv2d(xi as tf.Tensor4D, tf.transpose(tf.slice(w, [3 * i, 0, 0, 0], [3, 2, 3, 3]), [2, 3, 1, 0]) as tf.Tensor4D, 1, 'valid'),
        );
        const c = tf.concat(halves, 3) as tf.Tensor4D; // [N,5,5,6]
        const m = tf.maxPool(tf.pad(c, [[0, 0], [0, 1], [0, 1], [0, 0]], -1e9), 2, 2, 'valid'); // ceil: 5 → 3
        const a = tf.avgPool(tf.pad(m, [[0, 0], [1, 1], [1, 1], [0, 0]]), 2, 1, 'valid'); // [N,4,4,6]
        return tf.matMul(tf.reshape(a, [x.shape[0], -1]) as tf.Tensor2D, fc as tf.Tensor2D);
      });
    const loaded = await loadTeacher([onnxFile('ops.onnx', model)]);
    expect(loaded.info).toMatchObject({ inputShape: [4, 7, 7], layout: 'NCHW', numClasses: 3 });
    expectMatchesReference(loaded, { reference, inputShape: [4, 7, 7] } as OnnxFixture);
    loaded.dispose();
    tf.dispose([w, fc]);
  });
});

describe('ONNX models: refusals', () => {
  it('lists every unsupported op by name', async () => {
    const model = onnxModel({
      node: [
        node('RoiAlign', ['x', 'rois', 'idx'], ['r']),
        node('LSTM', ['r'], ['l1']),
        node('LSTM', ['l1'], ['l2']),
        node('Flatten', ['l2'], ['f']),
        node('MyCustomOp', ['f'], ['y'], [], 'custom'),
      ].map((n, i) => (i === 4 ? { ...n, domain: 'com.example' } : n)),
      initializer: [floatTensor('rois', tf.tensor([[0, 0, 1, 1]])), floatTensor('idx', tf.tensor([0]))],
      input: [valueInfo('x', ['N', 3, 8, 8])],
      output: [valueInfo('y', ['N', 10])],
    });
    const e = await loadError([onnxFile('odd.onnx', model)]);
    expect(e.code).toBe('unsupported-op');
    expect(e.message).toMatch(/^odd\.onnx uses ONNX ops CAKE Studio cannot run yet: RoiAlign, LSTM \(2 nodes\), com\.example\.MyCustomOp; supported are Conv, ConvTranspose, Gemm, /);
  });

  it('a truncated or garbage file', async () => {
    const fx = onnxConvNet();
    fx.dispose();
    const e = await loadError([{ name: 'convnet.onnx', data: fx.file.data.slice(0, 300) }]);
    expect(e.code).toBe('bad-onnx');
    expect(e.message).toMatch(/^"convnet\.onnx" is not a readable ONNX model \(.+\); it may be truncated or damaged$/);
    const empty = await loadError([onnxFile('empty.onnx', { ir_version: 8, opset_import: [{ domain: '', version: 13 }] })]);
    expect(empty.message).toBe('"empty.onnx" is not an ONNX model: it has no graph nodes');
  });

  it('a dangling input, and a free image size', async () => {
    const dangling = onnxModel({ node: [node('Relu', ['nowhere'], ['y'])], input: [valueInfo('x', ['N', 4])], output: [valueInfo('y', ['N', 4])] });
    expect((await loadError([onnxFile('d.onnx', dangling)])).message).toBe(
      'd.onnx: node "y" (Relu) reads "nowhere", which no node, graph input or initializer produces',
    );
    const free = onnxModel({ node: [node('Relu', ['x'], ['y'])], input: [valueInfo('x', ['N', 3, 'H', 'W'])], output: [valueInfo('y', ['N', 4])] });
    const e = await loadError([onnxFile('f.onnx', free)]);
    expect(e.code).toBe('input-shape');
    expect(e.message).toBe("the ONNX model's input \"x\" has shape [N,3,H,W] with free dimensions; CAKE needs a fixed image size such as [N,1,28,28]");
  });

  it('an op it runs but with settings it does not support, named with its node', async () => {
    const model = onnxModel({
      node: [node('MaxPool', ['x'], ['p'], [aInts('kernel_shape', [2, 2]), aInts('dilations', [2, 2])]), node('Flatten', ['p'], ['y'])],
      input: [valueInfo('x', ['N', 1, 8, 8])],
      output: [valueInfo('y', ['N', 9])],
    });
    const e = await loadError([onnxFile('pool.onnx', model)]);
    expect(e.code).toBe('unsupported-op');
    expect(e.message).toBe('pool.onnx: node "p" (MaxPool) dilated pooling is not supported');
  });

  it('weights in an external data file, found or missing', async () => {
    const w = tf.randomNormal([4, 3], 0, 1, 'float32', 1);
    const bytes = new Uint8Array((w.dataSync() as Float32Array).slice().buffer);
    const model = onnxModel({
      node: [node('MatMul', ['x', 'w'], ['y'])],
      initializer: [{ name: 'w', dims: [4, 3], data_type: 1, data_location: 1, external_data: [{ key: 'location', value: 'model.onnx.data' }, { key: 'offset', value: '16' }, { key: 'length', value: '48' }] }],
      input: [valueInfo('x', ['N', 4])],
      output: [valueInfo('y', ['N', 3])],
    });
    const file = onnxFile('model.onnx', model);
    const missing = await loadError([file]);
    expect(missing.message).toBe('model.onnx keeps tensor "w" in the external file "model.onnx.data"; drop that file together with model.onnx');
    const data = new Uint8Array(64);
    data.set(bytes, 16);
    const loaded = await loadTeacher([file, { name: 'model.onnx.data', data: data.buffer }]);
    expect(loaded.info).toMatchObject({ inputShape: [4], layout: 'flat', numClasses: 3, params: 12 });
    tf.tidy(() => {
      const x = tf.randomNormal([2, 4], 0, 1, 'float32', 2);
      expect(maxAbsDiff(loaded.teacher.logits(x), tf.matMul(x, w))).toBeLessThan(1e-5);
    });
    loaded.dispose();
    w.dispose();
  });

  it('two inputs, two outputs', async () => {
    const two = onnxModel({ node: [node('Add', ['a', 'b'], ['y'])], input: [valueInfo('a', ['N', 4]), valueInfo('b', ['N', 4])], output: [valueInfo('y', ['N', 4])] });
    expect((await loadError([onnxFile('two.onnx', two)])).message).toBe('this ONNX model has 2 inputs (a, b); CAKE needs a single image input');
    const outs = onnxModel({ node: [node('Relu', ['a'], ['y']), node('Neg', ['a'], ['z'])], input: [valueInfo('a', ['N', 4])], output: [valueInfo('y', ['N', 4]), valueInfo('z', ['N', 4])] });
    expect((await loadError([onnxFile('outs.onnx', outs)])).message).toBe('this ONNX model has 2 outputs (y, z); CAKE needs a single classifier output');
  });
});
