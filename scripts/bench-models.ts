/**
 * The teachers the speed benchmarks time, built in tfjs with seeded random weights (speed does not depend on the
 * weights), so that `bench:speed` and `bench:gpu` need nothing but the repository: the same architectures as the
 * PyTorch references of scripts/bench-torch-cpu.py and as the shared teachers in ../shared/teachers.
 * - lenet5: the LeNet-5 of the student zoo, 32×32×1, 10 classes (../shared/bench/ref_cake_torch.py).
 * - resnet8: MLPerf Tiny's CIFAR ResNet-8 as its Keras reference builds it (conv 16 → stages of 16/32/64 channels
 *   with BatchNorm and residual adds, 1×1 strided shortcuts, AveragePooling2D(8), dense 10); 78,666 parameters like
 *   ../shared/teachers/cifar10-resnet8-mlperf-keras.
 * - resnet32: the CIFAR ResNet-32 (3 stages of 5 blocks, 16/32/64 channels), with 1×1 projection shortcuts where
 *   the shape changes.
 * - mobilenet: keras.applications' MobileNet v1 α = 0.25 at 224×224×3, 1000 classes (bias-free convs, BatchNorm,
 *   ReLU6, ZeroPadding2D before strided depthwise convs, global pool, 1×1 conv head), like
 *   ../shared/teachers/imagenet-mobilenet-v1-0.25-keras.
 */
import * as tf from '@tensorflow/tfjs';
import { buildStudent } from '../src/models/students';

export type BenchTeacher = 'lenet5' | 'resnet8' | 'resnet32' | 'mobilenet';

export const BENCH_TEACHERS: Record<BenchTeacher, { inputShape: number[]; classes: number; synthBatch: number }> = {
  lenet5: { inputShape: [32, 32, 1], classes: 10, synthBatch: 500 },
  resnet8: { inputShape: [32, 32, 3], classes: 10, synthBatch: 500 },
  resnet32: { inputShape: [32, 32, 3], classes: 10, synthBatch: 500 },
  // 1000 classes at 224 pixels: 5 groups of 10 per set keep a step near a second on one core.
  mobilenet: { inputShape: [224, 224, 3], classes: 1000, synthBatch: 50 },
};

const L = tf.layers;
type T = tf.SymbolicTensor;

function resnet(blocksPerStage: number): tf.LayersModel {
  const input = tf.input({ shape: [32, 32, 3] });
  const conv = (t: T, filters: number, k: number, strides = 1) =>
    L.conv2d({ filters, kernelSize: k, strides, padding: 'same', kernelInitializer: 'heNormal' }).apply(t) as T;
  const bn = (t: T) => L.batchNormalization().apply(t) as T;
  const relu = (t: T) => L.activation({ activation: 'relu' }).apply(t) as T;
  let x = relu(bn(conv(input, 16, 3)));
  for (const [stage, filters] of [16, 32, 64].entries()) {
    for (let b = 0; b < blocksPerStage; b++) {
      const strides = stage > 0 && b === 0 ? 2 : 1;
      const y = bn(conv(relu(bn(conv(x, filters, 3, strides))), filters, 3));
      const shortcut = strides === 1 && x.shape[3] === filters ? x : conv(x, filters, 1, strides);
      x = relu(L.add().apply([shortcut, y]) as T);
    }
  }
  const pooled = L.flatten().apply(L.averagePooling2d({ poolSize: 8 }).apply(x)) as T;
  return tf.model({ inputs: input, outputs: L.dense({ units: 10 }).apply(pooled) as T });
}

function mobilenetV1(alpha = 0.25): tf.LayersModel {
  const input = tf.input({ shape: [224, 224, 3] });
  const c = (n: number) => Math.round(n * alpha);
  const bnRelu6 = (t: T) => L.reLU({ maxValue: 6 }).apply(L.batchNormalization().apply(t)) as T;
  let x = bnRelu6(L.conv2d({ filters: c(32), kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(input) as T);
  const stages: [number, number][] = [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1]];
  for (const [filters, strides] of stages) {
    if (strides === 2) x = L.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(x) as T;
    x = bnRelu6(L.depthwiseConv2d({ kernelSize: 3, strides, padding: strides === 2 ? 'valid' : 'same', useBias: false }).apply(x) as T);
    x = bnRelu6(L.conv2d({ filters: c(filters), kernelSize: 1, useBias: false }).apply(x) as T);
  }
  x = L.reshape({ targetShape: [1, 1, c(1024)] }).apply(L.globalAveragePooling2d({}).apply(x)) as T;
  x = L.conv2d({ filters: 1000, kernelSize: 1 }).apply(L.dropout({ rate: 0.001 }).apply(x)) as T;
  return tf.model({ inputs: input, outputs: L.reshape({ targetShape: [1000] }).apply(x) as T });
}

/** The teacher as a tfjs LayersModel with seeded random weights and BatchNorm statistics away from the identity. */
export function buildBenchTeacher(name: BenchTeacher): tf.LayersModel {
  if (name === 'lenet5') return buildStudent('lenet5', [32, 32, 1], 10, undefined, { seed: 1 }).model;
  const model = name === 'resnet8' ? resnet(1) : name === 'resnet32' ? resnet(5) : mobilenetV1();
  let seed = 1;
  model.setWeights(
    model.weights.map((w) => {
      seed++;
      const shape = w.shape as number[];
      if (/moving_variance/.test(w.name)) return tf.randomUniform(shape, 0.5, 2, 'float32', seed);
      if (/gamma/.test(w.name)) return tf.randomUniform(shape, 0.5, 1.5, 'float32', seed);
      if (/beta|moving_mean|bias/.test(w.name)) return tf.randomNormal(shape, 0, 0.1, 'float32', seed);
      const fanIn = /depthwise/.test(w.name) ? shape[0] * shape[1] : shape.slice(0, -1).reduce((a, b) => a * b, 1);
      return tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed);
    }),
  );
  return model;
}
