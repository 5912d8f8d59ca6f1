/*
 * Keras models straight from their own files: .h5 (Keras 2, tf.keras, and Keras 3's legacy HDF5 format) and Keras 3
 * .keras archives (a zip of config.json, metadata.json and model.weights.h5), or the unpacked members of one.
 *
 * HDF5 reader: h5wasm (npm h5wasm, usnistgov/h5wasm), chosen over jsfive.
 *   - h5wasm is the HDF5 C library itself compiled to WebAssembly, so every file h5py writes opens (any superblock
 *     version, dense attribute storage, v2 B-trees, compact and chunked layouts, filters); jsfive is a pure-JS
 *     partial reimplementation of the format and documents gaps (e.g. some newer-libver structures).
 *   - h5wasm writes HDF5 too, which the tests need to build Keras-layout fixtures in memory; jsfive only reads.
 *   - Both are maintained by the same author and work in a browser worker and in Node. h5wasm's ESM build embeds
 *     its wasm (about 4 MB) and works on an in-memory file system, so no DOM or Node API is touched here; the cost
 *     is bundle size, which is why teacher-load.ts imports this module only when a Keras file is dropped.
 *
 * The model config becomes a tfjs LayersModel config (keras-config.ts); the weights are read layer by layer, in
 * the order Keras itself loads them, checked against the shapes tfjs expects, and handed to the ordinary layers
 * loader under tfjs' weight names.
 */
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import h5wasm from 'h5wasm';
import { basename, fileText, type NamedFile } from './files';
import { checkGlobalHeaps, checkH5Datasets } from './h5-guard';
import { isContainer, kerasMajor, layerName, layersOf, normaliseKerasLayer, toSnakeCase, unknownLayers } from './keras-config';
import './keras-layers';
import { rewriteForTfjs } from './keras-rewrite';
import { checkLayerGraph, damagedConfig, withWeightBudget } from './layers-guard';
import { guardZipEntries } from './limits';
import type { KerasSource } from './model-source';
import { TeacherError } from './teacher-error';
import type { TeacherFormat } from './teacher-info';
import { checkFiniteWeights, type ResolvedWeights } from './weights';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

type H5Group = InstanceType<typeof h5wasm.Group>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

export interface KerasModel {
  /** `{ model_config, keras_version, backend }` as tfjs' layers loader reads it. */
  topology: Json;
  weights: ResolvedWeights;
  format: TeacherFormat;
  warnings: string[];
}

let fileCounter = 0;

/** The h5wasm module, ready. */
export async function hdf5(): Promise<typeof h5wasm & { FS: NonNullable<Awaited<typeof h5wasm.ready>['FS']> }> {
  const module = await h5wasm.ready;
  if (!errorsThrow) {
    // The HDF5 library prints its error stack to stderr by default; make failures throw it instead.
    module.activate_throwing_error_handler();
    errorsThrow = true;
  }
  return Object.assign(h5wasm, { FS: module.FS! });
}

let errorsThrow = false;

/** The innermost cause in an HDF5 error stack ("#011: …H5Fsuper_cache.c line 189 in f(): bad byte number"). */
function hdf5Cause(e: unknown): string {
  const text = String((e as Error)?.message ?? e);
  const causes = [...text.matchAll(/#\d+: .* in [\w.]+\(\): (.+)/g)].map((m) => m[1].trim());
  return causes.length > 0 ? causes[causes.length - 1] : text.split('\n')[0];
}

/** Open HDF5 bytes read-only on h5wasm's in-memory file system, run `fn`, and always close and delete the file. */
export async function withH5File<T>(data: ArrayBuffer, displayName: string, fn: (file: InstanceType<typeof h5wasm.File>) => T): Promise<T> {
  checkGlobalHeaps(data, `"${displayName}"`);
  const h5 = await hdf5();
  const path = `/cake-read-${++fileCounter}.h5`;
  h5.FS.writeFile(path, new Uint8Array(data));
  let file: InstanceType<typeof h5wasm.File> | undefined;
  try {
    try {
      file = new h5.File(path, 'r');
      // h5wasm reports some failures only as an invalid file id.
      if (!file.file_id || file.file_id < 0n) throw new Error('the HDF5 library could not open it');
    } catch (e) {
      throw new TeacherError('bad-hdf5', `"${displayName}" is not a readable HDF5 file (${hdf5Cause(e)}); it may be truncated or damaged`, { restartReader: true });
    }
    try {
      return fn(file);
    } catch (e) {
      if (e instanceof TeacherError) throw e;
      throw new TeacherError('bad-hdf5', `"${displayName}" could not be read to the end (${hdf5Cause(e)}); it may be truncated or damaged`, {
        restartReader: true,
      });
    }
  } finally {
    try {
      file?.close();
    } catch {
      // Closing a file that failed to open.
    }
    h5.FS.unlink(path);
  }
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

/** A string attribute (h5py writes bytes or str; h5wasm decodes both), or undefined. */
function stringAttr(obj: H5Group, name: string): string | undefined {
  const attr = obj.attrs[name];
  if (!attr) return undefined;
  const v = attr.value;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') return v[0];
  return undefined;
}

/** A list-of-strings attribute; Keras splits long ones into name0, name1, … (save_attributes_to_hdf5_group). */
function stringListAttr(obj: H5Group, name: string): string[] {
  const read = (key: string): string[] | undefined => {
    const attr = obj.attrs[key];
    if (!attr) return undefined;
    const v = attr.value;
    if (typeof v === 'string') return [v];
    if (Array.isArray(v)) return v.map((s) => (s instanceof Uint8Array ? new TextDecoder().decode(s) : String(s)));
    // An empty list is written as an empty float array.
    return [];
  };
  const whole = read(name);
  if (whole) return whole;
  const parts: string[] = [];
  for (let i = 0; ; i++) {
    const part = read(`${name}${i}`);
    if (!part) break;
    parts.push(...part);
  }
  return parts;
}

const isGroup = (e: unknown): e is H5Group => e instanceof h5wasm.Group;
const isDataset = (e: unknown): e is H5Dataset => e instanceof h5wasm.Dataset;

/** A dataset's values as float32, or a sentence on why not. */
function floatValues(ds: H5Dataset): Float32Array | string {
  const v = ds.value;
  if (v instanceof Float32Array) return v;
  if (v instanceof Float64Array) return Float32Array.from(v);
  if (typeof v === 'number') return Float32Array.of(v);
  // int64 weights are counters (Normalization's count), small enough for a float.
  if (v instanceof BigInt64Array || v instanceof BigUint64Array) return Float32Array.from(v, Number);
  if (typeof v === 'bigint') return Float32Array.of(Number(v));
  if (ArrayBuffer.isView(v)) return Float32Array.from(v as unknown as ArrayLike<number>);
  const attrDtype = ds.attrs.dtype ? String(ds.attrs.dtype.value) : '';
  return `its dtype ${attrDtype || JSON.stringify(ds.dtype)} is not a float type CAKE can read`;
}

/** One tfjs weight and where its values come from. */
interface Assignment {
  variable: tf.LayerVariable;
  values: Float32Array;
}

function checkShape(variable: tf.LayerVariable, values: Float32Array, shape: number[] | null, where: string, fileName: string): void {
  const want = variable.shape as number[];
  const got = shape ?? [];
  const same = want.length === got.length && want.every((d, i) => d === got[i]);
  if (!same || values.length !== want.reduce((p, d) => p * d, 1))
    throw new TeacherError('bad-keras', `${fileName}: weight ${where} has shape [${got.join(',')}] but the model config needs [${want.join(',')}]`);
}

/**
 * Keras' legacy HDF5 weights (model_weights/…): one group per top-level layer, its `weight_names` in the order of
 * layer.weights (trainable, then non-trainable). As in Keras' load_weights_from_hdf5_group, layers are matched in
 * order among those that have weights; names are used when they all agree.
 */
function legacyWeights(group: H5Group, model: tf.LayersModel, fileName: string): Assignment[] {
  const saved = stringListAttr(group, 'layer_names')
    .map((name) => {
      const g = group.get(name);
      return { name, group: isGroup(g) ? g : undefined, weightNames: isGroup(g) ? stringListAttr(g, 'weight_names') : [] };
    })
    .filter((s) => s.weightNames.length > 0);
  const layers = model.layers.filter((l) => l.weights.length > 0);
  if (saved.length !== layers.length)
    throw new TeacherError(
      'bad-keras',
      `${fileName} holds weights for ${saved.length} layer${saved.length === 1 ? '' : 's'} but its model config has ${layers.length} layer${layers.length === 1 ? '' : 's'} with weights`,
    );
  const byName = layers.every((l) => saved.some((s) => s.name === l.name));
  const out: Assignment[] = [];
  layers.forEach((layer, k) => {
    const s = byName ? saved.find((x) => x.name === layer.name)! : saved[k];
    const variables = layer.weights;
    if (s.weightNames.length !== variables.length)
      throw new TeacherError(
        'bad-keras',
        `${fileName}: layer "${layer.name}" has ${variables.length} weights but the file holds ${s.weightNames.length} for "${s.name}"`,
      );
    s.weightNames.forEach((wName, i) => {
      const ds = s.group?.get(wName);
      if (!isDataset(ds)) throw new TeacherError('bad-keras', `${fileName}: weight "${s.name}/${wName}" is listed but missing from the file`);
      const values = floatValues(ds);
      if (typeof values === 'string') throw new TeacherError('bad-keras', `${fileName}: weight "${s.name}/${wName}" cannot be read: ${values}`);
      checkShape(variables[i], values, ds.shape, `"${s.name}/${wName}"`, fileName);
      out.push({ variable: variables[i], values });
    });
  });
  return out;
}

/** The vars group of a Keras 3 layer; older archives (tf.keras 2.13+) used _layer_checkpoint_dependencies and layer names. */
function varsGroup(root: H5Group, prefix: string, snake: string, name: string): H5Group | undefined {
  for (const dir of ['layers', '_layer_checkpoint_dependencies'])
    for (const key of [snake, name]) {
      const g = root.get(`${prefix}${dir}/${key}/vars`);
      if (isGroup(g)) return g;
    }
  return undefined;
}

/**
 * Keras 3 weights (model.weights.h5): `layers/<snake_case class name>[_k]/vars/<i>`, k counting same-class
 * layers in the container's order, nested models under `layers/<name>/layers/…` (Keras' saving_lib).
 */
function kerasV3Weights(root: H5Group, config: Json, model: tf.LayersModel, fileName: string): Assignment[] {
  const out: Assignment[] = [];
  const visit = (container: Json, owner: { getLayer(name: string): tf.layers.Layer }, prefix: string) => {
    const used = new Map<string, number>();
    for (const layer of layersOf(container)) {
      const base = toSnakeCase(String(layer.class_name));
      const n = used.get(base);
      used.set(base, (n ?? -1) + 1);
      const snake = n === undefined ? base : `${base}_${n + 1}`;
      const name = layerName(layer);
      let tfLayer: tf.layers.Layer;
      try {
        tfLayer = owner.getLayer(name);
      } catch {
        continue; // an InputLayer tfjs folded into its model
      }
      if (isContainer(layer)) {
        visit(layer, tfLayer as unknown as tf.LayersModel, `${prefix}layers/${snake}/`);
        continue;
      }
      const variables = tfLayer.weights;
      if (variables.length === 0) continue;
      const vars = varsGroup(root, prefix, snake, name);
      if (!vars) throw new TeacherError('bad-keras', `${fileName} has no weights for layer "${name}" (expected ${prefix}layers/${snake}/vars)`);
      variables.forEach((variable, i) => {
        const ds = vars.get(String(i));
        if (!isDataset(ds))
          throw new TeacherError('bad-keras', `${fileName}: layer "${name}" has ${variables.length} weights but ${vars.path} holds ${vars.keys().length}`);
        const values = floatValues(ds);
        if (typeof values === 'string') throw new TeacherError('bad-keras', `${fileName}: weight ${vars.path}/${i} cannot be read: ${values}`);
        checkShape(variable, values, ds.shape, `${vars.path}/${i} (${name})`, fileName);
        out.push({ variable, values });
      });
    }
  };
  visit(config, model, '');
  return out;
}

function parseConfig(text: string, where: string): Json {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TeacherError('bad-keras', `${where} is not valid JSON (${firstLine(e)})`);
  }
  if (!isObject(json) || typeof json.class_name !== 'string' || !('config' in json))
    throw new TeacherError('bad-keras', `${where} is not a Keras model config (no class_name and config)`);
  if (!['Sequential', 'Functional', 'Model'].includes(json.class_name))
    throw new TeacherError(
      'bad-keras',
      `${where} describes a ${json.class_name}, a subclassed model whose architecture lives in Python code; CAKE needs a Sequential or functional model`,
    );
  return json;
}

/**
 * Build the model from the config (without its weights) to learn tfjs' weight names and shapes. `held`: the values
 * the file's datasets hold, the most weights the config may ask for (see layers-guard.ts).
 */
async function buildEmpty(modelConfig: Json, fileName: string, held: number): Promise<tf.LayersModel> {
  checkLayerGraph(modelConfig, fileName);
  const unknown = unknownLayers(modelConfig);
  if (unknown.length > 0) {
    const list = unknown.map((u) => `${u.className} ("${u.name}")`).join(', ');
    throw new TeacherError(
      'build-failed',
      `${fileName} uses ${unknown.length === 1 ? 'a layer' : 'layers'} TensorFlow.js does not have: ${list}; rebuild the model without ${unknown.length === 1 ? 'it' : 'them'} (preprocessing and augmentation layers can be applied outside the model)`,
    );
  }
  try {
    return await withWeightBudget(held, fileName, 'its weight datasets hold', () =>
      tf.models.modelFromJSON({ modelTopology: { model_config: modelConfig } } as unknown as tf.io.ModelJSON),
    );
  } catch (e) {
    if (e instanceof TeacherError) throw e;
    const damaged = damagedConfig(e, fileName);
    if (damaged) throw damaged;
    const first = firstLine(e).split(/(?<=\.) (?=[A-Z])/)[0];
    throw new TeacherError('build-failed', `TensorFlow.js could not build the model in ${fileName}: ${first}`);
  }
}

/** The config in tfjs' terms (keras-config.ts, keras-rewrite.ts); a config too damaged to convert gets a sentence. */
function converted(fileName: string, convert: () => Json): Json {
  try {
    return convert();
  } catch (e) {
    if (e instanceof TeacherError) throw e;
    throw new TeacherError('bad-keras', `the model config in ${fileName} is malformed (a layer or a field of one is not what Keras writes); it is damaged`);
  }
}

/** A .h5 written by model.save("….h5") in Keras 2, tf.keras or Keras 3. */
async function readH5(file: NamedFile): Promise<KerasModel> {
  const n = basename(file.name);
  const parsed = await withH5File(file.data, n, (f) => {
    const configText = stringAttr(f, 'model_config');
    if (configText === undefined) {
      const weightsOnly = f.attrs.layer_names !== undefined || f.keys().includes('layers') || f.keys().includes('model_weights');
      throw new TeacherError(
        'bad-keras',
        weightsOnly
          ? `"${n}" holds only weights (saved with save_weights), not the model's architecture: save the whole model with model.save("model.h5") or model.save("model.keras")`
          : `"${n}" is an HDF5 file but not a Keras model: it has no model_config attribute`,
      );
    }
    const config = parseConfig(configText, `the model_config in "${n}"`);
    const kerasVersion = stringAttr(f, 'keras_version');
    const weightsGroup = f.get('model_weights');
    if (!isGroup(weightsGroup)) throw new TeacherError('bad-keras', `"${n}" has a model config but no model_weights group, so it holds no trained weights`);
    const held = checkH5Datasets(weightsGroup, file.data.byteLength, n);
    return { config, kerasVersion, backend: stringAttr(f, 'backend'), weightsGroup: weightsGroup.path, held };
  });
  const modelConfig = converted(n, () => rewriteForTfjs(normaliseKerasLayer(parsed.config), kerasMajor(parsed.kerasVersion, parsed.config)));
  const built = await buildEmpty(modelConfig, n, parsed.held);
  let weights: ResolvedWeights;
  try {
    // Opened a second time: building is asynchronous, and the file is only held open inside synchronous reads.
    weights = await withH5File(file.data, n, (f) => packWeights(built, legacyWeights(f.get(parsed.weightsGroup) as H5Group, built, n), n));
  } finally {
    built.dispose();
  }
  return {
    topology: { model_config: modelConfig, keras_version: parsed.kerasVersion, backend: parsed.backend },
    weights,
    format: 'keras-h5',
    warnings: [],
  };
}

function packWeights(model: tf.LayersModel, assigned: Assignment[], fileName: string): ResolvedWeights {
  const byVariable = new Map(assigned.map((a) => [a.variable, a.values]));
  const specs: tf.io.WeightsManifestEntry[] = [];
  const data = new Float32Array(assigned.reduce((s, a) => s + a.values.length, 0));
  let at = 0;
  for (const variable of model.weights) {
    const values = byVariable.get(variable);
    if (!values) throw new TeacherError('bad-keras', `${fileName} has no value for weight "${variable.originalName}"`);
    specs.push({ name: variable.originalName, shape: variable.shape as number[], dtype: 'float32' });
    data.set(values, at);
    at += values.length;
  }
  const weights = { specs, data: data.buffer };
  checkFiniteWeights(weights);
  return weights;
}

/** config.json and model.weights.h5 of a .keras archive, from the zip or from its unpacked members. */
function kerasMembers(source: KerasSource): { config: NamedFile; weights: NamedFile; metadata?: NamedFile; name: string } {
  const name = basename(source.file.name);
  if (source.layout === 'keras-folder') return { config: source.file, weights: source.weights, name: basename(source.weights.name) };
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(new Uint8Array(source.file.data), { filter: guardZipEntries(name, () => true) });
  } catch (e) {
    if (e instanceof TeacherError) throw e;
    throw new TeacherError('bad-keras', `"${name}" is a damaged .keras archive (${firstLine(e)})`);
  }
  const member = (m: string): NamedFile | undefined => {
    const key = Object.keys(entries).find((k) => basename(k) === m);
    return key ? { name: `${name}/${m}`, data: entries[key].slice().buffer as ArrayBuffer } : undefined;
  };
  const config = member('config.json');
  const weights = member('model.weights.h5');
  if (!config) throw new TeacherError('bad-keras', `"${name}" has no config.json, so it is not a complete .keras model`);
  if (!weights) {
    if (member('model.weights.npz'))
      throw new TeacherError('bad-keras', `"${name}" stores its weights as model.weights.npz; save the model with the default HDF5 weights (model.save("model.keras"))`);
    throw new TeacherError('bad-keras', `"${name}" has no model.weights.h5, so it holds no trained weights`);
  }
  return { config, weights, metadata: member('metadata.json'), name };
}

/** A Keras 3 .keras model (zip or unpacked). */
async function readKeras3(source: KerasSource): Promise<KerasModel> {
  const { config: configFile, weights: weightsFile, metadata, name } = kerasMembers(source);
  const config = parseConfig(fileText(configFile), `config.json in "${name}"`);
  let kerasVersion: string | undefined;
  try {
    const meta = metadata ? (JSON.parse(fileText(metadata)) as Json) : undefined;
    if (typeof meta?.keras_version === 'string') kerasVersion = meta.keras_version;
  } catch {
    // metadata.json is informational only.
  }
  const modelConfig = converted(name, () => rewriteForTfjs(normaliseKerasLayer(config), 3));
  const held = await withH5File(weightsFile.data, basename(weightsFile.name), (f) => checkH5Datasets(f, weightsFile.data.byteLength, name));
  const built = await buildEmpty(modelConfig, name, held);
  let weights: ResolvedWeights;
  try {
    weights = await withH5File(weightsFile.data, basename(weightsFile.name), (f) => packWeights(built, kerasV3Weights(f, config, built, name), name));
  } finally {
    built.dispose();
  }
  return { topology: { model_config: modelConfig, keras_version: kerasVersion, backend: 'tensorflow' }, weights, format: 'keras', warnings: [] };
}

/** Read a Keras model's config and weights into what the tfjs layers loader takes. */
export async function readKerasModel(source: KerasSource): Promise<KerasModel> {
  return source.layout === 'h5' ? readH5(source.file) : readKeras3(source);
}
