import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { presetConfig } from './config';
import { Rng } from './rng';
import { synthesizeSet } from './synthesis';
import { applyView, drawView, rollImages } from './views';
import { randomConvTeacher, teacherFromModel } from './testing';

beforeAll(async () => {
  await initNodeBackend();
});

describe('rollImages', () => {
  it('shifts every image cyclically along height and width, in each layout', () => {
    // Two 3×4 images with two channels; value = 1000·image + 100·channel + 10·row + column.
    const value = (b: number, ch: number, r: number, c: number) => 1000 * b + 100 * ch + 10 * r + c;
    const nhwc = tf.tensor4d(Array.from({ length: 2 * 3 * 4 * 2 }, (_, i) => value(Math.floor(i / 24), i % 2, Math.floor(i / 8) % 3, Math.floor(i / 2) % 4)), [2, 3, 4, 2]);
    const nchw = tf.transpose(nhwc, [0, 3, 1, 2]);
    const [dy, dx] = [1, -1];
    const a = rollImages(nhwc, dy, dx, 'NHWC').arraySync() as number[][][][];
    const b = rollImages(nchw, dy, dx, 'NCHW').arraySync() as number[][][][];
    for (let n = 0; n < 2; n++)
      for (let r = 0; r < 3; r++)
        for (let c = 0; c < 4; c++)
          for (let ch = 0; ch < 2; ch++) {
            // out[r][c] = in[r − dy][c − dx], indices wrapping around.
            const want = value(n, ch, (r - dy + 3) % 3, (c - dx + 4) % 4);
            expect(a[n][r][c][ch]).toBe(want);
            expect(b[n][ch][r][c]).toBe(want);
          }
    expect(rollImages(nhwc, 0, 0, 'NHWC')).toBe(nhwc);
    expect(Array.from(rollImages(nhwc, 3, 8, 'NHWC').dataSync())).toEqual(Array.from(nhwc.dataSync())); // whole turns
    tf.dispose([nhwc, nchw]);
  });

  it('passes gradients back to where each pixel came from', () => {
    const x = tf.randomNormal([1, 4, 5, 1], 0, 1, 'float32', 3);
    const w = tf.randomNormal([1, 4, 5, 1], 0, 1, 'float32', 4);
    // d/dx Σ w·roll(x) = roll⁻¹(w).
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(w, rollImages(v, 2, 3, 'NHWC'))))(x);
    const back = rollImages(w, -2, -3, 'NHWC');
    expect(Array.from(g.dataSync())).toEqual(Array.from(back.dataSync()));
    tf.dispose([x, w, g, back]);
  });
});

describe('augmented views', () => {
  it('show the picked samples contrast-changed within the range, some on a dark ellipse, and leave the rest as they are', () => {
    const base = presetConfig('smoke', { inputShape: [16, 16, 1], numClasses: 10 }, 0).synthesis;
    const cfg = { ...base, augViews: 0.5, clampRange: [-1, 2] as [number, number] };
    const B = 40;
    const view = drawView(cfg, B, [16, 16, 1], 'NHWC', new Rng(4))!;
    const a = view.augmented!;
    const picked = Array.from(a.picked);
    expect(picked.filter((p) => p === 1).length).toBeGreaterThan(8);
    expect(picked.filter((p) => p === 0).length).toBeGreaterThan(8);
    const x = tf.randomNormal([B, 16, 16, 1], 0, 1, 'float32', 5);
    const seen = applyView(x, view, 'NHWC', cfg.clampRange);
    const [xs, ys] = [x.dataSync(), seen.dataSync()];
    let masked = 0;
    for (let b = 0; b < B; b++) {
      const img = ys.subarray(b * 256, (b + 1) * 256);
      if (!picked[b]) {
        expect(img).toEqual(xs.subarray(b * 256, (b + 1) * 256));
        continue;
      }
      expect(img.every((v) => v >= -1 - 1e-6 && v <= 2 + 1e-6)).toBe(true);
      if (a.mask[b * 256] === 0) {
        masked++;
        expect(img[0]).toBeCloseTo(-1, 6); // a corner outside the ellipse
      }
    }
    expect(masked).toBeGreaterThan(0);
    // The gradient reaches the picked samples' inputs through the view.
    const g = tf.grad((v: tf.Tensor) => tf.sum(applyView(v, view, 'NHWC', cfg.clampRange)))(x).dataSync();
    const pickedGrad = picked.map((p, b) => (p ? g.subarray(b * 256, (b + 1) * 256).some((v) => v !== 0) : true));
    expect(pickedGrad.every(Boolean)).toBe(true);
    expect(drawView({ ...cfg, augViews: 0, jitter: 0 }, B, [16, 16, 1], 'NHWC', new Rng(4))).toBeNull();
    // Jitter alone draws no augmented views (nothing per sample to allocate on every step).
    expect(drawView({ ...cfg, augViews: 0, jitter: 2 }, B, [16, 16, 1], 'NHWC', new Rng(4))?.augmented).toBeNull();
    tf.dispose([x, seen]);
  });
});

describe('synthesis jitter', () => {
  it('changes the samples, stays reproducible from the seed, and still moves them to their targets', async () => {
    const teacher = teacherFromModel(randomConvTeacher(11));
    const base = presetConfig('smoke', { inputShape: [32, 32, 1], numClasses: 10 }, 0).synthesis;
    // A step size small enough for the TV term (weight 1e7) not to oscillate on this random teacher.
    const cfg = { ...base, steps: 32, batchSize: 20, groupSize: 10 };
    const run = (jitter: number) => synthesizeSet({ teacher, cfg: { ...cfg, jitter }, set: 0, eta: 0.001, rng: new Rng(9) });
    const [plain, jittered, again] = [await run(0), await run(2), await run(2)];
    expect(jittered.x).toEqual(again.x);
    expect(jittered.x).not.toEqual(plain.x);
    // The CE term falls from the noise's loss under jitter too.
    const start = await synthesizeSet({ teacher, cfg: { ...cfg, steps: 0, jitter: 2 }, set: 0, eta: 0.001, rng: new Rng(9) });
    expect(jittered.losses.cls).toBeLessThan(start.losses.cls);
    expect(jittered.hitRate).toBeGreaterThan(start.hitRate);
  });

  it('leaves no tensors behind with jitter and augmented views', async () => {
    const teacher = teacherFromModel(randomConvTeacher(12));
    const base = presetConfig('smoke', { inputShape: [32, 32, 1], numClasses: 10 }, 0).synthesis;
    const cfg = { ...base, steps: 4, batchSize: 20, groupSize: 10, jitter: 2, augViews: 0.5 };
    await synthesizeSet({ teacher, cfg, set: 0, eta: 0.001, rng: new Rng(1) }); // first call: the backend's own set-up
    const before = tf.memory().numTensors;
    await synthesizeSet({ teacher, cfg, set: 1, eta: 0.001, rng: new Rng(2) });
    expect(tf.memory().numTensors).toBe(before);
  });
});
