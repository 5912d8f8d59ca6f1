import * as tf from '@tensorflow/tfjs';
import type { Teacher } from '../cake/teacher';
import type { NamedFile } from './files';
import { logitsReproduce, looksLikeProbabilities, type HeadRewrite } from './logits';
import { readSideFiles } from './side-files';
import { TeacherError } from './teacher-error';
import { inputLayout, type InputLayout, type LogitsSource, type TeacherFormat, type TeacherInfo } from './teacher-info';
import type { LoadedTeacher } from './teacher-load';

// Teachers that are not tfjs LayersModels (graph models, ONNX) run through their own executors. This file turns
// such an executor into a LoadedTeacher: it finds the class count from a probe batch, picks the logits (a cut
// before the final softmax, checked numerically, or log-probabilities), checks that gradients reach the input, and
// wraps the executor in a one-layer LayersModel so that code expecting `loaded.model` (predict, evaluation, the
// student zoo's 'auto') keeps working.

export interface ForeignModel {
  format: TeacherFormat;
  /** The file the model came from; side files (class_names.txt, …) are looked for next to it. */
  modelFile: NamedFile;
  /** The input's name in the model, for the teacher card. */
  inputName: string;
  /** Without the batch axis. */
  inputShape: number[];
  layout?: InputLayout;
  params: number;
  /** The model as exported: [batch, …inputShape] → its output. Must be differentiable. */
  run(x: tf.Tensor): tf.Tensor;
  /** The values just before a final softmax (or multi-unit sigmoid) that can be cut off, when there is one. */
  cut?: { removed: HeadRewrite; run(x: tf.Tensor): tf.Tensor };
  /** A short name for the wrapper layer, e.g. 'TfjsGraphModel'; the student zoo's notes show it. */
  layerName: string;
  /** Turn an error from running the model (or from its gradient) into one sentence; undefined keeps tfjs' text. */
  explain?(error: Error, during: 'run' | 'gradient'): TeacherError | undefined;
  /** Non-fatal findings from reading the file. */
  warnings?: string[];
  dispose(): void;
}

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

/** Run `fn`, turning a thrown error into the model's explanation of it. */
function explained<T>(model: ForeignModel, during: 'run' | 'gradient', fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TeacherError) throw e;
    const better = model.explain?.(e as Error, during);
    if (better) throw better;
    const first = String((e as Error).message ?? e).split('\n')[0];
    throw new TeacherError(
      during === 'run' ? 'build-failed' : 'no-gradient',
      during === 'run'
        ? `the model in ${model.modelFile.name} could not be run: ${first}`
        : `the logits of the model in ${model.modelFile.name} cannot be differentiated with respect to its input: ${first}`,
    );
  }
}

/** `explained` for work that reads values back asynchronously (the WebGPU-safe way in a worker). */
async function explainedAsync<T>(model: ForeignModel, during: 'run' | 'gradient', fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    return explained(model, during, () => {
      throw e;
    });
  }
}

/**
 * Make a LoadedTeacher from an executor. Takes ownership of `model`: it is disposed when loading fails or when
 * the returned teacher is disposed.
 */
export async function foreignTeacher(model: ForeignModel, all: readonly NamedFile[]): Promise<LoadedTeacher> {
  let wrappers: tf.LayersModel[] = [];
  try {
    const { inputShape } = model;
    // A first read of the side files for the input range only; class names are matched once the class count is known.
    const range = readSideFiles(all, model.modelFile, 0).preprocessing?.inputRange;
    const probe = tf.tidy(() => (range ? tf.randomUniform([4, ...inputShape], range[0], range[1], 'float32', 7) : tf.randomNormal([4, ...inputShape], 0, 1, 'float32', 7)));
    let numClasses: number;
    let logitsFrom: LogitsSource = 'logits';
    let outputKind: TeacherInfo['outputKind'] = 'logits';
    let logits: (x: tf.Tensor) => tf.Tensor2D;
    try {
      const outputs = explained(model, 'run', () => model.run(probe));
      try {
        const out = outputs.shape;
        if (out.length === 2 && out[0] !== 4)
          throw new TeacherError(
            'output-shape',
            `the model returns ${out[0]} row${out[0] === 1 ? '' : 's'} for a batch of 4 inputs; it only works at the batch size it was exported with, and CAKE needs a model that takes any batch size`,
          );
        if (out.length !== 2)
          throw new TeacherError('output-shape', `the model's output has shape ${shapeText([null, ...out.slice(1)])}; CAKE needs a classifier with output [batch, classes]`);
        numClasses = out[1];
        if (numClasses < 2) throw new TeacherError('classes', `the model has ${numClasses} output class${numClasses === 1 ? '' : 'es'}; a classifier needs at least 2`);
        logits = (x) => model.run(x) as tf.Tensor2D;
        let cutWorks = false;
        if (model.cut) {
          const cut = model.cut;
          const pre = explained(model, 'run', () => cut.run(probe));
          cutWorks = String(pre.shape) === String(outputs.shape) && (await logitsReproduce(pre as tf.Tensor2D, outputs as tf.Tensor2D, cut.removed));
          pre.dispose();
          if (cutWorks) {
            logits = (x) => cut.run(x) as tf.Tensor2D;
            logitsFrom = cut.removed;
            outputKind = 'probabilities';
          }
        }
        if (!cutWorks && (await looksLikeProbabilities(outputs as tf.Tensor2D))) {
          logits = (x) => tf.tidy(() => tf.log(tf.clipByValue(model.run(x), 1e-7, 1))) as tf.Tensor2D;
          logitsFrom = 'log-probabilities';
          outputKind = 'probabilities';
        }
      } finally {
        outputs.dispose();
      }
      // CAKE synthesises inputs through the teacher, so an op without a gradient must stop the load here, by name,
      // rather than fail the first synthesis step.
      const chosen = logits;
      await explainedAsync(model, 'gradient', async () => {
        const g = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(chosen(x)))(probe.slice(0, 2)));
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

    const side = readSideFiles(all, model.modelFile, numClasses);
    const layout = model.layout ?? inputLayout(inputShape);
    const name = model.layerName.replace(/[A-Z]/g, (c, i) => (i > 0 ? '_' : '') + c.toLowerCase());
    const original = wrap((x) => model.run(x), inputShape, numClasses, model.layerName, name);
    wrappers.push(original);
    const runLogits = logits;
    const logitsModel = logitsFrom === 'logits' ? original : wrap(runLogits, inputShape, numClasses, model.layerName, `${name}_logits`);
    if (logitsModel !== original) wrappers.push(logitsModel);

    const info: TeacherInfo = {
      format: model.format,
      inputName: model.inputName,
      inputShape,
      layout,
      numClasses,
      classNames: side.classNames,
      classNamesFrom: side.classNamesFrom,
      outputKind,
      logitsFrom,
      params: model.params,
      preprocessing: side.preprocessing,
      preprocessingFrom: side.preprocessingFrom,
      dataset: side.dataset,
      testAccuracy: side.testAccuracy,
      warnings: [...(model.warnings ?? []), ...side.warnings],
    };
    const teacher: Teacher = { inputShape, numClasses, layout, logits: runLogits };
    let disposed = false;
    const held = wrappers;
    wrappers = [];
    return {
      teacher,
      model: original,
      logitsModel,
      info,
      dispose() {
        if (disposed) return;
        disposed = true;
        for (const w of held) w.dispose();
        model.dispose();
      },
    };
  } catch (e) {
    for (const w of wrappers) w.dispose();
    model.dispose();
    throw e;
  }
}
