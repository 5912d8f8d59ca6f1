/**
 * The settings model of the studio: a preset plus explicit overrides (dotted key → raw text, as typed). The
 * resolved config is always `presetConfig(preset, teacher)` with the overrides applied, so loading another teacher
 * re-derives the teacher-dependent defaults while keeping what the user changed.
 *
 * Persisted in localStorage, mirrored in the URL hash (shareable), exported and imported as JSON.
 */
import {
  applySetting,
  findKnob,
  formatKnob,
  KNOBS,
  PRESET_NAMES,
  presetConfig,
  RETIRED_SETTINGS,
  validateConfig,
  valueAt,
  type BackendChoice,
  type CakeConfig,
  type Knob,
  type KnobGroup,
  type KnobKey,
  type PresetName,
  type TeacherTraits,
  BACKEND_CHOICES,
} from '../worker/protocol';

export interface Settings {
  preset: PresetName;
  overrides: Record<string, string>;
}

export type FieldKind = 'int' | 'number' | 'select' | 'bool' | 'range' | 'arch';

export interface FieldDef {
  key: string;
  label: string;
  kind: FieldKind;
  options?: readonly string[];
  hint?: string;
}

export interface FieldGroup {
  title: KnobGroup;
  fields: FieldDef[];
}

/** A knob as a form field: its label, hint and options from the knob table. */
function fieldOf(knob: Knob): FieldDef {
  return {
    key: knob.key,
    label: knob.label,
    kind: knob.kind === 'enum' ? 'select' : knob.kind,
    options: knob.kind === 'enum' ? knob.options : undefined,
    hint: knob.hint,
  };
}

/** The field of one knob (the form's seed and student controls sit above the groups). */
export function fieldFor(key: KnobKey): FieldDef {
  return fieldOf(findKnob(key)!);
}

/** The form's groups of fields, each in the knob table's order. */
export const FIELD_GROUPS: FieldGroup[] = groupFields();

function groupFields(): FieldGroup[] {
  const groups: FieldGroup[] = [];
  for (const knob of KNOBS) {
    if (!('group' in knob)) continue;
    let group = groups.find((g) => g.title === knob.group);
    if (!group) groups.push((group = { title: knob.group, fields: [] }));
    group.fields.push(fieldOf(knob));
  }
  return groups;
}

export const DEFAULT_TRAITS: TeacherTraits = { inputShape: [32, 32, 1], numClasses: 10 };
export const DEFAULT_SETTINGS: Settings = { preset: 'quick', overrides: {} };

/** Keys kept when the preset changes (the rest of the overrides are the old preset's tuning). */
const STICKY_KEYS = ['seed', 'student.arch'];

export function isPreset(v: unknown): v is PresetName {
  return typeof v === 'string' && (PRESET_NAMES as readonly string[]).includes(v);
}

/** The value a key has in a preset, as text. */
export function presetValue(preset: PresetName, traits: TeacherTraits, key: string): string {
  return formatKnob(valueAt(presetConfig(preset, traits, 0), key));
}

export function configValue(config: CakeConfig, key: string): string {
  return formatKnob(valueAt(config, key));
}

/** Every knob a config holds, as dotted key → text (a config from an older version may lack some). */
export function flattenConfig(config: CakeConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key } of KNOBS) {
    const v = valueAt(config, key);
    if (v !== undefined) out[key] = formatKnob(v);
  }
  return out;
}

export interface Resolved {
  config: CakeConfig;
  /** Per-field reasons, by dotted key. */
  errors: Record<string, string>;
  /** Problems that belong to no single field. */
  general: string[];
  valid: boolean;
}

const FIELD_KEYS = new Set<string>(KNOBS.map((k) => k.key));

export function resolveSettings(settings: Settings, traits: TeacherTraits): Resolved {
  let config = presetConfig(settings.preset, traits, 0);
  const errors: Record<string, string> = {};
  const general: string[] = [];
  for (const [key, raw] of Object.entries(settings.overrides)) {
    try {
      config = applySetting(config, key, raw);
    } catch (e) {
      const msg = (e as Error).message;
      if (FIELD_KEYS.has(key)) errors[key] = msg.replace(/^setting "[^"]+" /, '');
      else general.push(msg);
    }
  }
  for (const issue of validateConfig(config, traits)) {
    if (FIELD_KEYS.has(issue.key)) errors[issue.key] ??= issue.message;
    else general.push(`${issue.key}: ${issue.message}`);
  }
  return { config, errors, general, valid: Object.keys(errors).length === 0 && general.length === 0 };
}

/** Set one field; an override equal to the preset's value is dropped so the settings stay minimal. */
export function withField(settings: Settings, traits: TeacherTraits, key: string, raw: string): Settings {
  const overrides = { ...settings.overrides };
  if (raw === presetValue(settings.preset, traits, key)) delete overrides[key];
  else overrides[key] = raw;
  return { ...settings, overrides };
}

export function withPreset(settings: Settings, preset: PresetName): Settings {
  const overrides: Record<string, string> = {};
  for (const k of STICKY_KEYS) if (k in settings.overrides) overrides[k] = settings.overrides[k];
  return { preset, overrides };
}

// --- persistence --------------------------------------------------------------------------------------------------

const STORAGE_KEY = 'cake-studio.settings.v1';
const BACKEND_KEY = 'cake-studio.backend.v1';

/** Overrides as loaded: text values only, without the settings that were removed (see RETIRED_SETTINGS: old links still open). */
function loadedOverrides(entries: Iterable<[string, unknown]>): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const [k, val] of entries) if (typeof val === 'string' && !RETIRED_SETTINGS.includes(k)) overrides[k] = val;
  return overrides;
}

function sanitize(v: unknown): Settings | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (!isPreset(o.preset)) return null;
  const overrides = typeof o.overrides === 'object' && o.overrides !== null ? loadedOverrides(Object.entries(o.overrides)) : {};
  return { preset: o.preset, overrides };
}

export function loadStoredSettings(): Settings | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? sanitize(JSON.parse(raw)) : null;
  } catch {
    return null;
  }
}

export function storeSettings(settings: Settings): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(settings));
  } catch {
    // Storage may be full or disabled; the URL hash still carries the settings.
  }
}

export function loadStoredBackend(): BackendChoice {
  try {
    const v = localStorage.getItem(BACKEND_KEY);
    return v && (BACKEND_CHOICES as readonly string[]).includes(v) ? (v as BackendChoice) : 'auto';
  } catch {
    return 'auto';
  }
}

export function storeBackend(choice: BackendChoice): void {
  try {
    localStorage.setItem(BACKEND_KEY, choice);
  } catch {
    /* ignore */
  }
}

/** `#preset=quick&synthesis.sets=12&seed=3` */
export function settingsToHash(settings: Settings): string {
  const p = new URLSearchParams();
  p.set('preset', settings.preset);
  for (const [k, v] of Object.entries(settings.overrides)) p.set(k, v);
  return `#${p.toString()}`;
}

export function settingsFromHash(hash: string): Settings | null {
  const text = hash.replace(/^#/, '');
  if (!text) return null;
  const p = new URLSearchParams(text);
  const preset = p.get('preset');
  if (!isPreset(preset)) return null;
  p.delete('preset');
  return { preset, overrides: loadedOverrides(p.entries()) };
}

export interface SettingsFile {
  format: 'cake-studio-settings';
  version: 1;
  preset: PresetName;
  overrides: Record<string, string>;
  /** The resolved config, for reading; import uses preset + overrides when present. */
  config: CakeConfig;
}

export function settingsFile(settings: Settings, config: CakeConfig): SettingsFile {
  return { format: 'cake-studio-settings', version: 1, preset: settings.preset, overrides: { ...settings.overrides }, config };
}

/**
 * Read settings from JSON: our own settings file, or a bare CakeConfig (e.g. `config` of a report.json), which
 * becomes overrides of the `paper` preset (or of the preset it names).
 */
export function settingsFromJson(text: string, traits: TeacherTraits): Settings {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`the settings file is not valid JSON (${(e as Error).message})`);
  }
  if (typeof data !== 'object' || data === null) throw new Error('the settings file does not hold an object');
  const o = data as Record<string, unknown>;
  const own = sanitize(o);
  if (own && typeof o.overrides === 'object') return own;
  const config = (typeof o.synthesis === 'object' ? o : o.config) as Record<string, unknown> | undefined;
  if (!config || typeof config.synthesis !== 'object' || typeof config.student !== 'object')
    throw new Error('the file holds neither studio settings nor a CAKE config (expected "preset" and "overrides", or "synthesis" and "student")');
  const preset = isPreset(o.preset) ? o.preset : 'paper';
  const base = flattenConfig(presetConfig(preset, traits, 0));
  const given = flattenConfig(config as unknown as CakeConfig);
  const overrides: Record<string, string> = {};
  for (const [k, v] of Object.entries(given)) if (base[k] !== v) overrides[k] = v;
  return { preset, overrides };
}
