import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { buildStudent, STUDENT_ARCHS, StudentError } from './students';

beforeAll(async () => {
  await initNodeBackend();
});

/** Build, check the output is [n, classes] logits for a batch of the exact input shape, and return the param count. */
function paramsOf(arch: string, inputShape: number[], classes = 10, teacher?: tf.LayersModel): number {
  const { model } = buildStudent(arch, inputShape, classes, teacher, { seed: 1 });
  expect(model.inputs[0].shape).toEqual([null, ...inputShape]);
  const y = tf.tidy(() => (model.predict(tf.randomNormal([3, ...inputShape], 0, 1, 'float32', 2)) as tf.Tensor).shape);
  expect(y).toEqual([3, classes]);
  // No softmax anywhere at the end: students emit logits.
  const last = model.layers[model.layers.length - 1];
  expect(['Softmax', 'Activation']).not.toContain(last.getClassName());
  expect(last.getConfig().activation ?? 'linear').toBe('linear');
  const n = model.countParams();
  model.dispose();
  return n;
}

// Parameter counts derived by hand (weights + biases per layer), C = 10 classes:
//
// lenet5, 32×32×1 ('valid' throughout: 32 →conv 28 →pool 14 →conv 10 →pool 5 →conv 1):
//   conv 6@5×5: 25·1·6 + 6 = 156; conv 16@5×5: 25·6·16 + 16 = 2,416; conv 120@5×5: 25·16·120 + 120 = 48,120;
//   dense 84: 120·84 + 84 = 10,164; dense 10: 84·10 + 10 = 850. Total 61,706 (the paper's LeNet-5).
// lenet5 on 28×28 ('same' first conv: 28 → 28 → 14 → 10 → 5 → 1): the same layers, 61,706.
// lenet5, 32×32×3: first conv 25·3·6 + 6 = 456 instead of 156: 62,006.
// lenet5-half (3, 8, 60, 42), 32×32×1: 25·1·3 + 3 = 78; 25·3·8 + 8 = 608; 25·8·60 + 60 = 12,060;
//   60·42 + 42 = 2,562; 42·10 + 10 = 430. Total 15,738. On 32×32×3 the first conv is 25·3·3 + 3 = 228: 15,888.
// mlp: 784·256 + 256 = 200,960; 256·128 + 128 = 32,896; 128·10 + 10 = 1,290 → 28×28: 235,146.
//   32×32×1: 1,024·256 + 256 = 262,400 → 296,586. 32×32×3: 3,072·256 + 256 = 786,688 → 820,874.
// cnn ('valid' 3×3 convs): conv 32: 9·1·32 + 32 = 320 (9·3·32 + 32 = 896 for RGB); conv 64: 9·32·64 + 64 = 18,496;
//   dense 128 on 28 px (28 → 26 → 13 → 11 → 5: 5·5·64 = 1,600): 1,600·128 + 128 = 204,928; dense 10: 1,290.
//   28×28: 225,034. 32 px (32 → 30 → 15 → 13 → 6: 2,304 features): 2,304·128 + 128 = 295,040 → 315,146 (1 ch),
//   315,722 (3 ch).
describe('student zoo: shapes and parameter counts', () => {
  it('lenet5', () => {
    expect(paramsOf('lenet5', [32, 32, 1])).toBe(61_706);
    expect(paramsOf('lenet5', [28, 28, 1])).toBe(61_706);
    expect(paramsOf('lenet5', [28, 28])).toBe(61_706);
    expect(paramsOf('lenet5', [32, 32, 3])).toBe(62_006);
  });

  it('lenet5-half', () => {
    expect(paramsOf('lenet5-half', [32, 32, 1])).toBe(15_738);
    expect(paramsOf('lenet5-half', [28, 28, 1])).toBe(15_738);
    expect(paramsOf('lenet5-half', [28, 28])).toBe(15_738);
    expect(paramsOf('lenet5-half', [32, 32, 3])).toBe(15_888);
  });

  it('mlp', () => {
    expect(paramsOf('mlp', [28, 28, 1])).toBe(235_146);
    expect(paramsOf('mlp', [28, 28])).toBe(235_146);
    expect(paramsOf('mlp', [784])).toBe(235_146);
    expect(paramsOf('mlp', [32, 32, 1])).toBe(296_586);
    expect(paramsOf('mlp', [32, 32, 3])).toBe(820_874);
  });

  it('cnn', () => {
    expect(paramsOf('cnn', [28, 28, 1])).toBe(225_034);
    expect(paramsOf('cnn', [28, 28])).toBe(225_034);
    expect(paramsOf('cnn', [32, 32, 1])).toBe(315_146);
    expect(paramsOf('cnn', [32, 32, 3])).toBe(315_722);
  });

  // resnet at width 1, 32×32×3, 10 classes: stem 27·16 + 16 = 448; block 16→16: 2 × (9·16·16 + 16) = 4,640;
  //   block 16→32/2: 9·16·32 + 32 = 4,640, 9·32·32 + 32 = 9,248, shortcut 16·32 + 32 = 544; block 32→64/2: 18,496 +
  //   36,928 + 2,112; dense 64·10 + 10 = 650. Total 77,706.
  // mobilenet at width 1, 224×224×3: stem 27·32 + 32 = 896; depthwise 3×3 with bias on 32, 64, 128, 128, 256, 256
  //   channels: 8,640; pointwise 32→64→128→128→256→256→512 with bias: 257,344; dense 512·10 + 10 = 5,130. Total 272,010.
  it('resnet and mobilenet, and their sizing to a share of the teacher', () => {
    expect(paramsOf('resnet', [32, 32, 3])).toBe(77_706);
    expect(paramsOf('resnet', [3, 32, 32])).toBe(77_706);
    expect(paramsOf('mobilenet', [224, 224, 3])).toBe(272_010);
    // A 464k-parameter teacher (the CIFAR ResNet-32) gets width 1 within a quarter of it; a 78k one width 1/2.
    const big = buildStudent('resnet', [32, 32, 3], 10, undefined, { teacherParams: 464_154 });
    expect(big.note).toBe("resnet at width 1: 77,706 parameters, 17 % of the teacher's");
    const small = buildStudent('resnet', [32, 32, 3], 10, undefined, { teacherParams: 78_666 });
    expect(small.model.countParams()).toBeLessThanOrEqual(78_666 * 0.25 * 1.05);
    expect(small.note).toMatch(/^resnet at width 0.5:/);
    // auto without a model to copy picks by the image: MobileNet's plan above 64 px, never a dense layer on a big map.
    const mobile = buildStudent('auto', [224, 224, 3], 7, undefined, { teacherParams: 539_008 });
    expect(mobile.arch).toBe('mobilenet');
    expect(mobile.model.countParams()).toBeLessThan(539_008 * 0.27);
    for (const b of [big, small, mobile]) b.model.dispose();
    expect(() => buildStudent('resnet', [6, 6, 3], 10)).toThrow('resnet needs images of at least 8×8 pixels; this input is 6×6: pick mlp');
  });

  it('reads NCHW and flat square inputs as images', () => {
    expect(paramsOf('cnn', [3, 32, 32])).toBe(315_722);
    expect(paramsOf('lenet5', [784])).toBe(61_706);
  });

  it('refuses inputs an architecture cannot take, saying what to pick', () => {
    expect(() => buildStudent('lenet5', [20, 20, 1], 10)).toThrow('lenet5 needs images of at least 28×28 pixels; this input is 20×20: pick cnn or mlp');
    expect(() => buildStudent('cnn', [8, 8], 10)).toThrow(StudentError);
    expect(() => buildStudent('cnn', [101], 10)).toThrow('cnn needs an image input, but the teacher takes a flat vector of 101 values: pick mlp');
    expect(() => buildStudent('resnet50', [28, 28, 1], 10)).toThrow('unknown student architecture "resnet50"');
    expect(() => buildStudent('mlp', [28, 28, 1], 1)).toThrow('a student needs at least 2 classes');
  });

  it('lists every architecture with a description', () => {
    expect(STUDENT_ARCHS.map((a) => a.name)).toEqual(['auto', 'lenet5', 'lenet5-half', 'mlp', 'cnn', 'resnet', 'mobilenet']);
    for (const a of STUDENT_ARCHS) expect(a.description.length).toBeGreaterThan(20);
  });

  it('seeds initialisation', () => {
    const a = buildStudent('lenet5-half', [28, 28, 1], 10, undefined, { seed: 7 }).model;
    const b = buildStudent('lenet5-half', [28, 28, 1], 10, undefined, { seed: 7 }).model;
    a.weights.forEach((w, i) => expect(tf.tidy(() => tf.max(tf.abs(tf.sub(w.read(), b.weights[i].read()))).dataSync()[0])).toBe(0));
    a.dispose();
    b.dispose();
  });
});

describe("auto: the teacher's own graph at the width that keeps a quarter of its parameters", () => {
  it('halves a LeNet-5 teacher with a softmax head into lenet5-half', () => {
    const teacher = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [32, 32, 1], filters: 6, kernelSize: 5, activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu' }),
        tf.layers.averagePooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 120, kernelSize: 5, activation: 'relu' }),
        tf.layers.flatten(),
        tf.layers.dropout({ rate: 0.1 }),
        tf.layers.dense({ units: 84, activation: 'relu' }),
        tf.layers.dense({ units: 10 }),
        tf.layers.activation({ activation: 'softmax' }),
      ],
    });
    const built = buildStudent('auto', [32, 32, 1], 10, teacher);
    expect(built.arch).toBe('auto');
    // 15,738 of 61,706 is 25.5 %: within the quarter's 5 % slack, so half width it is.
    expect(built.note).toBe("auto: the teacher's architecture at half width (6→3, 16→8, 120→60, 84→42), 15,738 parameters, 26 % of the teacher's");
    expect(built.model.layers.map((l) => l.getClassName())).not.toContain('Activation');
    built.model.dispose();
    expect(paramsOf('auto', [32, 32, 1], 10, teacher)).toBe(15_738);
    // A larger budget keeps more width, never more than the teacher's parameters.
    const wide = buildStudent('auto', [32, 32, 1], 10, teacher, { size: 0.6 });
    expect(wide.note).toMatch(/at 3\/4 width \(6→5, 16→12, 120→90, 84→63\)/);
    expect(wide.model.countParams()).toBeLessThan(teacher.countParams());
    wide.model.dispose();
    teacher.dispose();
  });

  it('copies a rank-3 MLP teacher ([28, 28] → Flatten → Dense 128 → Dense 10 softmax) at a quarter width', () => {
    const teacher = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [28, 28] }), tf.layers.dense({ units: 128, activation: 'relu' }), tf.layers.dense({ units: 10, activation: 'softmax' })],
    });
    // Its parameters grow linearly with the hidden width (784·128 of 101,770): half width keeps 50 %, a quarter 25 %.
    // 784·32 + 32 = 25,120; 32·10 + 10 = 330.
    expect(paramsOf('auto', [28, 28], 10, teacher)).toBe(25_450);
    teacher.dispose();
  });

  it('copies a functional chain with BatchNormalization', () => {
    const input = tf.input({ shape: [12, 12, 3] });
    let x = tf.layers.conv2d({ filters: 8, kernelSize: 3 }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'relu' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ units: 5, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
    const teacher = tf.model({ inputs: input, outputs: x });
    const built = buildStudent('auto', [12, 12, 3], 5, teacher);
    expect(built.arch).toBe('auto');
    // Teacher: 27·8 + 8 = 224; BN 32; dense on 800 features: 4,005. A quarter width: conv 2@3×3: 27·2 + 2 = 56
    // with the BatchNorm folded into it (students keep none); dense on 10·10·2 = 200 features: 200·5 + 5 = 1,005.
    expect(built.model.layers.map((l) => l.getClassName())).not.toContain('BatchNormalization');
    expect(built.model.countParams()).toBe(56 + 1_005);
    built.model.dispose();
    teacher.dispose();
  });

  it('copies residual, depthwise and nested teachers (ResNet-, MobileNet- and Teachable-Machine-like)', () => {
    // A residual stage: conv → BN → relu → conv → BN, added to a 1×1 projection of its input; GAP; dense.
    const input = tf.input({ shape: [16, 16, 3] });
    const stem = tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(input) as tf.SymbolicTensor;
    let a = tf.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same' }).apply(stem) as tf.SymbolicTensor;
    a = tf.layers.batchNormalization().apply(a) as tf.SymbolicTensor;
    a = tf.layers.reLU().apply(a) as tf.SymbolicTensor;
    a = tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same' }).apply(a) as tf.SymbolicTensor;
    const b = tf.layers.conv2d({ filters: 32, kernelSize: 1, strides: 2 }).apply(stem) as tf.SymbolicTensor;
    let y = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
    y = tf.layers.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor;
    y = tf.layers.dense({ units: 10, activation: 'softmax' }).apply(y) as tf.SymbolicTensor;
    const resnet = tf.model({ inputs: input, outputs: y });
    const r = buildStudent('auto', [16, 16, 3], 10, resnet, { seed: 1 });
    // The BatchNorm folds into the conv before it, so half width keeps 26 % here.
    expect(r.note).toMatch(/^auto: the teacher's architecture at half width \(16→8, 32→16\)/);
    expect(r.model.layers.map((l) => l.getClassName())).toContain('Add');
    expect(r.model.countParams()).toBeLessThanOrEqual(resnet.countParams() * 0.25 * 1.05);
    r.model.dispose();

    // MobileNet's head: depthwise-separable blocks, GAP, Reshape to [1, 1, C], a 1×1 conv classifier, Reshape, softmax.
    const mIn = tf.input({ shape: [32, 32, 3] });
    let m = tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(mIn) as tf.SymbolicTensor;
    m = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(m) as tf.SymbolicTensor;
    m = tf.layers.conv2d({ filters: 64, kernelSize: 1, activation: 'relu' }).apply(m) as tf.SymbolicTensor;
    m = tf.layers.separableConv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(m) as tf.SymbolicTensor;
    m = tf.layers.globalAveragePooling2d({}).apply(m) as tf.SymbolicTensor;
    m = tf.layers.reshape({ targetShape: [1, 1, 64] }).apply(m) as tf.SymbolicTensor;
    m = tf.layers.conv2d({ filters: 7, kernelSize: 1 }).apply(m) as tf.SymbolicTensor;
    m = tf.layers.reshape({ targetShape: [7] }).apply(m) as tf.SymbolicTensor;
    m = tf.layers.activation({ activation: 'softmax' }).apply(m) as tf.SymbolicTensor;
    const mobilenet = tf.model({ inputs: mIn, outputs: m });
    expect(paramsOf('auto', [32, 32, 3], 7, mobilenet)).toBeLessThan(mobilenet.countParams() * 0.27);

    // Teachable Machine: a Sequential of a feature extractor (itself a model) and a Sequential head.
    const base = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [24, 24, 3], filters: 16, kernelSize: 3, activation: 'relu' }), tf.layers.globalAveragePooling2d({})] });
    const head = tf.sequential({ layers: [tf.layers.dense({ inputShape: [16], units: 32, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    const tm = tf.sequential({ layers: [base, head] });
    const t = buildStudent('auto', [24, 24, 3], 3, tm);
    expect(t.arch).toBe('auto');
    expect(t.model.layers.some((l) => l instanceof tf.LayersModel)).toBe(false);
    t.model.dispose();
    for (const model of [resnet, mobilenet, tm]) model.dispose();
  });

  it('falls back with a note where the graph cannot be copied, and without a teacher', () => {
    const input = tf.input({ shape: [28, 28, 1] });
    const gru = tf.layers.reshape({ targetShape: [28, 28] }).apply(input) as tf.SymbolicTensor;
    const rnn = tf.layers.simpleRNN({ units: 8 }).apply(gru) as tf.SymbolicTensor;
    const recurrent = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 10 }).apply(rnn) as tf.SymbolicTensor });
    const a = buildStudent('auto', [28, 28, 1], 10, recurrent);
    expect(a.arch).toBe('lenet5-half');
    expect(a.note).toMatch(/^auto: the teacher's graph cannot be copied \(it has a SimpleRNN layer \(".+"\)\), so the student is lenet5-half$/);
    a.model.dispose();
    recurrent.dispose();

    const c = buildStudent('auto', [101], 4);
    expect(c.arch).toBe('mlp');
    expect(c.note).toBe('auto: no teacher model was given, so the student is mlp');
    c.model.dispose();
  });
});
