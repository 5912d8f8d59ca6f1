import * as tf from '@tensorflow/tfjs';

// Keras layers and options TensorFlow.js does not have, as small tfjs layers that compute what Keras computes:
// Conv2D with groups, Normalization, ReLU with a negative slope or threshold, and activations tfjs lacks or defines
// differently (Keras 3's hard_sigmoid, hard_swish / hard_silu, leaky_relu, exponential). keras-rewrite.ts puts
// them in place of the Keras layers; they keep the Keras layer's name and weight order, so the saved weights load
// into them unchanged. Everything is written with differentiable tfjs ops (CAKE needs input gradients).

type Config = tf.serialization.ConfigDict;

/** Keras activations by name, as Keras 2 (`major` 2) or Keras 3 computes them. */
export function kerasActivation(name: string, major: number): (x: tf.Tensor) => tf.Tensor {
  // tfjs turns snake_case config values into camelCase when it deserialises ("hard_swish" → "hardSwish").
  switch (name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)) {
    case 'linear':
      return (x) => x;
    case 'relu':
      return (x) => tf.relu(x);
    case 'relu6':
      return (x) => tf.relu6(x);
    case 'sigmoid':
      return (x) => tf.sigmoid(x);
    case 'tanh':
      return (x) => tf.tanh(x);
    case 'softmax':
      return (x) => tf.softmax(x);
    case 'log_softmax':
      return (x) => tf.logSoftmax(x);
    case 'elu':
      return (x) => tf.elu(x);
    case 'selu':
      return (x) => tf.selu(x);
    case 'softplus':
      return (x) => tf.softplus(x);
    case 'softsign':
      return (x) => tf.div(x, tf.add(1, tf.abs(x)));
    case 'swish':
    case 'silu':
      return (x) => tf.mul(x, tf.sigmoid(x));
    case 'gelu':
      return (x) => tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'mish':
      return (x) => tf.mul(x, tf.tanh(tf.softplus(x)));
    case 'exponential':
      return (x) => tf.exp(x);
    case 'leaky_relu':
      return (x) => tf.leakyRelu(x, 0.2);
    case 'hard_sigmoid':
      // Keras 2: clip(0.2·x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6.
      return major >= 3 ? (x) => tf.div(tf.relu6(tf.add(x, 3)), 6) : (x) => tf.clipByValue(tf.add(tf.mul(x, 0.2), 0.5), 0, 1);
    case 'hard_swish':
    case 'hard_silu':
      return (x) => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6));
    default:
      throw new Error(`the Keras activation "${name}" is not one CAKE knows`);
  }
}

/** Activations a layer config may name that need CakeActivation (tfjs lacks them or computes them differently). */
export function needsCakeActivation(name: unknown, major: number): boolean {
  if (typeof name !== 'string') return false;
  if (name === 'hard_sigmoid') return major >= 3;
  return ['hard_swish', 'hard_silu', 'leaky_relu', 'exponential'].includes(name);
}

/** A Keras activation function as a layer (Activation(...) and the activations of other layers). */
export class CakeActivation extends tf.layers.Layer {
  static readonly className = 'CakeActivation';
  private readonly fn: (x: tf.Tensor) => tf.Tensor;

  constructor(private readonly args: Config & { activation: string; kerasMajor?: number }) {
    super(args as never);
    this.fn = kerasActivation(args.activation, args.kerasMajor ?? 2);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => this.fn(Array.isArray(inputs) ? inputs[0] : inputs));
  }

  override getConfig(): Config {
    return { ...super.getConfig(), activation: this.args.activation, kerasMajor: this.args.kerasMajor ?? 2 };
  }
}

/** Keras' ReLU with every option: max_value, negative_slope (below threshold) and threshold. */
export class CakeReLU extends tf.layers.Layer {
  static readonly className = 'CakeReLU';
  private readonly maxValue?: number;
  private readonly negativeSlope: number;
  private readonly threshold: number;

  constructor(args: Config & { maxValue?: number | null; negativeSlope?: number; threshold?: number }) {
    super(args as never);
    this.maxValue = args.maxValue ?? undefined;
    this.negativeSlope = args.negativeSlope ?? 0;
    this.threshold = args.threshold ?? 0;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const below = tf.mul(this.negativeSlope, tf.sub(x, this.threshold));
      let y = tf.where(tf.greaterEqual(x, this.threshold), x, below);
      if (this.maxValue !== undefined) y = tf.minimum(y, this.maxValue);
      return y;
    });
  }

  override getConfig(): Config {
    return { ...super.getConfig(), maxValue: this.maxValue ?? null, negativeSlope: this.negativeSlope, threshold: this.threshold };
  }
}

/**
 * The spatial axes a global pooling with keepdims keeps: [N, C] → [N, 1, 1, C] (or [N, C, 1, 1], or one axis for
 * 1-D pooling). A Reshape to [1, 1, -1] would do it, but tfjs' Reshape leaves the -1 unknown when the model is
 * built, and the 1×1 convolution after it (MobileNet's head) needs its channels.
 */
export class CakeKeepDims extends tf.layers.Layer {
  static readonly className = 'CakeKeepDims';
  private readonly spatial: number;
  private readonly channelsFirst: boolean;

  constructor(args: Config & { spatial?: number; channelsFirst?: boolean }) {
    super(args as never);
    this.spatial = args.spatial ?? 2;
    this.channelsFirst = args.channelsFirst ?? false;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [n, c] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const ones = Array<number>(this.spatial).fill(1);
    return this.channelsFirst ? [n, c, ...ones] : [n, ...ones, c];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.reshape(x, this.computeOutputShape(x.shape).map((d) => d ?? -1) as number[]);
  }

  override getConfig(): Config {
    return { ...super.getConfig(), spatial: this.spatial, channelsFirst: this.channelsFirst };
  }
}

const pair = (v: unknown, fallback: number): [number, number] =>
  Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : typeof v === 'number' ? [v, v] : [fallback, fallback];

/** Conv2D with groups > 1 (channels_last): one convolution per group of input channels, concatenated. */
export class CakeGroupedConv2D extends tf.layers.Layer {
  static readonly className = 'CakeGroupedConv2D';
  private kernel?: tf.LayerVariable;
  private bias?: tf.LayerVariable;
  private readonly filters: number;
  private readonly kernelSize: [number, number];
  private readonly strides: [number, number];
  private readonly dilation: [number, number];
  private readonly padding: 'same' | 'valid';
  private readonly groups: number;
  private readonly useBias: boolean;
  private readonly activation: string;
  private readonly kerasMajor: number;
  private readonly fn: (x: tf.Tensor) => tf.Tensor;

  constructor(args: Config & { filters: number; kernelSize: number | number[]; strides?: number | number[]; padding?: string; dilationRate?: number | number[]; groups: number; useBias?: boolean; activation?: string; kerasMajor?: number }) {
    super(args as never);
    this.filters = args.filters;
    this.kernelSize = pair(args.kernelSize, 1);
    this.strides = pair(args.strides, 1);
    this.dilation = pair(args.dilationRate, 1);
    this.padding = args.padding === 'same' ? 'same' : 'valid';
    this.groups = args.groups;
    this.useBias = args.useBias ?? true;
    this.activation = args.activation ?? 'linear';
    this.kerasMajor = args.kerasMajor ?? 2;
    this.fn = kerasActivation(this.activation, this.kerasMajor);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1]!;
    if (channels % this.groups !== 0 || this.filters % this.groups !== 0)
      throw new Error(`Conv2D "${this.name}" has groups ${this.groups}, which does not divide its ${channels} input channels and ${this.filters} filters`);
    this.kernel = this.addWeight('kernel', [...this.kernelSize, channels / this.groups, this.filters], 'float32', tf.initializers.zeros());
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [n, h, w] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const size = (d: number | null, i: number) => {
      if (d === null) return null;
      if (this.padding === 'same') return Math.ceil(d / this.strides[i]);
      return Math.ceil((d - (this.kernelSize[i] - 1) * this.dilation[i]) / this.strides[i]);
    };
    return [n, size(h, 0), size(w, 1), this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const xs = tf.split(x, this.groups, 3) as tf.Tensor4D[];
      const ks = tf.split(this.kernel!.read(), this.groups, 3) as tf.Tensor4D[];
      let y: tf.Tensor = tf.concat(xs.map((xi, i) => tf.conv2d(xi, ks[i], this.strides, this.padding, 'NHWC', this.dilation)), 3);
      if (this.bias) y = tf.add(y, this.bias.read());
      return this.fn(y);
    });
  }

  override getConfig(): Config {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      dilationRate: this.dilation,
      groups: this.groups,
      useBias: this.useBias,
      activation: this.activation,
      kerasMajor: this.kerasMajor,
    };
  }
}

/**
 * keras.layers.Normalization: (x − mean) / max(√variance, 1e-7) along `axis` (the last by default), or the inverse
 * with `invert`. Mean and variance come from the config when it holds them (Normalization(mean=…, variance=…)),
 * else from the layer's weights: mean, variance and (Keras 2) count, as Keras saves them after adapt().
 */
export class CakeNormalization extends tf.layers.Layer {
  static readonly className = 'CakeNormalization';
  private meanVar?: tf.LayerVariable;
  private varianceVar?: tf.LayerVariable;
  private readonly axis: number[];
  private readonly mean?: number[];
  private readonly variance?: number[];
  private readonly invert: boolean;
  private readonly withCount: boolean;
  private broadcast: number[] = [];

  constructor(args: Config & { axis?: number | number[] | null; mean?: number | number[] | null; variance?: number | number[] | null; invert?: boolean; withCount?: boolean }) {
    super(args as never);
    this.axis = args.axis === null ? [] : Array.isArray(args.axis) ? args.axis : [args.axis ?? -1];
    const list = (v: number | number[] | null | undefined) => (v === null || v === undefined ? undefined : Array.isArray(v) ? v.flat(8) : [v]);
    this.mean = list(args.mean);
    this.variance = list(args.variance);
    this.invert = args.invert ?? false;
    this.withCount = args.withCount ?? true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const rank = shape.length;
    const kept = this.axis.map((a) => (a < 0 ? a + rank : a));
    // The statistics' own shape (Keras' mean_and_var_shape) and how it broadcasts over a batch.
    const statShape = kept.map((a) => shape[a]!);
    this.broadcast = shape.map((d, i) => (kept.includes(i) ? d! : 1));
    if (this.mean === undefined) {
      this.meanVar = this.addWeight('mean', statShape, 'float32', tf.initializers.zeros(), undefined, false);
      this.varianceVar = this.addWeight('variance', statShape, 'float32', tf.initializers.ones(), undefined, false);
      if (this.withCount) this.addWeight('count', [], 'float32', tf.initializers.zeros(), undefined, false);
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const stat = (v: tf.LayerVariable | undefined, values: number[] | undefined) => {
        const t = v ? v.read() : tf.tensor(values!);
        return t.size === 1 ? tf.reshape(t, []) : tf.reshape(t, this.broadcast);
      };
      const mean = stat(this.meanVar, this.mean);
      const std = tf.maximum(tf.sqrt(stat(this.varianceVar, this.variance)), 1e-7);
      return this.invert ? tf.add(tf.mul(x, std), mean) : tf.div(tf.sub(x, mean), std);
    });
  }

  override getConfig(): Config {
    return { ...super.getConfig(), axis: this.axis, mean: this.mean ?? null, variance: this.variance ?? null, invert: this.invert, withCount: this.withCount };
  }
}

for (const cls of [CakeActivation, CakeReLU, CakeGroupedConv2D, CakeNormalization, CakeKeepDims]) tf.serialization.registerClass(cls);
