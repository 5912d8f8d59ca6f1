import { describe, expect, it } from 'vitest';
import { Clock } from './clock';

describe('the run clock', () => {
  it('guesses the student stage from a probe scaled by synthesis as it runs, until the student is timed', () => {
    // 100 synthesis steps and 1,000 student steps; the probe measured 200 ms and 30 ms in one thread.
    const withProbe = new Clock(100, 1000, 0.25, { synthMs: 200, studentMs: 30 });
    withProbe.synthMs = 100; // helpers make synthesis twice as fast as the probe: the student stage is guessed so too
    expect(withProbe.timing(10, 0, 500, Date.now(), 0).remainingSec).toBeCloseTo((90 * 100 + 1000 * 15) / 1000, 6);
    const guessOnly = new Clock(100, 1000, 0.25);
    guessOnly.synthMs = 100;
    expect(guessOnly.timing(10, 0, 500, Date.now(), 0).remainingSec).toBeCloseTo((90 * 100 + 1000 * 25) / 1000, 6);
    withProbe.studentMs = 40; // once measured, the student's own cost counts
    expect(withProbe.timing(100, 500, 256, Date.now(), 0).remainingSec).toBeCloseTo(20, 6);
  });
});
