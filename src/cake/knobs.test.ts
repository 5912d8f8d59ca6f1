import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applySetting, presetConfig } from './config';
import { allowedValues, KNOBS, knobProblem, RETIRED_SETTINGS, valueAt, type Knob } from './knobs';

/** The README's row for a knob: the table is the source, README shows it. */
function readmeRow(k: Knob): string {
  return `| \`${k.key}\` | ${allowedValues(k)} | ${k.ref ? `\`${k.ref}\`` : '–'} | ${k.teachers ?? 'all'} | ${k.doc} |`;
}

describe('the knob table', () => {
  it('names each knob once, and every knob is a leaf of the config with a valid default in every preset', () => {
    const keys = KNOBS.map((k) => k.key);
    expect(new Set(keys).size).toBe(keys.length);
    const leaves = (o: object, prefix: string): string[] =>
      Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? leaves(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
    for (const traits of [{ inputShape: [32, 32, 1], numClasses: 10, inputRange: [-1, 1] as const }, { inputShape: [32, 32, 3], numClasses: 100 }])
      for (const name of ['smoke', 'quick', 'standard', 'paper'] as const) {
        const config = presetConfig(name, traits);
        expect(leaves(config, '').sort()).toEqual([...keys].sort());
        for (const k of KNOBS) expect(knobProblem(k, valueAt(config, k.key)), `${name} ${k.key}`).toBeNull();
      }
    expect(RETIRED_SETTINGS.filter((k) => keys.includes(k as never))).toEqual([]);
  });

  it('--set parses each kind, and names a removed setting, a group and an unknown key', () => {
    const c = presetConfig('quick', { inputShape: [32, 32, 1], numClasses: 10 });
    expect(applySetting(c, 'synthesis.clampRange', '-2,3').synthesis.clampRange).toEqual([-2, 3]);
    expect(applySetting(c, 'synthesis.langevin', 'true').synthesis.langevin).toBe(true);
    expect(applySetting(c, 'synthesis.weights.tv', '5').synthesis.weights.tv).toBe(5);
    expect(() => applySetting(c, 'synthesis.clampRange', '1')).toThrow('setting "synthesis.clampRange" needs 2 comma-separated numbers, got "1"');
    expect(() => applySetting(c, 'synthesis.clamp', 'yes')).toThrow('setting "synthesis.clamp" needs true or false, got "yes"');
    expect(() => applySetting(c, 'synthesis.jitter', '2')).toThrow('unknown setting "synthesis.jitter" (it was removed: every measurement found it useless)');
    expect(() => applySetting(c, 'synthesis.weights', '2')).toThrow('setting "synthesis.weights" is a group; name one of its fields');
    expect(() => applySetting(c, 'synthesis.weights.tv.x', '2')).toThrow('unknown setting "synthesis.weights.tv.x"');
  });

  it('README’s "Settings (all of them)" lists every knob, as the table has it', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('## Settings (all of them)');
    expect(start).toBeGreaterThanOrEqual(0);
    const end = readme.indexOf('\n## ', start + 1);
    const section = readme.slice(start, end < 0 ? undefined : end);
    const rows = section.split('\n').filter((line) => line.startsWith('| `'));
    const expected = KNOBS.map(readmeRow);
    // On a mismatch, the expected rows are printed: paste them into README.md.
    expect(rows.join('\n')).toBe(expected.join('\n'));
  });
});
