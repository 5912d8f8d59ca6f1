import { describe, expect, it } from 'vitest';
import { Rng } from './rng';

describe('Rng', () => {
  it('is reproducible from a seed and from a saved state', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    a.normal();
    b.normal();
    const saved = Rng.fromState(a.state);
    const seqA = [a.normal(), a.uniform(), a.int(10)];
    expect([b.normal(), b.uniform(), b.int(10)]).toEqual(seqA);
    expect([saved.normal(), saved.uniform(), saved.int(10)]).toEqual(seqA);
    expect(new Rng(43).uniform()).not.toBe(new Rng(42).uniform());
  });
  it('draws standard normals and uniform permutations', () => {
    const r = new Rng(1);
    const x = r.fillNormal(new Float32Array(20000));
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    const p = Array.from(r.permutation(10));
    expect([...p].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
