/**
 * Labelled evaluation: the worker's side of the studio's "Evaluate on labelled data" panel. The user's labelled
 * data (IDX images + labels, a CIFAR binary file, or a folder of images per class) is read by
 * src/io/labelled-data.ts, preprocessed with the teacher's declared preprocessing and run through the teacher and
 * the student, here and only here. Nothing in this module touches CAKE (src/cake): the data never reaches synthesis
 * or student training.
 */
import * as tf from '@tensorflow/tfjs';
import { EvaluationError, prepareLabelled, type ImageDecoder } from '../io/labelled-data';
import type { LoadedTeacher } from '../io/teacher-load';
import { evaluateAccuracy } from '../models/evaluate';
import type { Command, EvaluationResult } from './protocol';

/** Decodes images with the browser (createImageBitmap + OffscreenCanvas): PNG, JPEG, WebP, BMP, GIF. */
export const browserDecoder: ImageDecoder = async (data, name, width, height) => {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([data]), { resizeWidth: width, resizeHeight: height, resizeQuality: 'high' });
  } catch (e) {
    throw new EvaluationError(`${name} could not be decoded as an image (${(e as Error).message})`);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new EvaluationError('no 2D canvas is available in the worker to decode images');
  ctx.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  return ctx.getImageData(0, 0, width, height).data;
};

/** Accuracy, per-class accuracy and the confusion matrix: the one implementation the CLI uses too. */
const accuracyAsync = evaluateAccuracy;
export { accuracyAsync };

/** The worker's `evaluate` command: the accuracies, or an error with a specific message. */
export async function evaluateCommand(
  cmd: Command & { type: 'evaluate' },
  teacher: LoadedTeacher | null,
  student: tf.LayersModel | null,
): Promise<EvaluationResult> {
  if (!teacher) throw new EvaluationError('load a teacher before evaluating on labelled data');
  const info = teacher.info;
  const prepared = await prepareLabelled(cmd.files, info, browserDecoder);
  const shape = info.inputShape;
  const teacherAcc = await accuracyAsync(teacher.model, prepared.x, shape, prepared.labels, info.numClasses);
  const studentAcc = student ? await accuracyAsync(student, prepared.x, shape, prepared.labels, info.numClasses) : undefined;
  const classNames = Array.from({ length: info.numClasses }, (_, i) => info.classNames?.[i] ?? String(i));
  return {
    source: prepared.source,
    count: prepared.labels.length,
    imageSize: prepared.imageSize,
    pad: prepared.pad,
    classNames,
    teacher: teacherAcc,
    student: studentAcc,
  };
}
