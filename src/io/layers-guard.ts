import * as tf from '@tensorflow/tfjs';
import { checkJsonDepth, MAX_SAMPLE_VALUES, MAX_TENSOR_VALUES, sizeText } from './limits';
import { internalFailure, TeacherError } from './teacher-error';

// Guards around tfjs building a Keras-style layers model (TensorFlow.js layers model.json, and Keras files converted
// to it), for the ways a damaged config hurts there rather than failing:
//  - tfjs builds a functional model by calling each layer on its inbound tensors and retrying, until none is left,
//    the calls whose inputs do not exist yet (tfjs-layers, Container.fromConfig). A reference that can never be met
//    (a layer name with a flipped byte, a call index past the layer's calls, two layers feeding each other) keeps that
//    loop going forever inside one synchronous call: the reader spins and nothing else on its thread runs again.
//    checkLayerGraph replays the same rule on the config first and names the first reference that cannot be met.
//  - tfjs allocates every weight at the shape the config implies (units, filters, kernel sizes) before it looks at
//    the weights; a flipped bit in `units` asks for gigabytes. withWeightBudget refuses any weight beyond what the
//    file holds before it is allocated, and checkActivationSizes any layer output too large to run.
//  - tfjs reads config fields without checking them and fails deep inside: damagedConfig says what that means.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const CONTAINERS = new Set(['Functional', 'Model', 'Sequential']);

/** The layers of a container config (a Functional/Model/Sequential config), or undefined for a plain layer. */
function containedLayers(layer: Json): Json[] | undefined {
  if (!CONTAINERS.has(String(layer.class_name))) return undefined;
  const config = layer.config;
  const layers = isObject(config) ? config.layers : Array.isArray(config) ? config : undefined;
  return Array.isArray(layers) ? layers.filter(isObject) : undefined;
}

type Ref = [string, number, number];

/** `[layer, node, tensor, kwargs?]` references of one call, or a sentence on why the entry is not one. */
function refsOf(call: unknown): Ref[] | string {
  if (!Array.isArray(call)) return 'a call that is not a list of inputs';
  const refs: Ref[] = [];
  for (const r of call) {
    if (!Array.isArray(r) || typeof r[0] !== 'string' || !Number.isInteger(r[1]) || r[1] < 0 || !Number.isInteger(r[2]) || r[2] < 0)
      return `the input reference ${JSON.stringify(r)?.slice(0, 60)}, which is not [layer, call, tensor]`;
    refs.push([r[0], r[1], r[2]]);
  }
  return refs;
}

/**
 * How many tensors a call of `layer` outputs: a nested model one per output, a recurrent layer returning its states
 * up to five (an LSTM's output and two states, twice when bidirectional), any other layer one.
 */
function outputCount(layer: Json): number {
  const config = isObject(layer.config) ? layer.config : {};
  if (containedLayers(layer)) return layer.class_name === 'Sequential' ? 1 : Math.max(1, Array.isArray(config.output_layers) ? config.output_layers.length : 1);
  return config.return_state === true || (isObject(config.layer) && isObject(config.layer.config) && config.layer.config.return_state === true) ? 5 : 1;
}

/** Check one functional container's own graph by tfjs' rule (see above). */
function checkFunctional(config: Json, layers: Json[], where: string): void {
  const names = new Map<string, Json>();
  for (const layer of layers) {
    const name = layer.name;
    const own = isObject(layer.config) ? layer.config.name : undefined;
    if (typeof name !== 'string') throw new TeacherError('build-failed', `${where}: a layer of the model config has no name; the config is damaged`);
    // tfjs files a layer under both names, so they must agree (Keras always writes them equal).
    if (own !== undefined && own !== name)
      throw new TeacherError('build-failed', `${where}: the layer listed as "${name}" calls itself "${String(own)}" in its config; the model config is damaged`);
    if (names.has(name)) throw new TeacherError('build-failed', `${where}: the model config has two layers named "${name}"; it is damaged`);
    names.set(name, layer);
  }
  // Calls made so far per layer: an InputLayer and a nested model are called once by being built.
  const calls = new Map([...names].map(([n, l]) => [n, l.class_name === 'InputLayer' || containedLayers(l) ? 1 : 0]));
  let pending: { layer: string; refs: Ref[] }[] = [];
  for (const [name, layer] of names) {
    // tfjs reads both spellings (it converts keys to camelCase).
    const inbound = layer.inbound_nodes ?? layer.inboundNodes ?? [];
    if (!Array.isArray(inbound)) throw new TeacherError('build-failed', `${where}: layer "${name}" has inbound_nodes that are not a list; the model config is damaged`);
    for (const call of inbound) {
      // tfjs makes no call of a layer without inputs, so whatever reads that call would wait forever.
      const refs = Array.isArray(call) && call.length === 0 ? 'a call without inputs' : refsOf(call);
      if (typeof refs === 'string') throw new TeacherError('build-failed', `${where}: layer "${name}" has ${refs}; the model config is damaged`);
      pending.push({ layer: name, refs });
    }
  }
  const met = ([from, node]: Ref) => (calls.get(from) ?? 0) > node;
  // tfjs passes output `tensor` of the call on, and an index past the outputs as undefined, which fails deep inside.
  for (const { layer, refs } of pending) {
    const bad = refs.find(([from, , tensor]) => names.has(from) && tensor >= outputCount(names.get(from)!));
    if (bad)
      throw new TeacherError(
        'build-failed',
        `${where}: layer "${layer}" takes output ${bad[2]} of "${bad[0]}", which has only ${outputCount(names.get(bad[0])!)}; the model config is damaged`,
      );
  }
  // As tfjs does: passes over the calls in config order, each making the calls whose inputs exist by then.
  while (pending.length > 0) {
    const left: typeof pending = [];
    for (const p of pending) {
      if (p.refs.every(met)) calls.set(p.layer, calls.get(p.layer)! + 1);
      else left.push(p);
    }
    if (left.length === pending.length) {
      const { layer, refs } = left[0];
      const [from, node] = refs.find((r) => !met(r))!;
      if (!names.has(from))
        throw new TeacherError('build-failed', `${where}: layer "${layer}" takes its input from "${from}", which is not a layer of the model; the model config is damaged`);
      const stuck = left.some((p) => p.layer === from);
      throw new TeacherError(
        'build-failed',
        from === layer
          ? `${where}: layer "${layer}" takes its input from its own output (a cycle); the model config is damaged`
          : stuck
          ? `${where}: layers "${layer}" and "${from}" wait for each other's output (a cycle); the model config is damaged`
          : `${where}: layer "${layer}" takes its input from call ${node} of "${from}", which is never made; the model config is damaged`,
      );
    }
    pending = left;
  }
  for (const key of ['input_layers', 'output_layers']) {
    const refs = refsOf(config[key] ?? config[key.replace(/_l/, 'L')] ?? []);
    if (typeof refs === 'string') throw new TeacherError('build-failed', `${where}: the model's ${key} hold ${refs}; the model config is damaged`);
    const bad = refs.find((r) => !met(r));
    if (bad) throw new TeacherError('build-failed', `${where}: the model's ${key} name call ${bad[1]} of "${bad[0]}", which the model does not make; the model config is damaged`);
  }
}

/**
 * Check a layers model's config before tfjs builds it: not nested too deep, and every functional container's calls
 * can all be made (tfjs would otherwise loop forever). `topology` is model.json's modelTopology (with model_config)
 * or a model config itself; `where` names the file.
 */
export function checkLayerGraph(topology: unknown, where: string): void {
  checkJsonDepth(topology, where);
  const root = isObject(topology) && isObject(topology.model_config) ? topology.model_config : topology;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const layer = stack.pop();
    if (!isObject(layer)) continue;
    const layers = containedLayers(layer);
    if (!layers) continue;
    if (layer.class_name !== 'Sequential' && isObject(layer.config)) checkFunctional(layer.config, layers, where);
    stack.push(...layers);
  }
}

/**
 * tfjs reads a layer's config fields and input references without checking them, so a damaged config fails deep
 * inside (a TypeError "Cannot read properties of undefined", a RangeError from a negative size): said as what it
 * means, or undefined when `e` is one of tfjs' own messages.
 */
export function damagedConfig(e: unknown, modelName: string): TeacherError | undefined {
  const inside = internalFailure(e);
  if (!inside) return undefined;
  return new TeacherError(
    'build-failed',
    `TensorFlow.js failed while building the model in ${modelName}, as it does when a layer's config lacks a field it needs or asks for an impossible size; the model config is damaged`,
    { restartReader: inside.abort },
  );
}

/** The guard's state while a build runs: values still allowed, and what the refusal says. */
let budget: { left: number; where: string; what: string } | null = null;

/** Layer's protected addWeight, through which every layer creates (and allocates) its weights. */
type AddWeight = (this: tf.layers.Layer, name: string, shape: tf.Shape, ...rest: unknown[]) => tf.LayerVariable;
const layerPrototype = tf.layers.Layer.prototype as unknown as { addWeight: AddWeight };
const addWeight = layerPrototype.addWeight;
// The check goes before the allocation.
layerPrototype.addWeight = function guardedAddWeight(name, shape, ...rest) {
  if (budget) {
    const values = shape.reduce((p: number, d) => p * (d ?? 1), 1);
    if (!(values <= MAX_TENSOR_VALUES) || !(values <= budget.left))
      throw new TeacherError(
        'too-large',
        `${budget.where}: layer "${this.name}" would make a weight "${name}" of shape [${shape.join(',')}] (${sizeText(values * 4)}), far more than ${budget.what}; the model config is damaged`,
      );
    budget.left -= values;
  }
  return addWeight.call(this, name, shape, ...rest);
};

/**
 * Run `build` (tfjs building a layers model) with its weights limited by `held`, the values the file holds (a
 * model's weights must all come from its file): twice that plus a million values, so that a config slightly off
 * its weights still builds and gets the reader's precise message about the mismatch, while one that asks for far
 * more is refused before the allocation. `what` says where `held` comes from, for the message.
 */
export async function withWeightBudget<T>(held: number, where: string, what: string, build: () => Promise<T>): Promise<T> {
  const outer = budget;
  budget = { left: 2 * held + 2 ** 20, where, what };
  try {
    return await build();
  } finally {
    budget = outer;
  }
}

/** Refuse a built model with a layer output too large to run (its shapes come from the config). */
export function checkActivationSizes(model: tf.LayersModel, where: string): void {
  for (const layer of model.layers) {
    const shapes = (Array.isArray(layer.outputShape[0]) || layer.outputShape.length === 0 ? layer.outputShape : [layer.outputShape]) as (number | null)[][];
    for (const shape of shapes) {
      const values = shape.slice(1).reduce((p: number, d) => p * (d ?? 1), 1);
      if (values > MAX_SAMPLE_VALUES)
        throw new TeacherError(
          'too-large',
          `${where}: layer "${layer.name}" outputs [${shape.map((d) => d ?? 'batch').join(',')}] (${sizeText(values * 4)} per sample), beyond the ${sizeText(MAX_SAMPLE_VALUES * 4)} a teacher's layer may produce; the model config is damaged or the model is far too large for CAKE`,
        );
    }
  }
}
