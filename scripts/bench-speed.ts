/**
 * `npm run bench:speed -- [--teacher <model.json>] [--steps 10] [--rounds 3] [--warmup 3] [--workers 2]
 *   [--torch-threads 2,1] [--no-torch] [--browser | --no-browser]`
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
 * Prints JSON.
 *
 * Without --teacher the teacher is a LeNet-5 with seeded random weights (the architecture of the PyTorch reference;
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
import { useBackend } from '../src/cli/backend';
import { readTeacherFiles } from '../src/cli/node-files';
import { createNodeSetSynthesizer } from '../src/cli/parallel-synth';
import type { BenchResult } from '../src/worker/protocol';
import { openBrowserBench, type BrowserBench } from './bench-browser';

const args = parseArgs(process.argv.slice(2), {
  values: ['teacher', 'steps', 'rounds', 'warmup', 'workers', 'torch-threads'],
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
const python = '/usr/bin/python3';

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
async function oursSteps(seed: number): Promise<{ synth: number; student: number }> {
  const { model } = buildStudent('lenet5-half', inputShape, teacher.numClasses, loaded.model, { seed });
  const t = await measureSteps({ teacher, studentModel: model, synthBatch: SYNTH_BATCH, studentBatch: STUDENT_BATCH, steps, warmup, seed });
  model.dispose();
  return { synth: t.synth_ms, student: t.student_ms };
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
  if (!existsSync(torchScript)) return `${torchScript} not found`;
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
const synth = workers > 1 ? await createNodeSetSynthesizer(files, workers) : null;
const chromiumPath = '/usr/bin/chromium';
const wantBrowser = args.flags.has('browser') || (!args.flags.has('no-browser') && existsSync(chromiumPath));
const browser: BrowserBench | null = wantBrowser ? await openBrowserBench({ backend: 'wasm', files }) : null;
const browserRuns: BenchResult[] = [];
const loadBefore = load();
const started = Date.now();
const ours = { synth: [] as number[], student: [] as number[], parallel: [] as number[] };
const torch: TorchRun[] = [];
try {
  for (let r = 0; r < rounds; r++) {
    const t = await oursSteps(r);
    ours.synth.push(t.synth);
    ours.student.push(t.student);
    if (!torchMissing) for (const t of torchThreads) torch.push(torchRun(t));
    if (synth) ours.parallel.push(await measureParallelSynthesis(synth, traits, { synthBatch: SYNTH_BATCH, steps, warmup, seed: 100 + r }));
    if (browser) browserRuns.push(await browser.run({ synthBatch: SYNTH_BATCH, studentBatch: STUDENT_BATCH, steps, warmup, student: 'lenet5-half', workers }));
  }
} finally {
  await browser?.close();
  await synth?.dispose();
  loaded.dispose();
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
const result = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavg_before: loadBefore, loadavg_after: loadAfter },
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
