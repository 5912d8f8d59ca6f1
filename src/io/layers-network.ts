import * as tf from '@tensorflow/tfjs';
import { basename, type NamedFile } from './files';
import { checkActivationSizes, checkLayerGraph, damagedConfig, withWeightBudget } from './layers-guard';
import { finalActivation, logitsTopology } from './logits';
import { preprocessingInModel } from './model-preprocessing';
import type { Network } from './network';
import { TeacherError } from './teacher-error';
import type { TeacherFormat } from './teacher-info';
import { weightValues, type ResolvedWeights } from './weights';

// The Layers formats' reader (a tfjs LayersModel's model.json and shards, and the Keras files keras-h5.ts converts
// to one): build the model, refuse anything that is not one fixed-size input mapped to [batch, classes], and build
// the same model without its final softmax from a rewritten topology, for describe-teacher.ts to check and use.

const shapeText = (shape: readonly (number | null)[]) => `[${shape.map((d) => (d === null ? 'null' : d)).join(',')}]`;

async function buildModel(topology: Record<string, unknown>, weights: ResolvedWeights, modelName: string): Promise<tf.LayersModel> {
  checkLayerGraph(topology, modelName);
  const held = weights.specs.reduce((n, w) => n + w.shape.reduce((p, d) => p * d, 1), 0);
  try {
    return await withWeightBudget(held, modelName, 'its weights hold', () =>
      tf.loadLayersModel(tf.io.fromMemory({ modelTopology: topology, weightSpecs: weights.specs, weightData: weights.data })),
    );
  } catch (e) {
    if (e instanceof TeacherError) throw e;
    const damaged = damagedConfig(e, modelName);
    if (damaged) throw damaged;
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

/**
 * The network of a Keras-style topology and its weights (from model.json and shards, or converted from a Keras
 * file). Takes no ownership of `weights`; the returned network owns the models it built.
 */
export async function layersNetwork(
  topology: Record<string, unknown>,
  weights: ResolvedWeights,
  modelFile: NamedFile,
  format: TeacherFormat,
  warnings: string[] = [],
): Promise<Network> {
  const modelName = basename(modelFile.name);
  const model = await buildModel(topology, weights, modelName);
  let cutModel: tf.LayersModel | undefined;
  try {
    const { inputShape } = checkClassifier(model, topology);
    checkActivationSizes(model, modelName);
    const rewrite = logitsTopology(topology);
    if (rewrite) {
      cutModel = await buildModel(rewrite.topology, weights, modelName);
      // Only a rewrite with the model's output shape can stand for its logits.
      if (String(cutModel.outputs[0].shape) !== String(model.outputs[0].shape)) {
        cutModel.dispose();
        cutModel = undefined;
      }
    }
    const cut = cutModel;
    return {
      format,
      modelFile,
      // A Sequential model names its input only once it has run: read when asked (after the probe).
      get inputName() {
        return model.inputNames[0];
      },
      inputShape,
      params: model.countParams(),
      run: (x) => model.apply(x, { training: false }) as tf.Tensor,
      cut: cut && rewrite ? { removed: rewrite.removed, run: (x) => cut.apply(x, { training: false }) as tf.Tensor } : undefined,
      layers: { model, cutModel: cut },
      preprocessing: preprocessingInModel(topology, (layer, w) => weightValues(weights, `${layer}/${w}`)),
      warnings,
      dispose: () => model.dispose(),
    };
  } catch (e) {
    cutModel?.dispose();
    model.dispose();
    throw e;
  }
}
