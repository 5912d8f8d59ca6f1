import type { TeacherTraits } from '../cake/config';
import { flopsPerImage } from '../cake/flops';
import { checkInputGradient, type GradientCheck } from './gradient-check';
import type { HeadRewrite } from './logits';
import type { LoadedTeacher } from './teacher-load';

export type { GradientCheck } from './gradient-check';

// What the studio shows about a teacher and what a run needs to know beyond the Teacher interface: layout, class
// names, how the logits were obtained, the preprocessing its inputs expect, and whether its gradients are sound.

/** Preprocessing that maps raw pixels v (0..255) to the teacher's input: x = (v·scale − mean) / std, after padding. */
export interface Preprocessing {
  /** Zero pixels added on each side before normalising (28 → 32 for the CAKE MNIST convention is pad 2). */
  pad?: number;
  scale?: number;
  mean?: number[] | number;
  std?: number[] | number;
  /** 'RGB' or 'BGR' when the model cares. */
  channelOrder?: string;
  /** The range the teacher's inputs span after preprocessing, e.g. [-0.42, 2.82] for MNIST mean/std. */
  inputRange?: [number, number];
}

/** The metadata.json our train-teacher script writes next to model.json. */
export interface TeacherMetadata {
  dataset: string;
  classNames: string[];
  preprocessing: { pad: number; scale: number; mean: number[] | number; std: number[] | number };
  inputRange: [number, number];
  testAccuracy: number;
  /** The command line that trained the teacher, for reproducibility. */
  command: string;
}

/**
 * How the input is laid out, without the batch axis: 'NHWC' [H, W, C]; 'HW' [H, W] (rank-3 batches, no channel
 * axis, as Keras MNIST models often take); 'NCHW' [C, H, W] (PyTorch exports); 'flat' [features].
 */
export type InputLayout = 'NHWC' | 'HW' | 'NCHW' | 'flat';

/** How `Teacher.logits` is computed from the model. */
export type LogitsSource = 'logits' | 'log-probabilities' | HeadRewrite;

/**
 * The file format the teacher was read from: a TensorFlow.js layers or graph model, a Keras HDF5 file (Keras 2 or
 * 3), a Keras 3 `.keras` archive, or an ONNX model.
 */
export type TeacherFormat = 'tfjs-layers' | 'tfjs-graph' | 'keras-h5' | 'keras' | 'onnx';

export interface TeacherInfo {
  format: TeacherFormat;
  inputName: string;
  /** Without the batch axis. */
  inputShape: number[];
  layout: InputLayout;
  numClasses: number;
  classNames?: string[];
  /** The side file the class names came from (class_names.txt, labels.txt or metadata.json). */
  classNamesFrom?: string;
  /** What the original model outputs. */
  outputKind: 'logits' | 'probabilities';
  logitsFrom: LogitsSource;
  /** Total parameter count. */
  params: number;
  preprocessing?: Preprocessing;
  /** Where `preprocessing` comes from, in words: metadata.json, or the model's own Rescaling/Normalization layers. */
  preprocessingFrom?: string;
  /** True when `preprocessing` was guessed from the model's statistics rather than declared. */
  preprocessingGuessed?: boolean;
  /** From our metadata.json, when present. */
  dataset?: string;
  testAccuracy?: number;
  /** Floating-point operations of one forward pass per image (src/cake/flops.ts); set by inspectTeacher. */
  flopsPerImage?: number;
  /** Set by inspectTeacher. */
  gradientCheck?: GradientCheck;
  /** Non-fatal findings worth showing (ignored side files, …), one sentence each. */
  warnings: string[];
}

/** The layout of an input shape (batch axis excluded), by the same rule as config.ts' inputChannels. */
export function inputLayout(shape: readonly number[]): InputLayout {
  if (shape.length === 1) return 'flat';
  if (shape.length === 2) return 'HW';
  const [first, , last] = shape;
  if (last <= 4) return 'NHWC';
  if (first <= 4) return 'NCHW';
  return 'NHWC';
}

/**
 * Run the input-gradient check on a loaded teacher and return its info with `gradientCheck` filled (also stored
 * on `loaded.info`). Does not throw on a failed check: `gradientCheck.ok` is false and the message says why, so
 * the caller decides whether to refuse the teacher.
 */
export async function inspectTeacher(loaded: LoadedTeacher, seed = 1234): Promise<TeacherInfo> {
  const info = loaded.info;
  const gradientCheck = await checkInputGradient((x) => loaded.teacher.logits(x), info.inputShape, {
    seed,
    range: info.preprocessing?.inputRange,
  });
  const flops = await flopsPerImage((x) => loaded.teacher.logits(x), info.inputShape);
  loaded.info = { ...info, gradientCheck, flopsPerImage: flops };
  return loaded.info;
}

/** What the presets and settings need to know of a teacher. */
export function teacherTraits(info: TeacherInfo): TeacherTraits {
  return { inputShape: info.inputShape, numClasses: info.numClasses, inputRange: info.preprocessing?.inputRange, flopsPerImage: info.flopsPerImage };
}
