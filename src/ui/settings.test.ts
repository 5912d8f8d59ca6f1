import { describe, expect, it } from 'vitest';
import { parseArgs } from '../cli/args';
import { applySettings } from '../cake/config';
import { formatKnob, KNOBS, presetConfig, validateConfig, valueAt, type Knob } from '../worker/protocol';
import {
  DEFAULT_TRAITS,
  FIELD_GROUPS,
  fieldFor,
  resolveSettings,
  settingsFile,
  settingsFromHash,
  settingsFromJson,
  settingsToHash,
  withField,
  type Settings,
} from './settings';

describe('settings saved before a setting was removed', () => {
  it('still load from a link and from a settings file, without the removed keys', () => {
    const fromLink = settingsFromHash('#preset=quick&synthesis.jitter=2&synthesis.augViews=0.5&student.augStrokes=0.5&seed=3')!;
    expect(fromLink).toEqual({ preset: 'quick', overrides: { seed: '3' } });
    expect(resolveSettings(fromLink, DEFAULT_TRAITS).valid).toBe(true);
    const file = { format: 'cake-studio-settings', version: 1, preset: 'smoke', overrides: { 'synthesis.jitter': '2', 'student.lr': '0.2' } };
    expect(settingsFromJson(JSON.stringify(file), DEFAULT_TRAITS)).toEqual({ preset: 'smoke', overrides: { 'student.lr': '0.2' } });
    // A key that never existed is still reported.
    expect(resolveSettings(settingsFromHash('#preset=quick&synthesis.bogus=1')!, DEFAULT_TRAITS).general).toEqual(['unknown setting "synthesis.bogus"']);
  });
});

describe('every knob of the table survives form → link → settings file → CLI --set', () => {
  const traits = DEFAULT_TRAITS;
  const preset = 'quick';
  const defaults = presetConfig(preset, traits, 0);

  /** Values to try for a knob other than its default, from its kind and range in the table. */
  const candidates = (knob: Knob, current: unknown): string[] => {
    switch (knob.kind) {
      case 'int':
      case 'number': {
        const v = current as number;
        const tries = [v + 1, v - 1, v * 2, v / 2, 1e-3, knob.min, knob.max];
        return tries.filter((t) => Number.isFinite(t) && (knob.kind === 'number' || Number.isInteger(t))).map(String);
      }
      case 'bool':
        return [String(!current)];
      case 'enum':
        return knob.options.filter((o) => o !== current);
      case 'range': {
        const [lo, hi] = current as [number, number];
        return [`${lo - 1},${hi + 1}`];
      }
      case 'arch':
        return ['mlp'];
    }
  };

  /** For each knob, the first candidate that differs from the preset and that the form accepts on its own. */
  const chosen = KNOBS.map((knob) => {
    const text = formatKnob(valueAt(defaults, knob.key));
    const raw = candidates(knob, valueAt(defaults, knob.key)).find(
      (c) => c !== text && resolveSettings(withField({ preset, overrides: {} }, traits, knob.key, c), traits).valid,
    );
    return { key: knob.key, raw };
  });

  const roundTrip = (settings: Settings) => {
    const fromLink = settingsFromHash(settingsToHash(settings))!;
    const resolved = resolveSettings(fromLink, traits);
    const file = JSON.stringify(settingsFile(fromLink, resolved.config));
    const fromFile = settingsFromJson(file, traits);
    // A bare config (a run report's) is read back as overrides of the preset it names.
    const fromConfig = settingsFromJson(JSON.stringify({ preset, config: resolved.config }), traits);
    const argv = Object.entries(fromFile.overrides).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
    const cli = applySettings(presetConfig(preset, traits, 0), parseArgs(argv, { repeated: ['set'] }).repeated.get('set') ?? []);
    return { fromLink, resolved, fromFile, fromConfig, cli };
  };

  it('each knob has a form field and a valid value other than the default', () => {
    const inForm = new Set([...FIELD_GROUPS.flatMap((g) => g.fields.map((f) => f.key)), fieldFor('seed').key, fieldFor('student.arch').key]);
    expect(KNOBS.map((k) => k.key).filter((k) => !inForm.has(k))).toEqual([]);
    expect(chosen.filter((c) => c.raw === undefined).map((c) => c.key)).toEqual([]);
  });

  it('one knob at a time', () => {
    for (const { key, raw } of chosen) {
      const settings = withField({ preset, overrides: {} }, traits, key, raw!);
      expect(settings.overrides, key).toEqual({ [key]: raw });
      const { fromLink, resolved, fromFile, fromConfig, cli } = roundTrip(settings);
      expect(fromLink, key).toEqual(settings);
      expect(resolved.valid, key).toBe(true);
      expect(formatKnob(valueAt(resolved.config, key)), key).toBe(raw);
      expect(fromFile, key).toEqual(settings);
      expect(fromConfig, key).toEqual(settings);
      expect(cli, key).toEqual(resolved.config);
      expect(validateConfig(cli, traits), key).toEqual([]);
    }
  });

  it('every knob at once', () => {
    let settings: Settings = { preset, overrides: {} };
    for (const { key, raw } of chosen) settings = withField(settings, traits, key, raw!);
    expect(Object.keys(settings.overrides)).toHaveLength(KNOBS.length);
    const { fromLink, resolved, fromFile, fromConfig, cli } = roundTrip(settings);
    expect(resolved.errors).toEqual({});
    expect(resolved.general).toEqual([]);
    expect(fromLink).toEqual(settings);
    expect(fromFile).toEqual(settings);
    expect(fromConfig).toEqual(settings);
    expect(cli).toEqual(resolved.config);
    for (const { key, raw } of chosen) expect(formatKnob(valueAt(cli, key)), key).toBe(raw);
  });
});
