import { describe, expect, it } from 'vitest';
import { geometry, samplePixels } from './draw';
import { choiceOf, draftOfChoice, parseDraft, runInputRange } from './preprocessing';
import { inputRangeOf } from '../io/input-range';
import { MAX_POINTS, emptySeries, pushPoint, thin } from './history';
import { CAPTION_LINE, fitText, layoutSheet } from './sheet';
import { formatPower, linearAxis, logAxis } from './scales';
import {
  DEFAULT_TRAITS,
  flattenConfig,
  resolveSettings,
  settingsFromHash,
  settingsFromJson,
  settingsToHash,
  withField,
  withPreset,
  type Settings,
} from './settings';
import { encodedPoolBytes, presetConfig } from '../worker/protocol';
import { FIELD_GROUPS } from './settings';

describe('chart history', () => {
  it('stays bounded and keeps the whole run by decimating', () => {
    let s = emptySeries<number>();
    for (let i = 0; i < 100_000; i++) s = pushPoint(s, i);
    expect(s.points.length).toBeLessThanOrEqual(MAX_POINTS);
    expect(s.points.length).toBeGreaterThan(MAX_POINTS / 2);
    expect(s.points[0]).toBe(0);
    expect(s.points[s.points.length - 1]).toBeGreaterThan(100_000 - 2 * s.stride);
    // Evenly spaced after decimation.
    const gaps = new Set(s.points.slice(1).map((p, i) => p - s.points[i]));
    expect(gaps.size).toBe(1);
  });

  it('thins for drawing and keeps the last point', () => {
    const pts = Array.from({ length: 1000 }, (_, i) => i);
    const t = thin(pts, 100);
    expect(t.length).toBe(100);
    expect(t[0]).toBe(0);
    expect(t[99]).toBe(999);
  });
});

describe('settings', () => {
  const traits = DEFAULT_TRAITS;

  it('resolves a preset with overrides and reports bad fields by key', () => {
    const s: Settings = { preset: 'smoke', overrides: { 'synthesis.sets': '3', 'student.lr': 'abc', 'synthesis.batchSize': '45' } };
    const r = resolveSettings(s, traits);
    expect(r.config.synthesis.sets).toBe(3);
    expect(r.errors['student.lr']).toMatch(/needs a number/);
    expect(r.errors['synthesis.batchSize']).toMatch(/multiple of the group size 10/);
    expect(r.valid).toBe(false);
  });

  it('drops an override equal to the preset value, and keeps seed and student across presets', () => {
    let s: Settings = { preset: 'quick', overrides: {} };
    s = withField(s, traits, 'synthesis.sets', '7');
    s = withField(s, traits, 'seed', '9');
    expect(s.overrides).toEqual({ 'synthesis.sets': '7', seed: '9' });
    s = withField(s, traits, 'synthesis.sets', String(presetConfig('quick', traits).synthesis.sets));
    expect(s.overrides).toEqual({ seed: '9' });
    s = withPreset({ ...s, overrides: { ...s.overrides, 'student.arch': 'mlp', 'student.lr': '1' } }, 'paper');
    expect(s).toEqual({ preset: 'paper', overrides: { seed: '9', 'student.arch': 'mlp' } });
  });

  it('round-trips through the URL hash', () => {
    const s: Settings = { preset: 'standard', overrides: { seed: '4', 'synthesis.initRange': '-1,1' } };
    expect(settingsFromHash(settingsToHash(s))).toEqual(s);
    expect(settingsFromHash('#preset=nope')).toBeNull();
    expect(settingsFromHash('')).toBeNull();
  });

  it('imports its own file and a bare config (e.g. a report’s)', () => {
    const own = { format: 'cake-studio-settings', version: 1, preset: 'smoke', overrides: { seed: '2' }, config: {} };
    expect(settingsFromJson(JSON.stringify(own), traits)).toEqual({ preset: 'smoke', overrides: { seed: '2' } });
    const cfg = presetConfig('paper', traits, 0);
    cfg.synthesis.steps = 17;
    cfg.seed = 5;
    expect(settingsFromJson(JSON.stringify({ config: cfg }), traits)).toEqual({
      preset: 'paper',
      overrides: { seed: '5', 'synthesis.steps': '17' },
    });
    expect(() => settingsFromJson('{"a":1}', traits)).toThrow(/neither studio settings nor a CAKE config/);
    expect(Object.keys(flattenConfig(cfg))).toContain('synthesis.weights.tv');
  });
});

describe('axes', () => {
  it('gives one tick per decade on a log axis', () => {
    const a = logAxis([0.003, 2, 40]);
    expect(a.domain).toEqual([0.001, 100]);
    expect(a.ticks).toEqual([0.001, 0.01, 0.1, 1, 10, 100]);
    expect(logAxis([1e-9, 1e9]).ticks.length).toBeLessThanOrEqual(6);
    expect(formatPower(0.001)).toBe('0.001');
    expect(formatPower(1e8)).toBe('1e8');
  });

  it('gives nice linear ticks inside the domain', () => {
    const a = linearAxis([1.2, 7.9]);
    expect(a.domain[0]).toBeLessThanOrEqual(1.2);
    expect(a.domain[1]).toBeGreaterThanOrEqual(7.9);
    for (const t of a.ticks) expect(t >= a.domain[0] && t <= a.domain[1]).toBe(true);
    const x = linearAxis([1, 47], { exact: true, integer: true });
    expect(x.domain).toEqual([1, 47]);
    expect(x.ticks.every((t) => Number.isInteger(t))).toBe(true);
  });
});

describe('sample sheets', () => {
  it('lays rows of cells out left to right after the label column, rows top to bottom', () => {
    const spec = { image: 48, pad: 4, gap: 4, captions: true, label: 28 };
    const l = layoutSheet([3, 1], spec);
    const w = 48 + 2 * 4;
    const h = 48 + 2 * 4 + 2 * CAPTION_LINE + 2;
    expect(l.cells.map((c) => [c.row, c.col, c.x, c.y])).toEqual([
      [0, 0, 28, 0],
      [0, 1, 28 + w + 4, 0],
      [0, 2, 28 + 2 * (w + 4), 0],
      [1, 0, 28, h + 4],
    ]);
    expect(l.width).toBe(28 + 3 * w + 2 * 4);
    expect(l.height).toBe(2 * h + 4);
    expect(l.rowTops).toEqual([0, h + 4]);
    expect(layoutSheet([], spec)).toEqual({ width: 0, height: 0, cells: [], rowTops: [] });
    // Without captions a cell is the image and its padding.
    expect(layoutSheet([2], { image: 32, pad: 1, gap: 0, captions: false, label: 0 }).cells[1]).toEqual({ row: 0, col: 1, x: 34, y: 0, w: 34, h: 34 });
  });

  it('cuts captions to fit with an ellipsis, and remembers each cut', () => {
    let measured = 0;
    const ctx = { font: '10px test', measureText: (t: string) => (measured++, { width: 6 * t.length }) as TextMetrics };
    expect(fitText(ctx, 'seven', 54)).toBe('seven');
    expect(fitText(ctx, 'a very long class name', 54)).toBe('a very l…');
    expect(6 * 'a very l…'.length).toBeLessThanOrEqual(54);
    const before = measured;
    expect(fitText(ctx, 'a very long class name', 54)).toBe('a very l…');
    expect(measured).toBe(before);
    // Another font or width is another cut.
    expect(fitText({ ...ctx, font: '11px test' }, 'a very long class name', 30)).toBe('a ve…');
  });
});

describe('drawing samples', () => {
  it('de-normalises to pixels: gray for [H, W], RGB for NHWC, channel-first for NCHW', () => {
    const pre = parseDraft({ scale: '1/255', mean: '0.5', std: '0.25', channelOrder: 'rgb', source: 'user' }).value;
    const out = new Uint8ClampedArray(4 * 4);
    // [2, 2] gray: x = (pixel/255 - 0.5) / 0.25 → pixel = (x*0.25 + 0.5) * 255
    samplePixels(new Float32Array([-2, 0, 2, 10]), 0, geometry([2, 2]), pre, out);
    expect(Array.from(out.filter((_, i) => i % 4 === 0))).toEqual([0, 128, 255, 255]);
    expect(out[3]).toBe(255);

    const rgb = new Uint8ClampedArray(4);
    samplePixels(new Float32Array([2, 0, -2]), 0, geometry([1, 1, 3]), pre, rgb);
    expect(Array.from(rgb)).toEqual([255, 128, 0, 255]);
    const bgr = new Uint8ClampedArray(4);
    samplePixels(new Float32Array([2, 0, -2]), 0, geometry([1, 1, 3]), { ...pre, channelOrder: 'bgr' }, bgr);
    expect(Array.from(bgr)).toEqual([0, 128, 255, 255]);

    const g = geometry([3, 1, 8]);
    expect(g).toEqual({ height: 1, width: 8, channels: 3, channelFirst: true });
    const nchw = new Uint8ClampedArray(8 * 4);
    samplePixels(new Float32Array([...Array(8).fill(2), ...Array(8).fill(0), ...Array(8).fill(-2)]), 0, g, pre, nchw);
    expect(Array.from(nchw.slice(0, 8))).toEqual([255, 128, 0, 255, 255, 128, 0, 255]);
  });

  it('refuses an unusable preprocessing with reasons', () => {
    const p = parseDraft({ scale: '0', mean: 'x', std: '-1', channelOrder: 'rgb', source: 'user' });
    expect(Object.keys(p.errors).sort()).toEqual(['mean', 'scale', 'std']);
  });

  it('names the usual preprocessings, and only a user choice changes the run’s input range', () => {
    const imagenet = draftOfChoice('imagenet', 'rgb');
    expect(choiceOf(imagenet)).toBe('imagenet');
    expect(choiceOf({ ...imagenet, scale: '0.00392156862745098' })).toBe('imagenet');
    expect(choiceOf({ ...imagenet, std: '0.5' })).toBe('custom');
    expect(choiceOf(draftOfChoice('-1-1', 'rgb'))).toBe('-1-1');
    const [lo, hi] = runInputRange(imagenet, [0, 1])!;
    expect(lo).toBeCloseTo(-0.485 / 0.229, 5);
    expect(hi).toBeCloseTo((1 - 0.406) / 0.225, 5);
    expect(runInputRange(draftOfChoice('0-255', 'rgb'), undefined)).toEqual([0, 255]);
    expect(runInputRange(draftOfChoice('-1-1', 'rgb'), undefined)).toEqual([-1, 1]);
    // The files' range stands until the user chooses; a choice that does not parse leaves it too.
    expect(runInputRange({ ...imagenet, source: 'metadata' }, [0, 1])).toEqual([0, 1]);
    expect(runInputRange({ ...imagenet, source: 'default' }, undefined)).toBeUndefined();
    expect(runInputRange({ ...imagenet, std: '0' }, [0, 1])).toEqual([0, 1]);
    expect(inputRangeOf({ scale: 1 / 255, mean: [0.5, 0.25], std: [0.5, 0.25] })).toEqual([-1, 3]);
  });
});

describe('follow-ups', () => {
  it('the Student training group shows the augmentation settings, validated like the rest', () => {
    const student = FIELD_GROUPS.find((g) => g.title === 'Student training')!;
    expect(student.fields.map((f) => f.key)).toEqual(expect.arrayContaining(['student.augShift', 'student.augMixup']));
    const bad = resolveSettings({ preset: 'smoke', overrides: { 'student.augMixup': '1.5', 'student.augShift': '-1' } }, DEFAULT_TRAITS);
    expect(Object.keys(bad.errors)).toEqual(expect.arrayContaining(['student.augMixup', 'student.augShift']));
    const good = resolveSettings({ preset: 'smoke', overrides: { 'student.augMixup': '0.25', 'student.augShift': '2' } }, DEFAULT_TRAITS);
    expect(good.config.student.augMixup).toBe(0.25);
    expect(good.config.student.augShift).toBe(2);
  });

  it('the settings form has a field for every setting of the config (seed and student have their own controls)', () => {
    const config = presetConfig('standard', DEFAULT_TRAITS);
    const leaves = (o: object, prefix: string): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        v && typeof v === 'object' && !Array.isArray(v) ? leaves(v, `${prefix}${k}.`) : [`${prefix}${k}`],
      );
    const keys = leaves(config, '').filter((k) => k !== 'seed' && k !== 'student.arch');
    const inForm = FIELD_GROUPS.flatMap((g) => g.fields.map((f) => f.key));
    expect(keys.filter((k) => !inForm.includes(k))).toEqual([]);
  });

  it('pool bytes follow encodePool’s layout', () => {
    expect(encodedPoolBytes(2, 40, 256, 10)).toBe(24 + 2 * (16 + 4 * 40 * 266));
  });
});

describe('checkpoints and recovery (page logic)', () => {
  it('crash messages say whether the run can resume, and suggest a smaller batch for memory', async () => {
    const { crashMessage, looksLikeMemory } = await import('./worker-client');
    expect(looksLikeMemory('RangeError: Array buffer allocation failed')).toBe(true);
    expect(looksLikeMemory('Out of memory')).toBe(true);
    expect(looksLikeMemory('deliberate worker crash')).toBe(false);
    const m = crashMessage('Out of memory', true, true, true, 500);
    expect(m).toContain('Resume from checkpoint');
    expect(m).toContain('try a smaller batch (synthesis.batchSize is 500; try 250)');
    expect(crashMessage('boom', true, false, false)).toContain('had no checkpoint');
    expect(crashMessage('boom', false, false, false)).not.toMatch(/checkpoint|memory/);
  });

  it('a checkpoint needs the pool (sets×batch×(inputSize+classes)×4) plus room for teacher and student', async () => {
    const { checkpointBytes } = await import('./actions');
    const config = presetConfig('smoke', { inputShape: [16, 16, 1], numClasses: 10 }, 0);
    const pool = config.synthesis.sets * config.synthesis.batchSize * (256 + 10) * 4;
    const bytes = checkpointBytes(config, [16, 16, 1], 10, 1000);
    expect(bytes).toBeGreaterThanOrEqual(pool + 4000);
    expect(bytes).toBeLessThan(pool + 4000 + 1024);
  });

  it('the checkpoint line and which runs can resume', async () => {
    const { checkpointText } = await import('./RunPanel');
    const { resumable } = await import('../worker/protocol');
    const cp = { id: 'a', active: true, setsDone: 3, sets: 12, epochsDone: 0, epochs: 4 };
    expect(checkpointText(cp)).toBe('Checkpoint saved: set 3 of 12');
    expect(checkpointText({ ...cp, epochsDone: 2 }, { setsDone: 12, epochsDone: 1 })).toBe('Checkpoint saved: epoch 2 of 4 · resumed from epoch 1');
    expect(checkpointText({ ...cp, active: false })).toBe('Checkpoints: off for this run');
    const base = { checkpointing: true, status: 'interrupted', stage: 'synthesis' } as Parameters<typeof resumable>[0];
    expect(resumable(base)).toBe(true);
    expect(resumable({ ...base, status: 'done', stage: 'done' })).toBe(false);
    expect(resumable({ ...base, checkpointing: false })).toBe(false);
  });
});
