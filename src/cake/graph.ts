import * as tf from '@tensorflow/tfjs';

/**
 * A Layers model as one flat list of operations in topological order, with nested models (a Teachable Machine
 * export is a Sequential of two Sequentials; keras.applications bases are often wrapped) inlined into their
 * callers. Students are rebuilt from this list at reduced width (students.ts) and paired with it to start from the
 * teacher's channels (src/cake/inherit.ts): both need the graph without its containers.
 */

export interface GraphOp {
  /** The layer this operation applies (never a container). */
  layer: tf.layers.Layer;
  className: string;
  /** Indices (into `ops`) of the operations whose outputs feed this one, in the layer's input order. */
  inputs: number[];
  /** The output shape, batch axis included as null. */
  shape: (number | null)[];
}

export interface FlatGraph {
  ops: GraphOp[];
  /** The index of the op whose output is the model's output. */
  output: number;
}

export class GraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphError';
  }
}

const isContainer = (layer: tf.layers.Layer): layer is tf.LayersModel => layer instanceof tf.LayersModel;

/** The model's operations with nested models inlined; throws GraphError for several inputs or outputs, or a multi-output layer. */
export function flattenGraph(model: tf.LayersModel): FlatGraph {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new GraphError('it has several inputs or outputs');
  const ops: GraphOp[] = [];
  // One scope per call of a container: inside it, the container's own input tensors stand for the caller's tensors.
  interface Scope {
    id: number;
    bound: Map<number, number>;
  }
  let scopes = 0;
  const memo = new Map<string, number>();
  const innerScopes = new Map<string, Scope>();

  const visit = (t: tf.SymbolicTensor, scope: Scope, depth: number): number => {
    const bound = scope.bound.get(t.id);
    if (bound !== undefined) return bound;
    const key = `${scope.id}:${t.id}`;
    const seen = memo.get(key);
    if (seen !== undefined) return seen;
    if (depth > 10_000) throw new GraphError('it is nested or chained too deeply to read');
    const layer = t.sourceLayer;
    const node = layer.inboundNodes[t.nodeIndex];
    let index: number;
    if (isContainer(layer)) {
      if (layer.inputs.length !== node.inputTensors.length) throw new GraphError(`its nested model "${layer.name}" is called with other inputs than it takes`);
      const callKey = `${scope.id}:${layer.name}:${t.nodeIndex}`;
      let inner = innerScopes.get(callKey);
      if (!inner) {
        const outer = node.inputTensors.map((x) => visit(x, scope, depth + 1));
        inner = { id: ++scopes, bound: new Map(layer.inputs.map((x, i) => [x.id, outer[i]])) };
        innerScopes.set(callKey, inner);
      }
      index = visit(layer.outputs[t.tensorIndex], inner, depth + 1);
    } else {
      const cls = layer.getClassName();
      if (cls !== 'InputLayer' && layer.inboundNodes.some((n) => n.outputTensors.length !== 1))
        throw new GraphError(`its layer "${layer.name}" (${cls}) has several outputs`);
      const inputs = cls === 'InputLayer' ? [] : node.inputTensors.map((x) => visit(x, scope, depth + 1));
      index = ops.length;
      ops.push({ layer, className: cls, inputs, shape: [...t.shape] });
    }
    memo.set(key, index);
    return index;
  };
  const output = visit(model.outputs[0], { id: 0, bound: new Map() }, 0);
  return { ops, output };
}

/** Ops that hold weights whose last axis is the output channels (or units). */
export const CHANNEL_MAKERS = new Set(['Conv2D', 'Dense', 'SeparableConv2D']);

/** The index of the classifier: the last op that makes channels before the output. */
export function classifierOp(graph: FlatGraph): number {
  for (let i = graph.output; i >= 0; i--) if (CHANNEL_MAKERS.has(graph.ops[i].className)) return i;
  return -1;
}

/** Layers a BatchNormalization right after them can be folded into (their output channels are its channels). */
const FOLD_INTO = new Set(['Conv2D', 'Dense', 'SeparableConv2D', 'DepthwiseConv2D']);

/**
 * The BatchNormalizations that can be folded into the layer before them, as BN op index → that layer's op index: the
 * BN normalises the last axis and its input is a Conv2D, Dense, SeparableConv2D or DepthwiseConv2D whose output feeds
 * nothing else. In inference form such a BN is a per-channel affine map, so the pair is one layer with an adjusted
 * kernel and bias.
 */
export function foldableBatchNorms(graph: FlatGraph): Map<number, number> {
  const consumers = new Map<number, number>();
  for (const op of graph.ops) for (const j of op.inputs) consumers.set(j, (consumers.get(j) ?? 0) + 1);
  const out = new Map<number, number>();
  graph.ops.forEach((op, i) => {
    if (op.className !== 'BatchNormalization' || op.inputs.length !== 1) return;
    const j = op.inputs[0];
    const axis = (op.layer.getConfig() as { axis?: number | number[] }).axis;
    const last = Array.isArray(axis) ? axis.length === 1 && (axis[0] === -1 || axis[0] === op.shape.length - 1) : axis === -1 || axis === op.shape.length - 1;
    const producer = graph.ops[j];
    const channelsLast = (producer.layer.getConfig() as { dataFormat?: string }).dataFormat !== 'channelsFirst';
    if (last && channelsLast && FOLD_INTO.has(producer.className) && consumers.get(j) === 1) out.set(i, j);
  });
  return out;
}

/**
 * A BatchNormalization's inference form as per-channel scale and shift (y = scale·x + shift), from its weights in
 * the order tfjs keeps them (gamma and beta when it has them, then the moving mean and variance).
 */
export function batchNormAffine(bn: tf.layers.Layer): { scale: Float32Array; shift: Float32Array } {
  const c = bn.getConfig() as { center?: boolean; scale?: boolean; epsilon?: number };
  const w = bn.getWeights();
  let k = 0;
  const gamma = c.scale === false ? null : w[k++].dataSync();
  const beta = c.center === false ? null : w[k++].dataSync();
  const mean = w[k++].dataSync();
  const variance = w[k++].dataSync();
  const eps = c.epsilon ?? 1e-3;
  const n = mean.length;
  const scale = new Float32Array(n);
  const shift = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    scale[i] = (gamma ? gamma[i] : 1) / Math.sqrt(variance[i] + eps);
    shift[i] = (beta ? beta[i] : 0) - mean[i] * scale[i];
  }
  return { scale, shift };
}
