import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from './node-backend';
import { freezeLayersModel } from './frozen-teacher';

const relError = (a: tf.Tensor, b: tf.Tensor) =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / Math.max(1e-12, tf.max(tf.abs(b)).dataSync()[0]));

/** Random weights everywhere, and BatchNorm statistics far from the identity (positive variances). */
function randomize(model: tf.LayersModel, seed: number): void {
  model.setWeights(
    model.weights.map((w, i) => {
      const name = w.name;
      const shape = w.shape as number[];
      if (/moving_variance/.test(name)) return tf.randomUniform(shape, 0.2, 2, 'float32', seed + i);
      if (/gamma/.test(name)) return tf.randomUniform(shape, 0.5, 1.5, 'float32', seed + i);
      return tf.randomNormal(shape, 0, 0.5, 'float32', seed + i);
    }),
  );
}

const L = tf.layers;

/** Conv, BatchNorm, ReLU, two residual blocks (identity and strided 1x1 shortcut), a whole-input average pool, Dense. */
function resnetLike(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  const bn = (t: tf.SymbolicTensor) => L.batchNormalization({ epsilon: 1e-3 }).apply(t) as tf.SymbolicTensor;
  const conv = (t: tf.SymbolicTensor, filters: number, k: number, strides = 1) =>
    L.conv2d({ filters, kernelSize: k, strides, padding: 'same' }).apply(t) as tf.SymbolicTensor;
  const relu = (t: tf.SymbolicTensor) => L.activation({ activation: 'relu' }).apply(t) as tf.SymbolicTensor;
  const a = relu(bn(conv(input, 8, 3)));
  const b = relu(L.add().apply([a, bn(conv(relu(bn(conv(a, 8, 3))), 8, 3))]) as tf.SymbolicTensor);
  const c = relu(L.add().apply([conv(b, 16, 1, 2), bn(conv(relu(bn(conv(b, 16, 3, 2))), 16, 3))]) as tf.SymbolicTensor);
  const pooled = L.flatten().apply(L.averagePooling2d({ poolSize: 4 }).apply(c)) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: L.dense({ units: 5 }).apply(pooled) as tf.SymbolicTensor });
}

/** keras.applications' MobileNet v1 pattern: bias-free convs, BatchNorm, ReLU(6), ZeroPadding2D before strided depthwise. */
function mobilenetLike(): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 3] });
  let t = L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  const bnRelu6 = (s: tf.SymbolicTensor) => L.reLU({ maxValue: 6 }).apply(L.batchNormalization().apply(s)) as tf.SymbolicTensor;
  t = bnRelu6(t);
  t = bnRelu6(L.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }).apply(t) as tf.SymbolicTensor);
  t = bnRelu6(L.conv2d({ filters: 16, kernelSize: 1, useBias: false }).apply(t) as tf.SymbolicTensor);
  t = L.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(t) as tf.SymbolicTensor;
  t = bnRelu6(L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false }).apply(t) as tf.SymbolicTensor);
  t = L.globalAveragePooling2d({}).apply(t) as tf.SymbolicTensor;
  t = L.dropout({ rate: 0.5 }).apply(t) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: L.dense({ units: 7 }).apply(t) as tf.SymbolicTensor });
}

/** LeNet-style, with a nested Sequential feature extractor. */
function nestedLenet(): tf.LayersModel {
  const features = tf.sequential({
    layers: [
      L.conv2d({ inputShape: [12, 12, 1], filters: 4, kernelSize: 3, activation: 'relu' }),
      L.maxPooling2d({ poolSize: 2 }),
      L.conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }),
      L.flatten(),
    ],
  });
  const input = tf.input({ shape: [12, 12, 1] });
  const h = L.dense({ units: 12, activation: 'relu' }).apply(features.apply(input)) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: L.dense({ units: 3 }).apply(h) as tf.SymbolicTensor });
}

const models: [string, () => tf.LayersModel, { foldedBatchNorms: number; fusedAdds: number }][] = [
  ['ResNet-like', resnetLike, { foldedBatchNorms: 5, fusedAdds: 2 }],
  ['MobileNet-like', mobilenetLike, { foldedBatchNorms: 4, fusedAdds: 0 }],
  ['LeNet-like, nested', nestedLenet, { foldedBatchNorms: 0, fusedAdds: 0 }],
];

describe('freezeLayersModel', () => {
  beforeAll(async () => {
    await initNodeBackend();
  });
  afterAll(async () => {
    await tf.setBackend('wasm');
  });

  for (const backend of ['wasm', 'cpu']) {
    for (const [name, build, counts] of models) {
      it(`${name} on ${backend}: the same outputs and input gradients as the model`, async () => {
        await tf.setBackend(backend);
        const model = build();
        randomize(model, 11);
        const untouched = tf.memory().numTensors;
        const frozen = freezeLayersModel(model);
        expect(frozen).not.toBeNull();
        expect(frozen!.summary).toMatchObject(counts);
        const inputShape = model.inputs[0].shape.slice(1) as number[];
        const x = tf.randomNormal([6, ...inputShape], 0, 1, 'float32', 5);
        const w = tf.randomNormal([6, model.outputs[0].shape[1] as number], 0, 1, 'float32', 6);
        const loss = (run: (t: tf.Tensor) => tf.Tensor) => (t: tf.Tensor) => tf.sum(tf.mul(run(t), w));
        const expected = model.apply(x, { training: false }) as tf.Tensor;
        tf.dispose(frozen!.run(x)); // the first call makes the kernels' transformed filters (kept until dispose)
        const before = tf.memory().numTensors;
        const actual = frozen!.run(x);
        // Intermediates are freed as soon as the last op that reads them has run.
        expect(tf.memory().numTensors).toBe(before + 1);
        expect(relError(actual, expected)).toBeLessThan(1e-5);
        const gExpected = tf.grad(loss((t) => model.apply(t, { training: false }) as tf.Tensor))(x);
        const gActual = tf.grad(loss((t) => frozen!.run(t)))(x);
        expect(relError(gActual, gExpected)).toBeLessThan(1e-4);
        tf.dispose([x, w, expected, actual, gExpected, gActual]);
        // Disposing the frozen copy frees everything it made, and the model still runs.
        frozen!.dispose();
        expect(tf.memory().numTensors).toBe(untouched);
        expect(() => tf.dispose(model.predict(tf.zeros([1, ...inputShape])) as tf.Tensor)).not.toThrow();
        model.dispose();
      });
    }
  }

  it('declines a model with a layer it does not know, and says which', () => {
    const input = tf.input({ shape: [4, 4, 2] });
    const out = L.dense({ units: 2 }).apply(L.flatten().apply(L.layerNormalization().apply(input))) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const reasons: string[] = [];
    expect(freezeLayersModel(model, (r) => reasons.push(r))).toBeNull();
    expect(reasons[0]).toMatch(/LayerNormalization/);
    model.dispose();
  });

  it('declines activations other than linear, relu and relu6', () => {
    const input = tf.input({ shape: [3] });
    const model = tf.model({ inputs: input, outputs: L.dense({ units: 2, activation: 'tanh' }).apply(input) as tf.SymbolicTensor });
    const reasons: string[] = [];
    expect(freezeLayersModel(model, (r) => reasons.push(r))).toBeNull();
    expect(reasons[0]).toMatch(/tanh/);
    model.dispose();
  });
});
