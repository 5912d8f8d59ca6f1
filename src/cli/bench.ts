import * as tf from '@tensorflow/tfjs';
import { measureSteps, type StepTimes } from '../cake/bench';
import { buildStudent } from '../models/students';
import { numberOpt, parseArgs, required } from './args';
import { initNodeWebGpu } from '../tfjs/node-webgpu';
import { useBackend } from './backend';
import { readTeacherFiles } from './node-files';
import { loadTeacherWithin, loadTimeoutMs, TIMEOUT_USAGE } from './teacher-deadline';

export const BENCH_USAGE = `cake bench --teacher <model.json> [--batch 500] [--student-batch 256] [--steps 20] [--student lenet5-half] [--backend wasm|webgpu|cpu] [--json] ${TIMEOUT_USAGE}`;

/**
 * `cake bench`: median milliseconds per synthesis step (teacher forward + backward to the inputs at the synthesis
 * batch, with the reference loss weights) and per student step (forward, backward, update), after warm-up steps.
 * The timing loop is src/cake/bench.ts, shared with the worker's `bench` command (scripts/bench-browser.ts).
 */
export async function bench(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { values: ['teacher', 'batch', 'student-batch', 'steps', 'warmup', 'student', 'backend', 'timeout'], flags: ['json'] });
  const backend = await useBackend(args.values.get('backend'));
  const steps = numberOpt(args, 'steps', 20);
  const warmup = numberOpt(args, 'warmup', 3);
  const teacherPath = required(args, 'teacher');
  const files = await readTeacherFiles([teacherPath]);
  const loaded = await loadTeacherWithin(files, loadTimeoutMs(args, files), backend, teacherPath);
  try {
    const info = loaded.info;
    const { model } = buildStudent(args.values.get('student') ?? 'lenet5-half', info.inputShape, info.numClasses, loaded.model);
    let times: StepTimes;
    try {
      times = await measureSteps({
        teacher: loaded.teacher,
        studentModel: model,
        inputShape: info.inputShape,
        numClasses: info.numClasses,
        synthBatch: numberOpt(args, 'batch', 500),
        studentBatch: numberOpt(args, 'student-batch', 256),
        steps,
        warmup,
      });
    } finally {
      model.dispose();
    }
    const result = {
      backend,
      threads: backend === 'wasm' ? 1 : undefined,
      simd: backend === 'wasm' ? Boolean(tf.env().getAsync ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : undefined) : undefined,
      adapter: backend === 'webgpu' ? (await initNodeWebGpu()).adapterDescription : undefined,
      teacher: { inputShape: info.inputShape, numClasses: info.numClasses, params: info.params },
      synth_batch: times.synth_batch,
      student_batch: times.student_batch,
      steps,
      synth_ms: times.synth_ms,
      student_ms: times.student_ms,
    };
    process.stdout.write((args.flags.has('json') ? JSON.stringify(result) : JSON.stringify(result, null, 2)) + '\n');
  } finally {
    loaded.dispose();
  }
}
