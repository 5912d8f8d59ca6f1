import * as tf from '@tensorflow/tfjs';
import { inputLayout } from '../io/teacher-info';

// The student zoo: small classifiers CAKE distils a teacher into. Every student takes exactly the teacher's input
// shape (so synthetic samples feed both unchanged) and outputs raw logits (no softmax: the distillation loss
// applies its own, with temperature).

export interface StudentArch {
  name: string;
  description: string;
}

export const STUDENT_ARCHS: readonly StudentArch[] = [
  { name: 'auto', description: "The teacher's own architecture at half width when it is a plain chain of common layers; otherwise lenet5-half (1-channel images) or cnn." },
  { name: 'lenet5', description: 'LeNet-5 as in the CAKE paper: conv 6@5×5 → pool → conv 16@5×5 → pool → conv 120@5×5 → dense 84 → classes (61,706 parameters on 32×32×1, 10 classes). Images of at least 28×28.' },
  { name: 'lenet5-half', description: 'LeNet-5 at half width: conv 3 → 8 → 60, dense 42 (15,738 parameters on 32×32×1, 10 classes). Images of at least 28×28.' },
  { name: 'mlp', description: 'Flatten → dense 256 → dense 128 → classes. Works for any input.' },
  { name: 'cnn', description: 'Compact CNN: conv 32@3×3 → pool → conv 64@3×3 → pool → dense 128 → classes. Images of at least 10×10.' },
];

export interface BuiltStudent {
  model: tf.LayersModel;
  /** The architecture actually built: 'auto' only when it copied the teacher, else the zoo entry it fell back to. */
  arch: string;
  /** Why 'auto' chose what it chose, one sentence; absent for explicit architectures. */
  note?: string;
}

export interface StudentOptions {
  /** Seeds the kernel initialisers so a run's student starts identically every time. */
  seed?: number;
}

export class StudentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StudentError';
  }
}

/** Builds kernel initialisers with successive seeds (or tfjs' unseeded defaults). */
class Init {
  private next: number | undefined;
  constructor(seed?: number) {
    this.next = seed;
  }
  kernel(): ReturnType<typeof tf.initializers.glorotUniform> | 'glorotUniform' {
    if (this.next === undefined) return 'glorotUniform';
    return tf.initializers.glorotUniform({ seed: this.next++ });
  }
}

type Hwc = [number, number, number];

/**
 * Layers that turn the teacher's input into NHWC images for the conv students, and the image size they produce:
 * [H, W] → Reshape to [H, W, 1]; [C, H, W] → Permute to [H, W, C]; a flat square vector → Reshape to [s, s, 1].
 */
function imageAdapter(inputShape: readonly number[], arch: string): { layers: tf.layers.Layer[]; hwc: Hwc } {
  const shape = [...inputShape];
  const layout = inputLayout(shape);
  if (layout === 'NHWC') return { layers: [], hwc: shape as Hwc };
  if (layout === 'HW') return { layers: [tf.layers.reshape({ targetShape: [shape[0], shape[1], 1] })], hwc: [shape[0], shape[1], 1] };
  if (layout === 'NCHW') return { layers: [tf.layers.permute({ dims: [2, 3, 1] })], hwc: [shape[1], shape[2], shape[0]] };
  const side = Math.round(Math.sqrt(shape[0]));
  if (side * side === shape[0]) return { layers: [tf.layers.reshape({ targetShape: [side, side, 1] })], hwc: [side, side, 1] };
  throw new StudentError(`${arch} needs an image input, but the teacher takes a flat vector of ${shape[0]} values: pick mlp`);
}

function sequential(inputShape: readonly number[], layers: tf.layers.Layer[], name: string): tf.LayersModel {
  return tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: [...inputShape] }), ...layers], name });
}

function lenet5(inputShape: readonly number[], numClasses: number, widths: [number, number, number, number], arch: string, init: Init): tf.LayersModel {
  const { layers: adapter, hwc } = imageAdapter(inputShape, arch);
  const [h, w] = hwc;
  if (h < 28 || w < 28) throw new StudentError(`${arch} needs images of at least 28×28 pixels; this input is ${h}×${w}: pick cnn or mlp`);
  // The paper's LeNet-5 takes 32×32 with 'valid' convs (32 → 28 → 14 → 10 → 5 → 1). A 'same' first conv gives
  // 28–31 px inputs the same path (28 → 28 → 14 → …), so MNIST-sized teachers need no padding step.
  const firstPadding = h >= 32 && w >= 32 ? 'valid' : 'same';
  const [c1, c2, c3, f] = widths;
  const conv = (filters: number, padding: 'valid' | 'same') =>
    tf.layers.conv2d({ filters, kernelSize: 5, padding, activation: 'relu', kernelInitializer: init.kernel() });
  return sequential(
    inputShape,
    [
      ...adapter,
      conv(c1, firstPadding),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      conv(c2, 'valid'),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      conv(c3, 'valid'),
      tf.layers.flatten(),
      tf.layers.dense({ units: f, activation: 'relu', kernelInitializer: init.kernel() }),
      tf.layers.dense({ units: numClasses, kernelInitializer: init.kernel() }),
    ],
    arch.replace('-', '_'),
  );
}

function mlp(inputShape: readonly number[], numClasses: number, init: Init): tf.LayersModel {
  const dense = (units: number, activation?: 'relu') => tf.layers.dense({ units, activation, kernelInitializer: init.kernel() });
  const flatten = inputShape.length > 1 ? [tf.layers.flatten()] : [];
  return sequential(inputShape, [...flatten, dense(256, 'relu'), dense(128, 'relu'), dense(numClasses)], 'mlp');
}

function cnn(inputShape: readonly number[], numClasses: number, init: Init): tf.LayersModel {
  const { layers: adapter, hwc } = imageAdapter(inputShape, 'cnn');
  // Two valid 3×3 convs and two 2× pools need 10 px to leave a 1×1 map.
  if (hwc[0] < 10 || hwc[1] < 10) throw new StudentError(`cnn needs images of at least 10×10 pixels; this input is ${hwc[0]}×${hwc[1]}: pick mlp`);
  const conv = (filters: number) => tf.layers.conv2d({ filters, kernelSize: 3, activation: 'relu', kernelInitializer: init.kernel() });
  return sequential(
    inputShape,
    [
      ...adapter,
      conv(32),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      conv(64),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init.kernel() }),
      tf.layers.dense({ units: numClasses, kernelInitializer: init.kernel() }),
    ],
    'cnn',
  );
}

/** Layer classes the half-width copy knows how to rebuild. */
const CHAIN_CLASSES = new Set([
  'InputLayer', 'Conv2D', 'Dense', 'MaxPooling2D', 'AveragePooling2D', 'Flatten', 'Dropout', 'Activation', 'Softmax', 'Reshape', 'BatchNormalization',
]);
const WEIGHTED = new Set(['Conv2D', 'Dense']);

/** The teacher's layers in order when it is a single chain of known layers; otherwise why not. */
function plainChain(teacher: tf.LayersModel): { layers: tf.layers.Layer[] } | { reason: string } {
  const layers = teacher.layers;
  for (const [i, layer] of layers.entries()) {
    const cls = layer.getClassName();
    if (!CHAIN_CLASSES.has(cls))
      return { reason: `it has a ${cls === 'Sequential' || cls === 'Model' || cls === 'Functional' ? 'nested model' : `${cls} layer`} ("${layer.name}")` };
    if (i === 0) continue;
    // A functional teacher is a chain when every layer reads exactly the one before it.
    const nodes = layer.inboundNodes;
    const prev = layers[i - 1];
    if (nodes.length !== 1 || nodes[0].inboundLayers.length !== 1 || nodes[0].inboundLayers[0] !== prev)
      return { reason: `it branches at "${layer.name}"` };
  }
  if (teacher.outputs.length !== 1 || teacher.inputs.length !== 1) return { reason: 'it has several inputs or outputs' };
  if (!layers.some((l) => WEIGHTED.has(l.getClassName()))) return { reason: 'it has no Dense or Conv2D layer' };
  return { layers: layers.filter((l) => l.getClassName() !== 'InputLayer') };
}

const half = (n: number) => Math.max(1, Math.ceil(n / 2));

/** A fresh layer like `layer`, at half width, or with numClasses linear outputs when it is the classifier. */
function halfLayer(layer: tf.layers.Layer, isClassifier: boolean, numClasses: number, init: Init): tf.layers.Layer {
  const c = layer.getConfig() as Record<string, unknown>;
  const activation = (isClassifier ? 'linear' : c.activation) as 'relu';
  switch (layer.getClassName()) {
    case 'Conv2D':
      return tf.layers.conv2d({
        filters: isClassifier ? numClasses : half(c.filters as number),
        kernelSize: c.kernelSize as number[],
        strides: c.strides as number[],
        padding: c.padding as 'valid',
        dataFormat: c.dataFormat as 'channelsLast',
        dilationRate: c.dilationRate as [number, number],
        useBias: c.useBias as boolean,
        activation,
        kernelInitializer: init.kernel(),
      });
    case 'Dense':
      return tf.layers.dense({ units: isClassifier ? numClasses : half(c.units as number), useBias: c.useBias as boolean, activation, kernelInitializer: init.kernel() });
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const args = { poolSize: c.poolSize as [number, number], strides: c.strides as [number, number], padding: c.padding as 'valid', dataFormat: c.dataFormat as 'channelsLast' };
      return layer.getClassName() === 'MaxPooling2D' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args);
    }
    case 'Flatten':
      return tf.layers.flatten({ dataFormat: c.dataFormat as 'channelsLast' });
    case 'Dropout':
      return tf.layers.dropout({ rate: c.rate as number });
    case 'Activation':
      return tf.layers.activation({ activation: c.activation as 'relu' });
    case 'Softmax':
      return tf.layers.softmax({ axis: c.axis as number });
    case 'Reshape':
      return tf.layers.reshape({ targetShape: c.targetShape as number[] });
    case 'BatchNormalization':
      return tf.layers.batchNormalization({
        axis: c.axis as number,
        momentum: c.momentum as number,
        epsilon: c.epsilon as number,
        center: c.center as boolean,
        scale: c.scale as boolean,
      });
    default:
      throw new StudentError(`internal: no half-width rule for ${layer.getClassName()}`);
  }
}

/** The teacher at half width, or why it cannot be copied. */
function halfTeacher(teacher: tf.LayersModel, inputShape: readonly number[], numClasses: number, init: Init): BuiltStudent | string {
  const chain = plainChain(teacher);
  if ('reason' in chain) return chain.reason;
  const layers = chain.layers;
  const classifier = layers.map((l) => WEIGHTED.has(l.getClassName())).lastIndexOf(true);
  // Anything after the classifier that is an activation is the softmax (or similar) head: students emit logits.
  const kept = layers.filter((l, i) => i <= classifier || !['Activation', 'Softmax'].includes(l.getClassName()));
  if (kept.slice(0, classifier).some((l) => l.getClassName() === 'Softmax')) return 'it has a Softmax layer before its classifier';
  const model = sequential(inputShape, kept.map((l, i) => halfLayer(l, i === classifier, numClasses, init)), 'auto_half');
  const out = model.outputs[0].shape;
  if (out.length !== 2 || out[1] !== numClasses) {
    model.dispose();
    return `its half-width copy outputs ${JSON.stringify(out)} instead of [null,${numClasses}]`;
  }
  const widths = layers
    .filter((l, i) => WEIGHTED.has(l.getClassName()) && i !== classifier)
    .map((l) => {
      const c = l.getConfig();
      const n = (c.filters ?? c.units) as number;
      return `${n}→${half(n)}`;
    });
  return { model, arch: 'auto', note: `auto: the teacher's architecture at half width (${widths.length > 0 ? widths.join(', ') : 'classifier only'})` };
}

/** The fallback when the teacher cannot be copied: LeNet-5 at half width for grey images ≥ 28 px, else the compact CNN, else the MLP. */
function fallbackArch(inputShape: readonly number[]): string {
  try {
    const { hwc } = imageAdapter(inputShape, 'auto');
    if (hwc[2] === 1 && hwc[0] >= 28 && hwc[1] >= 28) return 'lenet5-half';
    if (hwc[0] >= 10 && hwc[1] >= 10) return 'cnn';
  } catch {
    // A flat non-square input: only the MLP fits.
  }
  return 'mlp';
}

/**
 * Build an untrained student for a teacher's input shape (batch axis excluded) and class count. 'auto' copies
 * `teacherModel` at half width when it can and otherwise falls back, saying why in `note`.
 */
export function buildStudent(
  arch: string,
  inputShape: readonly number[],
  numClasses: number,
  teacherModel?: tf.LayersModel,
  options: StudentOptions = {},
): BuiltStudent {
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new StudentError(`a student needs at least 2 classes, got ${numClasses}`);
  if (inputShape.length < 1 || inputShape.length > 3 || inputShape.some((d) => !Number.isInteger(d) || d < 1))
    throw new StudentError(`cannot build a student for input shape [${inputShape.join(',')}]: expected [H, W], [H, W, C] or a flat vector`);
  const init = new Init(options.seed);
  switch (arch) {
    case 'lenet5':
      return { model: lenet5(inputShape, numClasses, [6, 16, 120, 84], arch, init), arch };
    case 'lenet5-half':
      return { model: lenet5(inputShape, numClasses, [3, 8, 60, 42], arch, init), arch };
    case 'mlp':
      return { model: mlp(inputShape, numClasses, init), arch };
    case 'cnn':
      return { model: cnn(inputShape, numClasses, init), arch };
    case 'auto': {
      const copied = teacherModel ? halfTeacher(teacherModel, inputShape, numClasses, init) : 'no teacher model was given';
      if (typeof copied !== 'string') return copied;
      const fallback = fallbackArch(inputShape);
      const built = buildStudent(fallback, inputShape, numClasses, undefined, options);
      const reason = teacherModel ? `the teacher is not a plain chain of common layers (${copied})` : copied;
      return { ...built, note: `auto: ${reason}, so the student is ${fallback}` };
    }
    default:
      throw new StudentError(`unknown student architecture "${arch}"; choose one of ${STUDENT_ARCHS.map((a) => a.name).join(', ')}`);
  }
}
