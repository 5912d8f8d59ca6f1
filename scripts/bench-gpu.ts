/**
 * `npm run -s bench:gpu -- [--teachers lenet5,resnet8,resnet32,mobilenet] [--steps 10] [--warmup 3] [--no-wasm]
 *   [--no-webgpu] [--smoke]`
 *
 * The GPU path, measured in one prepared run: CAKE's synthesis step and student step on WebGPU in Node (Dawn, the
 * `webgpu` package; src/tfjs/node-webgpu.ts), for LeNet-5 (student LeNet-5-half), CIFAR ResNet-8 and ResNet-32 and
 * MobileNet v1 0.25 at 224×224 (student: the zoo's `auto` choice, the teacher at reduced width), each next to the same steps on wasm
 * (one thread, fewer steps) in the same process unless --no-wasm. Needs nothing but the repository and node_modules: no network,
 * no browser, no ../shared (the teachers are built with seeded random weights, scripts/bench-models.ts). Meant for a
 * machine with a real GPU and a Vulkan driver, where it takes a few minutes; on a machine without one Dawn falls
 * back to Mesa's software adapter, which is correct but slow (use --smoke there: tiny batches, one timed step).
 *
 * Each step on webgpu waits for a small read of its result before the clock is read (src/cake/bench.ts), so the
 * times are the device's, not the queueing's. The first steps compile shaders and are not timed (--warmup).
 * Prints JSON; a workload that fails reports its error and the others still run.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { measureSteps } from '../src/cake/bench';
import { numberOpt, parseArgs } from '../src/cli/args';
import type { NamedFile } from '../src/io/files';
import { loadTeacher } from '../src/io/teacher-load';
import { modelFiles } from '../src/io/test-fixtures';
import { buildStudent } from '../src/models/students';
import { initNodeBackend } from '../src/tfjs/node-backend';
import { initNodeWebGpu, type NodeWebGpu } from '../src/tfjs/node-webgpu';
import { BENCH_TEACHERS, buildBenchTeacher, type BenchTeacher } from './bench-models';

const args = parseArgs(process.argv.slice(2), { values: ['teachers', 'steps', 'warmup'], flags: ['no-wasm', 'no-webgpu', 'smoke'] });
const smoke = args.flags.has('smoke');
const steps = numberOpt(args, 'steps', smoke ? 1 : 10);
const warmup = numberOpt(args, 'warmup', smoke ? 1 : 3);
const names = (args.values.get('teachers') ?? 'lenet5,resnet8,resnet32,mobilenet').split(',').filter(Boolean) as BenchTeacher[];
for (const n of names) if (!(n in BENCH_TEACHERS)) throw new Error(`--teachers: unknown teacher ${n} (lenet5, resnet8, resnet32, mobilenet)`);
// 224-pixel images: batch 64 keeps the student's activations and the wasm baseline's time moderate.
const studentBatch = (n: BenchTeacher) => (smoke ? 8 : n === 'mobilenet' ? 64 : 256);
const round2 = (v: number) => Math.round(v * 100) / 100;

await initNodeBackend();
const started = Date.now();
// The teachers as model files, built once (on wasm) and loaded afresh on each backend.
const files = new Map<BenchTeacher, NamedFile[]>();
for (const n of names) {
  const model = buildBenchTeacher(n);
  files.set(n, await modelFiles(model));
  model.dispose();
}

let gpu: NodeWebGpu | null = null;
let gpuError: string | null = null;
try {
  if (args.flags.has('no-webgpu')) throw new Error('skipped (--no-webgpu)');
  gpu = await initNodeWebGpu();
} catch (e) {
  gpuError = (e as Error).message;
}

interface Timing {
  synth_ms: number;
  student_ms: number;
  synth_steps: number[];
  student_steps: number[];
}

/** The wasm baseline only puts the GPU's numbers in proportion: fewer steps keep the whole run to a few minutes. */
const stepsOn = (backend: string) => (backend === 'wasm' ? { steps: Math.min(steps, 3), warmup: Math.min(warmup, 1) } : { steps, warmup });

async function timeOn(backend: string, n: BenchTeacher): Promise<Timing | { error: string }> {
  try {
    await tf.setBackend(backend);
    const spec = BENCH_TEACHERS[n];
    const loaded = await loadTeacher(files.get(n)!);
    const student = buildStudent(n === 'lenet5' ? 'lenet5-half' : 'auto', spec.inputShape, spec.classes, loaded.model, { seed: 1 });
    try {
      const t = await measureSteps({
        teacher: loaded.teacher,
        studentModel: student.model,
        synthBatch: smoke ? 10 : spec.synthBatch,
        studentBatch: studentBatch(n),
        ...stepsOn(backend),
      });
      return { synth_ms: round2(t.synth_ms), student_ms: round2(t.student_ms), synth_steps: t.synth_steps.map(round2), student_steps: t.student_steps.map(round2) };
    } finally {
      student.model.dispose();
      loaded.dispose();
    }
  } catch (e) {
    return { error: String((e as Error).message ?? e).split('\n')[0] };
  }
}

const rows = [];
for (const n of names) {
  const spec = BENCH_TEACHERS[n];
  const webgpu = gpu ? await timeOn('webgpu', n) : { error: gpuError };
  const wasm = args.flags.has('no-wasm') ? null : await timeOn('wasm', n);
  const ok = (t: unknown): t is Timing => t != null && typeof (t as Timing).synth_ms === 'number';
  rows.push({
    teacher: n,
    input: spec.inputShape,
    classes: spec.classes,
    synth_batch: smoke ? 10 : spec.synthBatch,
    student: n === 'lenet5' ? 'lenet5-half' : 'auto',
    student_batch: studentBatch(n),
    webgpu,
    wasm_one_thread: wasm,
    speedup_webgpu_over_wasm:
      ok(webgpu) && ok(wasm) ? { synth: round2(wasm.synth_ms / webgpu.synth_ms), student: round2(wasm.student_ms / webgpu.student_ms) } : null,
  });
  process.stderr.write(`${n}: done (${Math.round((Date.now() - started) / 1000)} s)\n`);
}

const result = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg().map(round2) },
  tfjs: tf.version.tfjs,
  adapter: gpu ? gpu.adapterDescription : null,
  software_adapter: gpu?.software ?? null,
  webgpu_error: gpuError,
  method: `median ms per step of ${steps} timed steps after ${warmup} warm-up steps on webgpu (wasm: ${stepsOn('wasm').steps} after ${stepsOn('wasm').warmup}); webgpu steps wait for the device`,
  smoke,
  workloads: rows,
  wall_sec: Math.round((Date.now() - started) / 1000),
};
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
// Dawn's device can keep the event loop alive.
process.exit(0);
