import { isContainer, layerName, layersOf } from './keras-config';
import type { Preprocessing } from './teacher-info';

// What a Keras or tfjs Layers model says about its own input range: keras.applications' EfficientNet, Keras
// preprocessing pipelines and Teachable-Machine-style exports start with Rescaling (pixel/255, pixel/127.5 − 1) or
// Normalization layers, so they take raw 0–255 pixels and the teacher card can say so instead of guessing.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ModelPreprocessing {
  preprocessing: Preprocessing;
  /** In words, for the teacher card: which layers it was read from. */
  from: string;
}

/** The layers the input flows through first, in order, up to the first layer that is neither of the two kinds. */
function leadingLayers(model: Json): Json[] {
  const layers = layersOf(model);
  if (model.class_name === 'Sequential') {
    const first = layers.filter((l) => l.class_name !== 'InputLayer');
    if (first.length > 0 && isContainer(first[0])) return leadingLayers(first[0]);
    return first;
  }
  // Functional: follow single consumers from the input layer.
  const cfg = isObject(model.config) ? model.config : {};
  const inputs = (Array.isArray(cfg.input_layers) ? cfg.input_layers : []) as unknown[][];
  if (inputs.length !== 1) return [];
  let current = String(inputs[0][0]);
  const out: Json[] = [];
  for (let guard = 0; guard < 8; guard++) {
    const readers = layers.filter((l) => JSON.stringify(l.inbound_nodes ?? []).includes(`"${current}"`));
    if (readers.length !== 1) break;
    const next = readers[0];
    if (isContainer(next)) return [...out, ...leadingLayers(next)];
    out.push(next);
    current = layerName(next);
  }
  return out;
}

const NORMALIZATION = new Set(['Normalization', 'CakeNormalization']);

/**
 * The input preprocessing a model applies itself, when it starts with Rescaling or Normalization: the model then
 * takes raw pixels, so the preprocessing to apply outside is none (scale 1, mean 0, std 1) and the input range is
 * 0–255. A Normalization whose mean is below 1.5 was adapted on 0–1 data, so the model takes pixel/255.
 * `weight(layer, name)` reads a weight (Normalization's adapted mean) when it is not in the config.
 */
export function preprocessingInModel(topology: Json, weight: (layer: string, name: string) => ArrayLike<number> | undefined): ModelPreprocessing | undefined {
  const model = (isObject(topology.model_config) ? topology.model_config : topology) as Json;
  const steps: string[] = [];
  for (const layer of leadingLayers(model)) {
    const cls = String(layer.class_name);
    const cfg = (isObject(layer.config) ? layer.config : {}) as Json;
    const name = layerName(layer);
    if (cls === 'Rescaling') {
      const scale = Number(Array.isArray(cfg.scale) ? cfg.scale[0] : cfg.scale);
      const offset = Number(Array.isArray(cfg.offset) ? cfg.offset[0] : (cfg.offset ?? 0));
      steps.push(`Rescaling "${name}" (×${+scale.toPrecision(4)}${offset ? ` ${offset > 0 ? '+' : '−'} ${Math.abs(offset)}` : ''})`);
      // Only a rescaling of 0–255 pixels (to 0–1, −1–1 or close) means raw pixels; anything else is left alone.
      if (!(scale > 0 && scale <= 1 / 100)) return undefined;
      continue;
    }
    if (NORMALIZATION.has(cls)) {
      const mean = Array.isArray(cfg.mean) ? (cfg.mean as unknown[]).flat(8).map(Number) : typeof cfg.mean === 'number' ? [cfg.mean] : Array.from(weight(name, 'mean') ?? []);
      if (mean.length === 0) return undefined;
      steps.push(`Normalization "${name}"`);
      // Rescaling before it already decided the range.
      if (steps.length > 1) continue;
      const average = mean.reduce((a, b) => a + b, 0) / mean.length;
      const from = `the model's first layer, ${steps.join(', then ')} (mean ${+average.toPrecision(3)}: ${average > 1.5 ? '0–255' : '0–1'} input)`;
      return average > 1.5
        ? { preprocessing: { scale: 1, mean: 0, std: 1, inputRange: [0, 255] }, from }
        : { preprocessing: { scale: 1 / 255, mean: 0, std: 1, inputRange: [0, 1] }, from };
    }
    break;
  }
  if (steps.length === 0) return undefined;
  return { preprocessing: { scale: 1, mean: 0, std: 1, inputRange: [0, 255] }, from: `the model's own ${steps.join(', then ')}: it takes raw 0–255 pixels` };
}
