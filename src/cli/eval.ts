import { evaluateAccuracy } from '../models/evaluate';
import { loadTeacher } from '../io/teacher-load';
import { inspectTeacher } from '../io/teacher-info';
import { numberOpt, parseArgs, required, UsageError } from './args';
import { useBackend } from './backend';
import { loadIdxPair } from './datasets';
import { readTeacherFiles } from './node-files';

export const EVAL_USAGE =
  'cake eval --model <model.json> --images <idx[.gz]> --labels <idx[.gz]> [--pad N] [--scale S] [--mean M] [--std S]';

/**
 * `cake eval`: accuracy of a model (teacher or student) on labelled IDX data. Preprocessing comes from the flags,
 * else from the model's metadata.json, else pixel/255; padding defaults to whatever makes the images fit the model.
 */
export async function evaluate(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { values: ['model', 'images', 'labels', 'pad', 'scale', 'mean', 'std', 'backend'], repeated: ['with'] });
  await useBackend(args.values.get('backend'));
  const loaded = await loadTeacher(await readTeacherFiles([required(args, 'model'), ...(args.repeated.get('with') ?? [])]));
  try {
    const info = await inspectTeacher(loaded);
    const declared = info.preprocessing ?? {};
    const [h, w] = info.layout === 'NCHW' ? info.inputShape.slice(1) : info.inputShape;
    const channels = info.layout === 'NHWC' ? info.inputShape[2] : info.layout === 'NCHW' ? info.inputShape[0] : 1;
    if (channels !== 1) throw new UsageError(`the model takes ${channels}-channel images; IDX files hold grayscale images`);
    const peek = await loadIdxPair(required(args, 'images'), required(args, 'labels'), { pad: 0, scale: 1, mean: 0, std: 1 });
    const autoPad = Math.max(0, (h - peek.shape[0]) / 2);
    const pad = numberOpt(args, 'pad', declared.pad ?? autoPad);
    const norm = {
      pad,
      scale: numberOpt(args, 'scale', declared.scale ?? 1 / 255),
      mean: numberOpt(args, 'mean') ?? declared.mean ?? 0,
      std: numberOpt(args, 'std') ?? declared.std ?? 1,
    };
    const data = await loadIdxPair(required(args, 'images'), required(args, 'labels'), norm);
    if (data.shape[0] !== h || data.shape[1] !== w)
      throw new UsageError(`the images are ${data.shape[0]}×${data.shape[1]} after padding ${pad}, the model takes ${h}×${w}: adjust --pad`);
    const acc = await evaluateAccuracy(loaded.model, data.x, info.inputShape, data.labels, info.numClasses);
    process.stdout.write(
      JSON.stringify({ accuracy: acc.accuracy, correct: acc.correct, total: acc.total, perClass: acc.perClass, preprocessing: norm }) + '\n',
    );
  } finally {
    loaded.dispose();
  }
}
