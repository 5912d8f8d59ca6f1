/**
 * `npm run bench:aug -- --teacher <model.json> --pool <file written by bench:repro --pool-cache> [--batches 16]`
 *
 * What the teacher answers on augmented synthetic samples: for each student augmentation alone, and for the mix the
 * `quick` preset uses, the share of each class among the teacher's top-1 answers on random pool samples. CAKE's
 * sets are balanced by construction (every group has one target per class); this shows how far each augmentation
 * moves that balance, which is what `student.classBalance` answers (BENCHMARKS.md). Prints one JSON line per row.
 */
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { augmentBatch, studentAugmentOptions, type AugmentOptions } from '../src/cake/augment';
import { presetConfig } from '../src/cake/config';
import { inferLayout } from '../src/cake/losses';
import { decodePool } from '../src/cake/pool';
import { Rng } from '../src/cake/rng';
import { numberOpt, parseArgs, required } from '../src/cli/args';
import { useBackend } from '../src/cli/backend';
import { readTeacherFiles } from '../src/cli/node-files';
import { inspectTeacher, teacherTraits } from '../src/io/teacher-info';
import { loadTeacher } from '../src/io/teacher-load';

const args = parseArgs(process.argv.slice(2), { values: ['teacher', 'pool', 'batches', 'seed'] });
await useBackend();
const loaded = await loadTeacher(await readTeacherFiles([required(args, 'teacher')]));
const info = await inspectTeacher(loaded);
const pool = decodePool(new Uint8Array(await readFile(required(args, 'pool'))));
const teacher = loaded.teacher;
if (pool.sampleSize !== teacher.inputShape.reduce((a, b) => a * b, 1) || pool.numClasses !== teacher.numClasses)
  throw new Error('the pool was not made for this teacher (sample size or classes differ)');
const quick = presetConfig('quick', teacherTraits(info));
const range = quick.synthesis.clampRange;
const batches = numberOpt(args, 'batches', 16);
const rng = new Rng(numberOpt(args, 'seed', 0));
const n = 256;
const rows: [string, Partial<AugmentOptions>][] = [
  ['none', {}],
  ['shift', { maxShift: 2 }],
  ['blur', { blur: 1 }],
  ['contrast', { contrast: 1 }],
  ['background', { background: 1 }],
  ['erase', { erase: 1 }],
  ['quick preset', studentAugmentOptions(quick.student, range)],
];
const layout = teacher.layout ?? inferLayout(teacher.inputShape);
for (const [name, opts] of rows) {
  const counts = new Array<number>(pool.numClasses).fill(0);
  for (let b = 0; b < batches; b++) {
    const idx = Array.from({ length: n }, () => rng.int(pool.size));
    const x = new Float32Array(n * pool.sampleSize);
    pool.gather(idx, x, new Float32Array(n * pool.numClasses));
    augmentBatch(x, n, teacher.inputShape, layout, { maxShift: 0, mixup: 0, range, ...opts }, rng, new Float32Array(pool.sampleSize));
    const top = tf.tidy(() => tf.argMax(teacher.logits(tf.tensor(x, [n, ...teacher.inputShape])), -1));
    for (const c of await top.data()) counts[c]++;
    top.dispose();
  }
  const share = counts.map((v) => Number(((100 * v) / (batches * n)).toFixed(1)));
  process.stdout.write(JSON.stringify({ augmentation: name, topClassSharePercent: share, range }) + '\n');
}
loaded.dispose();
