/**
 * What the accuracy benchmarks share: the teacher from `--teacher`, and the data set's test split (MNIST-style IDX
 * files, or CIFAR-10's test_batch.bin[.gz]) preprocessed as the teacher declares, else as --scale/--mean/--std say,
 * else by the data set's own normalisation, to score students on. CAKE never sees the data.
 */
import type { Args } from '../src/cli/args';
import { required } from '../src/cli/args';
import { useBackend } from '../src/cli/backend';
import { cifarTestFile, DATASETS, findIdx, labelledData, loadIdxPair, preprocessingFlags, type DatasetName } from '../src/cli/datasets';
import { readTeacherFiles } from '../src/cli/node-files';
import type { TeacherTraits } from '../src/cake';
import { inputRangeOf } from '../src/io/input-range';
import { inspectTeacher, teacherTraits } from '../src/io/teacher-info';
import { loadTeacher } from '../src/io/teacher-load';
import { evaluateAccuracy } from '../src/models/evaluate';

export async function benchTeacherAndTest(args: Args) {
  const dataset = required(args, 'dataset') as DatasetName;
  if (!(dataset in DATASETS)) throw new Error(`--dataset must be one of ${Object.keys(DATASETS).join(', ')}`);
  const backend = await useBackend();
  const teacherFiles = await readTeacherFiles([required(args, 'teacher')]);
  const loaded = await loadTeacher(teacherFiles);
  const info = await inspectTeacher(loaded);
  const spec = DATASETS[dataset];
  // The teacher's declared preprocessing, then --scale/--mean/--std, then the data set's own normalisation.
  const flags = preprocessingFlags(args);
  const pre = { ...info.preprocessing, ...flags };
  // As in `cake distill`, --scale/--mean/--std also give the run its input range.
  if (flags.scale !== undefined || flags.mean !== undefined || flags.std !== undefined) {
    info.preprocessing = { ...pre, inputRange: inputRangeOf(pre) };
    info.preprocessingFrom = 'the command line (--scale, --mean, --std)';
  }
  let data: { x: Float32Array; labels: ArrayLike<number> };
  if (dataset === 'cifar10') {
    data = await labelledData({ data: await cifarTestFile(required(args, 'data')) }, { ...info, preprocessing: pre });
  } else {
    const test = await findIdx(required(args, 'data'), 't10k');
    const [h] = info.inputShape;
    data = await loadIdxPair(test.images, test.labels, {
      pad: pre.pad ?? Math.max(0, (h - 28) / 2),
      scale: pre.scale ?? 1 / 255,
      mean: pre.mean ?? spec.mean,
      std: pre.std ?? spec.std,
    });
  }
  const traits: TeacherTraits = teacherTraits(info);
  /** Top-1 accuracy, per-class accuracy and confusion of a model on the test split. */
  const score = (model: Parameters<typeof evaluateAccuracy>[0]) => evaluateAccuracy(model, data.x, info.inputShape, data.labels, info.numClasses);
  return { dataset, backend, teacherFiles, loaded, info, traits, score };
}

