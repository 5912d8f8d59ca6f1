import * as tf from '@tensorflow/tfjs';
import type { Teacher } from '../cake/teacher';
import { basename, expandZips, type NamedFile } from './files';
import { finalActivation, logitsReproduce, logitsTopology, logProbabilitiesModel, looksLikeProbabilities } from './logits';
import { rewriteTopology } from './keras-rewrite';
import { findModelJson, parseLayersModelJson } from './model-json';
import { readSideFiles } from './side-files';
import { TeacherError } from './teacher-error';
import { loadGraphTeacher, isGraphModelJson } from './graph-model';
import { findModelSource } from './model-source';
import { loadOnnxTeacher } from './onnx';
import { inputLayout, type LogitsSource, type TeacherFormat, type TeacherInfo } from './teacher-info';
import { preprocessingInModel } from './model-preprocessing';
import { checkFiniteWeights, resolveWeights, weightValues, type ResolvedWeights } from './weights';

// Loading a teacher from dropped files. The model's format picks the reader (model-source.ts); a tfjs LayersModel,
// and the Keras files converted to one, then go the same way: check every file before tfjs sees it, build the
// model, check it is a single-input classifier, and derive a logits model for CAKE. Graph models and ONNX models
// are run by their own executors (graph-model.ts, onnx.ts) and wrapped in foreign-model.ts.

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

const shapeText = (shape: readonly (number | null)[]) => `[${shape.map((d) => (d === null ? 'null' : d)).join(',')}]`;

async function buildModel(topology: Record<string, unknown>, weights: ResolvedWeights, modelName: string): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: topology, weightSpecs: weights.specs, weightData: weights.data }),
    );
  } catch (e) {
    const message = String((e as Error).message ?? e);
    const unknown = /Unknown (layer|activation|initializer|regularizer|constraint): (\w+(?:\.\w+)*)/.exec(message);
    if (unknown)
      throw new TeacherError(
        'build-failed',
        `${modelName} uses a ${unknown[1]} TensorFlow.js does not know (${unknown[2]}); re-export the model without custom ${unknown[1]}s`,
      );
    // tfjs' messages run to paragraphs; the first sentence is the useful part.
    const first = message.split(/\n|(?<=\.) (?=[A-Z])/)[0];
    throw new TeacherError('build-failed', `TensorFlow.js could not build the model in ${modelName}: ${first}`);
  }
}

/** Refuse anything that is not one fixed-size input mapped to [batch, classes]; returns the input shape and class count. */
function checkClassifier(model: tf.LayersModel, topology: Record<string, unknown>): { inputShape: number[]; numClasses: number } {
  if (model.inputs.length !== 1)
    throw new TeacherError('inputs', `this model has ${model.inputs.length} inputs; CAKE needs a single image input`);
  const input = model.inputs[0];
  const inputShape = input.shape.slice(1);
  if (input.dtype !== 'float32')
    throw new TeacherError('inputs', `this model takes ${input.dtype} input; CAKE needs a float32 image input`);
  if (inputShape.some((d) => d === null))
    throw new TeacherError(
      'input-shape',
      `the model's input has shape ${shapeText(input.shape)} with free dimensions; CAKE needs a fixed input size such as [null,28,28,1]`,
    );
  if (inputShape.length < 1 || inputShape.length > 3)
    throw new TeacherError(
      'input-shape',
      `the model's input has shape ${shapeText(input.shape)}; CAKE needs an image input [H, W], [H, W, C] or a flat vector`,
    );
  if (model.outputs.length !== 1)
    throw new TeacherError('outputs', `this model has ${model.outputs.length} outputs; CAKE needs a single classifier output`);
  const out = model.outputs[0].shape;
  if (out.length !== 2 || out[1] === null)
    throw new TeacherError('output-shape', `the model's output has shape ${shapeText(out)}; CAKE needs a classifier with output [batch, classes]`);
  const numClasses = out[1];
  if (numClasses < 2) {
    const sigmoid = finalActivation(topology) === 'sigmoid';
    throw new TeacherError(
      'classes',
      `the model has ${numClasses} output class${numClasses === 1 ? '' : 'es'}; a classifier needs at least 2` +
        (sigmoid ? ' (a single sigmoid unit is a binary classifier: re-export it with a 2-unit softmax head)' : ''),
    );
  }
  return { inputShape: inputShape as number[], numClasses };
}

/** A seeded batch in the teacher's input range, for telling probabilities from logits by their values. */
function probeBatch(inputShape: number[], range?: [number, number]): tf.Tensor {
  const shape = [4, ...inputShape];
  return range ? tf.randomUniform(shape, range[0], range[1], 'float32', 7) : tf.randomNormal(shape, 0, 1, 'float32', 7);
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
    throw new TeacherError('bad-zip', (e as Error).message);
  }
  const source = findModelSource(all);
  if (source.kind === 'onnx') return loadOnnxTeacher(source.file, all);
  if (source.kind === 'keras') {
    // Loaded on demand: the HDF5 reader is a few MB of WebAssembly that only Keras files need.
    const { readKerasModel } = await import('./keras-h5');
    const keras = await readKerasModel(source);
    return layersTeacher(keras.topology, keras.weights, source.file, all, keras.format, keras.warnings);
  }
  const found = findModelJson(all);
  if (isGraphModelJson(found.json)) return loadGraphTeacher(found.file, found.json, all);
  const modelJson = parseLayersModelJson(found.file, found.json);
  const weights = resolveWeights(modelJson.weightsManifest, all, found.file);
  checkFiniteWeights(weights);
  // A converted Keras model keeps Keras' options (keepdims, groups, …) in its topology.
  return layersTeacher(rewriteTopology(modelJson.modelTopology), weights, found.file, all, 'tfjs-layers');
}

/**
 * A teacher from a Keras-style topology and its weights (from model.json and shards, or converted from a Keras
 * file): build it, check it is a single-input classifier, and derive a logits model for CAKE.
 */
export async function layersTeacher(
  topology: Record<string, unknown>,
  weights: ResolvedWeights,
  modelFile: NamedFile,
  all: readonly NamedFile[],
  format: TeacherFormat,
  warnings: string[] = [],
): Promise<LoadedTeacher> {
  const modelName = basename(modelFile.name);
  const model = await buildModel(topology, weights, modelName);
  let logitsModel: tf.LayersModel | undefined;
  let ownsLogitsModel = false;
  try {
    const { inputShape, numClasses } = checkClassifier(model, topology);
    const side = readSideFiles(all, modelFile, numClasses);
    // Declared preprocessing (metadata.json) wins; else the model's own Rescaling/Normalization layers tell it.
    const inModel = side.preprocessing ? undefined : preprocessingInModel(topology, (layer, w) => weightValues(weights, `${layer}/${w}`));
    const preprocessing = side.preprocessing ?? inModel?.preprocessing;
    const preprocessingFrom = side.preprocessing ? side.preprocessingFrom : inModel?.from;

    let logitsFrom: LogitsSource = 'logits';
    let outputKind: TeacherInfo['outputKind'] = 'logits';
    const probe = probeBatch(inputShape, preprocessing?.inputRange);
    const outputs = model.predict(probe) as tf.Tensor2D;
    try {
      const rewrite = logitsTopology(topology);
      if (rewrite) {
        const candidate = await buildModel(rewrite.topology, weights, modelName);
        // Check the rewrite numerically on the probe batch: a softmax over another axis, or a head we misread,
        // must not pass for logits.
        const logits = candidate.predict(probe) as tf.Tensor2D;
        const same = String(candidate.outputs[0].shape) === String(model.outputs[0].shape);
        if (same && (await logitsReproduce(logits, outputs, rewrite.removed))) {
          logitsModel = candidate;
          ownsLogitsModel = true;
          logitsFrom = rewrite.removed;
          outputKind = 'probabilities';
        } else {
          candidate.dispose();
        }
        logits.dispose();
      }
      if (!logitsModel && (await looksLikeProbabilities(outputs))) {
        logitsModel = logProbabilitiesModel(model);
        logitsFrom = 'log-probabilities';
        outputKind = 'probabilities';
      }
    } finally {
      tf.dispose([probe, outputs]);
    }
    logitsModel ??= model;

    const info: TeacherInfo = {
      format,
      inputName: model.inputNames[0],
      inputShape,
      layout: inputLayout(inputShape),
      numClasses,
      classNames: side.classNames,
      classNamesFrom: side.classNamesFrom,
      outputKind,
      logitsFrom,
      params: model.countParams(),
      preprocessing,
      preprocessingFrom,
      dataset: side.dataset,
      testAccuracy: side.testAccuracy,
      warnings: [...warnings, ...side.warnings],
    };
    const runner = logitsModel;
    const teacher: Teacher = {
      inputShape,
      numClasses,
      // apply (not predict) so the call is recorded for tf.grad; training: false keeps Dropout off.
      logits: (x) => runner.apply(x, { training: false }) as tf.Tensor2D,
    };
    let disposed = false;
    return {
      teacher,
      model,
      logitsModel: runner,
      info,
      dispose() {
        if (disposed) return;
        disposed = true;
        // A log-probabilities model shares the original's layers; disposing the original frees them.
        if (ownsLogitsModel) runner.dispose();
        model.dispose();
      },
    };
  } catch (e) {
    if (ownsLogitsModel) logitsModel?.dispose();
    model.dispose();
    throw e;
  }
}
