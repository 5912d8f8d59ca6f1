import * as tf from '@tensorflow/tfjs';
import { activationGrad, addActivation, spreadMean, type Activation } from './frozen-kernels';
import { winogradApplies, winogradConv, winogradFilter } from './winograd-conv';
import { stridedInputGrad, stridedInputGradPlan, type StridedInputGradPlan } from './strided-input-grad';

/*
 * The teacher as CAKE runs it: a frozen function from inputs to logits whose only gradient is the one with respect to
 * its input. Run as the Layers model it came from, each synthesis step paid for things nobody reads:
 * - tfjs' fused convolution (every Conv2D layer with a bias) computes its gradient eagerly for all its inputs, so
 *   every step also computed every filter's and bias's gradient (ResNet-8 at batch 500: ~1.7 of ~5 CPU s);
 * - BatchNormalization in inference form is an affine map per channel, yet it ran as its own kernel, and its input
 *   gradient tiles 1/sqrt(var) to the full activation size (~1.6 s per step on wasm, whose Tile is slow).
 * Here each BatchNormalization is folded into the convolution or dense layer before it (W' = W·s, b' = (b − μ)·s + β
 * with s = γ/√(σ² + ε)), activations and a residual Add are fused into the convolution that feeds them, and each
 * fused op has a custom gradient that computes only the input gradient (plus the residual's). The rewrite is exact up
 * to float rounding (the folded weights round differently); `freezeLayersModel` returns null for any model with a
 * layer it does not know, and the caller keeps running the model itself.
 *
 * The original model is untouched: anything that reads the teacher's layers (student inheritance, feature hints)
 * keeps using it.
 */

type Pads = [[number, number], [number, number], [number, number], [number, number]];
type Pad = 'same' | 'valid' | Pads;

interface ConvNode {
  op: 'conv';
  x: number;
  depthwise: boolean;
  w: tf.Tensor4D;
  b: tf.Tensor1D | null;
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
  act: Activation;
  /** A tensor added before the activation (a residual connection). */
  residual: number | null;
  /** The filter transformed for the Winograd kernel, made on first use on wasm (null: the kernel does not apply). */
  winograd?: { forward: tf.Tensor; backward: tf.Tensor } | null;
  /** The phase sub-filters of a strided conv's input gradient on wasm, made on first use (null: not used). */
  strided?: StridedInputGradPlan | null;
}
interface DenseNode {
  op: 'dense';
  x: number;
  w: tf.Tensor2D;
  b: tf.Tensor1D | null;
  act: Activation;
}
/** An inference-form BatchNormalization that could not be folded: x·scale + shift over the last axis. */
interface AffineNode {
  op: 'affine';
  x: number;
  scale: tf.Tensor1D;
  shift: tf.Tensor1D;
  act: Activation;
}
type Node =
  | { op: 'input' }
  | ConvNode
  | DenseNode
  | AffineNode
  | { op: 'act'; x: number; act: Activation }
  | { op: 'add'; xs: number[]; act: Activation }
  | { op: 'reshape'; x: number; shape: number[] }
  | { op: 'pad'; x: number; pads: Pads }
  | { op: 'pool'; x: number; kind: 'avg' | 'max'; size: [number, number]; strides: [number, number]; pad: 'same' | 'valid' }
  | { op: 'globalPool'; x: number; kind: 'avg' | 'max'; keepDims: boolean }
  | { op: 'identity'; x: number };

/** Why a model cannot be frozen (for tests and logs); null when it can. */
export class Unsupported extends Error {}

export interface FrozenModel {
  /** The model's output for x (the same function as model.apply(x, {training: false})), differentiable w.r.t. x. */
  run(x: tf.Tensor): tf.Tensor;
  /** What the rewrite did, e.g. for the teacher card or a log: counts of folded BatchNorms and fused ops. */
  readonly summary: { ops: number; foldedBatchNorms: number; fusedActivations: number; fusedAdds: number };
  dispose(): void;
}

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)]);

function activationOf(name: unknown, layer: string): Activation {
  const a = String(name ?? 'linear');
  if (a === 'linear' || a === 'relu' || a === 'relu6') return a;
  throw new Unsupported(`${layer}: activation ${a}`);
}

function weight(layer: tf.layers.Layer, name: string): tf.Tensor | null {
  const v = layer.weights.find((w) => w.name.split('/').pop()?.replace(/_\d+$/, '') === name);
  return v ? v.read() : null;
}

/** The graph of `model` as nodes in evaluation order (nested models inlined), and the output node. */
function readGraph(model: tf.LayersModel, owned: tf.Tensor[]): { nodes: Node[]; output: number } {
  const nodes: Node[] = [];
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new Unsupported('several inputs or outputs');
  nodes.push({ op: 'input' });
  const keep = <T extends tf.Tensor>(t: T): T => {
    owned.push(t);
    return t;
  };

  const visit = (st: tf.SymbolicTensor, bound: Map<number, number>): number => {
    const known = bound.get(st.id);
    if (known != null) return known;
    const layer = st.sourceLayer as tf.layers.Layer;
    const ins = st.inputs.map((i) => visit(i, bound));
    let id: number;
    if (layer instanceof tf.LayersModel) {
      // A nested model: evaluate its graph with its inputs bound to ours.
      const inner = new Map<number, number>();
      layer.inputs.forEach((i, k) => inner.set(i.id, ins[k]));
      id = visit(layer.outputs[st.outputTensorIndex ?? 0], inner);
    } else {
      id = nodes.push(layerNode(layer, ins, keep)) - 1;
    }
    bound.set(st.id, id);
    return id;
  };
  const top = new Map<number, number>([[model.inputs[0].id, 0]]);
  return { nodes, output: visit(model.outputs[0], top) };
}

function layerNode(layer: tf.layers.Layer, ins: number[], keep: <T extends tf.Tensor>(t: T) => T): Node {
  const cls = layer.getClassName();
  const cfg = layer.getConfig() as Record<string, unknown>;
  const name = `${cls} ${layer.name}`;
  const x = ins[0];
  const channelsLast = () => {
    if (cfg.dataFormat != null && cfg.dataFormat !== 'channelsLast') throw new Unsupported(`${name}: channels first`);
  };
  switch (cls) {
    case 'InputLayer':
      throw new Unsupported(`${name}: a second input`);
    case 'Conv2D':
    case 'DepthwiseConv2D': {
      channelsLast();
      const depthwise = cls === 'DepthwiseConv2D';
      const w = weight(layer, depthwise ? 'depthwise_kernel' : 'kernel') as tf.Tensor4D | null;
      if (!w) throw new Unsupported(`${name}: no kernel`);
      const b = cfg.useBias ? (weight(layer, 'bias') as tf.Tensor1D | null) : null;
      const pad = String(cfg.padding);
      if (pad !== 'same' && pad !== 'valid') throw new Unsupported(`${name}: padding ${pad}`);
      return {
        op: 'conv',
        x,
        depthwise,
        w,
        b,
        strides: pair(cfg.strides ?? 1),
        dilations: pair(cfg.dilationRate ?? 1),
        pad,
        act: activationOf(cfg.activation, name),
        residual: null,
      };
    }
    case 'Dense': {
      const w = weight(layer, 'kernel') as tf.Tensor2D | null;
      if (!w || w.rank !== 2) throw new Unsupported(`${name}: kernel`);
      if ((layer.input as tf.SymbolicTensor).rank !== 2) throw new Unsupported(`${name}: input of rank ${(layer.input as tf.SymbolicTensor).rank}`);
      return { op: 'dense', x, w, b: cfg.useBias ? (weight(layer, 'bias') as tf.Tensor1D | null) : null, act: activationOf(cfg.activation, name) };
    }
    case 'BatchNormalization': {
      const axis = Array.isArray(cfg.axis) ? cfg.axis : [cfg.axis];
      const rank = (layer.inputSpec?.[0]?.ndim ?? (layer.input as tf.SymbolicTensor).rank) as number;
      if (axis.length !== 1 || (Number(axis[0]) !== -1 && Number(axis[0]) !== rank - 1)) throw new Unsupported(`${name}: axis ${String(cfg.axis)}`);
      const mean = weight(layer, 'moving_mean');
      const variance = weight(layer, 'moving_variance');
      if (!mean || !variance) throw new Unsupported(`${name}: no moving statistics`);
      const gamma = weight(layer, 'gamma');
      const beta = weight(layer, 'beta');
      const eps = Number(cfg.epsilon ?? 1e-3);
      const scale = keep(tf.tidy(() => (gamma ? tf.mul(gamma, tf.rsqrt(tf.add(variance, eps))) : tf.rsqrt(tf.add(variance, eps)))) as tf.Tensor1D);
      const shift = keep(tf.tidy(() => (beta ? tf.sub(beta, tf.mul(mean, scale)) : tf.neg(tf.mul(mean, scale)))) as tf.Tensor1D);
      return { op: 'affine', x, scale, shift, act: 'linear' };
    }
    case 'Activation':
      return { op: 'act', x, act: activationOf(cfg.activation, name) };
    case 'ReLU':
    case 'CakeReLU': {
      const slope = Number(cfg.negativeSlope ?? 0);
      const threshold = Number(cfg.threshold ?? 0);
      const max = cfg.maxValue == null ? null : Number(cfg.maxValue);
      if (slope !== 0 || threshold !== 0 || (max != null && max !== 6)) throw new Unsupported(`${name}: options`);
      return { op: 'act', x, act: max === 6 ? 'relu6' : 'relu' };
    }
    case 'Add':
      return { op: 'add', xs: ins, act: 'linear' };
    case 'Flatten':
    case 'Reshape':
    case 'CakeKeepDims': {
      const out = layer.outputShape as (number | null)[];
      if (out.slice(1).some((d) => d == null)) throw new Unsupported(`${name}: free output dimensions`);
      return { op: 'reshape', x, shape: out.slice(1) as number[] };
    }
    case 'ZeroPadding2D': {
      channelsLast();
      const p = cfg.padding as [[number, number], [number, number]];
      return { op: 'pad', x, pads: [[0, 0], [p[0][0], p[0][1]], [p[1][0], p[1][1]], [0, 0]] };
    }
    case 'AveragePooling2D':
    case 'MaxPooling2D': {
      channelsLast();
      const pad = String(cfg.padding);
      if (pad !== 'same' && pad !== 'valid') throw new Unsupported(`${name}: padding ${pad}`);
      const size = pair(cfg.poolSize);
      const [, h, w] = (layer.input as tf.SymbolicTensor).shape;
      const strides = pair(cfg.strides ?? size);
      // A pool whose one window covers the whole input (ResNet-8's AveragePooling2D(8)) is a global pool.
      if (pad === 'valid' && size[0] === h && size[1] === w && strides[0] >= size[0] && strides[1] >= size[1]) {
        return { op: 'globalPool', x, kind: cls === 'MaxPooling2D' ? 'max' : 'avg', keepDims: true };
      }
      return { op: 'pool', x, kind: cls === 'MaxPooling2D' ? 'max' : 'avg', size, strides, pad };
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      channelsLast();
      if (cfg.keepDims) throw new Unsupported(`${name}: keepDims`);
      return { op: 'globalPool', x, kind: cls === 'GlobalMaxPooling2D' ? 'max' : 'avg', keepDims: false };
    case 'Dropout':
    case 'SpatialDropout1D':
    case 'SpatialDropout2D':
    case 'GaussianNoise':
    case 'GaussianDropout':
    case 'AlphaDropout':
      // Inference: these pass their input through.
      return { op: 'identity', x };
    default:
      throw new Unsupported(`${name}`);
  }
}

/** How many nodes read each node's output (the model's output counts as one reader). */
function readers(nodes: Node[], output: number): number[] {
  const n = new Array<number>(nodes.length).fill(0);
  for (const node of nodes) for (const i of inputsOf(node)) n[i]++;
  n[output]++;
  return n;
}

function inputsOf(node: Node): number[] {
  if (node.op === 'input') return [];
  if (node.op === 'add') return node.xs;
  if (node.op === 'conv' && node.residual != null) return [node.x, node.residual];
  return [node.x];
}

/**
 * Folds and fuses in place: BatchNorm into the conv/dense before it; padding into the conv after it; an activation
 * into the op before it; a two-input Add into one of its conv inputs (as the residual). An absorbed node becomes an
 * identity of its absorber, and the merged conv of an Add takes the Add's place (its inputs all come earlier).
 */
function fuse(nodes: Node[], output: number, owned: tf.Tensor[]): Omit<FrozenModel['summary'], 'ops'> {
  let foldedBatchNorms = 0;
  let fusedActivations = 0;
  let fusedAdds = 0;
  const alias = (from: number, to: number) => {
    nodes[from] = { op: 'identity', x: to };
  };
  // Readers are counted through identities, so a chain of aliases does not hide a second reader.
  const uses = () => readers(nodes, output);
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i];
    if (node.op === 'affine') {
      const at = resolve(nodes, node.x);
      const src = nodes[at];
      if (uses()[at] === 1 && (src.op === 'conv' || src.op === 'dense') && src.act === 'linear' && (src.op === 'dense' || src.residual == null)) {
        const { scale, shift } = node;
        const w = src.w;
        // Conv2D kernels are [kh, kw, in, out] and Dense [in, out]: the scale runs along the last axis. A depthwise
        // kernel is [kh, kw, in, multiplier], whose output channel c·multiplier + m is scaled by scale[c·multiplier + m].
        src.w = tf.tidy(() =>
          src.op === 'conv' && src.depthwise ? tf.mul(w, tf.reshape(scale, [1, 1, w.shape[2]!, w.shape[3]!])) : tf.mul(w, scale),
        ) as never;
        const b = src.b;
        src.b = tf.tidy(() => (b ? tf.add(tf.mul(b, scale), shift) : tf.clone(shift))) as tf.Tensor1D;
        owned.push(src.w, src.b);
        alias(i, at);
        foldedBatchNorms++;
      }
    } else if (node.op === 'conv' && node.pad === 'valid' && node.residual == null) {
      const at = resolve(nodes, node.x);
      const src = nodes[at];
      if (src.op === 'pad' && uses()[at] === 1) {
        node.pad = src.pads;
        node.x = src.x;
        alias(at, src.x);
      }
    } else if (node.op === 'act') {
      const at = resolve(nodes, node.x);
      const src = nodes[at];
      if (uses()[at] === 1 && (src.op === 'conv' || src.op === 'dense' || src.op === 'add' || src.op === 'affine') && src.act === 'linear') {
        src.act = node.act;
        alias(i, at);
        fusedActivations++;
      }
    } else if (node.op === 'add' && node.xs.length === 2) {
      const xs = node.xs.map((x) => resolve(nodes, x));
      const count = uses();
      for (const k of [1, 0]) {
        const c = nodes[xs[k]];
        if (c.op === 'conv' && c.act === 'linear' && c.residual == null && count[xs[k]] === 1 && xs[0] !== xs[1]) {
          nodes[i] = { ...c, residual: xs[1 - k], act: node.act };
          // Nothing else reads the conv: its old place is dead and compact() drops it.
          alias(xs[k], xs[k]);
          fusedAdds++;
          break;
        }
      }
    }
  }
  return { foldedBatchNorms, fusedActivations, fusedAdds };
}

/** Follows identities to the node that computes a value. */
function resolve(nodes: Node[], i: number): number {
  let at = i;
  for (let n = nodes[at]; n.op === 'identity' && n.x !== at; n = nodes[at]) at = n.x;
  return at;
}

/** The nodes the output needs, identities resolved, renumbered in evaluation order. */
function compact(nodes: Node[], output: number): { nodes: Node[]; output: number } {
  const needed = new Set<number>();
  const mark = (i: number) => {
    const at = resolve(nodes, i);
    if (needed.has(at)) return;
    needed.add(at);
    for (const j of inputsOf(nodes[at])) mark(j);
  };
  mark(output);
  const order = [...needed].sort((a, b) => a - b);
  const index = new Map(order.map((old, k) => [old, k]));
  const to = (i: number) => index.get(resolve(nodes, i))!;
  const out = order.map((old): Node => {
    const n = nodes[old];
    switch (n.op) {
      case 'input':
        return n;
      case 'add':
        return { ...n, xs: n.xs.map(to) };
      case 'conv':
        return { ...n, x: to(n.x), residual: n.residual == null ? null : to(n.residual) };
      default:
        return { ...n, x: to(n.x) } as Node;
    }
  });
  return { nodes: out, output: to(output) };
}

/** One node's output from its inputs' values. */
function evaluate(node: Node, v: (i: number) => tf.Tensor): tf.Tensor {
  switch (node.op) {
    case 'input':
      throw new Error('frozen-teacher: the input is bound, not evaluated');
    case 'conv':
      return frozenConv(node, v(node.x), node.residual == null ? null : v(node.residual));
    case 'dense':
      return frozenDense(node, v(node.x));
    case 'affine':
      return actOp(tf.add(tf.mul(v(node.x), node.scale), node.shift), node.act);
    case 'act':
      return actOp(v(node.x), node.act);
    case 'add':
      return actOp(node.xs.length === 2 ? tf.add(v(node.xs[0]), v(node.xs[1])) : tf.addN(node.xs.map(v)), node.act);
    case 'reshape': {
      const x = v(node.x);
      return tf.reshape(x, [x.shape[0], ...node.shape]);
    }
    case 'pad':
      return tf.pad(v(node.x), node.pads);
    case 'pool': {
      const x = v(node.x) as tf.Tensor4D;
      return node.kind === 'max' ? tf.maxPool(x, node.size, node.strides, node.pad) : tf.avgPool(x, node.size, node.strides, node.pad);
    }
    case 'globalPool': {
      const x = v(node.x) as tf.Tensor4D;
      const y = node.kind === 'max' ? tf.max(x, [1, 2]) : globalAvgPool(x);
      if (!node.keepDims) return y;
      const kept = tf.reshape(y, [x.shape[0], 1, 1, x.shape[3]]);
      y.dispose();
      return kept;
    }
    case 'identity':
      return v(node.x);
  }
}

function actOp(x: tf.Tensor, act: Activation): tf.Tensor {
  return act === 'relu' ? tf.relu(x) : act === 'relu6' ? tf.relu6(x) : x;
}

/*
 * The fused ops. Each is a customGrad whose weights are closed over (not inputs), so its gradient is the input's only,
 * and it saves its output rather than its pre-activation: relu(z) > 0 exactly where z > 0, and relu6(z) is strictly
 * between 0 and 6 where z is (the gradient at z = 6 exactly is 0 here and 1 in tfjs' Relu6 gradient).
 */
function frozenConv(node: ConvNode, x: tf.Tensor, residual: tf.Tensor | null): tf.Tensor {
  const { w, b, strides, dilations, pad, act, depthwise } = node;
  const inputShape = x.shape as [number, number, number, number];
  const wino = !depthwise ? winogradFilters(node) : null;
  const info = tf.backend_util.computeConv2DInfo(inputShape, w.shape as never, strides, dilations, pad as never);
  const [lo, hi] = act === 'relu' ? [0, Infinity] : act === 'relu6' ? [0, 6] : [-Infinity, Infinity];
  const forward = (input: tf.Tensor4D) => {
    if (wino) {
      const { top, left } = info.padInfo;
      return winogradConv(input, wino.forward, { padTop: top, padLeft: left, outHeight: info.outHeight, outWidth: info.outWidth, lo, hi, bias: b, residual });
    }
    const linear = residual != null;
    // The kernel itself: tf.fused.conv2d falls back to separate conv, bias and activation ops whenever a gradient is
    // being recorded, which is always the case here.
    const z = tf.engine().runKernel(
      depthwise ? 'FusedDepthwiseConv2D' : 'FusedConv2D',
      b ? { x: input, filter: w, bias: b } : { x: input, filter: w },
      { strides, pad, dataFormat: 'NHWC', dilations, activation: linear ? 'linear' : act, leakyreluAlpha: 0 } as never,
    ) as tf.Tensor;
    if (!linear) return z;
    const y = addActivation(z, residual!, act);
    z.dispose();
    return y;
  };
  const strided = !depthwise && !wino ? stridedPlan(node, info) : null;
  const inputGrad = (g: tf.Tensor) =>
    strided
      ? stridedInputGrad(g, strided)
      : wino
      ? winogradConv(g as tf.Tensor4D, wino.backward, {
          // For stride 1, dx[i] = sum_k g[i + top - k] w[k]: a correlation with the flipped filter and 2 - top rows
          // of padding before.
          padTop: 2 - info.padInfo.top,
          padLeft: 2 - info.padInfo.left,
          outHeight: info.inHeight,
          outWidth: info.inWidth,
          lo: -Infinity,
          hi: Infinity,
        })
      : depthwise
      ? tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: g, filter: w }, { strides, pad, dilations, inputShape } as never)
      : tf.engine().runKernel('Conv2DBackpropInput', { dy: g, filter: w }, { strides, pad, dataFormat: 'NHWC', inputShape } as never);
  if (residual == null) {
    return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
      const y = forward(input as tf.Tensor4D);
      save([y]);
      return { value: y, gradFunc: (dy: tf.Tensor, [out]: tf.Tensor[]) => tf.tidy(() => inputGrad(activationGrad(dy, out, act)) as tf.Tensor) };
    })(x);
  }
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, , save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const y = forward(input as tf.Tensor4D);
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [out]: tf.Tensor[]) => {
        const g = activationGrad(dy, out, act);
        return [inputGrad(g) as tf.Tensor, g];
      },
    };
  })(x, residual);
}

/** The Winograd filters of a 3x3 stride-1 conv on wasm, made once; null where the kernel does not apply. */
function winogradFilters(node: ConvNode): { forward: tf.Tensor; backward: tf.Tensor } | null {
  if (!winogradApplies(node.w.shape, node.strides, node.dilations)) return null;
  if (node.winograd === undefined) {
    const [, , ci, co] = node.w.shape;
    const values = node.w.dataSync() as Float32Array;
    // Kept: the first call usually happens inside the caller's tidy (a gradient scope).
    node.winograd = {
      forward: tf.keep(tf.tensor(winogradFilter(values, ci, co), [16, ci, co])),
      backward: tf.keep(tf.tensor(winogradFilter(values, ci, co, true), [16, co, ci])),
    };
  }
  return node.winograd;
}

/** The phase sub-filters of a strided conv's input gradient on wasm, made once; null where they do not apply. */
function stridedPlan(node: ConvNode, info: tf.backend_util.Conv2DInfo): StridedInputGradPlan | null {
  if (node.strided === undefined) {
    const plan = stridedInputGradPlan(() => node.w.dataSync() as Float32Array, node.w.shape, info);
    if (plan) plan.filters.forEach((f) => tf.keep(f));
    node.strided = plan;
  }
  // The plan fixes the spatial geometry; another input size (never in synthesis) takes the general kernel.
  const a = node.strided?.attrs.inputShape;
  return a && a[1] === info.inHeight && a[2] === info.inWidth ? node.strided! : null;
}

function frozenDense(node: DenseNode, x: tf.Tensor): tf.Tensor {
  const { w, b, act } = node;
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [n, k] = input.shape;
    const a3 = tf.reshape(input, [1, n, k]);
    const w3 = tf.reshape(w, [1, ...w.shape]);
    const y3 = tf.engine().runKernel(
      '_FusedMatMul',
      b ? { a: a3, b: w3, bias: b } : { a: a3, b: w3 },
      { transposeA: false, transposeB: false, activation: act, leakyreluAlpha: 0 } as never,
    ) as tf.Tensor;
    const y = tf.reshape(y3, [n, w.shape[1]]);
    tf.dispose([a3, w3, y3]);
    save([y]);
    return { value: y, gradFunc: (dy: tf.Tensor, [out]: tf.Tensor[]) => tf.tidy(() => tf.matMul(activationGrad(dy, out, act), w, false, true)) };
  })(x);
}

function globalAvgPool(x: tf.Tensor4D): tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    return {
      value: tf.mean(input, [1, 2]),
      gradFunc: (dy: tf.Tensor) => spreadMean(dy as tf.Tensor2D, input.shape as [number, number, number, number]),
    };
  })(x);
}

let enabled = true;

/** Turns freezing off (freezeLayersModel then returns null) or on again: for benchmarks and comparisons. */
export function setFreezeTeachers(on: boolean): void {
  enabled = on;
}

/**
 * The model's function as frozen, fused ops, or null when the model has a layer (or an option of one) that this
 * rewrite does not know; `why` then says which. The caller owns the result and disposes it (the folded weights).
 */
export function freezeLayersModel(model: tf.LayersModel, why?: (reason: string) => void): FrozenModel | null {
  if (!enabled) {
    why?.('freezing is turned off');
    return null;
  }
  const owned: tf.Tensor[] = [];
  let graph: { nodes: Node[]; output: number };
  let counts: Omit<FrozenModel['summary'], 'ops'>;
  try {
    const read = readGraph(model, owned);
    counts = fuse(read.nodes, read.output, owned);
    graph = compact(read.nodes, read.output);
  } catch (e) {
    tf.dispose(owned);
    if (e instanceof Unsupported) {
      why?.(e.message);
      return null;
    }
    throw e;
  }
  const { nodes, output } = graph;
  // The last reader of each value, so intermediates can be freed as soon as nothing needs them (outside a gradient
  // tape the caller's tidy would hold every activation of the batch at once).
  const lastUse = new Array<number>(nodes.length).fill(-1);
  nodes.forEach((n, k) => inputsOf(n).forEach((i) => (lastUse[i] = k)));
  let disposed = false;
  return {
    summary: { ops: nodes.length - 1, ...counts },
    run(x: tf.Tensor): tf.Tensor {
      if (disposed) throw new Error('frozen-teacher: the model was disposed');
      const values: (tf.Tensor | null)[] = new Array(nodes.length).fill(null);
      values[0] = x;
      const v = (i: number) => values[i]!;
      for (let k = 1; k < nodes.length; k++) {
        values[k] = evaluate(nodes[k], v);
        for (const i of inputsOf(nodes[k])) {
          // Free a value nobody reads any more, unless it is the input, the output or shared with a later value.
          if (lastUse[i] === k && i !== 0 && i !== output && !values.includes(values[i], i + 1)) values[i]!.dispose();
        }
      }
      return values[output]!;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      tf.dispose(owned);
      for (const n of nodes) {
        if (n.op === 'conv' && n.winograd) tf.dispose([n.winograd.forward, n.winograd.backward]);
        if (n.op === 'conv' && n.strided) tf.dispose(n.strided.filters);
      }
    },
  };
}
