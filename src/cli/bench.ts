import * as tf from '@tensorflow/tfjs';
import { presetConfig, withOverrides } from '../cake/config';
import { Rng } from '../cake/rng';
import { synthesizeSet } from '../cake/synthesis';
import { trainClassifier } from '../cake/train';
import { loadTeacher } from '../io/teacher-load';
import { inspectTeacher } from '../io/teacher-info';
import { buildStudent } from '../models/students';
import { numberOpt, parseArgs, required } from './args';
import { useBackend } from './backend';
import { readTeacherFiles } from './node-files';

export const BENCH_USAGE =
  'cake bench --teacher <model.json> [--batch 500] [--student-batch 256] [--steps 20] [--student lenet5-half] [--backend wasm|cpu] [--json]';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * `cake bench`: median milliseconds per synthesis step (teacher forward + backward to the inputs at the synthesis
 * batch, with the reference loss weights) and per student step (forward, backward, update), after warm-up steps.
 */
export async function bench(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { values: ['teacher', 'batch', 'student-batch', 'steps', 'warmup', 'student', 'backend'], flags: ['json'] });
  const backend = await useBackend(args.values.get('backend'));
  const steps = numberOpt(args, 'steps', 20);
  const warmup = numberOpt(args, 'warmup', 3);
  const loaded = await loadTeacher(await readTeacherFiles([required(args, 'teacher')]));
  try {
    const info = await inspectTeacher(loaded);
    const traits = { inputShape: info.inputShape, numClasses: info.numClasses };
    const cfg = withOverrides(presetConfig('paper', traits), {
      synthesis: { batchSize: numberOpt(args, 'batch', 500), steps: warmup + steps },
      student: { batchSize: numberOpt(args, 'student-batch', 256), epochs: 1 },
    });
    // Synthesis: time between consecutive steps; wasm and cpu finish a step's kernels before returning.
    const synthTimes: number[] = [];
    let t0 = performance.now();
    await synthesizeSet({
      teacher: loaded.teacher,
      cfg: cfg.synthesis,
      set: 0,
      eta: 0.01,
      rng: new Rng(1),
      onStep: (step) => {
        const now = performance.now();
        if (step > warmup) synthTimes.push(now - t0);
        t0 = now;
      },
    });
    // Student: the same on a random pool large enough for warmup + steps batches.
    const { model } = buildStudent(args.values.get('student') ?? 'lenet5-half', info.inputShape, info.numClasses, loaded.model);
    const d = info.inputShape.reduce((a, b) => a * b, 1);
    const bs = cfg.student.batchSize;
    const n = bs * (warmup + steps);
    const rng = new Rng(2);
    const xs = rng.fillNormal(new Float32Array(n * d));
    const ys = new Float32Array(n * info.numClasses);
    for (let i = 0; i < n; i++) ys[i * info.numClasses + rng.int(info.numClasses)] = 1;
    const studentTimes: number[] = [];
    t0 = performance.now();
    await trainClassifier({
      model,
      source: {
        inputShape: info.inputShape,
        numClasses: info.numClasses,
        gather: (idx, x, y) => {
          for (let k = 0; k < idx.length; k++) {
            x.set(xs.subarray(idx[k] * d, (idx[k] + 1) * d), k * d);
            y.set(ys.subarray(idx[k] * info.numClasses, (idx[k] + 1) * info.numClasses), k * info.numClasses);
          }
        },
      },
      train: Int32Array.from({ length: n }, (_, i) => i),
      val: new Int32Array(0),
      cfg: cfg.student,
      rngForEpoch: () => rng,
      onStep: (s) => {
        const now = performance.now();
        if (s.step > warmup) studentTimes.push(now - t0);
        t0 = now;
      },
    });
    model.dispose();
    const result = {
      backend,
      threads: backend === 'wasm' ? 1 : undefined,
      simd: backend === 'wasm' ? Boolean(tf.env().getAsync ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : undefined) : undefined,
      teacher: { inputShape: info.inputShape, numClasses: info.numClasses, params: info.params },
      synth_batch: cfg.synthesis.batchSize,
      student_batch: bs,
      steps,
      synth_ms: median(synthTimes),
      student_ms: median(studentTimes),
    };
    process.stdout.write((args.flags.has('json') ? JSON.stringify(result) : JSON.stringify(result, null, 2)) + '\n');
  } finally {
    loaded.dispose();
  }
}
