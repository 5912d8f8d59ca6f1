import * as tf from '@tensorflow/tfjs';
import { INPUT_SCALE_LAYER, inputMapFor } from '../cake/input-space';
import { inputLayout } from '../io/teacher-info';
import { CHANNEL_MAKERS, classifierOp, flattenGraph, foldableBatchNorms, GraphError, type FlatGraph } from '../cake/graph';

// The student zoo: small classifiers CAKE distils a teacher into. Every student takes exactly the teacher's input
// shape (so synthetic samples feed both unchanged) and outputs raw logits (no softmax: the distillation loss
// applies its own, with temperature).

export interface StudentArch {
  name: string;
  description: string;
}

export const STUDENT_ARCHS: readonly StudentArch[] = [
  { name: 'auto', description: "The teacher's own architecture (residual, depthwise and nested models included) at the width that keeps about student.size of its parameters (a quarter by default); where it cannot be copied, lenet5-half (1-channel images) or cnn." },
  { name: 'lenet5', description: 'LeNet-5 as in the CAKE paper: conv 6@5×5 → pool → conv 16@5×5 → pool → conv 120@5×5 → dense 84 → classes (61,706 parameters on 32×32×1, 10 classes). Images of at least 28×28.' },
  { name: 'lenet5-half', description: 'LeNet-5 at half width: conv 3 → 8 → 60, dense 42 (15,738 parameters on 32×32×1, 10 classes). Images of at least 28×28.' },
  { name: 'mlp', description: 'Flatten → dense 256 → dense 128 → classes. Works for any input.' },
  { name: 'cnn', description: 'Compact CNN: conv 32@3×3 → pool → conv 64@3×3 → pool → dense 128 → classes. Images of at least 10×10.' },
  { name: 'resnet', description: 'CIFAR-style residual net: conv 16 → three stages of one residual block (16, 32, 64 channels, strides 1, 2, 2) → global average pool → classes (77,706 parameters on 32×32×3 with 10 classes at width 1; under auto, widened or narrowed to the parameter budget). Images of at least 8×8.' },
  { name: 'mobilenet', description: 'MobileNet-style net for large images: conv 32/2 → six depthwise-separable blocks (64 to 512 channels, four strides of 2) → global average pool → classes (width scales with the parameter budget under auto). Images of at least 32×32.' },
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
  /** `auto`'s parameter budget as a share of the teacher's (default DEFAULT_SIZE). */
  size?: number;
  /**
   * The teacher's parameter count, for sizing `resnet` and `mobilenet` (and `auto`'s fallback to them) when there is
   * no teacher model to copy (graph models, ONNX).
   */
  teacherParams?: number;
  /**
   * Multiplies the input before anything else (a fixed Rescaling layer): students of teachers that take raw 0-255
   * or 0-1 pixels see them at the scale normalised inputs have, so their training rates fit (see buildRunStudent).
   */
  inputScale?: number;
}

export class StudentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StudentError';
  }
}

/**
 * What every layer of one student is built with: kernel initialisers with successive seeds (or tfjs' unseeded
 * defaults), and the fixed input scaling that goes first.
 */
class Init {
  private next: number | undefined;
  constructor(
    seed?: number,
    private readonly inputScale?: number,
  ) {
    this.next = seed;
  }
  /** The layers every student starts with: the input scaling, when there is one. */
  front(): tf.layers.Layer[] {
    return this.inputScale === undefined ? [] : [tf.layers.rescaling({ scale: this.inputScale, offset: 0, name: INPUT_SCALE_LAYER, trainable: false })];
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

function sequential(inputShape: readonly number[], layers: tf.layers.Layer[], name: string, init: Init): tf.LayersModel {
  return tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: [...inputShape] }), ...init.front(), ...layers], name });
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
    init,
  );
}

function mlp(inputShape: readonly number[], numClasses: number, init: Init): tf.LayersModel {
  const dense = (units: number, activation?: 'relu') => tf.layers.dense({ units, activation, kernelInitializer: init.kernel() });
  const flatten = inputShape.length > 1 ? [tf.layers.flatten()] : [];
  return sequential(inputShape, [...flatten, dense(256, 'relu'), dense(128, 'relu'), dense(numClasses)], 'mlp', init);
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
    init,
  );
}

/**
 * A residual block without normalisation: conv 3×3 → relu → conv 3×3, added to the input (through a 1×1 conv when
 * the stride or width changes), then relu. Students learn from synthetic samples only, so they carry no BatchNorm
 * statistics to fit to them; at 8 layers deep the net trains without.
 */
function residualBlock(x: tf.SymbolicTensor, filters: number, stride: number, init: Init): tf.SymbolicTensor {
  const conv = (k: number, s: number, activation?: 'relu') =>
    tf.layers.conv2d({ filters, kernelSize: k, strides: s, padding: 'same', activation, kernelInitializer: init.kernel() });
  const branch = conv(3, 1).apply(conv(3, stride, 'relu').apply(x)) as tf.SymbolicTensor;
  const inChannels = x.shape[x.shape.length - 1];
  const shortcut = stride !== 1 || inChannels !== filters ? (conv(1, stride).apply(x) as tf.SymbolicTensor) : x;
  return tf.layers.reLU().apply(tf.layers.add().apply([branch, shortcut])) as tf.SymbolicTensor;
}

/** The image input and its NHWC adapter (see imageAdapter), as a functional graph's start. */
function imageInput(inputShape: readonly number[], arch: string, minSide: number, init: Init): { input: tf.SymbolicTensor; x: tf.SymbolicTensor } {
  const { layers: adapter, hwc } = imageAdapter(inputShape, arch);
  if (hwc[0] < minSide || hwc[1] < minSide)
    throw new StudentError(`${arch} needs images of at least ${minSide}×${minSide} pixels; this input is ${hwc[0]}×${hwc[1]}: pick ${minSide > 8 ? 'resnet or ' : ''}mlp`);
  const input = tf.input({ shape: [...inputShape] });
  let x = input;
  for (const layer of [...init.front(), ...adapter]) x = layer.apply(x) as tf.SymbolicTensor;
  return { input, x };
}

/** CIFAR ResNet-8 (He et al.'s 6n+2 with n = 1) at `width`, without BatchNorm. */
function resnet(inputShape: readonly number[], numClasses: number, width: number, init: Init): tf.LayersModel {
  const { input, x: start } = imageInput(inputShape, 'resnet', 8, init);
  const w = (n: number) => Math.max(1, Math.round(n * width));
  let x = tf.layers.conv2d({ filters: w(16), kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init.kernel() }).apply(start) as tf.SymbolicTensor;
  x = residualBlock(x, w(16), 1, init);
  x = residualBlock(x, w(32), 2, init);
  x = residualBlock(x, w(64), 2, init);
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: numClasses, kernelInitializer: init.kernel() }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'resnet' });
}

/** MobileNet v1's plan at `width` (a stride-2 stem, depthwise-separable blocks), without BatchNorm. */
function mobilenet(inputShape: readonly number[], numClasses: number, width: number, init: Init): tf.LayersModel {
  const { input, x: start } = imageInput(inputShape, 'mobilenet', 32, init);
  const w = (n: number) => Math.max(1, Math.round(n * width));
  let x = tf.layers.conv2d({ filters: w(32), kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init.kernel() }).apply(start) as tf.SymbolicTensor;
  for (const [filters, stride] of [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2]] as const) {
    x = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: 'same', activation: 'relu', depthwiseInitializer: init.kernel() }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: w(filters), kernelSize: 1, activation: 'relu', kernelInitializer: init.kernel() }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: numClasses, kernelInitializer: init.kernel() }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'mobilenet' });
}

/** Widths a sized zoo student tries, largest first. */
const ZOO_WIDTHS = [4, 3, 2, 1.5, 1, 3 / 4, 1 / 2, 3 / 8, 1 / 4] as const;

/**
 * A zoo net at the largest width whose parameters stay within `size` of the teacher's (5 % slack) and below the
 * teacher's own; width 1 without a teacher size to go by.
 */
function sizedZoo(
  make: (width: number) => tf.LayersModel,
  arch: string,
  teacherParams: number | undefined,
  size: number,
): BuiltStudent {
  if (!teacherParams) return { model: make(1), arch };
  const budget = teacherParams * size * 1.05;
  for (const width of ZOO_WIDTHS) {
    const model = make(width);
    const params = model.countParams();
    if ((params <= budget && params <= teacherParams) || width === ZOO_WIDTHS[ZOO_WIDTHS.length - 1])
      return { model, arch, note: `${arch} at width ${width}: ${formatCount(params)} parameters, ${((100 * params) / teacherParams).toFixed(0)} % of the teacher's` };
    model.dispose();
  }
  throw new StudentError('internal: no width tried');
}

/** Layers the width copy rebuilds; the ones in CHANNEL_MAKERS get fewer channels, the rest follow their inputs. */
const COPYABLE = new Set([
  'InputLayer', 'Conv2D', 'SeparableConv2D', 'DepthwiseConv2D', 'Dense', 'BatchNormalization', 'LayerNormalization',
  'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'Softmax', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D',
  'GlobalMaxPooling2D', 'Flatten', 'Reshape', 'Dropout', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout',
  'Add', 'Multiply', 'Average', 'Maximum', 'Concatenate', 'ZeroPadding2D', 'Cropping2D', 'UpSampling2D', 'Rescaling',
]);
/** Config keys a student layer does not take from its teacher: regularisers and constraints belong to the teacher's training. */
const DROPPED_KEYS = [
  'kernelRegularizer', 'biasRegularizer', 'activityRegularizer', 'depthwiseRegularizer', 'pointwiseRegularizer',
  'kernelConstraint', 'biasConstraint', 'depthwiseConstraint', 'pointwiseConstraint', 'betaRegularizer',
  'gammaRegularizer', 'betaConstraint', 'gammaConstraint', 'batchInputShape', 'inputShape',
];
/** Widths `auto` tries, largest first: simple fractions keep channel counts round (LeNet-5 at 1/2 is lenet5-half). */
export const WIDTHS = [1, 3 / 4, 1 / 2, 3 / 8, 1 / 4, 3 / 16, 1 / 8, 1 / 16] as const;
/** `auto`'s default parameter budget, a share of the teacher's (LeNet-5 at half width has 25.5 % of its parameters). */
export const DEFAULT_SIZE = 0.25;

type LayerClass = { fromConfig(cls: unknown, config: Record<string, unknown>): tf.layers.Layer };

/**
 * The teacher's own graph (nested models inlined, residual and concatenating branches kept) with every Conv2D,
 * SeparableConv2D and Dense layer but the classifier at `width` of its channels, and logits out (a softmax head is
 * left off). Depthwise convolutions, normalisations and merges follow their inputs' channels, so branches that
 * meet in an Add keep equal widths. Returns why not when a layer cannot be rebuilt.
 */
function widthCopy(teacher: tf.LayersModel, inputShape: readonly number[], numClasses: number, width: number, init: Init): tf.LayersModel | string {
  let graph: FlatGraph;
  try {
    graph = flattenGraph(teacher);
  } catch (e) {
    if (e instanceof GraphError) return e.message;
    throw e;
  }
  const classifier = classifierOp(graph);
  if (classifier < 0) return 'it has no Dense or Conv2D layer';
  // BatchNorms right after a layer are folded into it (inherit.ts folds the teacher's statistics into its weights):
  // students train on synthetic samples, whose statistics a BatchNorm must not learn, and a BatchNorm frozen in its
  // inference form divides by the teacher's running deviation, which made SGD on its layer diverge (a channel that
  // was nearly dead in the teacher's data then amplifies every change ×30).
  const folded = foldableBatchNorms(graph);
  const gainsBias = new Set(folded.values());
  const unknown = graph.ops.find((op) => !COPYABLE.has(op.className));
  if (unknown) return `it has a ${unknown.className} layer ("${unknown.layer.name}")`;
  const scaled = (n: number) => Math.max(1, Math.ceil(n * width));
  const names = new Set<string>([INPUT_SCALE_LAYER]);
  const unique = (name: string) => {
    let n = name;
    for (let k = 2; names.has(n); k++) n = `${name}_${k}`;
    names.add(n);
    return n;
  };
  const out: tf.SymbolicTensor[] = [];
  let input: tf.SymbolicTensor | null = null;
  for (const [i, op] of graph.ops.entries()) {
    const cls = op.className;
    if (cls === 'InputLayer') {
      if (input) return 'it has several inputs';
      out[i] = input = tf.input({ shape: [...inputShape], name: unique(op.layer.name) });
      for (const layer of init.front()) out[i] = layer.apply(out[i]) as tf.SymbolicTensor;
      continue;
    }
    const ins = op.inputs.map((j) => out[j]);
    if (folded.has(i)) {
      out[i] = ins[0];
      continue;
    }
    const c = { ...(op.layer.getConfig() as Record<string, unknown>) };
    if (gainsBias.has(i)) c.useBias = true;
    for (const k of DROPPED_KEYS) delete c[k];
    c.name = unique(op.layer.name);
    c.trainable = true;
    // After the classifier only shape changes remain: a softmax (or sigmoid) head is left off, students emit logits.
    if (i > classifier && (cls === 'Softmax' || (cls === 'Activation' && c.activation !== 'linear'))) {
      out[i] = ins[0];
      continue;
    }
    if (i === classifier) c.activation = 'linear';
    if (cls === 'Conv2D' || cls === 'SeparableConv2D') c.filters = i === classifier ? c.filters : scaled(c.filters as number);
    if (cls === 'Dense') c.units = i === classifier ? c.units : scaled(c.units as number);
    if (CHANNEL_MAKERS.has(cls)) {
      if (cls === 'SeparableConv2D') {
        c.depthwiseInitializer = init.kernel();
        c.pointwiseInitializer = init.kernel();
      } else c.kernelInitializer = init.kernel();
    }
    if (cls === 'DepthwiseConv2D') c.depthwiseInitializer = init.kernel();
    if (cls === 'Reshape') {
      // A reshape that names the channel count (MobileNet's [1, 1, 1024] before its 1×1 classifier) follows the width.
      const from = graph.ops[op.inputs[0]].shape;
      const tChannels = from[from.length - 1] as number;
      const sChannels = ins[0].shape[ins[0].shape.length - 1] as number;
      const target = [...(c.targetShape as number[])];
      const at = target.lastIndexOf(tChannels);
      if (tChannels !== sChannels && at >= 0) target[at] = sChannels;
      const size = (s: readonly (number | null)[]) => s.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1);
      if (target.reduce((a, b) => a * b, 1) !== size(ins[0].shape)) return `its Reshape "${op.layer.name}" cannot follow a narrower input`;
      c.targetShape = target;
    }
    const layerClass = op.layer.constructor as unknown as LayerClass;
    const layer = layerClass.fromConfig(layerClass, c);
    out[i] = layer.apply(ins.length === 1 ? ins[0] : ins) as tf.SymbolicTensor;
  }
  if (!input) return 'it has no input layer';
  let output = out[graph.output];
  // A classifier that ends in a map ([null, 1, 1, classes]) is flattened to logits.
  if (output.shape.length > 2 && output.shape.slice(1, -1).every((d) => d === 1)) output = tf.layers.flatten({ name: unique('logits') }).apply(output) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output, name: 'auto_student' });
  const shape = model.outputs[0].shape;
  if (shape.length !== 2 || shape[1] !== numClasses) {
    model.dispose();
    return `its copy outputs ${JSON.stringify(shape)} instead of [null,${numClasses}]`;
  }
  return model;
}

/** Channel counts of the copy against the teacher's, for the note: "16→8, 32→16, 64→32". */
function widthsText(teacher: tf.LayersModel, student: tf.LayersModel): string {
  const counts = (m: tf.LayersModel) => {
    const g = flattenGraph(m);
    const last = classifierOp(g);
    return g.ops
      .filter((op, i) => CHANNEL_MAKERS.has(op.className) && i !== last)
      .map((op) => op.shape[op.shape.length - 1] as number);
  };
  const t = counts(teacher);
  const s = counts(student);
  const pairs = t.map((n, i) => `${n}→${s[i]}`);
  // Deep graphs list their distinct pairs once each, in order.
  const distinct = [...new Set(pairs)];
  return distinct.length > 8 ? `${distinct.slice(0, 8).join(', ')}, …` : distinct.join(', ') || 'classifier only';
}

/**
 * The teacher's graph at the largest of WIDTHS whose parameters stay within `size` of the teacher's (5 % slack, so
 * LeNet-5 at half width, 25.5 %, meets a 25 % budget) and never above the teacher's own; or why it cannot be copied.
 */
function teacherCopy(teacher: tf.LayersModel, inputShape: readonly number[], numClasses: number, size: number, init: Init): BuiltStudent | string {
  const budget = teacher.countParams() * size * 1.05;
  let best: { model: tf.LayersModel; width: number } | null = null;
  for (const width of WIDTHS) {
    const built = widthCopy(teacher, inputShape, numClasses, width, init);
    if (typeof built === 'string') return built;
    const params = built.countParams();
    if (params <= budget && params <= teacher.countParams()) {
      best = { model: built, width };
      break;
    }
    built.dispose();
  }
  if (!best) return `even at ${WIDTHS[WIDTHS.length - 1] * 100} % width its copy has more than ${Math.round(size * 100)} % of its parameters`;
  const share = best.model.countParams() / teacher.countParams();
  const widthText = best.width === 1 ? 'full width' : `${fractionText(best.width)} width`;
  return {
    model: best.model,
    arch: 'auto',
    note: `auto: the teacher's architecture at ${widthText} (${widthsText(teacher, best.model)}), ${formatCount(best.model.countParams())} parameters, ${(100 * share).toFixed(0)} % of the teacher's`,
  };
}

function fractionText(w: number): string {
  const known: Record<number, string> = { 0.75: '3/4', 0.5: 'half', 0.375: '3/8', 0.25: 'quarter', 0.1875: '3/16', 0.125: '1/8', 0.0625: '1/16' };
  return known[w] ?? `${(w * 100).toFixed(0)} %`;
}

function formatCount(n: number): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * The fallback when the teacher cannot be copied: LeNet-5 at half width for grey images of 28 to 64 px (the size
 * LeNet-5 was made for), the residual net for other images up to 64 px, the MobileNet plan above that, the compact
 * CNN for small ones, else the MLP. Never a dense layer on a flattened large map.
 */
function fallbackArch(inputShape: readonly number[]): string {
  try {
    const { hwc } = imageAdapter(inputShape, 'auto');
    const side = Math.min(hwc[0], hwc[1]);
    if (hwc[2] === 1 && side >= 28 && Math.max(hwc[0], hwc[1]) <= 64) return 'lenet5-half';
    if (side > 64) return 'mobilenet';
    if (side >= 16) return 'resnet';
    if (side >= 10) return 'cnn';
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
  const init = new Init(options.seed, options.inputScale);
  switch (arch) {
    case 'lenet5':
      return { model: lenet5(inputShape, numClasses, [6, 16, 120, 84], arch, init), arch };
    case 'lenet5-half':
      return { model: lenet5(inputShape, numClasses, [3, 8, 60, 42], arch, init), arch };
    case 'mlp':
      return { model: mlp(inputShape, numClasses, init), arch };
    case 'cnn':
      return { model: cnn(inputShape, numClasses, init), arch };
    case 'resnet':
      return sizedZoo((w) => resnet(inputShape, numClasses, w, init), arch, options.teacherParams, options.size ?? DEFAULT_SIZE);
    case 'mobilenet':
      return sizedZoo((w) => mobilenet(inputShape, numClasses, w, init), arch, options.teacherParams, options.size ?? DEFAULT_SIZE);
    case 'auto': {
      const copied = teacherModel ? teacherCopy(teacherModel, inputShape, numClasses, options.size ?? DEFAULT_SIZE, init) : 'no teacher model was given';
      if (typeof copied !== 'string') return copied;
      const fallback = fallbackArch(inputShape);
      const built = buildStudent(fallback, inputShape, numClasses, undefined, options);
      const reason = teacherModel ? `the teacher's graph cannot be copied (${copied})` : copied;
      return { ...built, note: `auto: ${reason}, so the student is ${built.note ?? fallback}` };
    }
    default:
      throw new StudentError(`unknown student architecture "${arch}"; choose one of ${STUDENT_ARCHS.map((a) => a.name).join(', ')}`);
  }
}

/**
 * The student a run's settings ask for (`student.arch`, sized by `student.size` against the teacher's parameters),
 * seeded by the run. `teacherParams` sizes zoo students when the teacher has no layers to copy (graph models, ONNX).
 * A teacher whose input range (`synthesis.clampRange`) is raw or 0-1 pixels gets a student that first scales its
 * input as synthesis standardises it (input-space.ts), without the offset so that zero padding means the same.
 */
export function buildRunStudent(
  config: { seed: number; student: { arch: string; size: number }; synthesis: { clampRange: [number, number] } },
  inputShape: readonly number[],
  numClasses: number,
  teacherModel?: tf.LayersModel,
  teacherParams?: number,
): BuiltStudent {
  const map = inputMapFor(config.synthesis.clampRange);
  return buildStudent(config.student.arch, inputShape, numClasses, teacherModel, {
    seed: config.seed,
    size: config.student.size,
    teacherParams: teacherParams ?? teacherModel?.countParams(),
    inputScale: map ? 1 / map.scale : undefined,
  });
}
