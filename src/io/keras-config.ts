import * as tf from '@tensorflow/tfjs';

// Keras model configs → the Keras 2 style config TensorFlow.js deserialises. Keras 2 (and tf.keras) configs need
// little: initializers, regularizers and constraints are irrelevant once the saved weights are set, so they are
// reset to plain values tfjs surely has. Keras 3 configs (config.json of a .keras archive, and model_config of a
// Keras 3 .h5) differ more: every object carries module/registered_name/build_config, dtypes are DTypePolicy
// objects, InputLayer says batch_shape, and functional inbound nodes are {args, kwargs} with __keras_tensor__
// references instead of [layer, node, tensor] lists.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const CONTAINERS = new Set(['Sequential', 'Functional', 'Model']);

/** The config of a model object, whether Keras 2 (`config: [...]` for old Sequentials) or later. */
export function layersOf(model: Json): Json[] {
  const cfg = model.config;
  if (Array.isArray(cfg)) return cfg as Json[];
  if (isObject(cfg) && Array.isArray(cfg.layers)) return cfg.layers as Json[];
  return [];
}

export const isContainer = (layer: Json) => CONTAINERS.has(String(layer.class_name));

/** A layer's name: Keras 3 and functional configs carry it at top level too; config.name is always there. */
export function layerName(layer: Json): string {
  const cfg = layer.config;
  return String((isObject(cfg) ? cfg.name : undefined) ?? layer.name ?? '');
}

/** Keras' naming.to_snake_case: how Keras 3 names a layer's folder in model.weights.h5 ("MaxPooling2D" → "max_pooling2d"). */
export function toSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * The Keras major version that wrote a config: from the file's keras_version when it has one, else 3 when the
 * config has Keras 3's module/registered_name keys.
 */
export function kerasMajor(version: string | undefined, config: Json): number {
  const m = /^(\d+)\./.exec(version ?? '');
  if (m) return Number(m[1]);
  return 'module' in config || 'registered_name' in config ? 3 : 2;
}

/** A dtype as tfjs wants it: Keras 3 writes a DTypePolicy object ("float32", "mixed_float16", …). */
function dtypeName(dtype: unknown): unknown {
  if (!isObject(dtype)) return dtype;
  const cfg = dtype.config;
  const name = isObject(cfg) ? cfg.name : undefined;
  // tfjs computes in float32; a mixed-precision policy's variables are float32 too.
  return typeof name === 'string' && name.includes('float') ? 'float32' : name;
}

/** An activation as a string: Keras 3 may write {class_name: "function", config: "relu"}. */
function activationName(activation: unknown): unknown {
  if (isObject(activation) && typeof activation.config === 'string') return activation.config;
  if (isObject(activation) && typeof activation.class_name === 'string') return activation.class_name.toLowerCase();
  return activation;
}

/** [layer, node, tensor] references from a Keras 3 inbound node ({args, kwargs} with __keras_tensor__ entries). */
function kerasTensorRefs(value: unknown, out: [string, number, number, Json][] = []): [string, number, number, Json][] {
  if (Array.isArray(value)) for (const v of value) kerasTensorRefs(v, out);
  else if (isObject(value)) {
    if (value.class_name === '__keras_tensor__' && isObject(value.config) && Array.isArray(value.config.keras_history)) {
      const [layer, node, tensor] = value.config.keras_history as [string, number, number];
      out.push([layer, node, tensor, {}]);
    } else if (Array.isArray(value.args)) kerasTensorRefs(value.args, out);
  }
  return out;
}

/** Keras 2 inbound nodes ([[layer, node, tensor, kwargs], …] per call) from either format. */
function inboundNodes(nodes: unknown): unknown[] {
  if (!Array.isArray(nodes)) return [];
  return nodes.map((node) => {
    if (isObject(node) && 'args' in node) return kerasTensorRefs(node);
    // Keras 2: a list of [layer, node, tensor, kwargs]; drop call kwargs (training flags and the like).
    if (Array.isArray(node)) return node.map((ref) => (Array.isArray(ref) ? [ref[0], ref[1], ref[2], {}] : ref));
    return node;
  });
}

/** input_layers / output_layers as a list of [layer, node, tensor]; Keras 3 writes a single one unnested. */
function layerRefs(refs: unknown): unknown {
  if (Array.isArray(refs) && refs.length === 3 && typeof refs[0] === 'string') return [refs];
  return refs;
}

const INIT_KEYS = /_initializer$/;
const DROP_KEYS = /_(regularizer|constraint)$/;

function normaliseLayerConfig(className: string, cfg: Json, first: boolean, inSequential: boolean): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(cfg)) {
    if (INIT_KEYS.test(key)) out[key] = value === null ? null : { class_name: 'Zeros', config: {} };
    else if (DROP_KEYS.test(key)) out[key] = null;
    else if (key === 'dtype') out[key] = dtypeName(value);
    else if (key === 'activation') out[key] = activationName(value);
    else if (key === 'layers' || key === 'input_layers' || key === 'output_layers') out[key] = value;
    else out[key] = value;
  }
  if (className === 'InputLayer' && out.batch_shape !== undefined && out.batch_input_shape === undefined) out.batch_input_shape = out.batch_shape;
  if (className === 'InputLayer') {
    delete out.batch_shape;
    delete out.optional;
  }
  // Old Keras wrote batch_input_shape on inner layers of a Sequential; only the first one means anything.
  if (inSequential && !first && className !== 'InputLayer') {
    delete out.batch_input_shape;
    delete out.input_shape;
  }
  delete out.quantization_config;
  return out;
}

/** A Keras 2/3 layer or model config, rewritten for tfjs (recursing into nested models). */
export function normaliseKerasLayer(layer: Json, index = 0, inSequential = false): Json {
  const className = String(layer.class_name);
  const out: Json = { class_name: className === 'Functional' ? 'Model' : className };
  const cfg = layer.config;
  if (isContainer(layer)) {
    const sequential = className === 'Sequential';
    const inner = layersOf(layer).map((l, i) => normaliseKerasLayer(l, i, sequential));
    if (Array.isArray(cfg)) out.config = inner;
    else {
      const c = isObject(cfg) ? cfg : {};
      const next: Json = { name: c.name, layers: inner };
      if (!sequential) {
        next.input_layers = layerRefs(c.input_layers);
        next.output_layers = layerRefs(c.output_layers);
      }
      out.config = next;
    }
  } else {
    out.config = normaliseLayerConfig(className, isObject(cfg) ? cfg : {}, index === 0, inSequential);
  }
  if ('name' in layer) out.name = layer.name;
  if ('inbound_nodes' in layer) out.inbound_nodes = inboundNodes(layer.inbound_nodes);
  return out;
}

/** Leaf layer class names in the config that TensorFlow.js has no class for, with the layers' names. */
export function unknownLayers(model: Json): { className: string; name: string }[] {
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  const out: { className: string; name: string }[] = [];
  const visit = (layer: Json) => {
    if (isContainer(layer)) {
      layersOf(layer).forEach(visit);
      return;
    }
    const cls = String(layer.class_name);
    const entry = known[cls];
    if (!entry || !(entry[0].prototype instanceof tf.layers.Layer)) out.push({ className: cls, name: layerName(layer) });
  };
  visit(model);
  return out;
}
