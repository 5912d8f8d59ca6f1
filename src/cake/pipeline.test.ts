import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { presetConfig, withOverrides, type CakeConfig } from './config';
import type { SetSynthesizer } from './parallel';
import { teacherFeatures } from './hints';
import { ConfigError, runCake, STREAM } from './pipeline';
import { Rng } from './rng';
import { synthesizeSet } from './synthesis';
import { CancelledError, RunControl, type Progress, type SetResult } from './progress';
import { decodePool, encodePool, SyntheticPool } from './pool';
import { randomConvTeacher, teacherFromModel } from './testing';

let teacherModel: tf.LayersModel;
const traits = { inputShape: [32, 32, 1], numClasses: 10 };
const smoke = (seed = 1): CakeConfig => presetConfig('smoke', traits, seed);

async function weightsOf(m: tf.LayersModel): Promise<Float32Array[]> {
  return Promise.all(m.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

beforeAll(async () => {
  await initNodeBackend();
  teacherModel = randomConvTeacher(7);
});

describe('a LeNet-size run on the smoke preset', () => {
  it('lets the event loop run during the student stage even without a control (timers and signal handlers fire)', async () => {
    // No helpers: every step awaits only promises that are already resolved, which chain as microtasks.
    const cfg = withOverrides(smoke(), { student: { epochs: 40, batchSize: 8, valFraction: 0.1 } });
    const student = randomConvTeacher(100);
    let ticks = 0;
    let ticksBeforeStudent = -1;
    const timer = setInterval(() => ticks++, 1);
    try {
      await runCake({
        teacher: teacherFromModel(teacherModel),
        config: cfg,
        student,
        studentArch: 'test-lenet',
        progressIntervalMs: 0,
        onProgress: (p) => {
          if (p.stage === 'student' && ticksBeforeStudent < 0) ticksBeforeStudent = ticks;
        },
      });
    } finally {
      clearInterval(timer);
    }
    expect(ticksBeforeStudent).toBeGreaterThanOrEqual(0);
    expect(ticks).toBeGreaterThan(ticksBeforeStudent);
    student.dispose();
  });

  it('runs end to end: progress, sets, epochs and a complete report', async () => {
    const progress: Progress[] = [];
    const sets: SetResult[] = [];
    const student = randomConvTeacher(100);
    const cfg = smoke();
    const { report, pool } = await runCake({
      teacher: teacherFromModel(teacherModel),
      config: cfg,
      student,
      studentArch: 'test-lenet',
      onProgress: (p) => progress.push(p),
      onSet: (s) => sets.push(s),
      progressIntervalMs: 0,
    });
    const B = cfg.synthesis.batchSize;
    expect(sets).toHaveLength(cfg.synthesis.sets);
    expect(sets[0].x).toHaveLength(B * 32 * 32);
    expect(sets[0].probs).toHaveLength(B * 10);
    // Every group holds K distinct target classes.
    for (let g = 0; g < B / 10; g++) expect(new Set(sets[0].targets.subarray(g * 10, g * 10 + 10)).size).toBe(10);
    expect(sets[1].eta).toBeLessThan(sets[0].eta);
    expect(pool.size).toBe(cfg.synthesis.sets * B);
    const synth = progress.filter((p) => p.stage === 'synthesis');
    const stud = progress.filter((p) => p.stage === 'student');
    expect(synth).toHaveLength(cfg.synthesis.sets * cfg.synthesis.steps);
    expect(stud.length).toBeGreaterThan(0);
    for (const p of synth) {
      expect(Number.isFinite(p.losses.total)).toBe(true);
      const w = cfg.synthesis.weights;
      const sum = w.cls * p.losses.cls + w.contr * p.losses.contr + w.tv * p.losses.tv;
      expect(Math.abs(p.losses.total - sum) / sum).toBeLessThan(1e-5);
    }
    expect(progress[progress.length - 1].fraction).toBeCloseTo(1, 1);
    expect(report.samples.total).toBe(pool.size);
    expect(report.samples.validation).toBe(Math.round(pool.size * cfg.student.valFraction));
    expect(report.student.params).toBe(student.countParams());
    expect(report.backend).toBe('wasm');
    expect(report.studentTraining.agreement).toBeGreaterThanOrEqual(0);
    expect(report.timings.totalSec).toBeGreaterThan(0);
    student.dispose();
  });

  it('trains the student only on the sets of its η band, with as many steps as that band has batches', async () => {
    const cfg = withOverrides(smoke(), { synthesis: { sets: 3 } });
    // η falls across sets: a band from set 1's η up keeps sets 0 and 1.
    const eta1 = 0.1 * 10 ** (-4 / 3);
    const banded = withOverrides(cfg, { student: { etaMin: eta1, etaMax: 1 } });
    const student = randomConvTeacher(100);
    const steps: number[] = [];
    const { report, pool } = await runCake({
      teacher: teacherFromModel(teacherModel),
      config: banded,
      student,
      studentArch: 'test-lenet',
      onProgress: (p) => p.stage === 'student' && steps.push(p.step),
      progressIntervalMs: 0,
    });
    const B = cfg.synthesis.batchSize;
    expect(pool.size).toBe(3 * B);
    expect(report.samples.train + report.samples.validation).toBe(2 * B);
    expect(report.samples.validation).toBe(Math.round(2 * B * cfg.student.valFraction));
    expect(Math.max(...steps)).toBe(Math.floor(report.samples.train / cfg.student.batchSize));
    student.dispose();
  });

  it('the synthesis loss falls within a set (the inputs really move)', async () => {
    const first: number[] = [];
    const last: number[] = [];
    const cfg = withOverrides(smoke(), { synthesis: { sets: 1, steps: 30, eta0: 1e-3 } });
    const student = randomConvTeacher(100);
    await runCake({
      teacher: teacherFromModel(teacherModel),
      config: cfg,
      student,
      studentArch: 'x',
      progressIntervalMs: 0,
      onProgress: (p) => {
        if (p.stage !== 'synthesis') return;
        if (p.step === 1) first.push(p.losses.total);
        if (p.step === 30) last.push(p.losses.total);
      },
    });
    expect(last[0]).toBeLessThan(first[0]);
    student.dispose();
  });

  it('the same seed gives the same student weights; another seed does not', async () => {
    const run = async (seed: number) => {
      const student = randomConvTeacher(100 + seed); // built differently on purpose: the run re-initialises from the seed
      await runCake({ teacher: teacherFromModel(teacherModel), config: smoke(seed), student, studentArch: 'x' });
      const w = await weightsOf(student);
      student.dispose();
      return w;
    };
    const a = await run(3);
    const b = await run(3);
    const c = await run(4);
    expect(a.map((t) => Array.from(t))).toEqual(b.map((t) => Array.from(t)));
    expect(Array.from(a[0])).not.toEqual(Array.from(c[0]));
  });

  it('continuing from saved sets gives the same student as an uninterrupted run', async () => {
    const cfg = withOverrides(smoke(8), { synthesis: { sets: 3 } });
    const saved = new SyntheticPool(32 * 32, 10, cfg.synthesis.batchSize);
    const full = randomConvTeacher(100);
    await runCake({
      teacher: teacherFromModel(teacherModel),
      config: cfg,
      student: full,
      studentArch: 'x',
      // Keep the first set only, as a checkpoint taken after set 1 would, and pass it through the byte encoding.
      onSet: (s) => s.set === 0 && saved.add({ set: s.set, eta: s.eta, x: s.x, labels: s.labels }),
    });
    const resumed = randomConvTeacher(200);
    const sets: number[] = [];
    await runCake({
      teacher: teacherFromModel(teacherModel),
      config: cfg,
      student: resumed,
      studentArch: 'x',
      pool: decodePool(encodePool(saved)),
      onSet: (s) => sets.push(s.set),
    });
    expect(sets).toEqual([1, 2]);
    expect((await weightsOf(resumed)).map((t) => Array.from(t))).toEqual((await weightsOf(full)).map((t) => Array.from(t)));

    // Saved sets from a run with another step-size schedule: refused, not mixed in.
    const other = withOverrides(cfg, { synthesis: { eta0: cfg.synthesis.eta0 / 2 } });
    await expect(
      runCake({ teacher: teacherFromModel(teacherModel), config: other, student: resumed, studentArch: 'x', pool: decodePool(encodePool(saved)) }),
    ).rejects.toThrow(/made with other synthesis settings \(set 0/);
    full.dispose();
    resumed.dispose();
  });

  it('with a set synthesizer running two sets at once, gives the same pool and student as in-process', async () => {
    const cfg = withOverrides(smoke(9), { synthesis: { sets: 4 } });
    const teacher = teacherFromModel(teacherModel);
    const run = async (synthesizer?: SetSynthesizer) => {
      const student = randomConvTeacher(100);
      const sets: number[] = [];
      const progress: Progress[] = [];
      const { pool } = await runCake({
        teacher,
        config: cfg,
        student,
        studentArch: 'x',
        synthesizer,
        progressIntervalMs: 0,
        onSet: (s) => sets.push(s.set),
        onProgress: (p) => progress.push(p),
      });
      const w = await weightsOf(student);
      student.dispose();
      return { pool: encodePool(pool), w, sets, progress };
    };
    // Two "workers" in this thread; odd sets finish first, so delivery order is really tested.
    const started: number[] = [];
    const fake: SetSynthesizer = {
      concurrency: 2,
      async run(job) {
        started.push(job.set);
        const out = await synthesizeSet({ teacher, cfg: job.cfg, set: job.set, eta: job.eta, rng: Rng.derive(job.seed, STREAM.synthesis, job.set) });
        for (let step = 1; step <= job.cfg.steps; step++) job.onStep?.(step, step === job.cfg.steps ? { losses: out.losses, hitRate: out.hitRate } : null);
        await new Promise((r) => setTimeout(r, job.set % 2 === 0 ? 30 : 0));
        return out;
      },
      dispose: async () => {},
    };
    const here = await run();
    const there = await run(fake);
    expect(there.sets).toEqual([0, 1, 2, 3]);
    expect(started).toEqual([0, 1, 2, 3]);
    expect(Array.from(there.pool)).toEqual(Array.from(here.pool));
    expect(there.w.map((t) => Array.from(t))).toEqual(here.w.map((t) => Array.from(t)));
    const synthProgress = there.progress.filter((p) => p.stage === 'synthesis');
    expect(synthProgress.length).toBeGreaterThan(0);
    expect(synthProgress.every((p) => Number.isFinite(p.losses.total) && p.set >= 0 && p.set < 4)).toBe(true);
  });

  it('labels augmented student batches on the synthesizer while training, with the same student as in-process', async () => {
    const cfg = withOverrides(smoke(4), { synthesis: { sets: 2 }, student: { epochs: 2, augShift: 1, augBlur: 0.5 } });
    const teacher = teacherFromModel(teacherModel);
    const pool = (await runCake({ teacher, config: cfg, student: randomConvTeacher(100), studentArch: 'x' })).pool;
    const train = async (synthesizer?: SetSynthesizer) => {
      const student = randomConvTeacher(100);
      await runCake({ teacher, config: cfg, student, studentArch: 'x', pool: decodePool(encodePool(pool)), synthesizer });
      const w = await weightsOf(student);
      student.dispose();
      return w;
    };
    const batches: number[] = [];
    let inFlight = 0;
    let most = 0;
    const helper: SetSynthesizer = {
      concurrency: 1,
      run: () => Promise.reject(new Error('the pool is complete: no sets to make')),
      async relabel(x, n) {
        batches.push(n);
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 5)); // answers later, as a thread would
        const logits = tf.tidy(() => teacher.logits(tf.tensor(x, [n, ...teacher.inputShape])));
        const out = (await logits.data()) as Float32Array;
        logits.dispose();
        inFlight--;
        return out;
      },
      dispose: async () => {},
    };
    const here = await train();
    const there = await train(helper);
    const perEpoch = Math.floor(Math.round(pool.size * (1 - cfg.student.valFraction)) / cfg.student.batchSize);
    expect(batches.length).toBe(cfg.student.epochs * perEpoch);
    // The next batch was sent while the current one trained.
    expect(most).toBe(2);
    expect(there.map((t) => Array.from(t))).toEqual(here.map((t) => Array.from(t)));
  });

  it('holds the tensor count steady across sets and epochs (no leaks)', async () => {
    const counts: number[] = [];
    const student = randomConvTeacher(100);
    const before = tf.memory().numTensors;
    const cfg = withOverrides(smoke(), { synthesis: { sets: 4 }, student: { epochs: 3 }, seed: 2 });
    await runCake({
      teacher: teacherFromModel(teacherModel),
      config: { ...cfg, synthesis: { ...cfg.synthesis, optimizer: 'adam', langevin: true } },
      student,
      studentArch: 'x',
      onSet: () => counts.push(tf.memory().numTensors),
      onEpoch: () => counts.push(tf.memory().numTensors),
    });
    expect(new Set(counts.slice(0, 4)).size).toBe(1);
    // The optimiser's momentum buffers appear after the first student step, then stay.
    expect(new Set(counts.slice(4)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    student.dispose();
  });

  it('pauses, resumes and cancels between steps', async () => {
    const control = new RunControl();
    const student = randomConvTeacher(100);
    let steps = 0;
    const run = runCake({
      teacher: teacherFromModel(teacherModel),
      config: withOverrides(smoke(), { synthesis: { sets: 50 } }),
      student,
      studentArch: 'x',
      control,
      progressIntervalMs: 0,
      onProgress: () => {
        steps++;
        if (steps === 3) control.pause();
      },
    });
    // The run first measures its memory (memory.ts); wait for the third report rather than a fixed time.
    for (let waited = 0; steps < 3 && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    expect(steps).toBe(3);
    expect(control.isPaused).toBe(true);
    control.resume();
    await new Promise((r) => setTimeout(r, 100));
    expect(steps).toBeGreaterThan(3);
    control.cancel();
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    student.dispose();
  });

  it('stops on a non-finite loss with a message naming the set and step', async () => {
    const student = randomConvTeacher(100);
    const cfg = withOverrides(smoke(), { synthesis: { eta0: 1000, steps: 12, weights: { tv: 1e30 } } });
    await expect(
      runCake({ teacher: teacherFromModel(teacherModel), config: cfg, student, studentArch: 'x' }),
    ).rejects.toThrow(/in set 1 at step \d/);
    student.dispose();
  });

  it('with student.inherit, starts the student from the teacher’s weights at its own rate, or says why not', async () => {
    const cfg = withOverrides(smoke(), { synthesis: { sets: 1, steps: 1 }, student: { inherit: 'on', epochs: 0 } });
    const student = randomConvTeacher(100);
    const { report } = await runCake({ teacher: teacherFromModel(teacherModel), teacherModel, config: cfg, student, studentArch: 'x' });
    // An equally wide student keeps every channel: with no epochs it is the teacher.
    expect(await weightsOf(student)).toEqual(await weightsOf(teacherModel));
    expect(report.student.init).toBe('teacher');
    // `on` without the teacher's layers stops with the reason; `auto` starts from the seed's random weights instead.
    await expect(
      runCake({ teacher: teacherFromModel(teacherModel), config: cfg, student, studentArch: 'x' }),
    ).rejects.toThrow(/cannot start from the teacher's weights: the teacher has no layers to copy/);
    const auto = await runCake({ teacher: teacherFromModel(teacherModel), config: withOverrides(cfg, { student: { inherit: 'auto' } }), student, studentArch: 'x' });
    expect(auto.report.student).toMatchObject({ init: 'random', initNote: expect.stringMatching(/no layers to copy.*It started from random weights/) });
    const fresh = randomConvTeacher(100);
    await runCake({ teacher: teacherFromModel(teacherModel), config: withOverrides(cfg, { student: { inherit: 'off' } }), student: fresh, studentArch: 'x' });
    expect(await weightsOf(student)).toEqual(await weightsOf(fresh));
    // The peak rate: inheritLr for a student from the teacher, lr otherwise.
    const rates: number[] = [];
    // (With the sharpness cap off: this random teacher is sharp enough for it to lower the rate; tested below.)
    const trained = withOverrides(cfg, { student: { epochs: 1, lr: 0.5, inheritLr: 0.01, sharpnessCap: 0 } });
    await runCake({ teacher: teacherFromModel(teacherModel), teacherModel, config: trained, student, studentArch: 'x', progressIntervalMs: 0, onProgress: (p) => p.stage === 'student' && rates.push(p.lr) });
    expect(Math.max(...rates)).toBeLessThanOrEqual(0.01);
    expect(Math.max(...rates)).toBeGreaterThan(0.0004);
    // With the cap on, this sharp random teacher's copy trains at 1 / its sharpness, and the report says so.
    const capped = await runCake({ teacher: teacherFromModel(teacherModel), teacherModel, config: withOverrides(trained, { student: { sharpnessCap: 1 } }), student, studentArch: 'x' });
    const { peakLr, sharpness } = capped.report.studentTraining;
    expect(peakLr).toBeLessThan(0.01);
    expect(peakLr).toBeCloseTo(1 / Math.abs(sharpness!), 12);
    student.dispose();
    fresh.dispose();
  });

  it('with student.hint, hints the hidden layers of a student from the teacher, or says why it cannot', async () => {
    // LeNet-shaped at half the teacher's width, so the copy loses channels and both terms have something to teach.
    const half = () =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [32, 32, 1], filters: 3, kernelSize: 5, activation: 'relu' }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.conv2d({ filters: 8, kernelSize: 5, activation: 'relu' }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 42, activation: 'relu' }),
          tf.layers.dense({ units: 10 }),
        ],
      });
    const cfg = (hint: number, inherit: 'on' | 'off') =>
      withOverrides(smoke(), { synthesis: { sets: 1, steps: 1 }, student: { inherit, epochs: 1, hint } });
    const run = async (hint: number, inherit: 'on' | 'off') => {
      const student = half();
      const { report } = await runCake({ teacher: teacherFromModel(teacherModel), teacherModel, config: cfg(hint, inherit), student, studentArch: 'x' });
      const w = await weightsOf(student);
      student.dispose();
      return { report, w };
    };
    const hinted = await run(1, 'on');
    const plain = await run(0, 'on');
    const names = teacherModel.layers.filter((l) => ['Conv2D', 'Dense'].includes(l.getClassName())).length - 1;
    expect(hinted.report.student.hinted).toHaveLength(names);
    expect(plain.report.student.hinted).toBeUndefined();
    // Same seed, same batches: the hint term alone makes the difference.
    expect(hinted.w[2]).not.toEqual(plain.w[2]);
    // A weight that blows the loss up stops the run and names the hint weight among the settings to lower.
    await expect(run(1e38, 'on')).rejects.toThrow(
      /^the student's loss became \S+ in epoch \d+; lower the student's peak learning rate \([^:]+: student\.inheritLr, used for a student that starts from the teacher’s weights(, already capped by its sharpness: lower student\.sharpnessCap)?\) or the feature hints' weight \(student\.hint, 1e\+38\)$/,
    );
    const random = await run(1, 'off');
    expect(random.report.student.hinted).toBeUndefined();
    expect(random.report.student.initNote).toMatch(/Feature hints \(student.hint\) were not used: they need a student that starts from the teacher’s weights/);

    // With augmented batches labelled on the synthesizer, the hint targets come from there too: the same student.
    const teacher = teacherFromModel(teacherModel);
    const aug = withOverrides(cfg(1, 'on'), { synthesis: { sets: 2 }, student: { epochs: 2, augShift: 1 } });
    const pool = (await runCake({ teacher, teacherModel, config: aug, student: half(), studentArch: 'x' })).pool;
    const train = async (synthesizer?: SetSynthesizer) => {
      const student = half();
      const before = tf.memory().numTensors;
      await runCake({ teacher, teacherModel, config: aug, student, studentArch: 'x', pool: decodePool(encodePool(pool)), synthesizer });
      expect(tf.memory().numTensors).toBe(before); // the hint models and selection matrices are freed
      const w = await weightsOf(student);
      student.dispose();
      return w;
    };
    let featureCalls = 0;
    const helper: SetSynthesizer = {
      concurrency: 1,
      run: () => Promise.reject(new Error('the pool is complete: no sets to make')),
      async relabel(x, n) {
        const logits = tf.tidy(() => teacher.logits(tf.tensor(x, [n, ...teacher.inputShape])));
        const out = (await logits.data()) as Float32Array;
        logits.dispose();
        return out;
      },
      async features(x, n, spec) {
        featureCalls++;
        const f = teacherFeatures(teacherModel, spec);
        const outs = tf.tidy(() => f.compute(tf.tensor(x, [n, ...teacher.inputShape])));
        const arrays = (await Promise.all(outs.map((t) => t.data()))) as Float32Array[];
        tf.dispose(outs);
        f.dispose();
        return arrays;
      },
      dispose: async () => {},
    };
    const here = await train();
    const there = await train(helper);
    expect(featureCalls).toBeGreaterThan(0);
    expect(there.map((t) => Array.from(t))).toEqual(here.map((t) => Array.from(t)));
  });

  it('refuses an invalid config before doing any work', async () => {
    const cfg = withOverrides(smoke(), { synthesis: { batchSize: 45 } });
    const run = runCake({ teacher: teacherFromModel(teacherModel), config: cfg, student: randomConvTeacher(1), studentArch: 'x' });
    await expect(run).rejects.toBeInstanceOf(ConfigError);
    await expect(run).rejects.toThrow('synthesis.batchSize must be a multiple of the group size 10, got 45');
  });
});
