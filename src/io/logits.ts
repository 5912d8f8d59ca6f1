import * as tf from '@tensorflow/tfjs';

// CAKE needs pre-softmax logits, but most exported classifiers end in a softmax. When the softmax is the model's
// last operation we rewrite the topology JSON without it (Dense/Conv activation → 'linear', or drop a trailing
// Activation('softmax')/Softmax layer) and load the same weights into the rewritten model: exact logits, no
// approximation. The rewrite works on the Keras JSON, so it reaches into nested Sequential/Model containers too.

type Json = Record<string, unknown>;

export type HeadRewrite = 'softmax removed' | 'sigmoid removed';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Layers that only move values around (or are identity at inference), so a softmax before them is still last. */
const PASS_THROUGH = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Flatten', 'Reshape']);
const CONTAINERS = new Set(['Sequential', 'Model', 'Functional']);

const className = (layer: Json) => (layer.class_name ?? layer.className) as string;
const configOf = (layer: Json) => (isObject(layer.config) ? layer.config : {}) as Json;

/**
 * Whether this layer is nothing but a softmax. Its axis is not checked here (tfjs writes axis 1 for the last axis
 * of a rank-2 tensor, Keras -1); the loader verifies every rewrite numerically instead.
 */
function isSoftmaxLayer(layer: Json): boolean {
  const cfg = configOf(layer);
  if (className(layer) === 'Activation') return cfg.activation === 'softmax';
  if (className(layer) === 'Softmax') return !Array.isArray(cfg.axis) || cfg.axis.length === 1;
  return false;
}

/**
 * Rewrite the last operation of a model config in place when it is a softmax (or a multi-unit sigmoid).
 * Returns what was removed, or undefined when the head is not something we can unwrap exactly.
 */
function unwrapHead(model: Json): HeadRewrite | undefined {
  const kind = className(model);
  if (kind === 'Sequential') return unwrapSequential(model);
  if (kind === 'Model' || kind === 'Functional') return unwrapFunctional(model);
  return undefined;
}

/** The activation of a weighted layer (Dense, Conv2D, …) when it is one we can drop without changing the argmax. */
function dropActivation(layer: Json): HeadRewrite | undefined {
  const cfg = configOf(layer);
  if (cfg.activation === 'softmax') {
    cfg.activation = 'linear';
    return 'softmax removed';
  }
  // A multi-label or one-vs-rest sigmoid head: its pre-sigmoid values rank classes the same way. A single sigmoid
  // unit is refused earlier (a classifier needs 2 classes).
  if (cfg.activation === 'sigmoid' && typeof cfg.units === 'number' && cfg.units >= 2) {
    cfg.activation = 'linear';
    return 'sigmoid removed';
  }
  return undefined;
}

function unwrapLayer(layer: Json): HeadRewrite | undefined {
  return CONTAINERS.has(className(layer)) ? unwrapHead(layer) : dropActivation(layer);
}

function unwrapSequential(model: Json): HeadRewrite | undefined {
  const cfg = model.config;
  const layers = (Array.isArray(cfg) ? cfg : isObject(cfg) ? cfg.layers : undefined) as Json[] | undefined;
  if (!Array.isArray(layers)) return undefined;
  let i = layers.length - 1;
  while (i >= 0 && PASS_THROUGH.has(className(layers[i]))) i--;
  if (i < 0) return undefined;
  if (isSoftmaxLayer(layers[i])) {
    const [removed] = layers.splice(i, 1);
    // The first layer of a Sequential carries the input shape; hand it on, or keep the softmax if nothing is left.
    const shapeKeys = ['batch_input_shape', 'batch_shape', 'input_shape', 'dtype'].filter((k) => k in configOf(removed));
    if (i === 0 && shapeKeys.length > 0) {
      if (layers.length === 0 || className(layers[0]) === 'InputLayer') {
        layers.splice(i, 0, removed);
        return undefined;
      }
      for (const k of shapeKeys) configOf(layers[0])[k] ??= configOf(removed)[k];
    }
    return 'softmax removed';
  }
  return unwrapLayer(layers[i]);
}

/** Keras inbound node references: `[layerName, nodeIndex, tensorIndex, kwargs?]`. */
type NodeRef = [string, number, number, ...unknown[]];

function unwrapFunctional(model: Json): HeadRewrite | undefined {
  const cfg = configOf(model);
  const layers = cfg.layers as Json[] | undefined;
  const outputs = cfg.output_layers as NodeRef[] | undefined;
  if (!Array.isArray(layers) || !Array.isArray(outputs) || outputs.length !== 1) return undefined;
  const byName = new Map(layers.map((l) => [configOf(l).name ?? l.name, l] as [unknown, Json]));
  const inboundOf = (layer: Json): NodeRef[] | undefined => {
    const nodes = layer.inbound_nodes;
    // Only single-node layers: a layer applied twice (shared) would change at every use.
    if (!Array.isArray(nodes) || nodes.length !== 1 || !Array.isArray(nodes[0])) return undefined;
    return nodes[0] as NodeRef[];
  };
  let ref = outputs[0];
  let layer = byName.get(ref[0]);
  while (layer && PASS_THROUGH.has(className(layer))) {
    const inbound = inboundOf(layer);
    if (!inbound || inbound.length !== 1) return undefined;
    ref = inbound[0];
    layer = byName.get(ref[0]);
  }
  if (!layer || !inboundOf(layer)) return undefined;
  if (!isSoftmaxLayer(layer)) return unwrapLayer(layer);

  // Drop the softmax layer by pointing its one consumer (or the model output) at the softmax's own input.
  const source = inboundOf(layer)!;
  if (source.length !== 1) return undefined;
  const name = ref[0];
  const refsTo = (r: unknown) => Array.isArray(r) && r[0] === name;
  const consumers = layers.flatMap((l) => ((l.inbound_nodes ?? []) as unknown[][]).flatMap((node) => node.filter(refsTo)));
  if (consumers.length + outputs.filter(refsTo).length !== 1) return undefined;
  const replacement = (r: NodeRef): NodeRef => [source[0][0], source[0][1], source[0][2], ...r.slice(3)];
  for (const l of layers)
    l.inbound_nodes = ((l.inbound_nodes ?? []) as NodeRef[][]).map((node) => node.map((r) => (refsTo(r) ? replacement(r) : r)));
  cfg.output_layers = outputs.map((r) => (refsTo(r) ? [source[0][0], source[0][1], source[0][2]] : r));
  cfg.layers = layers.filter((l) => l !== layer);
  return 'softmax removed';
}

/**
 * A copy of the topology whose model outputs what came before its final softmax (or multi-unit sigmoid), with
 * what was removed; undefined when the head cannot be unwrapped exactly.
 */
export function logitsTopology(modelTopology: Json): { topology: Json; removed: HeadRewrite } | undefined {
  const topology = structuredClone(modelTopology);
  const config = isObject(topology.model_config) ? topology.model_config : topology;
  const removed = unwrapHead(config);
  return removed ? { topology, removed } : undefined;
}

/**
 * The topology's final layer activation as written, e.g. 'sigmoid' for a single-unit binary head; used only to
 * word error messages.
 */
export function finalActivation(modelTopology: Json): string | undefined {
  let model = (isObject(modelTopology.model_config) ? modelTopology.model_config : modelTopology) as Json;
  for (let depth = 0; depth < 8; depth++) {
    const cfg = model.config;
    let layers = (Array.isArray(cfg) ? cfg : isObject(cfg) ? cfg.layers : undefined) as Json[] | undefined;
    if (!Array.isArray(layers) || layers.length === 0) return undefined;
    if (className(model) !== 'Sequential' && isObject(cfg) && Array.isArray(cfg.output_layers)) {
      const out = (cfg.output_layers as NodeRef[])[0]?.[0];
      layers = layers.filter((l) => (configOf(l).name ?? l.name) === out);
      if (layers.length === 0) return undefined;
    }
    const last = [...layers].reverse().find((l) => !PASS_THROUGH.has(className(l)))!;
    if (!last) return undefined;
    if (CONTAINERS.has(className(last))) {
      model = last;
      continue;
    }
    const act = configOf(last).activation;
    return className(last) === 'Softmax' ? 'softmax' : typeof act === 'string' ? act : undefined;
  }
  return undefined;
}

/** log(clip(p, 1e-7, 1)): logits up to a per-row constant when the model only gives probabilities. */
class LogProbabilities extends tf.layers.Layer {
  static readonly className = 'CakeLogProbabilities';

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => tf.log(tf.clipByValue(x, 1e-7, 1)));
  }
}

/**
 * A model sharing `model`'s layers that outputs log-probabilities. Softmax is invariant to a per-row constant, so
 * these act as logits; the clip keeps saturated classes from giving -Inf (and NaN gradients).
 */
export function logProbabilitiesModel(model: tf.LayersModel): tf.LayersModel {
  const out = new LogProbabilities({ name: 'cake_log_probabilities' }).apply(model.outputs[0]) as tf.SymbolicTensor;
  return tf.model({ inputs: model.inputs, outputs: out, name: `${model.name}_log_probabilities` });
}

/**
 * Whether outputs look like probability rows (non-negative, summing to 1): how a softmax hidden somewhere we cannot
 * rewrite (an ensemble average, a custom head) is still recognised.
 */
export async function looksLikeProbabilities(output: tf.Tensor2D): Promise<boolean> {
  // Asynchronous read: a synchronous read-back destroys the WebGPU device inside a worker.
  const rows = await output.array();
  return rows.every((row) => row.every((v) => v >= 0 && v <= 1 + 1e-6) && Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-3);
}

/**
 * Whether `logits` really are the pre-activation values of `outputs`: softmax (or sigmoid) of one must give the
 * other. Guards every topology rewrite against a softmax over the wrong axis or a head we misread.
 */
export async function logitsReproduce(
  logits: tf.Tensor2D,
  outputs: tf.Tensor2D,
  removed: HeadRewrite,
  tolerance = 1e-4,
): Promise<boolean> {
  const diff = tf.tidy(() => {
    const back = removed === 'sigmoid removed' ? tf.sigmoid(logits) : tf.softmax(logits);
    return tf.max(tf.abs(tf.sub(back, outputs)));
  });
  try {
    // NaN compares false, so non-finite outputs never pass for logits.
    return (await diff.data())[0] <= tolerance;
  } finally {
    diff.dispose();
  }
}
