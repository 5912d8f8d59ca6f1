import { describe, expect, it } from 'vitest';
import { applySettings, presetConfig, PRESET_FLOPS, studentSets, validateConfig, withOverrides } from './config';

describe('presets', () => {
  const mnist = { inputShape: [32, 32, 1], numClasses: 10, inputRange: [-0.42, 2.82] as const };

  it('paper is the method as published: η 0.1 down four decades, 512 × 256, no augmentation', () => {
    const c = presetConfig('paper', mnist);
    expect(c.synthesis).toMatchObject({ sets: 512, steps: 256, batchSize: 500, eta0: 0.1, decades: 4 });
    expect(c.student).toMatchObject({ epochs: 30, lr: 0.5, augShift: 0, augBlur: 0, augContrast: 0, augBackground: 0, augErase: 0, inherit: 'off' });
  });

  it('the budget presets use the measured η band and augment in the range the teacher declares', () => {
    for (const name of ['quick', 'standard'] as const) {
      const c = presetConfig(name, mnist);
      expect(c.synthesis).toMatchObject({ steps: 32, eta0: 0.03, decades: 1, clampRange: [-0.42, 2.82] });
      expect(c.student.augContrast).toBeGreaterThan(0);
      expect(c.student.augBackground).toBeGreaterThan(0);
      expect(c.student.augErase).toBeGreaterThan(0);
      expect(c.student).toMatchObject({ inherit: 'auto', inheritLr: 0.05 });
      expect(validateConfig(c, mnist)).toEqual([]);
    }
    // standard is quick's recipe on four times its pool, without feature hints (on 1-channel teachers they measured
    // no better than the student alone).
    expect(presetConfig('standard', mnist).synthesis).toEqual({ ...presetConfig('quick', mnist).synthesis, sets: 128 });
    expect(presetConfig('standard', mnist).student).toEqual(presetConfig('quick', mnist).student);
    expect(presetConfig('quick', mnist).student.hint).toBe(0);
    expect(presetConfig('paper', mnist).student.hint).toBe(0);
  });

  it('1-channel teachers get the range augmentations with or without a declared range; colour ones contrast only with one, and the method’s η', () => {
    const bare = presetConfig('standard', { inputShape: [32, 32, 1], numClasses: 10 });
    expect(bare.synthesis.clampRange).toEqual([-1, 1]);
    expect(bare.student.augContrast).toBe(0.5);
    expect(bare.student.augBackground).toBe(0.5);
    expect(bare.student.augErase).toBe(0.5);
    expect(bare.student.augShift).toBeGreaterThan(0);
    expect(presetConfig('quick', { inputShape: [32, 32, 3], numClasses: 10 }).student.augContrast).toBe(0);
    const rgb = presetConfig('standard', { inputShape: [32, 32, 3], numClasses: 10, inputRange: [-1, 1] });
    expect(rgb.synthesis).toMatchObject({ eta0: 0.1, decades: 4, steps: 32 });
    expect(rgb.student.augContrast).toBeGreaterThan(0);
    expect(rgb.student.augBackground).toBe(0);
    expect(rgb.student.augErase).toBe(0);
  });

  it('sizes quick and standard by the teacher’s FLOPs beyond LeNet size: the same compute, smaller batches for larger inputs', () => {
    // Synthesis: 3 forwards a step; the student: 1.75 a sample and epoch, 20 times that above 64×64 pixels.
    const cost = (c: ReturnType<typeof presetConfig>, flops: number, slow: number) =>
      c.synthesis.sets * c.synthesis.steps * c.synthesis.batchSize * 3 * flops +
      c.student.epochs * c.synthesis.sets * c.synthesis.batchSize * flops * 1.75 * slow;
    const resnet8 = { inputShape: [32, 32, 3], numClasses: 10, flopsPerImage: 25e6 };
    const resnet32 = { inputShape: [3, 32, 32], numClasses: 10, flopsPerImage: 138e6 };
    const mobilenet = { inputShape: [224, 224, 3], numClasses: 1000, flopsPerImage: 82e6 };
    for (const name of ['quick', 'standard'] as const) {
      for (const [t, f, slow] of [[resnet8, 25e6, 1], [resnet32, 138e6, 1], [mobilenet, 82e6, 20]] as const) {
        const c = presetConfig(name, t);
        // Within a quarter of the budget, unless the minimum of 2 sets or 3 epochs is already more.
        const atMinimum = c.synthesis.sets === 2 || c.student.epochs === 3;
        if (!atMinimum) expect(cost(c, f, slow) / PRESET_FLOPS[name]).toBeGreaterThan(0.75);
        expect(cost(c, f, slow) / PRESET_FLOPS[name]).toBeLessThan(atMinimum ? 3 : 1.25);
      }
    }
    const samples = (c: ReturnType<typeof presetConfig>) => c.synthesis.sets * c.synthesis.batchSize;
    expect(samples(presetConfig('quick', resnet32))).toBeLessThan(samples(presetConfig('quick', resnet8)));
    // A costlier teacher gets a smaller batch too: its activations take more memory per sample.
    expect(presetConfig('quick', resnet32).synthesis.batchSize).toBe(40);
    expect(presetConfig('standard', resnet8).synthesis.sets).toBeGreaterThan(presetConfig('quick', resnet8).synthesis.sets);
    // A 224-pixel input: batches the memory plan admits.
    expect(presetConfig('quick', mobilenet).synthesis.batchSize).toBe(30);
    expect(presetConfig('quick', mobilenet).student.batchSize).toBe(32);
    // The student's rate scales with its batch: 0.5 at 256.
    expect(presetConfig('quick', mobilenet).student.lr).toBe(0.0625);
    expect(presetConfig('quick', resnet8).student.lr).toBe(0.5);
    expect(presetConfig('quick', resnet8).synthesis.batchSize).toBe(250);
    // A grey LeNet keeps the tuned presets; a grey teacher of 15 MFLOPs (DoodleNet) is sized.
    expect(presetConfig('quick', { inputShape: [32, 32, 1], numClasses: 10, flopsPerImage: 0.83e6 }).synthesis).toMatchObject({ sets: 32, batchSize: 500 });
    expect(presetConfig('quick', { inputShape: [28, 28, 1], numClasses: 345, flopsPerImage: 15.6e6 }).synthesis.batchSize).toBe(250);
  });
});

describe('the student’s η band', () => {
  const mnist = { inputShape: [32, 32, 1], numClasses: 10 };

  it('keeps every set by default and the sets whose η lies in the band otherwise, ends included', () => {
    const paper = presetConfig('paper', mnist);
    expect(studentSets(paper)).toHaveLength(512);
    // η = 0.1 · 10^(−4m/512): 0.01 at set 128, 0.001 at set 256.
    const band = withOverrides(paper, { student: { etaMin: 0.001, etaMax: 0.01 } });
    expect(studentSets(band)).toEqual([...Array(129).keys()].map((k) => 128 + k));
    expect(validateConfig(band, mnist)).toEqual([]);
  });

  it('a band that is reversed or keeps no set is named with the sets’ η range', () => {
    const paper = presetConfig('paper', mnist);
    expect(validateConfig(withOverrides(paper, { student: { etaMin: 0.1, etaMax: 0.01 } }), mnist)).toEqual([
      { key: 'student.etaMin', message: 'must be at most student.etaMax (0.01), got 0.1' },
    ]);
    const none = validateConfig(withOverrides(paper, { student: { etaMin: 1, etaMax: 5 } }), mnist);
    expect(none).toHaveLength(1);
    expect(none[0].message).toMatch(/keeps none of the 512 sets \(their η runs from 1\.00e-1 to 1\.02e-5\)/);
    expect(validateConfig(withOverrides(paper, { student: { etaMax: -1 } }), mnist)[0].key).toBe('student.etaMax');
  });
});

describe('applySettings', () => {
  const traits = { inputShape: [32, 32, 1], numClasses: 10 };

  it('applies key=value pairs in order, typed by the setting, and leaves the input alone', () => {
    const base = presetConfig('quick', traits);
    const c = applySettings(base, ['synthesis.sets=8', 'student.lr=0.2', 'synthesis.clamp=true', 'synthesis.sets=16', 'student.arch=a=b']);
    expect(c.synthesis.sets).toBe(16);
    expect(c.student.lr).toBe(0.2);
    expect(c.synthesis.clamp).toBe(true);
    // Only the first '=' splits: the value may hold more.
    expect(c.student.arch).toBe('a=b');
    expect(base.synthesis.sets).toBe(32);
  });

  it('names what is wrong with a pair', () => {
    const base = presetConfig('quick', traits);
    expect(() => applySettings(base, ['synthesis.sets'])).toThrow('a setting needs key=value, got "synthesis.sets"');
    expect(() => applySettings(base, ['=3'])).toThrow('a setting needs key=value, got "=3"');
    expect(() => applySettings(base, ['student.bogus=1'])).toThrow('unknown setting "student.bogus"');
    expect(() => applySettings(base, ['student.lr=fast'])).toThrow('setting "student.lr" needs a number, got "fast"');
  });
});
