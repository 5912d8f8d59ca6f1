import { isContainer, kerasMajor, layerName, layersOf } from './keras-config';
import './keras-layers';
import { needsCakeActivation } from './keras-layers';

// Keras layer options TensorFlow.js does not take, rewritten into layers it does (or into the CakeX layers of
// keras-layers.ts) before tfjs builds the model, instead of refusing the model or, worse, building it with the
// option silently ignored:
//   - GlobalAveragePooling/GlobalMaxPooling with keepdims (keras.applications' MobileNet): the pooling, then
//     CakeKeepDims ([N, C] → [N, 1, 1, C]);
//   - Conv2D with groups > 1: CakeGroupedConv2D;
//   - ReLU with negative_slope or threshold: CakeReLU;
//   - Normalization: CakeNormalization;
//   - activations tfjs lacks or defines differently (Keras 3's hard_sigmoid, hard_swish, silu, …): the layer with a
//     linear activation, then a CakeActivation.
// A layer that becomes several keeps its name (and so its weights) on the first; whatever read the layer's output
// reads the last instead. Works on the Keras-2-style config keras-config.ts produces, in Sequential and functional
// containers, nested or not.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keras inbound node references after normalisation: `[layer, node, tensor, kwargs]`. */
type NodeRef = [string, number, number, Json?];

/** Tfjs' names for Keras activations it has under another name. */
const TFJS_ACTIVATION: Record<string, string> = { hard_sigmoid: 'hardSigmoid', silu: 'swish', log_softmax: 'logSoftmax' };

/** The layers one Keras layer becomes, or undefined when tfjs takes it as it is. */
function rewriteLayer(layer: Json, major: number): Json[] | undefined {
  const cls = String(layer.class_name);
  const cfg = (isObject(layer.config) ? layer.config : {}) as Json;
  const name = layerName(layer);
  const derived = (suffix: string, className: string, config: Json): Json => ({ class_name: className, config: { name: `${name}_${suffix}`, trainable: false, dtype: 'float32', ...config } });

  if (/^Global(Average|Max)Pooling[12]D$/.test(cls) && cfg.keepdims === true) {
    const pool = { ...layer, config: { ...cfg, keepdims: false } };
    return [pool, derived('keepdims', 'CakeKeepDims', { spatial: cls.endsWith('2D') ? 2 : 1, channelsFirst: cfg.data_format === 'channels_first' })];
  }
  if (cls === 'Conv2D' && typeof cfg.groups === 'number' && cfg.groups > 1)
    return [{ ...layer, class_name: 'CakeGroupedConv2D', config: { ...cfg, kerasMajor: major } }];
  if (cls === 'ReLU' && ((Number(cfg.negative_slope ?? 0) !== 0) || Number(cfg.threshold ?? 0) !== 0))
    return [{ ...layer, class_name: 'CakeReLU', config: { ...cfg } }];
  if (cls === 'Normalization') return [{ ...layer, class_name: 'CakeNormalization', config: { ...cfg, withCount: major < 3 } }];
  if (cls === 'Activation' && needsCakeActivation(cfg.activation, major))
    return [{ ...layer, class_name: 'CakeActivation', config: { name, trainable: false, dtype: 'float32', activation: cfg.activation, kerasMajor: major } }];
  if (cls !== 'Activation' && needsCakeActivation(cfg.activation, major))
    return [{ ...layer, config: { ...cfg, activation: 'linear' } }, derived('activation', 'CakeActivation', { activation: cfg.activation, kerasMajor: major })];
  return undefined;
}

/** Activation names tfjs spells differently, and options tfjs would silently ignore, dropped in place. */
function tidyInPlace(layer: Json): void {
  const cfg = layer.config;
  if (!isObject(cfg)) return;
  if (typeof cfg.activation === 'string' && TFJS_ACTIVATION[cfg.activation]) cfg.activation = TFJS_ACTIVATION[cfg.activation];
  if (layer.class_name === 'ReLU') {
    delete cfg.negative_slope;
    delete cfg.threshold;
  }
  if (layer.class_name === 'Conv2D' || layer.class_name === 'DepthwiseConv2D' || layer.class_name === 'SeparableConv2D') delete cfg.groups;
  if (/^Global(Average|Max)Pooling[12]D$/.test(String(layer.class_name))) delete cfg.keepdims;
}

/** A container's layers with every rewrite applied; functional references are moved to each chain's last layer. */
function rewriteContainer(model: Json, major: number): Json {
  const sequential = model.class_name === 'Sequential';
  const layers = layersOf(model);
  const out: Json[] = [];
  const movedTo = new Map<string, string>();
  const created = new Set<Json>();
  for (const layer of layers) {
    if (isContainer(layer)) {
      out.push(rewriteContainer(layer, major));
      continue;
    }
    const chain = rewriteLayer(layer, major) ?? [layer];
    chain.forEach((l) => tidyInPlace(l));
    if (chain.length > 1 && !sequential) {
      // Each added layer reads the one before it, once per call of the original layer.
      const calls = Array.isArray(layer.inbound_nodes) ? layer.inbound_nodes.length : 0;
      for (let i = 1; i < chain.length; i++) {
        const prev = layerName(chain[i - 1]);
        chain[i] = { ...chain[i], name: layerName(chain[i]), inbound_nodes: Array.from({ length: calls }, (_, k) => [[prev, k, 0, {}]]) };
        created.add(chain[i]);
      }
      movedTo.set(layerName(layer), layerName(chain[chain.length - 1]));
    }
    out.push(...chain);
  }
  const cfg = model.config;
  if (Array.isArray(cfg)) return { ...model, config: out };
  const next: Json = { ...(isObject(cfg) ? cfg : {}), layers: out };
  if (!sequential && movedTo.size > 0) {
    const move = (r: unknown) => (Array.isArray(r) && typeof r[0] === 'string' && movedTo.has(r[0]) ? [movedTo.get(r[0]), ...r.slice(1)] : r);
    for (const l of out) {
      if (created.has(l) || !Array.isArray(l.inbound_nodes)) continue;
      l.inbound_nodes = (l.inbound_nodes as NodeRef[][]).map((node) => (Array.isArray(node) ? node.map(move) : node));
    }
    if (Array.isArray(next.output_layers)) next.output_layers = (next.output_layers as unknown[]).map(move);
  }
  return { ...model, config: next };
}

/**
 * The model config with Keras options tfjs lacks rewritten (see above). `major` is the Keras major version that
 * wrote it (2 for Keras 2 and tf.keras, 3 for Keras 3), which decides what hard_sigmoid means.
 */
export function rewriteForTfjs(modelConfig: Json, major: number): Json {
  if (!isContainer(modelConfig)) return modelConfig;
  return rewriteContainer(structuredClone(modelConfig), major);
}

/** A model.json topology ({model_config, keras_version, …} or the bare model config) with the rewrites applied. */
export function rewriteTopology(topology: Json): Json {
  if (isObject(topology.model_config)) {
    const version = typeof topology.keras_version === 'string' ? topology.keras_version : undefined;
    return { ...topology, model_config: rewriteForTfjs(topology.model_config, kerasMajor(version, topology.model_config)) };
  }
  return rewriteForTfjs(topology, kerasMajor(undefined, topology));
}
