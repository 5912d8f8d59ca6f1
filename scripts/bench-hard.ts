/**
 * `npm run -s bench:hard -- --data <dir> --dataset mnist|fashion-mnist --teacher <model.json> --pool <pool file>
 *   [--rounds 1] [--hard-sets 16] [--hard-steps 32] [--eta 0.05] [--adv 1e4] [--ft-epochs 15] [--ft-lr 0.01]
 *   [--epochs N] [--no-control] [--set key=value …]`
 *
 * Issue 4's "regenerating part of the pool between epochs", student-aware: trains `quick`'s student on a complete
 * pool, then per round moves `--hard-sets` batches of pool samples towards where the student disagrees with the
 * teacher (plain SGD on the inputs at step `--eta` for `--hard-steps` steps on CAKE's CE towards the teacher's own
 * class of each sample and its TV prior, with the MNIST row's weights, minus `--adv` · KL(teacher ‖ student)),
 * labels them with the teacher's softmax and fine-tunes the student on pool + hard samples for `--ft-epochs` at peak
 * rate `--ft-lr` (a fresh one-cycle). The control fine-tunes the first student on the pool alone for as many
 * epochs. One JSON line per stage; t10k scores only, CAKE never sees the data.
 */
import * as tf from '@tensorflow/tfjs';
import { SyntheticPool } from '../src/cake/pool';
import { runCake } from '../src/cake';
import { etaForSet } from '../src/cake/schedule';
import { classificationLoss, inferLayout, totalVariation } from '../src/cake/losses';
import { Rng } from '../src/cake/rng';
import { buildStudent } from '../src/models/students';
import { numberOpt, parseArgs, required } from '../src/cli/args';
import { synthesisWorkers } from '../src/cli/backend';
import { failInOneLine } from '../src/cli/one-line-failures';
import { readPoolFile } from '../src/cli/node-files';
import { benchTeacherAndTest, quickConfigForPool } from './bench-setup';

failInOneLine('bench:hard');

const args = parseArgs(process.argv.slice(2), {
  values: ['data', 'dataset', 'teacher', 'pool', 'epochs', 'hard-sets', 'hard-steps', 'adv', 'eta', 'ft-epochs', 'ft-lr', 'workers', 'rounds'],
  repeated: ['set'],
  flags: ['no-control'],
});
const { backend, teacherFiles, loaded, info, traits, score } = await benchTeacherAndTest(args);
const pool = await readPoolFile(required(args, 'pool'));
const d = pool.sampleSize;
const C = pool.numClasses;
const B = pool.chunkSize;
const layout = inferLayout(info.inputShape);
const overrides = args.repeated.get('set') ?? [];
const rounds = numberOpt(args, 'rounds', 1);
const hardSets = numberOpt(args, 'hard-sets', 16);
const hardSteps = numberOpt(args, 'hard-steps', 32);
const hardEta = numberOpt(args, 'eta', 0.05);
const adv = numberOpt(args, 'adv', 1e4);
const ftEpochs = numberOpt(args, 'ft-epochs', 15);
const ftLr = numberOpt(args, 'ft-lr', 0.01);
const synthesizer = await synthesisWorkers(args, teacherFiles, backend);
const log = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
const weightsOf = (m: tf.LayersModel) => m.getWeights().map((w) => w.dataSync().slice() as Float32Array);

/** Trains `quick`'s student on p: from scratch (the preset's start), or from the given weights at `lr`. */
async function train(p: SyntheticPool, epochs: number, from?: { weights: Float32Array[]; lr: number }) {
  let config = quickConfigForPool(p, traits, epochs, overrides);
  if (from) config = { ...config, student: { ...config.student, inheritLr: from.lr, lr: from.lr } };
  const built = buildStudent(config.student.arch, info.inputShape, info.numClasses, loaded.model);
  const t0 = Date.now();
  const { student, report } = await runCake({
    synthesizer,
    pool: p,
    teacher: loaded.teacher,
    teacherModel: loaded.model,
    config,
    student: built.model,
    studentArch: built.arch,
    // Starting epoch 0 from given weights with an empty optimiser: a fresh one-cycle from that student.
    studentResume: from ? { startEpoch: 0, weights: from.weights, optimizer: { kind: 'sgd', t: 0, slots: {} }, epochs: [] } : undefined,
  });
  return { student, sec: (Date.now() - t0) / 1000, agreement: report.studentTraining.agreement };
}

// `quick`'s synthesis loss weights and group size (the reference row for this teacher's input).
const { weights, groupSize: K } = quickConfigForPool(pool, traits, 1, overrides).synthesis;

/** One batch of pool samples moved towards the student's disagreement, in the teacher's own class of each. */
function hardSet(student: tf.LayersModel, rng: Rng) {
  const idx = Int32Array.from({ length: B }, () => rng.int(pool.size));
  const x0 = new Float32Array(B * d);
  const y0 = new Float32Array(B * C);
  pool.gather(idx, x0, y0);
  const target = tf.tidy(() => tf.oneHot(tf.argMax(tf.tensor2d(y0, [B, C]), -1), C).toFloat()) as tf.Tensor2D;
  const agree = (x: tf.Tensor) =>
    tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(loaded.teacher.logits(x), -1), tf.argMax(student.apply(x) as tf.Tensor, -1)), 'float32')).dataSync()[0]);
  let x: tf.Tensor = tf.tensor(x0, [B, ...info.inputShape]);
  const before = agree(x);
  const gradOf = tf.grad((input: tf.Tensor) => {
    const zt = loaded.teacher.logits(input);
    const zs = student.apply(input, { training: false }) as tf.Tensor2D;
    const kl = tf.mean(tf.sum(tf.mul(tf.softmax(zt), tf.sub(tf.logSoftmax(zt), tf.logSoftmax(zs))), -1));
    return tf.addN([tf.mul(classificationLoss(zt, target, K), weights.cls), tf.mul(totalVariation(input, layout), weights.tv), tf.mul(kl, -adv)]) as tf.Scalar;
  });
  for (let s = 0; s < hardSteps; s++) {
    const g = gradOf(x);
    const next = tf.tidy(() => tf.sub(x, tf.mul(g, hardEta)));
    tf.dispose([g, x]);
    x = next;
  }
  const after = agree(x);
  const labels = tf.tidy(() => tf.softmax(loaded.teacher.logits(x))).dataSync().slice() as Float32Array;
  const xs = x.dataSync().slice() as Float32Array;
  tf.dispose([x, target]);
  return { x: xs, labels, before, after };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const baseEpochs = numberOpt(args, 'epochs', Math.round((45 * 32) / pool.chunks.length));
const base = await train(pool, baseEpochs);
log({ stage: 'base', epochs: baseEpochs, studentSec: base.sec, t10k: (await score(base.student)).accuracy, agreement: base.agreement });
const baseWeights = weightsOf(base.student);

const rng = new Rng(4242);
let current = base.student;
const hardPool = new SyntheticPool(d, C, B);
for (let r = 0; r < rounds; r++) {
  const t0 = Date.now();
  const made = Array.from({ length: hardSets }, () => hardSet(current, rng));
  made.forEach((h) => hardPool.add({ set: 0, eta: 0, x: h.x, labels: h.labels }));
  const hardSec = (Date.now() - t0) / 1000;
  // Pool + hard sets under one renumbered schedule (the engine checks stored η against the run's; the student's
  // η band stays open, so the stand-in η change nothing it learns).
  const all = [...pool.chunks, ...hardPool.chunks];
  const mixed = new SyntheticPool(d, C, B);
  all.forEach((c, m) => mixed.add({ ...c, set: m, eta: etaForSet(m, all.length, 0.1, 1, 'linear') }));
  const ft = await train(mixed, ftEpochs, { weights: weightsOf(current), lr: ftLr });
  log({
    stage: 'hard',
    round: r + 1,
    hardSets: hardPool.chunks.length,
    hardSec,
    agreementBefore: mean(made.map((h) => h.before)),
    agreementAfter: mean(made.map((h) => h.after)),
    ftEpochs,
    studentSec: ft.sec,
    t10k: (await score(ft.student)).accuracy,
    agreement: ft.agreement,
  });
  current.dispose();
  current = ft.student;
}
current.dispose();
if (!args.flags.has('no-control')) {
  const ctrl = await train(pool, ftEpochs * rounds, { weights: baseWeights, lr: ftLr });
  log({ stage: 'control', epochs: ftEpochs * rounds, studentSec: ctrl.sec, t10k: (await score(ctrl.student)).accuracy });
  ctrl.student.dispose();
}
await synthesizer?.dispose();
loaded.dispose();
