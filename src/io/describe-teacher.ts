import * as tf from '@tensorflow/tfjs';
import type { Teacher } from '../cake/teacher';
import { freezeLayersModel } from '../tfjs/frozen-teacher';
import { ensureComparisonGradients } from './comparison-grads';
import { logitsReproduce, logProbabilitiesModel, looksLikeProbabilities } from './logits';
import type { Network } from './network';
import { classNamesFor, type SideFiles } from './side-files';
import { basename } from './files';
import { checkInputShape } from './limits';
import { internalFailure, TeacherError } from './teacher-error';
import { inputLayout, type LogitsSource, type TeacherInfo } from './teacher-info';
import { guessInputRange } from './input-guess';
import type { LoadedTeacher } from './teacher-load';

// The one place every teacher goes through once its format reader has built the network (network.ts): a probe batch
// in the teacher's input range tells the class count; the logits are chosen (a cut before the final softmax, checked
// numerically, or log-probabilities when the outputs are probability rows); gradients must reach the input (CAKE
// synthesises through them, so an op without one stops the load here, by name, rather than the first synthesis
// step); and the teacher card's facts are gathered with the side files' class names and preprocessing.

const shapeText = (shape: readonly (number | null)[]) => `[${shape.map((d) => (d === null ? 'null' : d)).join(',')}]`;

/** One layer running a function; it has no weights of its own (they live in the executor). */
class ExecutorLayer extends tf.layers.Layer {
  constructor(
    private readonly fn: (x: tf.Tensor) => tf.Tensor,
    private readonly outShape: number[],
    private readonly kind: string,
    name: string,
  ) {
    super({ name, trainable: false });
  }

  override getClassName(): string {
    return this.kind;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const first = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [first[0], ...this.outShape];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return this.fn(Array.isArray(inputs) ? inputs[0] : inputs);
  }
}

/** A LayersModel whose one layer runs `fn`: predict/apply/dispose work, countParams is 0. */
function wrap(fn: (x: tf.Tensor) => tf.Tensor, inputShape: number[], numClasses: number, kind: string, name: string): tf.LayersModel {
  const input = tf.input({ shape: inputShape, name: `${name}_input` });
  const out = new ExecutorLayer(fn, [numClasses], kind, name).apply(input) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name });
}

/** Run `fn`, turning a thrown error into the network's explanation of it. */
function explained<T>(net: Network, during: 'run' | 'gradient', fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TeacherError) throw e;
    const better = net.explain?.(e as Error, during);
    if (better) throw better;
    const inside = internalFailure(e);
    if (inside)
      throw new TeacherError(
        'build-failed',
        `TensorFlow.js failed inside the model in ${net.modelFile.name} while ${during === 'run' ? 'running' : 'differentiating'} it, as it does when a weight or shape the model computes with is out of range; the model is damaged`,
        { restartReader: inside.abort },
      );
    const first = String((e as Error).message ?? e).split('\n')[0];
    throw new TeacherError(
      during === 'run' ? 'build-failed' : 'no-gradient',
      during === 'run'
        ? `the model in ${net.modelFile.name} could not be run: ${first}`
        : `the logits of the model in ${net.modelFile.name} cannot be differentiated with respect to its input: ${first}`,
    );
  }
}

/** `explained` for work that reads values back asynchronously (the WebGPU-safe way in a worker). */
async function explainedAsync<T>(net: Network, during: 'run' | 'gradient', fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    return explained(net, during, () => {
      throw e;
    });
  }
}

/** How CAKE reads logits from the network, decided on the probe batch. */
interface LogitsChoice {
  numClasses: number;
  logitsFrom: LogitsSource;
  outputKind: TeacherInfo['outputKind'];
}

async function chooseLogits(net: Network, probe: tf.Tensor): Promise<LogitsChoice> {
  const outputs = explained(net, 'run', () => net.run(probe));
  try {
    const out = outputs.shape;
    if (out.length === 2 && out[0] !== probe.shape[0])
      throw new TeacherError(
        'output-shape',
        `the model returns ${out[0]} row${out[0] === 1 ? '' : 's'} for a batch of ${probe.shape[0]} inputs; it only works at the batch size it was exported with, and CAKE needs a model that takes any batch size`,
      );
    if (out.length !== 2)
      throw new TeacherError('output-shape', `the model's output has shape ${shapeText([null, ...out.slice(1)])}; CAKE needs a classifier with output [batch, classes]`);
    const numClasses = out[1];
    if (numClasses < 2) throw new TeacherError('classes', `the model has ${numClasses} output class${numClasses === 1 ? '' : 'es'}; a classifier needs at least 2`);
    if (net.cut) {
      const cut = net.cut;
      // Check the cut numerically: a softmax over another axis, or a head we misread, must not pass for logits.
      const pre = explained(net, 'run', () => cut.run(probe));
      const same = String(pre.shape) === String(outputs.shape) && (await logitsReproduce(pre as tf.Tensor2D, outputs as tf.Tensor2D, cut.removed));
      pre.dispose();
      if (same) return { numClasses, logitsFrom: cut.removed, outputKind: 'probabilities' };
    }
    if (await looksLikeProbabilities(outputs as tf.Tensor2D)) return { numClasses, logitsFrom: 'log-probabilities', outputKind: 'probabilities' };
    return { numClasses, logitsFrom: 'logits', outputKind: 'logits' };
  } finally {
    outputs.dispose();
  }
}

/** The models `loaded.model` and `loaded.logitsModel` are, for the Layers formats and for wrapped executors. */
function teacherModels(net: Network, choice: LogitsChoice): { model: tf.LayersModel; logitsModel: tf.LayersModel; owned: tf.LayersModel[] } {
  const { numClasses, logitsFrom } = choice;
  if (net.layers) {
    const { model, cutModel } = net.layers;
    if (logitsFrom === 'softmax removed' || logitsFrom === 'sigmoid removed') return { model, logitsModel: cutModel!, owned: [] };
    // A log-probabilities model shares the original's layers; disposing the original frees them.
    if (logitsFrom === 'log-probabilities') return { model, logitsModel: logProbabilitiesModel(model), owned: [] };
    return { model, logitsModel: model, owned: [] };
  }
  const kind = net.layerName ?? 'ImportedModel';
  const name = kind.replace(/[A-Z]/g, (c, i) => (i > 0 ? '_' : '') + c.toLowerCase());
  const model = wrap((x) => net.run(x), net.inputShape, numClasses, kind, name);
  if (logitsFrom === 'logits') return { model, logitsModel: model, owned: [model] };
  const run = logitsFrom === 'log-probabilities' ? (x: tf.Tensor) => tf.tidy(() => tf.log(tf.clipByValue(net.run(x), 1e-7, 1))) : (x: tf.Tensor) => net.cut!.run(x);
  const logitsModel = wrap(run, net.inputShape, numClasses, kind, `${name}_logits`);
  return { model, logitsModel, owned: [model, logitsModel] };
}

/**
 * Make a LoadedTeacher from a network and its side files. Takes ownership of `net`: it is disposed when loading
 * fails or when the returned teacher is disposed.
 */
export async function describeTeacher(net: Network, side: SideFiles): Promise<LoadedTeacher> {
  // Any format can compute a mask from its input (a thresholded ReLU rewritten from Keras, a where() in a graph).
  ensureComparisonGradients();
  let owned: tf.LayersModel[] = [];
  try {
    const { inputShape } = net;
    checkInputShape(inputShape, basename(net.modelFile.name));
    // Declared preprocessing (metadata.json) wins; else the model's own Rescaling/Normalization layers tell it; else
    // its first BatchNorm's statistics may give away raw or 0-1 pixels (a guess the card says is one).
    const guess = side.preprocessing || net.preprocessing || !net.layers ? null : guessInputRange(net.layers.model);
    const preprocessing =
      side.preprocessing ?? net.preprocessing?.preprocessing ?? (guess ? { scale: guess.range[1] > 2 ? 1 : 1 / 255, mean: 0, std: 1, inputRange: guess.range } : undefined);
    const preprocessingFrom = side.preprocessing ? side.preprocessingFrom : (net.preprocessing?.from ?? guess?.reason);
    const range = preprocessing?.inputRange;
    const probe = tf.tidy(() => (range ? tf.randomUniform([4, ...inputShape], range[0], range[1], 'float32', 7) : tf.randomNormal([4, ...inputShape], 0, 1, 'float32', 7)));
    let choice: LogitsChoice;
    let models: ReturnType<typeof teacherModels>;
    try {
      choice = await chooseLogits(net, probe);
      models = teacherModels(net, choice);
      owned = models.owned;
      const runner = models.logitsModel;
      await explainedAsync(net, 'gradient', async () => {
        const g = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(runner.apply(x, { training: false }) as tf.Tensor))(probe.slice(0, 2)));
        try {
          // Read back (asynchronously: a synchronous read destroys the WebGPU device in a worker) so that kernel
          // failures surface here.
          await g.data();
        } finally {
          g.dispose();
        }
      });
    } finally {
      probe.dispose();
    }
    // The Layers formats' cut model is kept only when it is the one used.
    if (net.layers?.cutModel && models.logitsModel !== net.layers.cutModel) {
      net.layers.cutModel.dispose();
      net.layers.cutModel = undefined;
    }

    const { numClasses, logitsFrom, outputKind } = choice;
    const named = classNamesFor(side, numClasses);
    const layout = net.layout ?? inputLayout(inputShape);
    const info: TeacherInfo = {
      format: net.format,
      inputName: net.inputName,
      inputShape,
      layout,
      numClasses,
      classNames: named.classNames,
      classNamesFrom: named.classNamesFrom,
      outputKind,
      logitsFrom,
      params: net.params,
      preprocessing,
      preprocessingFrom,
      preprocessingGuessed: guess !== null,
      dataset: side.dataset,
      testAccuracy: side.testAccuracy,
      warnings: [...(net.warnings ?? []), ...named.warnings],
    };
    const runner = models.logitsModel;
    // apply (not predict) so the call is recorded for tf.grad; training: false keeps Dropout off.
    // Speed (src/tfjs/frozen-teacher.ts): CAKE runs a Layers teacher as frozen, fused ops (BatchNorm folded, no weight
    // gradients) where its layers allow; the models stay as they are for everything that reads their layers.
    const frozen = net.layers ? freezeLayersModel(runner) : null;
    const logits = frozen ? (x: tf.Tensor) => frozen.run(x) as tf.Tensor2D : (x: tf.Tensor) => runner.apply(x, { training: false }) as tf.Tensor2D;
    const teacher: Teacher = { inputShape, numClasses, layout, logits };
    let disposed = false;
    const held = owned;
    owned = [];
    return {
      teacher,
      model: models.model,
      logitsModel: runner,
      info,
      dispose() {
        if (disposed) return;
        disposed = true;
        frozen?.dispose();
        for (const w of held) w.dispose();
        if (net.layers?.cutModel === runner) runner.dispose();
        net.dispose();
      },
    };
  } catch (e) {
    for (const w of owned) w.dispose();
    net.layers?.cutModel?.dispose();
    net.dispose();
    throw e;
  }
}
