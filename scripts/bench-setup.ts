/**
 * What the accuracy benchmarks share: the teacher from `--teacher`, and the data set's t10k split preprocessed as
 * the teacher declares (else the data set's own normalisation), to score students on. CAKE never sees the data.
 */
import type { Args } from '../src/cli/args';
import { required } from '../src/cli/args';
import { useBackend } from '../src/cli/backend';
import { DATASETS, findIdx, loadIdxPair, type DatasetName } from '../src/cli/datasets';
import { readTeacherFiles } from '../src/cli/node-files';
import type { TeacherTraits } from '../src/cake';
import { inspectTeacher } from '../src/io/teacher-info';
import { loadTeacher } from '../src/io/teacher-load';
import { evaluateAccuracy } from '../src/models/evaluate';

export async function benchTeacherAndTest(args: Args) {
  const dataset = required(args, 'dataset') as DatasetName;
  if (!(dataset in DATASETS)) throw new Error(`--dataset must be mnist or fashion-mnist`);
  const backend = await useBackend();
  const teacherFiles = await readTeacherFiles([required(args, 'teacher')]);
  const loaded = await loadTeacher(teacherFiles);
  const info = await inspectTeacher(loaded);
  const spec = DATASETS[dataset];
  const pre = info.preprocessing ?? {};
  const test = await findIdx(required(args, 'data'), 't10k');
  const [h] = info.inputShape;
  const data = await loadIdxPair(test.images, test.labels, {
    pad: pre.pad ?? Math.max(0, (h - 28) / 2),
    scale: pre.scale ?? 1 / 255,
    mean: pre.mean ?? spec.mean,
    std: pre.std ?? spec.std,
  });
  const traits: TeacherTraits = { inputShape: info.inputShape, numClasses: info.numClasses, inputRange: info.preprocessing?.inputRange };
  /** Top-1 accuracy, per-class accuracy and confusion of a model on t10k. */
  const score = (model: Parameters<typeof evaluateAccuracy>[0]) => evaluateAccuracy(model, data.x, info.inputShape, data.labels, info.numClasses);
  return { dataset, backend, teacherFiles, loaded, info, traits, score };
}

