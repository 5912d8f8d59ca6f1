import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { presetConfig } from '../cake/config';
import { Rng } from '../cake/rng';
import { synthesizeSet } from '../cake/synthesis';
import { teacherFromModel } from '../cake/testing';
import { buildStudent } from '../models/students';

// Test-only: the models the exporters are checked on. Every student architecture of the zoo over every input
// layout it accepts, and one functional model that uses every layer class the ONNX exporter maps, wired the way
// ResNet (residual Add) and MobileNet (depthwise and separable convs, ReLU6, BatchNorm) blocks are, with
// BatchNorm statistics and PReLU slopes set away from their initial values so that a wrong mapping shows.

export interface ExportCase {
  label: string;
  arch: string;
  inputShape: number[];
  /** The fixed input scaling a raw-pixel teacher's student starts with (students.ts, `inputScale`). */
  inputScale?: number;
}

/** Each zoo student over each input layout it accepts: NHWC, NCHW (PyTorch teachers), [H, W], flat. */
export const STUDENT_CASES: readonly ExportCase[] = [
  { label: 'lenet5 on NHWC 28×28×1', arch: 'lenet5', inputShape: [28, 28, 1] },
  { label: 'lenet5 on NCHW 1×32×32', arch: 'lenet5', inputShape: [1, 32, 32] },
  { label: 'lenet5-half on NCHW 1×28×28', arch: 'lenet5-half', inputShape: [1, 28, 28] },
  { label: 'lenet5-half on HW 28×28', arch: 'lenet5-half', inputShape: [28, 28] },
  { label: 'cnn on NHWC 32×32×3', arch: 'cnn', inputShape: [32, 32, 3] },
  { label: 'cnn on NCHW 3×32×32', arch: 'cnn', inputShape: [3, 32, 32] },
  { label: 'cnn on a flat square 256', arch: 'cnn', inputShape: [256] },
  { label: 'mlp on HW 28×28', arch: 'mlp', inputShape: [28, 28] },
  { label: 'mlp on flat 20', arch: 'mlp', inputShape: [20] },
  { label: 'resnet on NHWC 32×32×3', arch: 'resnet', inputShape: [32, 32, 3] },
  { label: 'resnet on NCHW 3×32×32 with the input scaling of a raw-pixel teacher', arch: 'resnet', inputShape: [3, 32, 32], inputScale: 1 / 63.75 },
  { label: 'mobilenet on NHWC 48×48×3', arch: 'mobilenet', inputShape: [48, 48, 3] },
];

/** A teacher the 'auto' student copies at half width: a plain chain with BatchNorm, Dropout and pooling. */
export function chainTeacher(inputShape = [28, 28, 1], classes = 10): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape, filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.batchNormalization(),
      tf.layers.averagePooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dropout({ rate: 0.25 }),
      tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(3) }),
      tf.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: init(4) }),
    ],
  });
}

/** Every trainable and non-trainable weight set to seeded values; variances positive. */
export function randomiseWeights(model: tf.LayersModel, seed = 5): void {
  const values = model.weights.map((w, i) => {
    const rand = tf.randomUniform(w.shape as number[], -0.5, 0.5, 'float32', seed + i);
    if (!/moving_variance|gamma/.test(w.originalName)) return rand;
    const positive = tf.add(rand, 1);
    rand.dispose();
    return positive;
  });
  model.setWeights(values);
  tf.dispose(values);
}

/** The zoo student `c` with seeded weights. */
export function studentOf(c: ExportCase, classes = 10): tf.LayersModel {
  return buildStudent(c.arch, c.inputShape, classes, undefined, { seed: 1, inputScale: c.inputScale }).model;
}

/**
 * One functional model using every layer class the ONNX exporter maps: a MobileNet-style block (depthwise conv with
 * a multiplier, pointwise conv, BatchNorm, ReLU6) with a residual Add, a separable conv, padding, cropping,
 * up-sampling, all pooling kinds, every merge, rescaling, Permute and Reshape, Dense on rank 3 and rank 2, and a Dense chain
 * through every activation tfjs serialises. `taps` are models sharing its layers that end after each block.
 */
export function layerZoo(classes = 10): { model: tf.LayersModel; taps: tf.LayersModel[] } {
  const L = tf.layers;
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
  const input = tf.input({ shape: [20, 18, 3], name: 'image' });
  let y = apply(L.zeroPadding2d({ padding: [[1, 2], [0, 1]] }), input); // 23×19
  y = apply(L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }), y); // 12×10
  y = apply(L.batchNormalization(), y);
  y = apply(L.reLU({ maxValue: 6 }), y);
  const depth = apply(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu6' }), y);
  const point = apply(L.conv2d({ filters: 8, kernelSize: 1, activation: 'linear' }), depth);
  let r = apply(L.add(), [y, point]);
  r = apply(L.activation({ activation: 'swish' }), r);
  const sep = apply(L.separableConv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }), r);
  let c = apply(L.concatenate(), [r, sep]); // 12×10×16
  c = apply(L.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }), c); // 6×5
  c = apply(L.cropping2D({ cropping: [[1, 0], [0, 1]] }), c); // 5×4
  c = apply(L.upSampling2d({ size: [2, 2] }), c); // 10×8
  const bilinear = apply(L.upSampling2d({ size: [2, 3], interpolation: 'bilinear' }), c);
  c = apply(L.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same' }), c); // 5×4
  const leaky = apply(L.leakyReLU({ alpha: 0.1 }), c);
  const pre = apply(L.prelu(), leaky);
  const elu = apply(L.elu({}), pre);
  const mul = apply(L.multiply(), [pre, elu]);
  const sum = apply(L.add(), [mul, leaky, c]);
  const avg = apply(L.average(), [sum, pre, elu]);
  const max = apply(L.maximum(), [avg, elu]);
  const min = apply(L.minimum(), [max, apply(L.thresholdedReLU({ theta: 0.1 }), pre)]);
  const gap = apply(L.globalAveragePooling2d({}), min);
  const gmp = apply(L.globalMaxPooling2d({}), pre);
  // Permute to channels-first, reshape to rows of 4, a Dense on rank 3, flatten.
  let p = apply(L.permute({ dims: [3, 1, 2] }), min); // 16×5×4
  p = apply(L.reshape({ targetShape: [80, 4] }), p); // 80×4
  p = apply(L.dense({ units: 2, activation: 'tanh' }), p);
  p = apply(L.flatten(), p);
  let f = apply(L.concatenate({ axis: -1 }), [gap, gmp, p]);
  f = apply(L.rescaling({ scale: 0.5, offset: 0.1 }), f);
  f = apply(L.dropout({ rate: 0.5 }), f);
  f = apply(L.batchNormalization(), f);
  const normed = f;
  for (const activation of ['relu', 'elu', 'selu', 'sigmoid', 'hardSigmoid', 'softplus', 'softsign', 'mish', 'gelu', 'tanh'] as const)
    f = apply(L.dense({ units: 12, activation }), f);
  f = apply(L.softmax({ axis: -1 }), f);
  const out = apply(L.dense({ units: classes }), f);
  const model = tf.model({ inputs: input, outputs: out, name: 'layer_zoo' });
  randomiseWeights(model);
  // The final logits pass through saturating activations; each block's own output shows a wrong mapping plainly.
  const taps = [y, r, sep, bilinear, min, p, normed].map((t, i) => tf.model({ inputs: input, outputs: t, name: `zoo_tap${i}` }));
  return { model, taps };
}

/** Runs an .onnx file in ONNX Runtime (onnxruntime-web's WASM build, in Node) on `x`; returns its one output. */
export async function runInOnnxRuntime(bytes: Uint8Array, x: tf.Tensor, inputName?: string): Promise<{ data: Float32Array; dims: number[] }> {
  // One thread: the threaded build would start workers, which the 2-core test machine gains nothing from.
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const name = inputName ?? session.inputNames[0];
    const out = await session.run({ [name]: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape) });
    const y = out[session.outputNames[0]];
    return { data: y.data as Float32Array, dims: [...y.dims] };
  } finally {
    await session.release();
  }
}

const PYTHON = '/usr/bin/python3';

/**
 * `onnx.checker.check_model(full_check=True)` from Debian's python3-onnx on the file, or why it cannot run (that
 * Python or its onnx module is not installed).
 */
export function onnxChecker(bytes: Uint8Array): { ok: boolean; message: string } | { missing: string } {
  if (!existsSync(PYTHON)) return { missing: `${PYTHON} is not installed` };
  const probe = spawnSync(PYTHON, ['-c', 'import onnx; print(onnx.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) return { missing: `${PYTHON} has no onnx module (apt-get install python3-onnx)` };
  const dir = mkdtempSync(path.join(tmpdir(), 'cake-onnx-'));
  try {
    const file = path.join(dir, 'model.onnx');
    writeFileSync(file, bytes);
    const run = spawnSync(PYTHON, ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print("onnx", onnx.__version__, "ok")', file], {
      encoding: 'utf8',
    });
    return { ok: run.status === 0, message: (run.status === 0 ? run.stdout : run.stderr).trim().split('\n').pop() ?? '' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The demo teacher under public/ (a LeNet-5 trained on MNIST, 99.25 % on t10k): a trained model in the repository. */
export async function demoTeacherModel(): Promise<tf.LayersModel> {
  const json = JSON.parse(readFileSync('public/demo-teacher/model.json', 'utf8'));
  const weights = readFileSync('public/demo-teacher/weights.bin');
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) }),
  );
}

/** One CAKE set of `count` samples synthesised against `model` (the quick preset's losses, `steps` steps): inputs like the student learns from. */
export async function syntheticSamples(model: tf.LayersModel, count: number, steps = 16, seed = 9): Promise<tf.Tensor> {
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const numClasses = model.outputs[0].shape[1] as number;
  const cfg = presetConfig('quick', { inputShape, numClasses }, seed).synthesis;
  const set = await synthesizeSet({ teacher: teacherFromModel(model), cfg: { ...cfg, batchSize: count, steps }, set: 0, eta: 0.01, rng: Rng.derive(seed, 1, 0) });
  return tf.tensor(set.x, [count, ...inputShape]);
}
