import { describe, expect, it } from 'vitest';
import { DEFAULT_TRAITS, resolveSettings, settingsFromHash, settingsFromJson } from './settings';

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
