import { evaluateAccuracy } from '../models/evaluate';
import { parseArgs, UsageError } from './args';
import { useBackend } from './backend';
import { labelledData, preprocessingFlags } from './datasets';
import { readTeacherFiles } from './node-files';
import { loadTeacherWithin, loadTimeoutMs, TIMEOUT_USAGE } from './teacher-deadline';

export const EVAL_USAGE =
  `cake eval --model <model files> (--data <CIFAR .bin[.gz] | folder of PNG images per class | folder with IDX files> | --images <idx[.gz]> --labels <idx[.gz]>) [--pad N] [--scale S] [--mean M[,M,M]] [--std S[,S,S]] ${TIMEOUT_USAGE}`;

/**
 * `cake eval`: accuracy of a model (teacher or student) on labelled data: IDX pairs, CIFAR binary files or folders of
 * PNG images per class. Preprocessing comes from the flags, else from the model (metadata.json, or its own
 * Rescaling/Normalization layers), else pixel/255; `--mean` and `--std` take one value or one per channel, and
 * fractions such as 1/255. Padding defaults to whatever fits the images to the model; NCHW models get NCHW input.
 */
export async function evaluate(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { values: ['model', 'data', 'images', 'labels', 'pad', 'scale', 'mean', 'std', 'backend', 'timeout'], repeated: ['with'] });
  const backend = await useBackend(args.values.get('backend'));
  const model = args.values.get('model');
  if (!model) throw new UsageError('missing --model');
  const files = await readTeacherFiles([model, ...(args.repeated.get('with') ?? [])]);
  const loaded = await loadTeacherWithin(files, loadTimeoutMs(args, files), backend, model);
  try {
    const info = loaded.info;
    const preprocessing = { ...info.preprocessing, ...preprocessingFlags(args) };
    const data = await labelledData({ data: args.values.get('data'), images: args.values.get('images'), labels: args.values.get('labels') }, { ...info, preprocessing });
    const acc = await evaluateAccuracy(loaded.model, data.x, info.inputShape, data.labels, info.numClasses);
    process.stdout.write(
      JSON.stringify({
        accuracy: acc.accuracy,
        correct: acc.correct,
        total: acc.total,
        perClass: acc.perClass,
        source: data.source,
        preprocessing: { pad: data.pad, scale: preprocessing.scale ?? 1 / 255, mean: preprocessing.mean ?? 0, std: preprocessing.std ?? 1 },
      }) + '\n',
    );
  } finally {
    loaded.dispose();
  }
}
