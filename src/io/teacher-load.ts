import type * as tf from '@tensorflow/tfjs';
import type { Teacher } from '../cake/teacher';
import { describeTeacher } from './describe-teacher';
import { expandZips, type NamedFile } from './files';
import { isGraphModelJson, readGraphModel } from './graph-model';
import { rewriteTopology } from './keras-rewrite';
import { layersNetwork } from './layers-network';
import { findModelJson, parseLayersModelJson } from './model-json';
import { findModelSource } from './model-source';
import type { Network } from './network';
import { readOnnxNetwork } from './onnx';
import { readSideFiles } from './side-files';
import { TeacherError } from './teacher-error';
import type { TeacherInfo } from './teacher-info';
import { checkFiniteWeights, resolveWeights } from './weights';

// Loading a teacher from dropped files, in one pass: the files are unzipped and sniffed once (files.ts remembers what
// each file is), the model's format picks its reader (model-source.ts), the reader turns the bytes into a Network
// (network.ts: layers-network.ts for tfjs Layers and Keras files, graph-model.ts, onnx.ts), the side files next to
// the model are read once, and describe-teacher.ts picks the logits, checks gradients and describes the teacher.

export interface LoadedTeacher {
  /** What CAKE consumes: differentiable pre-softmax logits. */
  teacher: Teacher;
  /** The model as it was exported. */
  model: tf.LayersModel;
  /** The model `teacher.logits` runs: `model` itself, a copy without its final softmax, or `model` + log. */
  logitsModel: tf.LayersModel;
  info: TeacherInfo;
  /** Frees both models' weights. */
  dispose(): void;
}

/** The network in the files, read by its format's reader. */
async function readNetwork(all: NamedFile[]): Promise<Network> {
  const source = findModelSource(all);
  if (source.kind === 'onnx') return readOnnxNetwork(source.file, all);
  if (source.kind === 'keras') {
    // Loaded on demand: the HDF5 reader is a few MB of WebAssembly that only Keras files need.
    const { readKerasModel } = await import('./keras-h5');
    const keras = await readKerasModel(source);
    return layersNetwork(keras.topology, keras.weights, source.file, keras.format, keras.warnings);
  }
  const found = findModelJson(all);
  if (isGraphModelJson(found.json)) return readGraphModel(found.file, found.json, all);
  const modelJson = parseLayersModelJson(found.file, found.json);
  const weights = resolveWeights(modelJson.weightsManifest, all, found.file);
  checkFiniteWeights(weights);
  // A converted Keras model keeps Keras' options (keepdims, groups, …) in its topology.
  return layersNetwork(rewriteTopology(modelJson.modelTopology), weights, found.file, 'tfjs-layers');
}

/**
 * Load a teacher from in-memory files (a folder's files, or a zip of it): a TensorFlow.js layers or graph model,
 * a Keras .h5 or .keras file, or an ONNX model. Throws TeacherError with one specific sentence for every problem
 * found.
 */
export async function loadTeacher(files: NamedFile[]): Promise<LoadedTeacher> {
  let all: NamedFile[];
  try {
    all = expandZips(files);
  } catch (e) {
    throw e instanceof TeacherError ? e : new TeacherError('bad-zip', (e as Error).message);
  }
  const network = await readNetwork(all);
  return describeTeacher(network, readSideFiles(all, network.modelFile));
}
