/**
 * Step timing shared by `cake bench` (Node), `bench:speed` and the worker's `bench` command (browser): median wall ms
 * per synthesis step and per student step after warm-up. No Node or DOM APIs: `performance.now()` exists in both.
 *
 * One synthesis step is the teacher's forward and backward pass to the inputs plus the update, at `synthBatch` with
 * the reference ("paper") loss weights; one student step is the student's forward, backward and update at
 * `studentBatch` on random inputs with one-hot targets. On wasm and cpu a step's kernels have run when its call
 * returns; on webgpu and webgl they are only queued, so each step waits for a small read of its result (issued after
 * the update, so the device's in-order queue has finished the whole step) before the clock is read.
 */
import * as tf from '@tensorflow/tfjs';
import { presetConfig, withOverrides } from './config';
import { runSetsInOrder, type SetSynthesizer } from './parallel';
import { Rng } from './rng';
import { synthesizeSet } from './synthesis';
import type { Teacher } from './teacher';
import { trainClassifier } from './train';

export interface MeasureStepsArgs {
  teacher: Teacher;
  /** The student to train (the caller builds and disposes it; its weights change). Omit to skip the student. */
  studentModel?: tf.LayersModel;
  /** Input shape without the batch axis (default: the teacher's). */
  inputShape?: number[];
  /** Default: the teacher's. */
  numClasses?: number;
  synthBatch?: number;
  studentBatch?: number;
  /** Timed steps of each kind. */
  steps?: number;
  /** Untimed steps before them (kernel set-up, shader compilation). */
  warmup?: number;
  /** Seeds the synthetic inputs and the student's data. */
  seed?: number;
  /**
   * Milliseconds of CPU time this process has used (Node: process.cpuUsage), to time each step in CPU time too: on a
   * machine shared with other work, wall time counts the others' load. Absent in the browser.
   */
  cpuClock?: () => number;
}

export interface StepTimes {
  /** Median ms per synthesis step. */
  synth_ms: number;
  /** Median ms per student step (NaN when no student was given). */
  student_ms: number;
  /** Every timed step, in order. */
  synth_steps: number[];
  student_steps: number[];
  /** Median CPU ms per step, when a cpuClock was given (NaN otherwise, and for a missing student). */
  synth_cpu_ms: number;
  student_cpu_ms: number;
  backend: string;
  /** Whether each step waited for the device (webgpu, webgl). */
  device_sync: boolean;
  synth_batch: number;
  student_batch: number;
  group: number;
  steps: number;
  warmup: number;
}

export const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Backends whose kernels return before the device has run them. */
export function isAsyncBackend(name = tf.getBackend()): boolean {
  return name === 'webgpu' || name === 'webgl';
}

export async function measureSteps(args: MeasureStepsArgs): Promise<StepTimes> {
  const { teacher, studentModel } = args;
  const inputShape = args.inputShape ?? [...teacher.inputShape];
  const numClasses = args.numClasses ?? teacher.numClasses;
  const steps = args.steps ?? 20;
  const warmup = args.warmup ?? 3;
  const seed = args.seed ?? 1;
  const cfg = withOverrides(presetConfig('paper', { inputShape, numClasses }), {
    synthesis: { batchSize: args.synthBatch ?? 500, steps: warmup + steps },
    student: { batchSize: args.studentBatch ?? 256, epochs: 1 },
  });
  const backend = tf.getBackend();
  const sync = isAsyncBackend(backend);

  // Synthesis: the time between consecutive steps' ends.
  const cpu = args.cpuClock ?? (() => NaN);
  const synthTimes: number[] = [];
  const synthCpu: number[] = [];
  let t0 = performance.now();
  let c0 = cpu();
  await synthesizeSet({
    teacher,
    cfg: cfg.synthesis,
    set: 0,
    eta: 0.01,
    rng: new Rng(seed),
    onStep: async (step, read) => {
      if (sync) await read();
      const now = performance.now();
      const c = cpu();
      if (step > warmup) {
        synthTimes.push(now - t0);
        synthCpu.push(c - c0);
      }
      t0 = now;
      c0 = c;
    },
  });

  // Student: the same on a random pool just large enough for warmup + steps batches.
  const studentTimes: number[] = [];
  const studentCpu: number[] = [];
  const bs = cfg.student.batchSize;
  if (studentModel) {
    const d = inputShape.reduce((a, b) => a * b, 1);
    const C = numClasses;
    const n = bs * (warmup + steps);
    const rng = new Rng(seed + 1);
    const xs = rng.fillNormal(new Float32Array(n * d));
    const ys = new Float32Array(n * C);
    for (let i = 0; i < n; i++) ys[i * C + rng.int(C)] = 1;
    t0 = performance.now();
    c0 = cpu();
    await trainClassifier({
      model: studentModel,
      source: {
        inputShape,
        numClasses: C,
        gather: (idx, x, y) => {
          for (let k = 0; k < idx.length; k++) {
            x.set(xs.subarray(idx[k] * d, (idx[k] + 1) * d), k * d);
            y.set(ys.subarray(idx[k] * C, (idx[k] + 1) * C), k * C);
          }
        },
      },
      train: Int32Array.from({ length: n }, (_, i) => i),
      val: new Int32Array(0),
      cfg: cfg.student,
      rngForEpoch: () => rng,
      onStep: async (s) => {
        if (sync) await s.readLoss();
        const now = performance.now();
        const c = cpu();
        if (s.step > warmup) {
          studentTimes.push(now - t0);
          studentCpu.push(c - c0);
        }
        t0 = now;
        c0 = c;
      },
    });
  }

  return {
    synth_ms: median(synthTimes),
    student_ms: median(studentTimes),
    synth_steps: synthTimes,
    student_steps: studentTimes,
    synth_cpu_ms: median(synthCpu),
    student_cpu_ms: median(studentCpu),
    backend,
    device_sync: sync,
    synth_batch: cfg.synthesis.batchSize,
    student_batch: bs,
    group: cfg.synthesis.groupSize,
    steps,
    warmup,
  };
}

/**
 * Effective ms per synthesis step with one set per helper running at once: 1 / (the sum of the helpers' step
 * rates), each rate from the median gap between a helper's consecutive steps after `warmup` steps. The same
 * workload as measureSteps' synthesis step.
 */
export async function measureParallelSynthesis(
  synth: SetSynthesizer,
  traits: { inputShape: number[]; numClasses: number },
  opts: { synthBatch?: number; steps?: number; warmup?: number; seed?: number } = {},
): Promise<number> {
  const warmup = opts.warmup ?? 3;
  const cfg = withOverrides(presetConfig('paper', traits), {
    synthesis: { batchSize: opts.synthBatch ?? 500, steps: warmup + (opts.steps ?? 20) },
  }).synthesis;
  const gaps = new Map<number, number[]>();
  const last = new Map<number, number>();
  await runSetsInOrder(
    synth,
    0,
    synth.concurrency,
    (set) => ({
      cfg,
      seed: opts.seed ?? 1,
      set,
      eta: 0.01,
      onStep: (step) => {
        const now = performance.now();
        const prev = last.get(set);
        if (step > warmup && prev != null) gaps.set(set, [...(gaps.get(set) ?? []), now - prev]);
        last.set(set, now);
      },
    }),
    () => undefined,
  );
  const rate = [...gaps.values()].reduce((r, t) => r + 1 / median(t), 0);
  return 1 / rate;
}
