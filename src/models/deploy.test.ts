import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { presetConfig } from '../cake/config';
import { teacherFromModel } from '../cake/testing';
import { demoTeacherModel } from '../io/export-fixtures';
import { initNodeBackend } from '../tfjs/node-backend';
import { deploySummary, freshSamples, measureDeployment } from './deploy';
import { msPerImage, timeInferences } from './speed';
import { buildStudent } from './students';

beforeAll(async () => {
  await initNodeBackend();
});

const quickTiming = { warmup: 1, warmupMs: 0, minRuns: 5, minMs: 50, budgetMs: 400 };

describe('msPerImage', () => {
  it('tells a large network from a tiny one, and a batch of 32 costs less per image than 32 batches of 1', async () => {
    const big = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [64, 64, 3], filters: 32, kernelSize: 5, padding: 'same' }), tf.layers.conv2d({ filters: 32, kernelSize: 5, padding: 'same' })] });
    const tiny = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 })] });
    const bigMs = await msPerImage((x) => big.predict(x) as tf.Tensor, [64, 64, 3], 4, quickTiming);
    const tinyMs = await msPerImage((x) => tiny.predict(x) as tf.Tensor, [4], 4, quickTiming);
    // 2 convs of 32×32·25 MACs per pixel on 64×64 against 8 MACs: hundreds of times the work.
    expect(bigMs).toBeGreaterThan(10 * tinyMs);
    const one = await msPerImage((x) => tiny.predict(x) as tf.Tensor, [4], 1, quickTiming);
    const many = await msPerImage((x) => tiny.predict(x) as tf.Tensor, [4], 32, quickTiming);
    expect(many).toBeLessThan(one);
    big.dispose();
    tiny.dispose();
  });

  it('times short runs in groups, so a coarse clock (browsers give 0.1 ms) still measures them', async () => {
    // A virtual clock that only the runs move, 0.137 ms each, read in whole milliseconds: timed one at a time, a run
    // would read 0 (or 1 when it crosses a tick).
    let now = 0;
    const run = (x: tf.Tensor) => {
      now += 0.137;
      return tf.zerosLike(x);
    };
    const measured = await msPerImage(run, [1], 1, { ...quickTiming, clock: () => Math.floor(now) });
    expect(measured).toBeGreaterThan(0.137 * 0.85);
    expect(measured).toBeLessThan(0.137 * 1.15);
  });
});

describe('timeInferences', () => {
  it('gives each model its own time, a burst of load in the middle of the measurement notwithstanding', async () => {
    // Virtual time: runs cost 0.1 ms (fast) and 0.3 ms (slow) per image, tripled for two of the rounds.
    let now = 0;
    let calls = 0;
    const cost = (ms: number) => (x: tf.Tensor) => {
      calls++;
      now += ms * x.shape[0] * (calls > 500 && calls < 700 ? 3 : 1);
      return tf.zerosLike(x);
    };
    const t = await timeInferences({ fast: cost(0.1), slow: cost(0.3) }, [1], { ...quickTiming, clock: () => Math.floor(now * 10) / 10 });
    for (const b of ['batch1', 'batch32'] as const) expect(t.slow[b] / t.fast[b], b).toBeCloseTo(3, 0);
    expect(t.fast.batch1).toBeGreaterThan(0.09);
  });
});

describe('measureDeployment', () => {
  it("measures the teacher and each tfjs variant: bytes, agreement on fresh CAKE samples, time and speed-up", async () => {
    const model = await demoTeacherModel();
    const teacher = teacherFromModel(model);
    const config = presetConfig('smoke', { inputShape: [32, 32, 1], numClasses: 10 }, 4);
    const samples = await freshSamples(teacher, config);
    expect(samples.shape).toEqual([config.synthesis.batchSize, 32, 32, 1]);
    // Seeded from the run's seed: the same samples every time.
    const again = await freshSamples(teacher, config);
    expect(Array.from(again.dataSync())).toEqual(Array.from(samples.dataSync()));
    const student = buildStudent('lenet5-half', [32, 32, 1], 10, undefined, { seed: 1 }).model;

    const d = await measureDeployment({ teacher, teacherParams: model.countParams(), student, samples, timing: quickTiming });
    expect(d.backend).toBe('wasm');
    expect(d.samples).toBe(config.synthesis.batchSize);
    expect(d.teacher.params).toBe(61706);
    expect(d.student.params).toBe(15738);
    expect(d.variants.map((v) => v.format)).toEqual(['tfjs-float32', 'tfjs-float16', 'tfjs-uint8']);
    const [f32, f16, u8] = d.variants;
    expect(f32.bytes).toBe(15738 * 4);
    expect(f16.bytes).toBe(15738 * 2);
    expect(u8.bytes).toBe(15738);
    expect(f32.agreement).toBe(1);
    for (const v of d.variants) {
      expect(v.agreement).toBeGreaterThan(0.5);
      for (const b of ['batch1', 'batch32'] as const) {
        expect(v.msPerImage[b]).toBeGreaterThan(0);
        expect(v.speedup[b]).toBeCloseTo(d.teacher.msPerImage[b] / v.msPerImage[b], 10);
      }
    }
    expect(d.clock).toBe('wall');
    expect(deploySummary(d)[0]).toMatch(/^inference on wasm \(elapsed time\), per image at batch 1 \/ 32: teacher [\d.]+ \/ [\d.]+ ms$/);
    expect(deploySummary(d)[3]).toMatch(/tfjs-uint8 +15\.4 KiB {2}agrees [\d.]+ % on 40 fresh samples/);
    tf.dispose([samples, again]);
    student.dispose();
    model.dispose();
  });

  it('on labelled data too: accuracy of the teacher and each variant, and agreement with the float student', async () => {
    const model = await demoTeacherModel();
    const teacher = teacherFromModel(model);
    const student = buildStudent('mlp', [32, 32, 1], 10, undefined, { seed: 1 }).model;
    const x = tf.randomNormal([50, 32, 32, 1], 0, 1, 'float32', 2);
    // Labels are the teacher's own answers, so the teacher is 100 % accurate on them.
    const labels = Array.from((tf.argMax(model.predict(x) as tf.Tensor, -1).dataSync()));
    const d = await measureDeployment({ teacher, teacherParams: 1, student, samples: x, labelled: { x, labels }, timing: quickTiming });
    expect(d.labelledSamples).toBe(50);
    expect(d.teacher.accuracy).toBe(1);
    expect(d.variants[0].labelled).toEqual({ agreement: 1, accuracy: expect.any(Number) });
    x.dispose();
    student.dispose();
    model.dispose();
  });
});
