import { describe, expect, it } from 'vitest';
import { augmentBatch } from './augment';
import { Rng } from './rng';

describe('student-batch augmentation', () => {
  it('shifts images by whole pixels with replicated borders, in NHWC and NCHW alike', () => {
    // One 3×3 image with two channels, channel 1 = 10 × channel 0.
    const base = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    const nhwc = new Float32Array(base.flatMap((v) => [v, 10 * v]));
    const nchw = new Float32Array([...base, ...base.map((v) => 10 * v)]);
    const scratch = new Float32Array(18);
    // Find a seed whose first draw shifts: then both layouts get the same (dy, dx).
    let seed = 0;
    while (true) {
      const r = new Rng(seed);
      const dy = r.int(3) - 1;
      const dx = r.int(3) - 1;
      if (dy === 1 && dx === 0) break;
      seed++;
    }
    augmentBatch(nhwc, 1, [3, 3, 2], 'NHWC', { maxShift: 1, mixup: 0 }, new Rng(seed), scratch);
    augmentBatch(nchw, 1, [2, 3, 3], 'NCHW', { maxShift: 1, mixup: 0 }, new Rng(seed), scratch);
    // Down by one row: the top row repeats.
    const shifted = [1, 2, 3, 1, 2, 3, 4, 5, 6];
    expect(Array.from(nhwc.filter((_, i) => i % 2 === 0))).toEqual(shifted);
    expect(Array.from(nhwc.filter((_, i) => i % 2 === 1))).toEqual(shifted.map((v) => 10 * v));
    expect(Array.from(nchw)).toEqual([...shifted, ...shifted.map((v) => 10 * v)]);
  });

  it('mixup blends a sample with another, keeping the larger weight on itself', () => {
    const x = new Float32Array([0, 0, 1, 1]); // two samples of two features
    augmentBatch(x, 2, [2], 'flat', { maxShift: 0, mixup: 1 }, new Rng(3), new Float32Array(2));
    for (const v of x) expect(v >= 0 && v <= 1).toBe(true);
    // Each mixed sample stays nearer its own value (λ ≥ 0.5).
    expect(x[0]).toBeLessThanOrEqual(0.5);
  });

  it('contrast keeps each sample in the range, rescales it about its mean and leaves the others alone', () => {
    const d = 64;
    const n = 200;
    const x = new Float32Array(n * d);
    const rng = new Rng(5);
    rng.fillNormal(x, 0.3);
    const before = x.slice();
    augmentBatch(x, n, [8, 8, 1], 'NHWC', { maxShift: 0, mixup: 0, contrast: 0.5, range: [-1, 1] }, new Rng(7), new Float32Array(d));
    let changed = 0;
    let saturated = 0;
    for (let k = 0; k < n; k++) {
      const a = before.subarray(k * d, (k + 1) * d);
      const b = x.subarray(k * d, (k + 1) * d);
      if (a.every((v, i) => v === b[i])) continue;
      changed++;
      for (const v of b) expect(v >= -1 && v <= 1).toBe(true);
      if (b.some((v) => v === -1 || v === 1)) saturated++;
      // Unclipped pixels keep their order: the map is increasing.
      const free = [...b.keys()].filter((i) => b[i] > -1 && b[i] < 1);
      for (let j = 1; j < free.length; j++)
        expect(Math.sign(b[free[j]] - b[free[0]])).toBe(Math.sign(a[free[j]] - a[free[0]]) || Math.sign(b[free[j]] - b[free[0]]));
    }
    // About half the samples, and many of those pushed against an end of the range.
    expect(changed).toBeGreaterThan(70);
    expect(changed).toBeLessThan(130);
    expect(saturated).toBeGreaterThan(changed / 4);
  });

  it('blur spreads an impulse over its neighbours with weights summing to one and keeps a flat image flat', () => {
    const d = 49;
    const x = new Float32Array(2 * d).fill(0.25);
    x.fill(0, 0, d);
    x[24] = 1; // the centre of a 7×7 image
    augmentBatch(x, 2, [7, 7, 1], 'NHWC', { maxShift: 0, mixup: 0, blur: 1 }, new Rng(1), new Float32Array(d));
    const first = x.subarray(0, d);
    const sum = first.reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(1, 5);
    expect(first[24]).toBeLessThan(1);
    expect(first[24]).toBeGreaterThan(first[23]);
    expect(first[23]).toBeCloseTo(first[25], 6); // symmetric
    for (const v of x.subarray(d)) expect(v).toBeCloseTo(0.25, 6);
  });

  it('background keeps a central ellipse and sets the corners to the low end of the range', () => {
    const d = 16 * 16;
    const x = new Float32Array(d).fill(0.5);
    augmentBatch(x, 1, [16, 16, 1], 'NHWC', { maxShift: 0, mixup: 0, background: 1, range: [-1, 1] }, new Rng(2), new Float32Array(d));
    for (const corner of [0, 15, 15 * 16, d - 1]) expect(x[corner]).toBe(-1);
    expect(x[8 * 16 + 8]).toBe(0.5); // the centre stays
    const kept = x.filter((v) => v === 0.5).length;
    // Semi-axes of 15-50 % of the side: between about 7 % and 79 % of the area.
    expect(kept / d).toBeGreaterThan(0.04);
    expect(kept / d).toBeLessThan(0.85);
  });

  it('with a level spread, backgrounds and erased parts take one level per image in the lower part of the range', () => {
    const d = 16 * 16;
    const n = 40;
    const x = new Float32Array(n * d).fill(5);
    augmentBatch(x, n, [16, 16, 1], 'NHWC', { maxShift: 0, mixup: 0, background: 1, erase: 1, level: 0.5, range: [-1, 1] }, new Rng(3), new Float32Array(d));
    const corners = Array.from({ length: n }, (_, k) => x[k * d]);
    // The corner is outside every ellipse: its level, drawn in [-1, 0] (half of [-1, 1] above -1), differs per image.
    for (const v of corners) expect(v).toBeGreaterThanOrEqual(-1), expect(v).toBeLessThanOrEqual(0);
    expect(new Set(corners).size).toBe(n);
    expect(Math.min(...corners)).toBeLessThan(-0.8);
    expect(Math.max(...corners)).toBeGreaterThan(-0.2);
    // Erased and background pixels of one image share its level: every pixel is 5 (kept) or that level.
    for (let k = 0; k < n; k++) for (let i = 0; i < d; i++) expect([5, corners[k]]).toContain(x[k * d + i]);
  });

  it('erase sets one rectangle of 2-20 % of the image to the low end of the range, in every layout', () => {
    for (const [shape, layout] of [
      [[20, 20, 1], 'NHWC'],
      [[2, 20, 20], 'NCHW'],
      [[20, 20, 2], 'NHWC'],
    ] as const) {
      const d = shape[0] * shape[1] * shape[2];
      for (let seed = 0; seed < 20; seed++) {
        const x = new Float32Array(d).fill(0.5);
        augmentBatch(x, 1, shape, layout, { maxShift: 0, mixup: 0, erase: 1, range: [-2, 1] }, new Rng(seed), new Float32Array(d));
        const erased = x.filter((v) => v === -2).length;
        const channels = layout === 'NCHW' ? shape[0] : shape[2];
        // Every channel of an erased pixel is erased, so the count is a whole number of pixels.
        expect(erased % channels).toBe(0);
        const share = erased / d;
        expect(share).toBeGreaterThanOrEqual(0.01);
        expect(share).toBeLessThanOrEqual(0.25);
        expect(x.every((v) => v === -2 || v === 0.5)).toBe(true);
        // The erased pixels form one filled rectangle: their bounding box holds nothing else.
        const rows: number[] = [];
        const cols: number[] = [];
        for (let r = 0; r < 20; r++)
          for (let c = 0; c < 20; c++) {
            const i = layout === 'NCHW' ? r * 20 + c : (r * 20 + c) * channels;
            if (x[i] === -2) rows.push(r), cols.push(c);
          }
        const box = (Math.max(...rows) - Math.min(...rows) + 1) * (Math.max(...cols) - Math.min(...cols) + 1);
        expect(box * channels).toBe(erased);
      }
    }
  });

  it('erase is off at share 0 and leaves a batch unchanged', () => {
    const x = new Float32Array(2 * 64).map((_, i) => i / 128);
    const before = x.slice();
    augmentBatch(x, 2, [8, 8, 1], 'NHWC', { maxShift: 0, mixup: 0, erase: 0, range: [-1, 1] }, new Rng(3), new Float32Array(64));
    expect(x).toEqual(before);
  });
});
