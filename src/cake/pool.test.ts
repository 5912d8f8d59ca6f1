import { describe, expect, it } from 'vitest';
import { SyntheticPool } from './pool';
import { Rng } from './rng';

/** A pool of `sets` chunks of 4 one-float samples; sample i holds the value i. */
function numberedPool(sets: number): SyntheticPool {
  const pool = new SyntheticPool(1, 2, 4);
  for (let m = 0; m < sets; m++)
    pool.add({ set: m, eta: 10 ** -m, x: Float32Array.from({ length: 4 }, (_, k) => 4 * m + k), labels: new Float32Array(8) });
  return pool;
}

describe('the pool’s train/validation split', () => {
  it('splits every sample once, held-out share rounded, at least one sample training', () => {
    const { train, val } = numberedPool(3).split(0.25, new Rng(1));
    expect(val).toHaveLength(3);
    expect([...train, ...val].sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
    expect(numberedPool(1).split(0.49, new Rng(1)).train.length).toBeGreaterThan(0);
  });

  it('restricted to some sets (the student’s η band), uses only their samples', () => {
    const pool = numberedPool(4);
    const { train, val } = pool.split(0.25, new Rng(2), (c) => c.eta <= 0.01 && c.eta >= 0.001);
    expect(val).toHaveLength(2);
    expect([...train, ...val].sort((a, b) => a - b)).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
    for (const i of train) expect(pool.setOf(i)).toBeGreaterThanOrEqual(2);
  });

  it('keeping every set, the split is the seeded permutation of the whole pool, draw for draw (as before bands)', () => {
    const perm = new Rng(3).permutation(12);
    expect(numberedPool(3).split(0.25, new Rng(3))).toEqual({ val: perm.slice(0, 3), train: perm.slice(3) });
  });

  it('a band that keeps no set is an error, not an empty student stage', () => {
    expect(() => numberedPool(2).split(0.1, new Rng(1), () => false)).toThrow(/η band/);
  });
});
