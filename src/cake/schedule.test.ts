import { describe, expect, it } from 'vitest';
import { etaForSet, oneCycle, oneCycleAt } from './schedule';

describe('η schedule across sets', () => {
  it('linear in log10: 0.1, 0.01, 1e-3, 1e-4 at quarters of 500 sets, ~1.02e-5 at the last', () => {
    const at = (m: number) => etaForSet(m, 500, 0.1, 4, 'linear');
    expect(at(0)).toBeCloseTo(0.1, 12);
    expect(at(125)).toBeCloseTo(0.01, 12);
    expect(at(250)).toBeCloseTo(1e-3, 12);
    expect(at(375)).toBeCloseTo(1e-4, 12);
    expect(at(499) / 1.0186e-5).toBeCloseTo(1, 3);
  });
  it('cosine in log10 follows 10^(log η0 − mag + mag/2·(1 + cos πm/M))', () => {
    const m = 137;
    const expected = 10 ** (Math.log10(0.1) - 4 + 2 * (1 + Math.cos((Math.PI * m) / 500)));
    expect(etaForSet(m, 500, 0.1, 4, 'cosine')).toBeCloseTo(expected, 14);
    expect(etaForSet(0, 500, 0.1, 4, 'cosine')).toBeCloseTo(0.1, 14);
  });
  it('constant stays at η0', () => {
    expect(etaForSet(400, 500, 0.1, 4, 'constant')).toBe(0.1);
  });
});

describe('one-cycle schedule (PyTorch OneCycleLR, cos, two phases)', () => {
  const c = oneCycle(0.5, 1001, 0.9);
  it('starts at max/25, peaks at max after 30 % of the steps, ends at max/25/1e4', () => {
    expect(oneCycleAt(c, 0).lr).toBeCloseTo(0.02, 12);
    const peak = Math.round(0.3 * 1001 - 1);
    expect(oneCycleAt(c, 299.3).lr).toBeCloseTo(0.5, 12);
    expect(oneCycleAt(c, peak).lr).toBeGreaterThan(0.499);
    expect(oneCycleAt(c, 1000).lr).toBeCloseTo(0.02 / 1e4, 12);
  });
  it('half-way down the second phase the rate is the mean of max and min', () => {
    const warmEnd = 0.3 * 1001 - 1;
    const mid = warmEnd + (1000 - warmEnd) / 2;
    expect(oneCycleAt(c, mid).lr).toBeCloseTo((0.5 + 0.02 / 1e4) / 2, 10);
  });
  it('momentum cycles inversely, 0.95 → 0.85 → 0.95', () => {
    expect(oneCycleAt(c, 0).momentum).toBeCloseTo(0.95, 12);
    expect(oneCycleAt(c, 0.3 * 1001 - 1).momentum).toBeCloseTo(0.85, 12);
    expect(oneCycleAt(c, 1000).momentum).toBeCloseTo(0.95, 12);
  });
});
