import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { InheritError, inheritFromTeacher } from './inherit';
import { initStudentWeights } from './init';
import { Rng } from './rng';
import { flattenGraph } from './graph';
import { buildRunStudent, buildStudent } from '../models/students';
import { INPUT_SCALE_LAYER } from './input-space';

beforeAll(async () => {
  await initNodeBackend();
});

/** A LeNet-shaped chain on 16×16×1: conv → pool → conv → flatten (a 2×2 map, so positions matter) → dense → dense. */
function lenetLike([c1, c2, f]: [number, number, number], seed: number, batchNorm = false): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.inputLayer({ inputShape: [16, 16, 1] }),
      tf.layers.conv2d({ filters: c1, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: c2, kernelSize: 3, activation: 'relu', padding: 'valid' }),
      ...(batchNorm ? [tf.layers.batchNormalization({ axis: -1 })] : []),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: f, activation: 'relu' }),
      tf.layers.dense({ units: 5 }),
    ],
  });
  initStudentWeights(model, new Rng(seed));
  return model;
}

const convs = (m: tf.LayersModel) => m.layers.filter((l) => l.getClassName() === 'Conv2D');
const weightsOf = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

/** Zeroes the output channels `drop` of every hidden Conv2D/Dense layer (kernel and bias): they output relu(0) = 0. */
function silence(model: tf.LayersModel, drop: (layerIndex: number, units: number) => number[]): void {
  const weighted = model.layers.filter((l) => ['Conv2D', 'Dense'].includes(l.getClassName()));
  weighted.slice(0, -1).forEach((layer, i) => {
    const [k, b] = layer.getWeights();
    const units = k.shape[k.shape.length - 1];
    const dead = drop(i, units);
    const kv = k.dataSync().slice();
    for (let j = 0; j < kv.length; j++) if (dead.includes(j % units)) kv[j] = 0;
    const bv = b.dataSync().slice();
    for (const d of dead) bv[d] = 0;
    layer.setWeights([tf.tensor(kv, k.shape), tf.tensor(bv, b.shape)]);
  });
}

describe('a student that starts from its teacher’s strongest channels', () => {
  it('of a teacher whose dropped channels are silent, computes the teacher’s logits exactly', () => {
    const teacher = lenetLike([6, 8, 12], 1);
    // Silence every other channel, so the kept half (the nonzero ones, by L1 norm) carries everything, across the
    // flatten too: a wrong channel mapping there would change the logits.
    silence(teacher, (_, units) => [...Array(units).keys()].filter((j) => j % 2 === 1));
    const student = lenetLike([3, 4, 6], 2);
    const report = inheritFromTeacher(teacher, student);
    expect(report.map((r) => [r.kept, r.of])).toEqual([[3, 6], [4, 8], [6, 12], [5, 5]]);
    const x = tf.randomNormal([4, 16, 16, 1], 0, 1, 'float32', 3);
    const t = (teacher.predict(x) as tf.Tensor).arraySync() as number[][];
    const s = (student.predict(x) as tf.Tensor).arraySync() as number[][];
    s.flat().forEach((v, i) => expect(v).toBeCloseTo(t.flat()[i], 4));
  });

  it('keeps the channels with the largest L1 norms, in their order, and every class of the classifier', () => {
    const teacher = lenetLike([6, 8, 12], 4);
    const student = lenetLike([3, 4, 6], 5);
    inheritFromTeacher(teacher, student);
    const [k1] = convs(teacher)[0].getWeights();
    const norms = Array.from({ length: 6 }, (_, o) => Array.from(k1.dataSync()).filter((_, j) => j % 6 === o).reduce((a, v) => a + Math.abs(v), 0));
    const kept = [...norms.keys()].sort((a, b) => norms[b] - norms[a]).slice(0, 3).sort((a, b) => a - b);
    const sk = Array.from(convs(student)[0].getWeights()[0].dataSync());
    const tk = Array.from(k1.dataSync());
    for (let p = 0; p < 9; p++) kept.forEach((o, j) => expect(sk[p * 3 + j]).toBe(tk[p * 6 + o]));
    expect(Array.from(student.layers[student.layers.length - 1].getWeights()[1].dataSync())).toEqual(
      Array.from(teacher.layers[teacher.layers.length - 1].getWeights()[1].dataSync()),
    );
  });

  it('gathers BatchNormalization’s statistics for the kept channels and leaves the teacher as it was', () => {
    const teacher = lenetLike([6, 8, 12], 6, true);
    const bn = teacher.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
    bn.setWeights(bn.getWeights().map((w, i) => tf.tensor1d(Array.from({ length: 8 }, (_, c) => i + c / 10 + 0.5))));
    const before = weightsOf(teacher);
    const student = lenetLike([3, 4, 6], 7, true);
    inheritFromTeacher(teacher, student);
    expect(weightsOf(teacher)).toEqual(before);
    const [k2] = convs(teacher)[1].getWeights();
    const norms = Array.from({ length: 8 }, (_, o) => Array.from(k2.dataSync()).filter((_, j) => j % 8 === o).reduce((a, v) => a + Math.abs(v), 0));
    // A channel's score is its filter's L1 norm times the BatchNorm's |γ/σ| (γ = 0.5 + c/10, variance 3.5 + c/10).
    const scores = norms.map((n, c) => (n * (0.5 + c / 10)) / Math.sqrt(3.5 + c / 10 + 1e-3));
    const kept = [...scores.keys()].sort((a, b) => scores[b] - scores[a]).slice(0, 4).sort((a, b) => a - b);
    const gamma = Array.from(student.layers.find((l) => l.getClassName() === 'BatchNormalization')!.getWeights()[0].dataSync());
    kept.forEach((c, j) => expect(gamma[j]).toBeCloseTo(0.5 + c / 10, 6));
    // The teacher still predicts (its variables were copied from, not handed over and freed).
    expect((teacher.predict(tf.zeros([1, 16, 16, 1])) as tf.Tensor).shape).toEqual([1, 5]);
  });

  it('refuses, naming the layer, a student of other layers or a wider one, and channels-first layers', () => {
    const teacher = lenetLike([6, 8, 12], 1);
    const mlp = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [16, 16, 1] }), tf.layers.dense({ units: 5 })] });
    expect(() => inheritFromTeacher(teacher, mlp)).toThrow(InheritError);
    expect(() => inheritFromTeacher(teacher, mlp)).toThrow(/its layers \(Flatten → Dense\) are not the teacher's \(Conv2D → Conv2D → Flatten → Dense → Dense\)/);
    expect(() => inheritFromTeacher(teacher, lenetLike([8, 8, 12], 2))).toThrow(/has 8 outputs, more than the teacher's 6/);
    const firstChannels = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [1, 16, 16], filters: 4, kernelSize: 3, dataFormat: 'channelsFirst' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 5 }),
      ],
    });
    expect(() => inheritFromTeacher(firstChannels, firstChannels)).toThrow(/the teacher's layer "[^"]+" is channels-first/);
  });
});

describe('a student copied from a residual, depthwise or nested teacher', () => {
  /** Zeroes the odd output channels of every channel-making layer but the last, and the matching BN statistics. */
  function silenceOdd(model: tf.LayersModel): void {
    const layers = flattenGraph(model).ops.map((o) => o.layer);
    const makers = layers.filter((l) => ['Conv2D', 'Dense', 'SeparableConv2D'].includes(l.getClassName()));
    const last = makers[makers.length - 1];
    for (const layer of layers) {
      const cls = layer.getClassName();
      if (layer === last || !['Conv2D', 'Dense', 'SeparableConv2D', 'BatchNormalization', 'DepthwiseConv2D'].includes(cls)) continue;
      const ws = layer.getWeights();
      layer.setWeights(
        ws.map((w, i) => {
          const units = w.shape[w.shape.length - 1];
          // BN: gamma, beta, moving mean, moving variance; the variance stays 1 so nothing divides by zero.
          if (cls === 'BatchNormalization' && i === 3) return w.clone();
          if ((cls === 'SeparableConv2D' || cls === 'DepthwiseConv2D') && i === 0) return w.clone();
          const v = w.dataSync().slice();
          for (let j = 0; j < v.length; j++) if ((j % units) % 2 === 1) v[j] = 0;
          return tf.tensor(v, w.shape);
        }),
      );
    }
  }

  function residualTeacher(): tf.LayersModel {
    const input = tf.input({ shape: [12, 12, 3] });
    const stem = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    let a = tf.layers.batchNormalization().apply(stem) as tf.SymbolicTensor;
    a = tf.layers.reLU().apply(a) as tf.SymbolicTensor;
    a = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(a) as tf.SymbolicTensor;
    a = tf.layers.conv2d({ filters: 8, kernelSize: 1 }).apply(a) as tf.SymbolicTensor;
    let y = tf.layers.add().apply([a, stem]) as tf.SymbolicTensor;
    y = tf.layers.separableConv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(y) as tf.SymbolicTensor;
    y = tf.layers.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor;
    const features = tf.model({ inputs: input, outputs: y, name: 'features' });
    // Nested, as Teachable Machine exports are: the feature model inside a Sequential, then a head.
    return tf.sequential({ layers: [features, tf.layers.dense({ units: 6, activation: 'relu' }), tf.layers.dense({ units: 4, activation: 'softmax' })] });
  }

  it('keeps the channels that meet in a residual Add together and computes the teacher exactly when the rest are silent', () => {
    const teacher = residualTeacher();
    initStudentWeights(teacher, new Rng(3));
    const bn = flattenGraph(teacher).ops.find((o) => o.className === 'BatchNormalization')!.layer;
    bn.setWeights(bn.getWeights().map((w, i) => tf.tensor1d(Array.from({ length: 8 }, (_, c) => [1.5, 0.2, 0.1, 1][i] + c / 100))));
    silenceOdd(teacher);
    const built = buildStudent('auto', [12, 12, 3], 4, teacher, { size: 0.45 });
    expect(built.note).toMatch(/at half width/);
    const report = inheritFromTeacher(teacher, built.model);
    // The stem and the 1×1 conv share one group through the Add: both keep the even channels.
    const stem = report.find((r) => r.kept === 4 && r.of === 8 && r.channels)!;
    expect(stem.channels).toEqual([0, 2, 4, 6]);
    expect(report.filter((r) => r.channels && r.of === 8).every((r) => r.channels!.join() === '0,2,4,6')).toBe(true);
    const x = tf.randomNormal([3, 12, 12, 3], 0, 1, 'float32', 9);
    // Log-probabilities: the teacher ends in a softmax, the student in logits (equal up to a constant per sample).
    const centred = (t: tf.Tensor) => tf.tidy(() => tf.sub(t, tf.mean(t, -1, true)).arraySync() as number[][]);
    const t = centred(tf.log(teacher.predict(x) as tf.Tensor));
    const s = centred(built.model.predict(x) as tf.Tensor);
    expect(Math.max(...t.flat().map((v) => Math.abs(v)))).toBeGreaterThan(0.05);
    s.flat().forEach((v, i) => expect(v).toBeCloseTo(t.flat()[i], 4));
    built.model.dispose();
    teacher.dispose();
  });

  it('keeps one set of channels for both sides of an Add, though each side alone would keep others', () => {
    const teacher = residualTeacher();
    initStudentWeights(teacher, new Rng(11));
    const built = buildStudent('auto', [12, 12, 3], 4, teacher, { size: 0.45 });
    const report = inheritFromTeacher(teacher, built.model);
    const sides = report.filter((r) => r.channels && r.of === 8);
    expect(sides).toHaveLength(2);
    expect(sides[0].channels).toEqual(sides[1].channels);
    // Each side's own strongest channels differ (so the shared choice is a real constraint here).
    const ownBest = sides.map((side) => {
      const [k] = flattenGraph(teacher).ops.find((o) => o.layer.name === side.teacher)!.layer.getWeights();
      const norms = tf.tidy(() => k.abs().reshape([-1, 8]).sum(0).arraySync() as number[]);
      return [...norms.keys()].sort((a, b) => norms[b] - norms[a]).slice(0, 4).sort((a, b) => a - b).join();
    });
    expect(ownBest[0]).not.toBe(ownBest[1]);
    built.model.dispose();
    teacher.dispose();
  });

  it('folds a raw-pixel teacher’s input scale and its BatchNorm into the first layer of a student that scales its input', () => {
    const input = tf.input({ shape: [8, 8, 3] });
    let y = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    y = tf.layers.batchNormalization().apply(y) as tf.SymbolicTensor;
    y = tf.layers.globalAveragePooling2d({}).apply(tf.layers.reLU().apply(y)) as tf.SymbolicTensor;
    const teacher = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3 }).apply(y) as tf.SymbolicTensor });
    initStudentWeights(teacher, new Rng(5));
    // Statistics of raw pixels, far from the defaults, so that folding the BatchNorm into the conv is really tested.
    const bn = teacher.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
    bn.setWeights([tf.tensor1d([1.5, 0.5, 2, 1]), tf.tensor1d([0.1, -0.2, 0.3, 0]), tf.tensor1d([40, -30, 10, 5]), tf.tensor1d([900, 400, 2500, 100])]);
    // Full width, so the copy must compute the teacher exactly; the input range says raw 0-255 pixels.
    const config = { seed: 0, student: { arch: 'auto', size: 1 }, synthesis: { clampRange: [0, 255] as [number, number] } };
    const built = buildRunStudent(config, [8, 8, 3], 3, teacher);
    expect(built.model.layers[1].name).toBe(INPUT_SCALE_LAYER);
    // The student has no BatchNorm: the teacher's is folded into its first conv.
    expect(built.model.layers.map((l) => l.getClassName())).not.toContain('BatchNormalization');
    inheritFromTeacher(teacher, built.model);
    const x = tf.randomUniform([2, 8, 8, 3], 0, 255, 'float32', 4);
    const t = (teacher.predict(x) as tf.Tensor).arraySync() as number[][];
    const s = (built.model.predict(x) as tf.Tensor).arraySync() as number[][];
    s.flat().forEach((v, i) => expect(v).toBeCloseTo(t.flat()[i], 2));
    expect(Math.max(...t.flat().map(Math.abs))).toBeGreaterThan(1);
    built.model.dispose();
    teacher.dispose();
  });
});
