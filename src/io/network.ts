import type * as tf from '@tensorflow/tfjs';
import type { NamedFile } from './files';
import type { HeadRewrite } from './logits';
import type { ModelPreprocessing } from './model-preprocessing';
import type { TeacherError } from './teacher-error';
import type { InputLayout, TeacherFormat } from './teacher-info';

/**
 * What every format reader (Layers and Keras: layers-network.ts; graph models: graph-model.ts; ONNX: onnx.ts) hands
 * to describe-teacher.ts: the network as exported, runnable and differentiable, with what the reader found out about
 * it. Deciding how CAKE gets logits, checking gradients and describing the teacher happen once, there.
 */
export interface Network {
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
  /** The values just before a final softmax (or multi-unit sigmoid), when there is one that may be cut off. */
  cut?: { removed: HeadRewrite; run(x: tf.Tensor): tf.Tensor };
  /**
   * Layers formats only: the built model (the student zoo copies its layers) and the model `cut` runs. Other formats
   * get one-layer wrapper models instead.
   */
  layers?: { model: tf.LayersModel; cutModel?: tf.LayersModel };
  /** For the wrapper layer of other formats, e.g. 'OnnxGraph'; the student zoo's notes show it. */
  layerName?: string;
  /** The input preprocessing the model applies itself (Rescaling/Normalization layers), when it does. */
  preprocessing?: ModelPreprocessing;
  /** Turn an error from running the model (or from its gradient) into one sentence; undefined keeps tfjs' text. */
  explain?(error: Error, during: 'run' | 'gradient'): TeacherError | undefined;
  /** Non-fatal findings from reading the file. */
  warnings?: string[];
  /** Frees everything the reader built (models, executors). */
  dispose(): void;
}
