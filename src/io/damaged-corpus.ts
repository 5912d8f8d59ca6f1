import * as tf from '@tensorflow/tfjs';
import { strToU8, zipSync } from 'fflate';
import { Rng } from '../cake/rng';
import type { NamedFile } from './files';
import { graphModelFixture } from './graph-fixtures';
import { kerasArchive, keras2Lenet, keras2Nested, keras3Functional, keras3SequentialH5, writeH5, writeStringList } from './keras-fixtures';
import type { hdf5 } from './keras-h5';
import { onnxConvNet, onnxFile, onnxMlp } from './onnx-fixtures';
import { modelFiles, zipOf } from './test-fixtures';

// Test-only: a seeded corpus of damaged teacher files, made from the project's own fixtures of every format
// (TensorFlow.js layers and graph model.json with shards, zipped too; Keras 2 and 3 .h5, .keras zipped and unpacked;
// ONNX). Random cases damage one file of a fixture the way disks and downloads do (bits flipped in the header or
// the data, 200 bytes flipped, a block zeroed or overwritten, a truncation) or edit one node of a model's JSON;
// structured cases build what random damage rarely hits (a weight promising 100000×100000×3×3 values, zip bombs,
// configs nested thousands deep, layer and ONNX graphs with cycles or dangling inputs, HDF5 groups linked in a
// circle). Every case must end in a loaded teacher or one specific message (src/cli/import-fuzz.ts judges).

type Json = Record<string, unknown>;
type Obj = Record<string, unknown>;
type H5 = Awaited<ReturnType<typeof hdf5>>;
type H5Group = InstanceType<H5['Group']>;

export interface CorpusFixture {
  name: string;
  /** The files as a user drops them; the first is the model file. */
  files: NamedFile[];
}

export interface DamagedCase {
  id: string;
  fixture: string;
  /** What was done, e.g. "flip-200 @ model.json" or "structured: cycle in inbound nodes". */
  damage: string;
  files: NamedFile[];
}

const bufferOf = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;
const textOf = (f: NamedFile) => new TextDecoder().decode(f.data);
const withFile = (files: NamedFile[], name: string, data: ArrayBuffer) => files.map((f) => (f.name === name ? { name, data } : f));

/** A small conv classifier with its layers (and itself) named: tfjs numbers unnamed ones globally, so its files would
 * depend on what was built before. */
function convClassifier(): tf.Sequential {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  return tf.sequential({
    name: 'convnet',
    layers: [
      tf.layers.conv2d({ name: 'conv', inputShape: [8, 8, 1], filters: 3, kernelSize: 3, activation: 'relu', kernelInitializer: init(3), biasInitializer: 'ones' }),
      tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ name: 'logits', units: 4, activation: 'softmax', kernelInitializer: init(4) }),
    ],
  });
}

/** A small functional tfjs model with a skip connection, so layer graphs (inbound nodes) are in the corpus. */
function functionalClassifier(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [6, 6, 1], name: 'image' });
  const flat = tf.layers.flatten({ name: 'flat' }).apply(input) as tf.SymbolicTensor;
  const a = tf.layers.dense({ name: 'a', units: 8, activation: 'relu', kernelInitializer: init(1) }).apply(flat) as tf.SymbolicTensor;
  const b = tf.layers.dense({ name: 'b', units: 8, kernelInitializer: init(2) }).apply(a) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([a, b]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'logits', units: 4, activation: 'softmax', kernelInitializer: init(3) }).apply(sum) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'functional' });
}

/**
 * Run `make` with the clock stopped: HDF5 object headers and zip entries record times, and a seed must give the
 * same bytes on every run for a case to be reproduced (both libraries read the time through Date.now).
 */
async function atFixedTime<T>(make: () => Promise<T>): Promise<T> {
  const now = Date.now;
  Date.now = () => Date.UTC(2026, 0, 1);
  try {
    return await make();
  } finally {
    Date.now = now;
  }
}

/** The clean fixtures, one or two per format and layout. Needs a tfjs backend. */
export function corpusFixtures(): Promise<CorpusFixture[]> {
  return atFixedTime(buildFixtures);
}

async function buildFixtures(): Promise<CorpusFixture[]> {
  const fixtures: CorpusFixture[] = [];
  const add = (name: string, files: NamedFile[]) => fixtures.push({ name, files });
  const conv = convClassifier();
  const layers = await modelFiles(conv);
  conv.dispose();
  add('tfjs-layers', layers);
  const functional = functionalClassifier();
  add('tfjs-layers-functional', await modelFiles(functional));
  functional.dispose();
  add('tfjs-layers-zip', [zipOf('teacher.zip', layers)]);
  const graph = graphModelFixture();
  graph.dispose();
  add('tfjs-graph', graph.files);
  for (const [name, make] of [
    ['keras2-h5', () => keras2Lenet('lenet.h5', 16)],
    ['keras2-nested-h5', () => keras2Nested()],
    ['keras3-h5', () => keras3SequentialH5()],
  ] as const) {
    const fx = await make();
    fx.reference.dispose();
    add(name, [fx.file]);
  }
  const k3 = await keras3Functional();
  k3.reference.dispose();
  add('keras3-zip', [k3.file]);
  add('keras3-folder', [
    { name: 'model/config.json', data: bufferOf(strToU8(JSON.stringify(k3.config))) },
    { name: 'model/model.weights.h5', data: k3.weightsH5 },
    { name: 'model/metadata.json', data: bufferOf(strToU8(JSON.stringify({ keras_version: '3.4.1' }))) },
  ]);
  for (const fx of [onnxConvNet(), onnxMlp()]) {
    fx.dispose();
    add(fx.file.name === 'mlp.onnx' ? 'onnx-mlp' : 'onnx-conv', [fx.file]);
  }
  return fixtures;
}

// --- random damage -------------------------------------------------------------------------------------------------

type ByteDamage = (b: Uint8Array, rng: Rng) => { bytes: Uint8Array; what: string };

const BYTE_DAMAGE: Record<string, ByteDamage> = {
  'flip-header': (b, rng) => {
    const n = 1 + rng.int(8);
    const span = Math.min(b.length, 1024);
    for (let i = 0; i < n; i++) b[rng.int(span)] ^= 1 << rng.int(8);
    return { bytes: b, what: `${n} bits in the first ${span} bytes` };
  },
  'flip-data': (b, rng) => {
    const n = 1 + rng.int(64);
    for (let i = 0; i < n; i++) b[rng.int(b.length)] ^= 1 << rng.int(8);
    return { bytes: b, what: `${n} bits` };
  },
  'flip-200': (b, rng) => {
    for (let i = 0; i < 200; i++) b[rng.int(b.length)] ^= 1 + rng.int(255);
    return { bytes: b, what: '200 bytes' };
  },
  'zero-block': (b, rng) => {
    const at = rng.int(b.length);
    const n = 1 + rng.int(Math.min(4096, b.length - at));
    b.fill(0, at, at + n);
    return { bytes: b, what: `${n} bytes at ${at}` };
  },
  'random-block': (b, rng) => {
    const at = rng.int(b.length);
    const n = 1 + rng.int(Math.min(4096, b.length - at));
    for (let i = at; i < at + n; i++) b[i] = rng.int(256);
    return { bytes: b, what: `${n} bytes at ${at}` };
  },
  truncate: (b, rng) => {
    const fractions = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99];
    const cut = rng.uniform() < 0.5 ? Math.floor(b.length * fractions[rng.int(fractions.length)]) : rng.int(b.length);
    return { bytes: b.slice(0, cut), what: `at ${cut} of ${b.length} bytes` };
  },
};

/** Every value of a JSON tree with the way to replace it, the root excepted. */
function jsonSlots(root: unknown): { value: unknown; set(v: unknown): void; remove(): void }[] {
  const out: ReturnType<typeof jsonSlots> = [];
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    const container = node as Obj & unknown[];
    for (const key of Object.keys(container)) {
      const value = container[key as keyof typeof container];
      out.push({
        value,
        set: (v) => ((container as Obj)[key] = v),
        remove: () => (Array.isArray(container) ? container.splice(Number(key), 1) : delete (container as Obj)[key]),
      });
      stack.push(value);
    }
  }
  return out;
}

const SIZES = [0, -1, 1.5, 7, 100000, 1e9, 2 ** 31, 2 ** 53];

type JsonDamage = (root: unknown, rng: Rng) => string;

const JSON_DAMAGE: Record<string, JsonDamage> = {
  // Shapes, units, filters, kernel sizes, node indices, offsets: a number becomes another.
  'json-number': (root, rng) => {
    const slots = jsonSlots(root).filter((s) => typeof s.value === 'number');
    if (slots.length === 0) return 'no number';
    const slot = slots[rng.int(slots.length)];
    const v = SIZES[rng.int(SIZES.length)];
    slot.set(v);
    return `${slot.value} → ${v}`;
  },
  // Layer names, class names, dtypes, paths: one character changes.
  'json-string': (root, rng) => {
    const slots = jsonSlots(root).filter((s) => typeof s.value === 'string' && s.value.length > 0);
    if (slots.length === 0) return 'no string';
    const slot = slots[rng.int(slots.length)];
    const s = slot.value as string;
    const at = rng.int(s.length);
    const next = s.slice(0, at) + String.fromCharCode(s.charCodeAt(at) ^ (1 << rng.int(7))) + s.slice(at + 1);
    slot.set(next);
    return `${JSON.stringify(s).slice(0, 40)} → ${JSON.stringify(next).slice(0, 40)}`;
  },
  'json-drop': (root, rng) => {
    const slots = jsonSlots(root);
    const slot = slots[rng.int(slots.length)];
    slot.remove();
    return `removed ${JSON.stringify(slot.value)?.slice(0, 40)}`;
  },
  'json-type': (root, rng) => {
    const slots = jsonSlots(root);
    const slot = slots[rng.int(slots.length)];
    const v = [null, {}, [], 'x', true, [[[]]]][rng.int(6)];
    slot.set(v);
    return `${JSON.stringify(slot.value)?.slice(0, 30)} → ${JSON.stringify(v)}`;
  },
};

/** One random case: one file of the fixture (mostly the model file) damaged in one way. */
function randomCase(fx: CorpusFixture, rng: Rng, id: string): DamagedCase {
  const file = rng.uniform() < 0.7 ? fx.files[0] : fx.files[rng.int(fx.files.length)];
  const isJson = file.name.endsWith('.json');
  const kinds = [...Object.keys(BYTE_DAMAGE), ...(isJson ? Object.keys(JSON_DAMAGE).flatMap((k) => [k, k]) : [])];
  const kind = kinds[rng.int(kinds.length)];
  let data: ArrayBuffer;
  let what: string;
  if (kind in JSON_DAMAGE) {
    const root = JSON.parse(textOf(file)) as unknown;
    what = JSON_DAMAGE[kind](root, rng);
    data = bufferOf(strToU8(JSON.stringify(root)));
  } else {
    const out = BYTE_DAMAGE[kind](new Uint8Array(file.data).slice(), rng);
    what = out.what;
    data = bufferOf(out.bytes);
  }
  return { id, fixture: fx.name, damage: `${kind} @ ${file.name}: ${what}`, files: withFile(fx.files, file.name, data) };
}

/** `count` random cases from `seed`, spread over the fixtures in turn. */
export function randomCases(fixtures: CorpusFixture[], count: number, seed: number): DamagedCase[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, (_, i) => randomCase(fixtures[i % fixtures.length], rng, `random-${seed}-${i}`));
}

// --- structured damage ---------------------------------------------------------------------------------------------

const HUGE = [100000, 100000, 3, 3];

/** Edit the model.json of a tfjs fixture. */
function editModelJson(fx: CorpusFixture, edit: (json: Json) => void): NamedFile[] {
  const model = fx.files.find((f) => f.name.endsWith('model.json'))!;
  const json = JSON.parse(textOf(model)) as Json;
  edit(json);
  return withFile(fx.files, model.name, bufferOf(strToU8(JSON.stringify(json))));
}

const topologyLayers = (json: Json) => ((json.modelTopology as Json).config as Json).layers as Json[];

/** HDF5 bytes edited by `edit`. */
const editH5 = (data: ArrayBuffer, edit: (file: InstanceType<H5['File']>) => void) => writeH5(edit, data);

/** A zip's central directory and end record, patched: every entry declares `size` unpacked bytes, or the end record
 * claims `count` entries. */
function patchZip(zip: ArrayBuffer, patch: { size?: number; count?: number }): ArrayBuffer {
  const b = new Uint8Array(zip).slice();
  const v = new DataView(b.buffer);
  for (let i = b.length - 22; i >= 0; i--) {
    if (v.getUint32(i, true) !== 0x06054b50) continue;
    if (patch.count !== undefined) {
      v.setUint16(i + 8, patch.count, true);
      v.setUint16(i + 10, patch.count, true);
    }
    break;
  }
  if (patch.size !== undefined)
    for (let i = 0; i + 46 <= b.length; i++) if (v.getUint32(i, true) === 0x02014b50) v.setUint32(i + 24, patch.size, true);
  return bufferOf(b);
}

/** Protobuf bytes of a ModelProto whose graph nests `depth` graphs (node → attribute → graph → node …). */
function nestedOnnx(depth: number): ArrayBuffer {
  const varintLength = (n: number) => (n < 2 ** 7 ? 1 : n < 2 ** 14 ? 2 : n < 2 ** 21 ? 3 : 4);
  // Sizes from the innermost level out (GraphProto.node = 1 → NodeProto.attribute = 5 → AttributeProto.g = 6), then
  // the prefixes written from the outermost level in: building each level around a copy of the next is quadratic.
  const fields = [1, 5, 6];
  const sizes: number[] = [0];
  for (let level = 0; level < depth; level++)
    for (let f = fields.length - 1; f >= 0; f--) sizes.push(1 + varintLength(sizes[sizes.length - 1]) + sizes[sizes.length - 1]);
  const ir = [0x08, 0x08];
  const total = sizes[sizes.length - 1];
  const out = new Uint8Array(ir.length + 1 + varintLength(total) + total);
  let at = 0;
  const write = (field: number, length: number) => {
    out[at++] = (field << 3) | 2;
    for (let n = length; ; n >>>= 7) {
      out[at++] = n > 127 ? (n & 127) | 128 : n;
      if (n <= 127) break;
    }
  };
  out.set(ir);
  at = ir.length;
  write(7, total); // ModelProto.graph
  for (let i = sizes.length - 1, f = 0; i > 0; i--, f = (f + 1) % fields.length) write(fields[f], sizes[i - 1]);
  return bufferOf(out);
}

type OnnxGraph = { node: Obj[]; initializer: Obj[]; input: Obj[]; output: Obj[] };

/** The structured cases: what random damage rarely produces, each named. */
export function structuredCases(fixtures: CorpusFixture[]): Promise<DamagedCase[]> {
  return atFixedTime(() => buildStructured(fixtures));
}

async function buildStructured(fixtures: CorpusFixture[]): Promise<DamagedCase[]> {
  const fx = (name: string) => fixtures.find((f) => f.name === name)!;
  const cases: DamagedCase[] = [];
  const add = (fixture: string, damage: string, files: NamedFile[]) => cases.push({ id: `structured-${cases.length}`, fixture, damage: `structured: ${damage}`, files });

  // TensorFlow.js layers models.
  add('tfjs-layers', 'a weight promising 100000×100000×3×3 values', editModelJson(fx('tfjs-layers'), (j) => {
    ((j.weightsManifest as Json[])[0].weights as Json[])[0].shape = HUGE;
  }));
  add('tfjs-layers', 'Dense units 100000000 (the weights unchanged)', editModelJson(fx('tfjs-layers'), (j) => {
    (topologyLayers(j).find((l) => l.class_name === 'Dense')!.config as Json).units = 100_000_000;
  }));
  add('tfjs-layers', 'Conv2D filters 2^20 and kernel 999×999', editModelJson(fx('tfjs-layers'), (j) => {
    const c = topologyLayers(j).find((l) => l.class_name === 'Conv2D')!.config as Json;
    c.filters = 2 ** 20;
    c.kernel_size = [999, 999];
  }));
  add('tfjs-layers', 'an input of 100000×100000×1', editModelJson(fx('tfjs-layers'), (j) => {
    (topologyLayers(j)[0].config as Json).batch_input_shape = [null, 100000, 100000, 1];
  }));
  add('tfjs-layers', 'an UpSampling2D of 4096× before the classifier', editModelJson(fx('tfjs-layers'), (j) => {
    topologyLayers(j).splice(2, 0, { class_name: 'UpSampling2D', config: { name: 'up', size: [4096, 4096], data_format: 'channels_last' } });
  }));
  add('tfjs-layers', 'the weights manifest pointing at model.json', editModelJson(fx('tfjs-layers'), (j) => {
    (j.weightsManifest as Json[])[0].paths = ['model.json'];
  }));
  // Written as text: JSON.stringify itself recurses, and overflows at this depth.
  const nestedSequential = (inner: string, depth: number) =>
    `${'{"class_name":"Sequential","config":{"name":"s","layers":['.repeat(depth)}${inner}${']}}'.repeat(depth)}`;
  add('tfjs-layers', 'Sequential models nested 3000 deep', (() => {
    const files = fx('tfjs-layers').files;
    const json = JSON.parse(textOf(files[0])) as Json;
    const text = `{"modelTopology":${nestedSequential(JSON.stringify(json.modelTopology), 3000)},"weightsManifest":${JSON.stringify(json.weightsManifest)}}`;
    return withFile(files, files[0].name, bufferOf(strToU8(text)));
  })());
  add('tfjs-layers', 'JSON arrays nested 200000 deep', (() => {
    const files = fx('tfjs-layers').files;
    const deep = `{"modelTopology":${'['.repeat(200_000)}${']'.repeat(200_000)},"weightsManifest":[]}`;
    return withFile(files, files[0].name, bufferOf(strToU8(deep)));
  })());
  const functional = fx('tfjs-layers-functional');
  add(functional.name, 'a layer renamed (its callers read from a name no layer has)', editModelJson(functional, (j) => {
    const b = topologyLayers(j).find((l) => l.name === 'b')!;
    b.name = 'c';
    (b.config as Json).name = 'c';
  }));
  add(functional.name, 'a layer renamed in its outer name only', editModelJson(functional, (j) => {
    topologyLayers(j).find((l) => l.name === 'a')!.name = 'q';
  }));
  add(functional.name, 'two layers feeding each other (a cycle)', editModelJson(functional, (j) => {
    const a = topologyLayers(j).find((l) => l.name === 'a')!;
    a.inbound_nodes = [[['b', 0, 0, {}]]];
  }));
  add(functional.name, 'a layer calling itself', editModelJson(functional, (j) => {
    const b = topologyLayers(j).find((l) => l.name === 'b')!;
    b.inbound_nodes = [[['b', 0, 0, {}]]];
  }));
  add(functional.name, 'an inbound node index past the calls made', editModelJson(functional, (j) => {
    const sum = topologyLayers(j).find((l) => l.name === 'sum')!;
    sum.inbound_nodes = [[['a', 7, 0, {}], ['b', 0, 0, {}]]];
  }));
  add(functional.name, 'an inbound tensor index past the outputs', editModelJson(functional, (j) => {
    const sum = topologyLayers(j).find((l) => l.name === 'sum')!;
    sum.inbound_nodes = [[['a', 0, 5, {}], ['b', 0, 0, {}]]];
  }));
  add(functional.name, 'output_layers naming a layer that does not exist', editModelJson(functional, (j) => {
    ((j.modelTopology as Json).config as Json).output_layers = [['nowhere', 0, 0]];
  }));
  add(functional.name, 'two layers with one name', editModelJson(functional, (j) => {
    const layers = topologyLayers(j);
    const b = layers.find((l) => l.name === 'b')!;
    b.name = 'a';
    (b.config as Json).name = 'a';
  }));

  // TensorFlow.js graph models.
  const graph = fx('tfjs-graph');
  const graphNodes = (j: Json) => (j.modelTopology as Json).node as { name: string; op: string; input: string[] }[];
  add(graph.name, 'two nodes reading each other (a cycle)', editModelJson(graph, (j) => {
    const nodes = graphNodes(j);
    const relu = nodes.find((n) => n.op === 'Relu')!;
    const add = nodes.find((n) => n.name === relu.input[0])!;
    add.input[0] = relu.name;
  }));
  add(graph.name, 'a node reading a node that does not exist', editModelJson(graph, (j) => {
    graphNodes(j).find((n) => n.op === 'Relu')!.input = ['nowhere'];
  }));
  add(graph.name, 'a weight promising 100000×100000×3×3 values', editModelJson(graph, (j) => {
    ((j.weightsManifest as Json[])[0].weights as Json[])[0].shape = HUGE;
  }));

  // Keras .h5.
  const lenet = fx('keras2-h5');
  add(lenet.name, 'a kernel dataset resized to 100000×100000×3×3 (chunked: the file stays small)', [
    {
      name: lenet.files[0].name,
      data: await editH5(lenet.files[0].data, (f) => {
        const g = f.get('model_weights/Conv2D_1') as H5Group;
        const ds = g.create_dataset({ name: 'huge', data: new Float32Array(1), shape: [1, 1, 1, 1], maxshape: [null, null, null, null], chunks: [1, 1, 1, 1], dtype: '<f' });
        ds.resize(HUGE);
        g.delete_attribute('weight_names');
        writeStringList(g, 'weight_names', ['huge', 'Conv2D_1/bias:0']);
      }),
    },
  ]);
  add(lenet.name, "the global heap's first record zeroed (the HDF5 library would read it forever)", (() => {
    const b = new Uint8Array(lenet.files[0].data).slice();
    const at = b.findIndex((_, i) => b[i] === 0x47 && b[i + 1] === 0x43 && b[i + 2] === 0x4f && b[i + 3] === 0x4c); // "GCOL"
    b.fill(0, at + 16, at + 32);
    return [{ name: lenet.files[0].name, data: bufferOf(b) }];
  })());
  add(lenet.name, 'the weights group linked into itself (a cycle)', [
    { name: lenet.files[0].name, data: await editH5(lenet.files[0].data, (f) => (f.get('model_weights') as H5Group).create_hard_link('/model_weights', 'loop')) },
  ]);
  const nested = fx('keras2-nested-h5');
  add(nested.name, 'model_config nested 5000 deep', [
    {
      name: nested.files[0].name,
      data: await editH5(nested.files[0].data, (f) => {
        const config = String(f.attrs.model_config.value);
        f.delete_attribute('model_config');
        f.create_attribute('model_config', nestedSequential(config, 5000));
      }),
    },
  ]);

  // Keras .keras and zips.
  const k3 = fx('keras3-zip');
  add(k3.name, 'a zip whose entries declare 4 GiB each', [{ name: k3.files[0].name, data: patchZip(k3.files[0].data, { size: 0xfffffff0 }) }]);
  add(k3.name, 'a zip whose end record claims 65535 entries', [{ name: k3.files[0].name, data: patchZip(k3.files[0].data, { count: 0xffff }) }]);
  const zipped = fx('tfjs-layers-zip');
  add(zipped.name, 'a zip whose entries declare 4 GiB each', [{ name: zipped.files[0].name, data: patchZip(zipped.files[0].data, { size: 0xfffffff0 }) }]);
  add(zipped.name, 'a zip bomb: 64 MiB of zeros that declares 1 KiB', (() => {
    const bomb = zipSync({ 'model.json': new Uint8Array(64 * 1024 * 1024) }, { level: 1 });
    return [{ name: 'bomb.zip', data: patchZip(bufferOf(bomb), { size: 1024 }) }];
  })());
  add(zipped.name, 'a zip of 5000 entries', [{ name: 'many.zip', data: bufferOf(zipSync(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`f${i}.txt`, new Uint8Array(1)])))) }]);
  const folder = fx('keras3-folder');
  const editConfig = (edit: (layers: Json[]) => void) => {
    const config = JSON.parse(textOf(folder.files[0])) as Json;
    edit((config.config as Json).layers as Json[]);
    return withFile(folder.files, folder.files[0].name, bufferOf(strToU8(JSON.stringify(config))));
  };
  add(folder.name, 'config.json with two layers feeding each other', editConfig((layers) => {
    layers[1].inbound_nodes = [{ args: [{ class_name: '__keras_tensor__', config: { shape: [null, 8], dtype: 'float32', keras_history: [layers[2].name, 0, 0] } }], kwargs: {} }];
  }));
  add(folder.name, 'config.json with a layer renamed (the spin a flipped byte in a .h5 caused)', editConfig((layers) => {
    layers[2].name = 'batch_nobmalization';
    (layers[2].config as Json).name = 'batch_nobmalization';
  }));
  add(folder.name, '.keras with a weights file promising 100000×100000×3×3', [
    kerasArchive('huge.keras', JSON.parse(textOf(folder.files[0])), await editH5(folder.files[1].data, (f) => {
      const vars = f.get('layers/conv2d/vars') as H5Group;
      vars.create_dataset({ name: '9', data: new Float32Array(1), shape: [1, 1, 1, 1], maxshape: [null, null, null, null], chunks: [1, 1, 1, 1], dtype: '<f' }).resize(HUGE);
    })),
  ]);

  // ONNX.
  const onnx = onnxConvNet();
  onnx.dispose();
  const mlp = onnxMlp();
  mlp.dispose();
  const editOnnx = (base: { model: Obj; file: NamedFile }, edit: (g: OnnxGraph) => void) => {
    const model = structuredClone(base.model);
    edit(model.graph as OnnxGraph);
    return [onnxFile(base.file.name, model)];
  };
  const initializer = (g: OnnxGraph, name: string) => g.initializer.find((t) => t.name === name)!;
  add('onnx-mlp', 'an initializer whose dims promise 100000×100000×3×3', editOnnx(mlp, (g) => (initializer(g, 'w1').dims = HUGE)));
  add('onnx-mlp', 'two nodes reading each other (a cycle)', editOnnx(mlp, (g) => {
    const mm = g.node.find((n) => n.op_type === 'MatMul')!;
    (mm.input as string[])[0] = 'h';
  }));
  add('onnx-mlp', 'a node reading a value nothing produces', editOnnx(mlp, (g) => {
    (g.node.find((n) => n.op_type === 'Tanh')!.input as string[])[0] = 'nowhere';
  }));
  add('onnx-mlp', 'an input of 1×100000×100000', editOnnx(mlp, (g) => {
    (((g.input[0].type as Obj).tensor_type as Obj).shape as { dim: Obj[] }).dim = [{ dim_param: 'N' }, { dim_value: 100000 }, { dim_value: 100000 }];
  }));
  add('onnx-mlp', 'external data at a negative offset', editOnnx(mlp, (g) => {
    const w = initializer(g, 'w1');
    delete w.raw_data;
    w.float_data = [];
    w.data_location = 1;
    w.external_data = [{ key: 'location', value: 'mlp.onnx' }, { key: 'offset', value: '-8' }, { key: 'length', value: '2304' }];
  }));
  add('onnx-mlp', 'external data 4 GiB long', editOnnx(mlp, (g) => {
    const w = initializer(g, 'w1');
    delete w.raw_data;
    w.float_data = [];
    w.data_location = 1;
    w.external_data = [{ key: 'location', value: 'mlp.onnx' }, { key: 'offset', value: '0' }, { key: 'length', value: String(2 ** 32) }];
  }));
  add('onnx-conv', 'a Conv kernel whose dims disagree with its data', editOnnx(onnx, (g) => (g.initializer.find((t) => (t.dims as number[]).length === 4)!.dims = [4, 1, 30, 30])));
  add('onnx-conv', 'graphs nested 20000 deep', [{ name: 'nested.onnx', data: nestedOnnx(20000) }]);
  return cases;
}
