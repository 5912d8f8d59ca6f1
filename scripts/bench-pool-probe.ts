/**
 * `npm run -s bench:probe -- --data <dir> --dataset mnist|fashion-mnist --teacher <model.json> <pool file> <pool file> …
 *   [--epochs-per-32 45] [--probe 2000] [--set key=value …]`
 *
 * Issue 4's question "can a run tell, without data, which synthetic pool makes the better student?" For each pool
 * (`bench:repro --pool-cache` files, complete): trains `quick`'s student on it (epochs scaled to the pool's sets:
 * 45 for 32 sets), scores it on t10k (to check the signal, never to choose), and measures its agreement with the
 * teacher on `--probe` samples drawn from every pool, as stored (the pool's soft labels) and augmented as the
 * student's batches are (relabelled by the teacher). One JSON line per pool.
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { runCake } from '../src/cake';
import { augmentBatch, studentAugmentOptions } from '../src/cake/augment';
import { inferLayout } from '../src/cake/losses';
import { Rng } from '../src/cake/rng';
import { buildStudent } from '../src/models/students';
import { numberOpt, parseArgs } from '../src/cli/args';
import { synthesisWorkers } from '../src/cli/backend';
import { failInOneLine } from '../src/cli/one-line-failures';
import { readPoolFile } from '../src/cli/node-files';
import { benchTeacherAndTest, quickConfigForPool } from './bench-setup';

failInOneLine('bench:probe');

const args = parseArgs(process.argv.slice(2), { values: ['data', 'dataset', 'teacher', 'epochs-per-32', 'probe', 'workers'], repeated: ['set'] });
const files = args.positionals;
if (files.length < 2) throw new Error('give at least two pool files to compare');
const probeN = numberOpt(args, 'probe', 2000);
const perEpoch32 = numberOpt(args, 'epochs-per-32', 45);
const { backend, teacherFiles, loaded, info, traits, score } = await benchTeacherAndTest(args);
const pools = await Promise.all(files.map(readPoolFile));
const d = pools[0].sampleSize;
const C = pools[0].numClasses;
const layout = inferLayout(info.inputShape);
const overrides = args.repeated.get('set') ?? [];
const first = quickConfigForPool(pools[0], traits, perEpoch32, overrides);
const augOptions = studentAugmentOptions(first.student, first.synthesis.clampRange);

// The probes, the same for every student: samples of each pool as stored, and augmented then relabelled.
const probes = pools.map((p, j) => {
  const rng = new Rng(1000 + j);
  const idx = Int32Array.from({ length: probeN }, () => rng.int(p.size));
  const x = new Float32Array(probeN * d);
  const y = new Float32Array(probeN * C);
  p.gather(idx, x, y);
  const xa = x.slice();
  augmentBatch(xa, probeN, info.inputShape, layout, augOptions, new Rng(2000 + j), new Float32Array(d));
  const ya = tf.tidy(() => tf.softmax(loaded.teacher.logits(tf.tensor(xa, [probeN, ...info.inputShape])))) as tf.Tensor2D;
  return { x, y: tf.tensor2d(y, [probeN, C]), xa, ya };
});

/** Top-1 agreement with the targets' argmax, and the mean KL(targets ‖ model). */
function agreement(model: tf.LayersModel, x: Float32Array, y: tf.Tensor2D): { agree: number; kl: number } {
  return tf.tidy(() => {
    const logits = model.apply(tf.tensor(x, [probeN, ...info.inputShape]), { training: false }) as tf.Tensor2D;
    const agree = tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), tf.argMax(y, -1)), 'float32')).dataSync()[0];
    const kl = tf.mean(tf.sum(tf.mul(y, tf.sub(tf.log(tf.add(y, 1e-12)), tf.logSoftmax(logits))), -1)).dataSync()[0];
    return { agree, kl };
  });
}

const synthesizer = await synthesisWorkers(args, teacherFiles, backend);
for (let i = 0; i < pools.length; i++) {
  const epochs = Math.max(1, Math.round((perEpoch32 * 32) / pools[i].chunks.length));
  const config = quickConfigForPool(pools[i], traits, epochs, overrides);
  const built = buildStudent(config.student.arch, info.inputShape, info.numClasses, loaded.model);
  const t0 = Date.now();
  const { student } = await runCake({ synthesizer, pool: pools[i], teacher: loaded.teacher, teacherModel: loaded.model, config, student: built.model, studentArch: built.arch });
  const sec = (Date.now() - t0) / 1000;
  const t10k = (await score(student)).accuracy;
  const onProbes = probes.map((pr, j) => ({ pool: path.basename(files[j]), plain: agreement(student, pr.x, pr.y), augmented: agreement(student, pr.xa, pr.ya) }));
  process.stdout.write(JSON.stringify({ pool: path.basename(files[i]), epochs, studentSec: sec, t10k, probes: onProbes }) + '\n');
  student.dispose();
}
await synthesizer?.dispose();
tf.dispose(probes.flatMap((p) => [p.y, p.ya]));
loaded.dispose();
