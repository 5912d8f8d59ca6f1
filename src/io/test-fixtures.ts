import * as tf from '@tensorflow/tfjs';
import { zipSync, strToU8 } from 'fflate';
import type { NamedFile } from './files';
import { TeacherError } from './teacher-error';
import { loadTeacher } from './teacher-load';
import { weightByteLength } from './weights';

// Test-only helpers: tests build their own teachers in memory and lay them out as the files a converter or a
// browser download would produce (real published models are not copied into the repository).

export const textFile = (name: string, text: string): NamedFile => ({ name, data: strToU8(text).slice().buffer as ArrayBuffer });
export const jsonFile = (name: string, value: unknown): NamedFile => textFile(name, JSON.stringify(value));
export const bytesFile = (name: string, bytes: number[] | Uint8Array, size = 0): NamedFile => {
  const out = new Uint8Array(Math.max(size, bytes.length));
  out.set(bytes);
  return { name, data: out.buffer };
};

export interface SaveLayout {
  /** Folder prefix for every file name, e.g. 'teacher/'. */
  dir?: string;
  /** Shards in each group (weights split into equal byte ranges). */
  shards?: number;
  /** Split the weights into two manifest groups (the first half of the specs, the rest). */
  twoGroups?: boolean;
  /** Leave `format`, `generatedBy` and `convertedBy` out, as pre-1.0 converters did. */
  legacy?: boolean;
  /** Name shards without ".bin", as legacy graph-model converters did. */
  noBinExtension?: boolean;
  /** Rewrite the topology before writing (to fake layers tfjs itself would not save). */
  editTopology?: (topology: Record<string, unknown>) => void;
}

/** The model's artifacts, in memory. */
export async function artifactsOf(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  return artifacts!;
}

/** Save a model as model.json plus weight shard files, in the layout `layout` asks for. */
export async function modelFiles(model: tf.LayersModel, layout: SaveLayout = {}): Promise<NamedFile[]> {
  const a = await artifactsOf(model);
  const data = new Uint8Array(tf.io.CompositeArrayBuffer.join(a.weightData!));
  const specs = a.weightSpecs!;
  const dir = layout.dir ?? '';
  const groups: tf.io.WeightsManifestEntry[][] = layout.twoGroups ? [specs.slice(0, Math.ceil(specs.length / 2)), specs.slice(Math.ceil(specs.length / 2))] : [specs];
  const files: NamedFile[] = [];
  const manifest: tf.io.WeightsManifestConfig = [];
  let offset = 0;
  groups.forEach((weights, g) => {
    const bytes = weights.reduce((s, w) => s + weightByteLength(w), 0);
    const groupData = data.slice(offset, offset + bytes);
    offset += bytes;
    const n = layout.shards ?? 1;
    const per = Math.ceil(bytes / n);
    const paths: string[] = [];
    for (let s = 0; s < n; s++) {
      const name = `group${g + 1}-shard${s + 1}of${n}${layout.noBinExtension ? '' : '.bin'}`;
      paths.push(name);
      files.push({ name: dir + name, data: groupData.slice(s * per, Math.min(bytes, (s + 1) * per)).buffer });
    }
    manifest.push({ paths, weights });
  });
  const topology = structuredClone(a.modelTopology) as Record<string, unknown>;
  layout.editTopology?.(topology);
  const json: Record<string, unknown> = layout.legacy
    ? { modelTopology: topology, weightsManifest: manifest }
    : { format: 'layers-model', generatedBy: 'test', convertedBy: null, modelTopology: topology, weightsManifest: manifest };
  return [jsonFile(`${dir}model.json`, json), ...files];
}

/** A zip of the files (names kept), as a browser user would upload a zipped model folder. */
export function zipOf(name: string, files: NamedFile[], extra: Record<string, Uint8Array> = {}): NamedFile {
  const entries: Record<string, Uint8Array> = { ...extra };
  for (const f of files) entries[f.name] = new Uint8Array(f.data);
  return { name, data: zipSync(entries).slice().buffer as ArrayBuffer };
}

/** A small dense classifier with a seeded init, so tests are deterministic. */
export function denseClassifier(opts: { inputShape?: number[]; classes?: number; activation?: 'softmax' | 'linear' | 'sigmoid' } = {}): tf.Sequential {
  const { inputShape = [4, 4, 1], classes = 3, activation = 'softmax' } = opts;
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape }),
      tf.layers.dense({ units: 8, activation: 'relu', kernelInitializer: init(1), biasInitializer: 'ones' }),
      tf.layers.dense({ units: classes, activation, kernelInitializer: init(2) }),
    ],
  });
}

/** A small conv classifier (conv → pool → dense softmax) on 8×8×1 inputs. */
export function convClassifier(classes = 4): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 3, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }), biasInitializer: 'ones' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
    ],
  });
}

/** Largest absolute difference between two tensors' values. */
export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** The TeacherError that loading these files throws; anything else (success, another error) fails the test. */
export async function loadError(files: NamedFile[]): Promise<TeacherError> {
  try {
    (await loadTeacher(files)).dispose();
  } catch (e) {
    if (e instanceof TeacherError) return e;
    throw e;
  }
  throw new Error('expected loadTeacher to throw');
}
