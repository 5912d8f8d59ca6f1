/**
 * `npm run -s bench:kernels -- --teacher <model> [--steps 3] [--warmup 1] [--batch 500] [--top 40] [--no-freeze] [--json]
 *   [--student lenet5-half [--student-batch 256]]`
 *
 * Where one synthesis step's time goes (or with --student, one step of that student on random inputs and labels), kernel by kernel: every wasm kernel the engine runs is timed in process CPU
 * time (process.cpuUsage, so other processes' load does not count, unlike wall time), grouped by kernel name and
 * input shapes, and reported as CPU ms per step. Kernels that our kernels call inside themselves (wasm-conv-grad.ts
 * runs Conv2D, Transpose, ...) count towards the outer kernel only. The PyTorch counterpart is
 * scripts/bench-kernels-torch.py (the same step on ../shared/bench's ResNet-8, per op).
 */
import * as tf from '@tensorflow/tfjs';
import { presetConfig, withOverrides } from '../src/cake/config';
import { Rng } from '../src/cake/rng';
import { synthesizeSet } from '../src/cake/synthesis';
import { trainClassifier } from '../src/cake/train';
import { buildStudent } from '../src/models/students';
import { numberOpt, parseArgs, required } from '../src/cli/args';
import { cpuClock, useBackend } from '../src/cli/backend';
import { readTeacherFiles } from '../src/cli/node-files';
import { loadTeacher } from '../src/io/teacher-load';
import { setFreezeTeachers } from '../src/tfjs/frozen-teacher';

const args = parseArgs(process.argv.slice(2), { values: ['teacher', 'steps', 'warmup', 'batch', 'top', 'student', 'student-batch'], flags: ['json', 'no-freeze'] });
const steps = numberOpt(args, 'steps', 3);
const warmup = numberOpt(args, 'warmup', 1);
const batch = numberOpt(args, 'batch', 500);
const top = numberOpt(args, 'top', 40);
await useBackend('wasm');
if (args.flags.has('no-freeze')) setFreezeTeachers(false);
const loaded = await loadTeacher(await readTeacherFiles([required(args, 'teacher')]));
const teacher = loaded.teacher;

const cpuMs = cpuClock;
const stats = new Map<string, { ms: number; calls: number }>();
let depth = 0;
let recording = false;
for (const config of tf.getKernelsForBackend('wasm')) {
  const inner = config.kernelFunc;
  (config as { kernelFunc: typeof inner }).kernelFunc = (a) => {
    if (depth > 0 || !recording) {
      depth++;
      try {
        return inner(a);
      } finally {
        depth--;
      }
    }
    const key = `${config.kernelName} ${Object.values(a.inputs).filter((t) => t != null).map((t) => `[${t.shape}]`).join(' ')}`;
    depth++;
    const t0 = cpuMs();
    try {
      return inner(a);
    } finally {
      const dt = cpuMs() - t0;
      depth--;
      const s = stats.get(key) ?? { ms: 0, calls: 0 };
      s.ms += dt;
      s.calls++;
      stats.set(key, s);
    }
  };
}

const traits = { inputShape: [...teacher.inputShape], numClasses: teacher.numClasses };
const cfg = withOverrides(presetConfig('paper', traits), {
  synthesis: { batchSize: batch, steps: warmup + steps },
  student: { batchSize: numberOpt(args, 'student-batch', 256), epochs: 1 },
});
const stepCpu: number[] = [];
let t0 = cpuMs();
const onStep = (step: number) => {
  const now = cpuMs();
  if (step > warmup) stepCpu.push(now - t0);
  recording = step >= warmup && step < warmup + steps;
  t0 = cpuMs();
};
const studentArch = args.values.get('student');
if (studentArch) {
  const { model } = buildStudent(studentArch, traits.inputShape, traits.numClasses, loaded.model, { seed: 1 });
  const bs = cfg.student.batchSize;
  const d = traits.inputShape.reduce((a, b) => a * b, 1);
  const n = bs * (warmup + steps);
  const rng = new Rng(2);
  const xs = rng.fillNormal(new Float32Array(n * d));
  const ys = new Float32Array(n * traits.numClasses).map((_, i) => (i % traits.numClasses === 0 ? 1 : 0));
  await trainClassifier({
    model,
    source: {
      inputShape: traits.inputShape,
      numClasses: traits.numClasses,
      gather: (idx, x, y) => Array.from(idx).forEach((k, i) => {
        x.set(xs.subarray(k * d, (k + 1) * d), i * d);
        y.set(ys.subarray(k * traits.numClasses, (k + 1) * traits.numClasses), i * traits.numClasses);
      }),
    },
    train: Int32Array.from({ length: n }, (_, i) => i),
    val: new Int32Array(0),
    cfg: cfg.student,
    rngForEpoch: () => rng,
    onStep: (s) => onStep(s.step),
  });
  model.dispose();
} else {
  await synthesizeSet({ teacher, cfg: cfg.synthesis, set: 0, eta: 0.001, rng: new Rng(1), onStep });
}
recording = false;
loaded.dispose();
const rows = [...stats.entries()]
  .map(([key, s]) => ({ key, ms_per_step: s.ms / steps, calls_per_step: s.calls / steps }))
  .sort((a, b) => b.ms_per_step - a.ms_per_step);
const total = rows.reduce((a, r) => a + r.ms_per_step, 0);
const byName = new Map<string, number>();
for (const r of rows) byName.set(r.key.split(' ')[0], (byName.get(r.key.split(' ')[0]) ?? 0) + r.ms_per_step);
const result = {
  teacher: args.values.get('teacher'),
  batch,
  steps,
  cpu_ms_per_step: stepCpu.map((v) => Math.round(v)),
  kernels_cpu_ms_per_step: Math.round(total),
  by_kernel: Object.fromEntries([...byName.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round(v * 10) / 10])),
  top: rows.slice(0, top).map((r) => ({ ...r, ms_per_step: Math.round(r.ms_per_step * 10) / 10 })),
};
if (args.flags.has('json')) process.stdout.write(JSON.stringify(result) + '\n');
else {
  console.log(`CPU ms per step: ${result.cpu_ms_per_step.join(', ')} (kernels ${result.kernels_cpu_ms_per_step})`);
  for (const [k, v] of Object.entries(result.by_kernel)) console.log(`${String(v).padStart(9)}  ${k}`);
  console.log('---');
  for (const r of result.top) console.log(`${String(r.ms_per_step).padStart(9)} ${String(r.calls_per_step).padStart(4)}x  ${r.key}`);
}
