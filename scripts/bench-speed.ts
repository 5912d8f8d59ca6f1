/**
 * `npm run -s bench:speed -- [--teacher <model.json>] [--workloads lenet5,resnet8,mobilenet] [--steps 10] [--rounds 3]
 *   [--warmup 3] [--workers 2] [--torch-threads 2,1] [--no-torch] [--browser | --no-browser]`
 *
 * Our synthesis step (LeNet-5 teacher, batch 500, groups of 10, the paper's loss weights, SGD on the inputs) and
 * student step (LeNet-5-half, batch 256, soft targets, SGD with momentum) on the wasm backend, next to the PyTorch
 * reference (../shared/bench/ref_cake_torch.py, the same workload) measured in the same sitting. Rounds interleave
 * ours and PyTorch's so that a change in the machine's load hits both. Each round times `steps` steps after
 * `warmup` steps and takes their median; the result is the minimum over rounds of those medians, for both sides.
 * With --workers N > 1 it also measures N synthesis sets at once on worker threads (src/cli/parallel-synth.ts)
 * and reports the effective time per step (the step rate of all workers together). PyTorch runs once per round
 * for each thread count in --torch-threads; the ratios are taken against its fastest setting (on a loaded machine
 * one thread can beat two). With --browser (the default when /usr/bin/chromium exists; --no-browser skips it) each
 * round also times the same steps inside the studio's browser worker on wasm, and with --workers N its synthesis helpers
 * (src/worker/synth-pool.ts) making N sets at once (scripts/bench-browser.ts: the built
 * worker in headless Chromium, the same teacher files, the same loop src/cake/bench.ts) and reports browser / Node.
 *
 * Per core, in CPU time: wall time on a machine shared with other work counts the others' load, so every step is
 * also timed in process CPU time, ours (src/cake/bench.ts with process.cpuUsage) and PyTorch's with one thread
 * (scripts/bench-torch-cpu.py, the same workloads), and `per_core` gives the ratios ours / PyTorch of those. Besides
 * LeNet-5, the workloads `resnet8` (the CIFAR ResNet-8 of ../shared/teachers/cifar10-resnet8-mlperf-keras, synthesis
 * at batch 500; PyTorch: ../shared/bench/ref_resnet8_torch.py for wall time) and `mobilenet` (MobileNet v1 0.25 at
 * 224×224, 1000 classes, synthesis at batch 50) time the synthesis step; their teachers are the shared files when
 * ../shared is there, else the same architectures built with random weights (scripts/bench-models.ts).
 * Prints JSON.
 *
 * Without --teacher the LeNet-5 teacher has seeded random weights (the architecture of the PyTorch reference;
 * speed does not depend on the weights).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { measureParallelSynthesis, measureSteps, median } from '../src/cake/bench';
import { presetConfig, withOverrides } from '../src/cake/config';
import type { Teacher } from '../src/cake/teacher';
import type { NamedFile } from '../src/io/files';
import { loadTeacher } from '../src/io/teacher-load';
import { modelFiles } from '../src/io/test-fixtures';
import { buildStudent } from '../src/models/students';
import { numberOpt, parseArgs } from '../src/cli/args';
import { cpuClock, useBackend } from '../src/cli/backend';
import { readTeacherFiles } from '../src/cli/node-files';
import { createNodeSetSynthesizer } from '../src/cli/parallel-synth';
import type { BenchResult } from '../src/worker/protocol';
import { openBrowserBench, type BrowserBench } from './bench-browser';
import { BENCH_TEACHERS, buildBenchTeacher } from './bench-models';

const args = parseArgs(process.argv.slice(2), {
  values: ['teacher', 'steps', 'rounds', 'warmup', 'workers', 'torch-threads', 'workloads'],
  flags: ['no-torch', 'browser', 'no-browser'],
});
const steps = numberOpt(args, 'steps', 10);
const rounds = numberOpt(args, 'rounds', 3);
const warmup = numberOpt(args, 'warmup', 3);
const workers = numberOpt(args, 'workers', 2);
const torchThreads = (args.values.get('torch-threads') ?? '2,1').split(',').map(Number).filter((n) => n > 0);
const SYNTH_BATCH = 500;
const STUDENT_BATCH = 256;

const here = path.dirname(fileURLToPath(import.meta.url));
const torchScript = path.resolve(here, '../../shared/bench/ref_cake_torch.py');
const resnetTorchScript = path.resolve(here, '../../shared/bench/ref_resnet8_torch.py');
const cpuTorchScript = path.resolve(here, 'bench-torch-cpu.py');
const python = '/usr/bin/python3';
const workloads = (args.values.get('workloads') ?? 'lenet5,resnet8,mobilenet').split(',').filter(Boolean) as ('lenet5' | 'resnet8' | 'mobilenet')[];
for (const w of workloads) if (!['lenet5', 'resnet8', 'mobilenet'].includes(w)) throw new Error(`--workloads: unknown workload ${w}`);

const round2 = (v: number) => Math.round(v * 100) / 100;
const load = () => os.loadavg().map(round2);

const backend = await useBackend('wasm');

// --- the teacher: a model.json, or a seeded LeNet-5 ---
let files: NamedFile[];
if (args.values.has('teacher')) {
  files = await readTeacherFiles([args.values.get('teacher')!]);
} else {
  const { model } = buildStudent('lenet5', [32, 32, 1], 10, undefined, { seed: 1 });
  files = await modelFiles(model);
  model.dispose();
}
const loaded = await loadTeacher(files);
const teacher: Teacher = loaded.teacher;
const inputShape = [...teacher.inputShape];
const traits = { inputShape, numClasses: teacher.numClasses };
const base = presetConfig('paper', traits);
const synthCfg = withOverrides(base, { synthesis: { batchSize: SYNTH_BATCH, steps: warmup + steps } }).synthesis;

/** Median ms per synthesis step and per student step after warm-up: the same measurement as `cake bench`. */
async function oursSteps(seed: number): Promise<{ synth: number; student: number; synthCpu: number; studentCpu: number }> {
  const { model } = buildStudent('lenet5-half', inputShape, teacher.numClasses, loaded.model, { seed });
  const t = await measureSteps({ teacher, studentModel: model, synthBatch: SYNTH_BATCH, studentBatch: STUDENT_BATCH, steps, warmup, seed, cpuClock });
  model.dispose();
  return { synth: t.synth_ms, student: t.student_ms, synthCpu: t.synth_cpu_ms, studentCpu: t.student_cpu_ms };
}

/** The colour workloads' teachers: the shared files when present, else the same architecture with random weights. */
const SHARED_TEACHERS = {
  resnet8: path.resolve(here, '../../shared/teachers/cifar10-resnet8-mlperf-keras/pretrainedResnet.h5'),
  mobilenet: path.resolve(here, '../../shared/teachers/imagenet-mobilenet-v1-0.25-keras/mobilenet_v1_0.25_224.h5'),
};
const colour = new Map<'resnet8' | 'mobilenet', { loaded: Awaited<ReturnType<typeof loadTeacher>>; source: string }>();
for (const w of workloads) {
  if (w === 'lenet5') continue;
  const shared = SHARED_TEACHERS[w];
  if (existsSync(shared)) {
    colour.set(w, { loaded: await loadTeacher(await readTeacherFiles([shared])), source: path.relative(path.resolve(here, '..'), shared) });
  } else {
    const model = buildBenchTeacher(w);
    const built = await modelFiles(model);
    model.dispose();
    colour.set(w, { loaded: await loadTeacher(built), source: `${w}, seeded random weights (scripts/bench-models.ts)` });
  }
}

/** CPU and wall ms per synthesis step of a colour workload, ours. */
async function oursColour(w: 'resnet8' | 'mobilenet', seed: number): Promise<{ wall: number; cpu: number }> {
  const t = await measureSteps({ teacher: colour.get(w)!.loaded.teacher, synthBatch: BENCH_TEACHERS[w].synthBatch, steps, warmup, seed, cpuClock });
  return { wall: t.synth_ms, cpu: t.synth_cpu_ms };
}

type TorchWorkload = 'lenet5-synth' | 'lenet5-half-student' | 'resnet8-synth' | 'mobilenet-synth';
/** PyTorch's CPU ms per step with one thread (scripts/bench-torch-cpu.py). */
function torchCpu(workload: TorchWorkload): { cpu: number; wall: number } {
  const out = execFileSync(python, [cpuTorchScript, workload, '--threads', '1', '--steps', String(steps), '--warmup', String(warmup)], { encoding: 'utf8' });
  const j = JSON.parse(out.trim().split('\n').pop()!) as { cpu_ms: number; wall_ms: number };
  return { cpu: j.cpu_ms, wall: j.wall_ms };
}

/** ../shared/bench/ref_resnet8_torch.py: wall ms per step. */
function torchResnetWall(threads: number): number {
  const out = execFileSync(python, [resnetTorchScript, String(threads), String(steps)], { encoding: 'utf8' });
  return Number((JSON.parse(out.trim().split('\n').pop()!) as { synth_step_ms_b500: number }).synth_step_ms_b500);
}

interface TorchRun {
  threads: number;
  synth: number;
  student: number;
  version: string;
}

function torchAvailable(): string | null {
  if (args.flags.has('no-torch')) return 'skipped (--no-torch)';
  if (!existsSync(python)) return `${python} not found`;
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return `PyTorch is not installed for ${python}`;
  return null;
}

function torchRun(threads: number): TorchRun {
  const out = execFileSync(python, [torchScript, String(threads), String(steps)], { encoding: 'utf8' });
  const j = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number | string>;
  return { threads, synth: Number(j.synth_step_ms_b500), student: Number(j.student_step_ms_b256), version: String(j.torch) };
}

const torchMissing = torchAvailable();
const lenet = workloads.includes('lenet5');
const synth = lenet && workers > 1 ? await createNodeSetSynthesizer(files, workers) : null;
const chromiumPath = '/usr/bin/chromium';
const wantBrowser = lenet && (args.flags.has('browser') || (!args.flags.has('no-browser') && existsSync(chromiumPath)));
const browser: BrowserBench | null = wantBrowser ? await openBrowserBench({ backend: 'wasm', files }) : null;
const browserRuns: BenchResult[] = [];
const loadBefore = load();
const loads: number[][] = [loadBefore];
const started = Date.now();
const ours = { synth: [] as number[], student: [] as number[], parallel: [] as number[], synthCpu: [] as number[], studentCpu: [] as number[] };
const torch: TorchRun[] = [];
const torchCpuRuns = { synth: [] as number[], student: [] as number[] };
const colourRuns = new Map<string, { ours: number[]; oursCpu: number[]; torchCpu: number[]; torchCpuWall: number[]; torchWall: Map<number, number[]> }>();
for (const w of colour.keys()) colourRuns.set(w, { ours: [], oursCpu: [], torchCpu: [], torchCpuWall: [], torchWall: new Map() });
try {
  for (let r = 0; r < rounds; r++) {
    if (lenet) {
      const t = await oursSteps(r);
      ours.synth.push(t.synth);
      ours.student.push(t.student);
      ours.synthCpu.push(t.synthCpu);
      ours.studentCpu.push(t.studentCpu);
      if (!torchMissing) {
        if (existsSync(torchScript)) for (const n of torchThreads) torch.push(torchRun(n));
        torchCpuRuns.synth.push(torchCpu('lenet5-synth').cpu);
        torchCpuRuns.student.push(torchCpu('lenet5-half-student').cpu);
      }
      if (synth) ours.parallel.push(await measureParallelSynthesis(synth, traits, { synthBatch: SYNTH_BATCH, steps, warmup, seed: 100 + r }));
      if (browser) browserRuns.push(await browser.run({ synthBatch: SYNTH_BATCH, studentBatch: STUDENT_BATCH, steps, warmup, student: 'lenet5-half', workers }));
    }
    for (const [w, runs] of colourRuns) {
      const t = await oursColour(w as 'resnet8' | 'mobilenet', r);
      runs.ours.push(t.wall);
      runs.oursCpu.push(t.cpu);
      if (torchMissing) continue;
      const c = torchCpu(`${w}-synth` as TorchWorkload);
      runs.torchCpu.push(c.cpu);
      runs.torchCpuWall.push(c.wall);
      if (w === 'resnet8' && existsSync(resnetTorchScript)) {
        for (const n of torchThreads) runs.torchWall.set(n, [...(runs.torchWall.get(n) ?? []), torchResnetWall(n)]);
      }
    }
    loads.push(load());
  }
} finally {
  await browser?.close();
  await synth?.dispose();
  loaded.dispose();
  for (const { loaded: l } of colour.values()) l.dispose();
}
const loadAfter = load();

const min = (xs: number[]) => (xs.length ? Math.min(...xs) : NaN);
const oursSynthMs = min(ours.synth);
const oursStudentMs = min(ours.student);
const oursParallelMs = min(ours.parallel);
const browserParallelMs = browserRuns.some((b) => b.synth_ms_parallel_effective != null) ? min(browserRuns.map((b) => b.synth_ms_parallel_effective ?? Infinity)) : 0;
const torchSynthMs = min(torch.map((t) => t.synth));
const torchStudentMs = min(torch.map((t) => t.student));
const byThreads = Object.fromEntries(
  torchThreads.map((n) => {
    const runs = torch.filter((t) => t.threads === n);
    return [
      `threads_${n}`,
      {
        synth_ms: round2(min(runs.map((t) => t.synth))),
        student_ms: round2(min(runs.map((t) => t.student))),
        rounds: { synth: runs.map((t) => round2(t.synth)), student: runs.map((t) => round2(t.student)) },
      },
    ];
  }),
);
const perCore = (oursCpu: number[], torchCpuMs: number[]) => ({
  ours_cpu_ms: round2(min(oursCpu)),
  pytorch_1thread_cpu_ms: torchMissing ? null : round2(min(torchCpuMs)),
  ratio: torchMissing ? null : round2(min(oursCpu) / min(torchCpuMs)),
  rounds: { ours: oursCpu.map(round2), pytorch: torchCpuMs.map(round2) },
});
const colourResults = Object.fromEntries(
  [...colourRuns].map(([w, runs]) => [
    w,
    {
      teacher: colour.get(w as 'resnet8' | 'mobilenet')!.source,
      synth_batch: BENCH_TEACHERS[w as 'resnet8' | 'mobilenet'].synthBatch,
      ours_wall_ms: round2(min(runs.ours)),
      pytorch_1thread_wall_ms: torchMissing ? null : round2(min(runs.torchCpuWall)),
      ...(runs.torchWall.size
        ? { ref_resnet8_torch_wall_ms: Object.fromEntries([...runs.torchWall].map(([n, v]) => [`threads_${n}`, round2(min(v))])) }
        : {}),
      per_core: perCore(runs.oursCpu, runs.torchCpu),
    },
  ]),
);
const result = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavg_before: loadBefore, loadavg_after: loadAfter, loadavg_each_round: loads.slice(1) },
  per_core_cpu_time: {
    method: `CPU ms per step (process CPU time), min over ${rounds} interleaved rounds of the median of ${steps} steps after ${warmup} warm-up steps; PyTorch with one thread`,
    ...(lenet ? { lenet5_synth: perCore(ours.synthCpu, torchCpuRuns.synth), lenet5_half_student: perCore(ours.studentCpu, torchCpuRuns.student) } : {}),
    ...Object.fromEntries(Object.entries(colourResults).map(([w, c]) => [`${w}_synth`, c.per_core])),
  },
  colour_workloads: colourResults,
  method: `min over ${rounds} interleaved rounds of the median of ${steps} steps after ${warmup} warm-up steps`,
  ours: {
    backend,
    tfjs: tf.version.tfjs,
    threads_per_worker: 1,
    synth_ms: round2(oursSynthMs),
    student_ms: round2(oursStudentMs),
    ...(synth ? { workers, synth_ms_parallel_effective: round2(oursParallelMs) } : {}),
    rounds: { synth: ours.synth.map(round2), student: ours.student.map(round2), parallel: ours.parallel.map(round2) },
  },
  browser_worker: browser
    ? {
        chromium: browser.chromium,
        backend: browser.backend,
        synth_ms: round2(min(browserRuns.map((b) => b.synth_ms))),
        student_ms: round2(min(browserRuns.map((b) => b.student_ms))),
        ...(browserParallelMs ? { workers, synth_ms_parallel_effective: round2(browserParallelMs) } : {}),
        rounds: {
          synth: browserRuns.map((b) => round2(b.synth_ms)),
          student: browserRuns.map((b) => round2(b.student_ms)),
          parallel: browserRuns.map((b) => round2(b.synth_ms_parallel_effective ?? NaN)),
        },
        ratio_browser_over_node: {
          synth: round2(min(browserRuns.map((b) => b.synth_ms)) / oursSynthMs),
          student: round2(min(browserRuns.map((b) => b.student_ms)) / oursStudentMs),
          ...(browserParallelMs && synth ? { synth_parallel: round2(browserParallelMs / oursParallelMs) } : {}),
        },
      }
    : { skipped: wantBrowser ? 'failed' : args.flags.has('no-browser') ? '--no-browser' : `${chromiumPath} not found` },
  pytorch: torchMissing
    ? { skipped: torchMissing }
    : { version: torch[0]?.version, best_synth_ms: round2(torchSynthMs), best_student_ms: round2(torchStudentMs), ...byThreads },
  ratio_ours_over_pytorch: torchMissing
    ? null
    : {
        synth: round2(oursSynthMs / torchSynthMs),
        student: round2(oursStudentMs / torchStudentMs),
        ...(synth ? { synth_parallel: round2(oursParallelMs / torchSynthMs) } : {}),
      },
  workload: { synth_batch: SYNTH_BATCH, group: synthCfg.groupSize, weights: synthCfg.weights, student_batch: STUDENT_BATCH, teacher: args.values.get('teacher') ?? 'LeNet-5, seeded random weights' },
  wall_sec: Math.round((Date.now() - started) / 1000),
};
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
