import type * as tf from '@tensorflow/tfjs';
import { basename, describeKind, detectKind, fileText, foreignFormatMessage, type NamedFile } from './files';
import { checkJsonDepth } from './limits';
import { TeacherError } from './teacher-error';

// Finding, parsing and validating model.json. Everything here is about the JSON itself; the weight files are
// matched and checked in weights.ts.

export interface ModelJson {
  /** The file model.json was read from (its folder is where side files are looked for first). */
  file: NamedFile;
  /** The Keras-style topology: either `{ model_config, keras_version, … }` or the model config itself. */
  modelTopology: Record<string, unknown>;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  weightsManifest: tf.io.WeightsManifestConfig;
}

type Parsed = { file: NamedFile; json?: unknown; problem?: TeacherError };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parse one .json file, turning every way it can fail into the sentence a user would need. */
function parseJsonFile(file: NamedFile): Parsed {
  const n = basename(file.name);
  const kind = detectKind(file);
  if (kind === 'empty') return { file, problem: new TeacherError('empty-file', `${n} is empty (0 bytes)`) };
  if (kind !== 'json' && kind !== 'unknown')
    return { file, problem: new TeacherError('not-a-model', `${n} is not a model: it is ${describeKind(kind)}`) };
  let json: unknown;
  try {
    json = JSON.parse(fileText(file));
  } catch (e) {
    // V8 words some errors as `Unexpected token 'o', "…" is not valid JSON`; drop the repeated verdict.
    const detail = (e as Error).message.replace(/^(.*?), ("[\s\S]*"|\.\.\."[\s\S]*"(\.\.\.)?|"[\s\S]*"\.\.\.) is not valid JSON$/, '$1 near $2');
    return { file, problem: new TeacherError('not-json', `${n} is not valid JSON (${detail})`) };
  }
  try {
    // The readers and tfjs walk the JSON recursively.
    checkJsonDepth(json, n);
  } catch (e) {
    return { file, problem: e as TeacherError };
  }
  return { file, json };
}

const hasTopology = (p: Parsed) => isObject(p.json) && 'modelTopology' in p.json;

/**
 * Pick the model's JSON among the files: any *.json with a modelTopology key. When there is none, explain the most
 * useful thing: a broken model.json, a model format we do not read yet, or that nothing looked like a model.
 */
export function findModelJson(files: readonly NamedFile[]): { file: NamedFile; json: Record<string, unknown> } {
  if (files.length === 0) throw new TeacherError('no-files', 'no files were given: drop a TensorFlow.js model folder (model.json and its weight files) or a zip of it');
  const jsons = files.filter((f) => basename(f.name).toLowerCase().endsWith('.json')).map(parseJsonFile);
  const models = jsons.filter(hasTopology);
  if (models.length > 1)
    throw new TeacherError(
      'many-models',
      `found ${models.length} model files (${models.map((m) => m.file.name).join(', ')}); drop one model at a time`,
    );
  if (models.length === 1) return { file: models[0].file, json: models[0].json as Record<string, unknown> };

  const named = jsons.find((p) => basename(p.file.name).toLowerCase() === 'model.json');
  if (named?.problem) throw named.problem;
  for (const f of files) {
    const msg = foreignFormatMessage(detectKind(f), f.name);
    if (msg) throw new TeacherError('foreign-format', msg);
  }
  if (named)
    throw new TeacherError('not-a-model', `${basename(named.file.name)} has no modelTopology, so it is not a TensorFlow.js model`);
  // A lone broken .json with another name is most likely the model too: say what is wrong with it.
  const broken = jsons.filter((p) => p.problem && p.problem.code !== 'not-a-model');
  if (broken.length === 1 && jsons.length === 1) throw broken[0].problem!;
  const listed = files
    .slice(0, 6)
    .map((f) => basename(f.name))
    .join(', ');
  throw new TeacherError(
    'no-model',
    `no model.json found among the files (${listed}${files.length > 6 ? ', …' : ''}): drop a TensorFlow.js model folder (model.json and its weight files) or a zip of it`,
  );
}

/** A graph model's topology is a TensorFlow GraphDef: a list of `node`s rather than a Keras config. */
function isGraphTopology(topology: Record<string, unknown>): boolean {
  return Array.isArray(topology.node) || 'versions' in topology || 'library' in topology;
}

const DTYPES = new Set(['float32', 'int32', 'bool', 'complex64']);
const QUANT_DTYPES = new Set(['uint8', 'uint16', 'float16']);

/** Shape-check weightsManifest so later code can trust it; name the first bad entry. */
export function validateManifest(manifest: unknown, name: string): tf.io.WeightsManifestConfig {
  if (manifest === undefined || manifest === null) return [];
  const bad = (what: string) => new TeacherError('bad-manifest', `${name} has a malformed weightsManifest: ${what}`);
  if (!Array.isArray(manifest)) throw bad('it should be a list of weight groups');
  manifest.forEach((group: unknown, gi) => {
    if (!isObject(group)) throw bad(`group ${gi + 1} is not an object`);
    if (!Array.isArray(group.paths) || group.paths.some((p) => typeof p !== 'string'))
      throw bad(`group ${gi + 1} has no list of file paths`);
    if (!Array.isArray(group.weights)) throw bad(`group ${gi + 1} has no list of weights`);
    group.weights.forEach((w: unknown, wi) => {
      if (!isObject(w) || typeof w.name !== 'string') throw bad(`weight ${wi + 1} of group ${gi + 1} has no name`);
      if (!Array.isArray(w.shape) || w.shape.some((d) => !Number.isInteger(d) || (d as number) < 0))
        throw bad(`weight "${w.name}" has an invalid shape ${JSON.stringify(w.shape)}`);
      if (typeof w.dtype !== 'string' || !DTYPES.has(w.dtype))
        throw bad(`weight "${w.name}" has dtype ${JSON.stringify(w.dtype)}; expected float32, int32, bool or complex64`);
      const q = w.quantization;
      if (q !== undefined && q !== null) {
        if (!isObject(q) || typeof q.dtype !== 'string' || !QUANT_DTYPES.has(q.dtype))
          throw bad(`weight "${w.name}" has an unknown quantization ${JSON.stringify(q)}`);
        for (const k of ['scale', 'min'] as const)
          if (q[k] !== undefined && !Number.isFinite(q[k])) throw bad(`weight "${w.name}" has a non-finite quantization ${k}`);
      }
    });
  });
  return manifest as tf.io.WeightsManifestConfig;
}

/**
 * Keras writes `batch_input_shape` on inner layers of some Sequential models (ml5's DoodleNet does); tfjs ignores it
 * there but warns on every build. Only the first layer's input shape means anything, so the others are dropped.
 */
function dropStrayInputShapes(topology: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(topology);
  const visit = (node: unknown): void => {
    if (!isObject(node)) return;
    const cfg = node.config;
    const layers = Array.isArray(cfg) ? cfg : isObject(cfg) && Array.isArray(cfg.layers) ? cfg.layers : undefined;
    if (!layers) return;
    layers.forEach((layer: unknown, i) => {
      if (i > 0 && node.class_name === 'Sequential' && isObject(layer) && isObject(layer.config)) {
        delete layer.config.batch_input_shape;
        delete layer.config.input_shape;
      }
      visit(layer);
    });
  };
  visit(isObject(copy.model_config) ? copy.model_config : copy);
  return copy;
}

/** Validate a parsed model.json as a tfjs LayersModel (legacy files without `format` included). */
export function parseLayersModelJson(file: NamedFile, json: Record<string, unknown>): ModelJson {
  const name = basename(file.name);
  const topology = json.modelTopology;
  const format = typeof json.format === 'string' ? json.format : undefined;
  if (format === 'graph-model')
    throw new TeacherError('graph-model', `${name} holds a graph model (format: graph-model); graph models are not supported yet`);
  if (!isObject(topology)) throw new TeacherError('not-a-model', `${name} has a modelTopology that is not an object, so it is not a TensorFlow.js model`);
  if (isGraphTopology(topology))
    throw new TeacherError(
      'graph-model',
      `${name} holds a graph model (a legacy one without format: its modelTopology lists graph nodes); graph models are not supported yet`,
    );
  if (format !== undefined && format !== 'layers-model')
    throw new TeacherError('not-a-model', `${name} has format "${format}"; CAKE Studio reads TensorFlow.js layers models (format: layers-model)`);
  const config = isObject(topology.model_config) ? topology.model_config : topology;
  if (typeof config.class_name !== 'string' || (!isObject(config.config) && !Array.isArray(config.config)))
    throw new TeacherError('not-a-model', `${name} has a modelTopology without a Keras model config (class_name and config)`);
  return {
    file,
    modelTopology: dropStrayInputShapes(topology),
    format,
    generatedBy: typeof json.generatedBy === 'string' ? json.generatedBy : undefined,
    convertedBy: typeof json.convertedBy === 'string' ? json.convertedBy : null,
    weightsManifest: validateManifest(json.weightsManifest, name),
  };
}
