/**
 * The settings model of the studio: a preset plus explicit overrides (dotted key → raw text, as typed). The
 * resolved config is always `presetConfig(preset, teacher)` with the overrides applied, so loading another teacher
 * re-derives the teacher-dependent defaults while keeping what the user changed.
 *
 * Persisted in localStorage, mirrored in the URL hash (shareable), exported and imported as JSON.
 */
import {
  applySetting,
  PRESET_NAMES,
  presetConfig,
  RETIRED_SETTINGS,
  validateConfig,
  type BackendChoice,
  type CakeConfig,
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
  title: string;
  fields: FieldDef[];
}

export const FIELD_GROUPS: FieldGroup[] = [
  {
    title: 'Synthesis',
    fields: [
      { key: 'synthesis.sets', label: 'Sets (M)', kind: 'int', hint: 'independent sets, each from fresh noise' },
      { key: 'synthesis.steps', label: 'Steps per set (T)', kind: 'int', hint: 'optimisation steps on the inputs' },
      { key: 'synthesis.batchSize', label: 'Samples per set (B)', kind: 'int', hint: 'a multiple of the group size' },
      { key: 'synthesis.groupSize', label: 'Group size (K)', kind: 'int', hint: 'members with distinct target classes' },
      { key: 'synthesis.optimizer', label: 'Input optimiser', kind: 'select', options: ['sgd', 'adam'] },
      { key: 'synthesis.init', label: 'Initial noise', kind: 'select', options: ['normal', 'uniform'] },
      { key: 'synthesis.initStd', label: 'Noise std', kind: 'number', hint: 'for normal noise' },
      { key: 'synthesis.initRange', label: 'Uniform range', kind: 'range', hint: 'low,high for uniform noise' },
      { key: 'synthesis.clamp', label: 'Clamp to input range', kind: 'bool', hint: 'keep samples inside the range below' },
      { key: 'synthesis.clampRange', label: 'Input range', kind: 'range', hint: "low,high of the teacher's inputs (clamp and contrast)" },
      { key: 'synthesis.softLabels', label: 'Soft labels', kind: 'bool', hint: "label with the teacher's softmax" },
    ],
  },
  {
    title: 'Loss weights',
    fields: [
      { key: 'synthesis.weights.cls', label: 'Classification', kind: 'number', hint: 'cross-entropy to the target' },
      { key: 'synthesis.weights.contr', label: 'Contrastive', kind: 'number', hint: 'logit distance inside a group' },
      { key: 'synthesis.weights.tv', label: 'Total variation', kind: 'number', hint: 'image prior' },
      { key: 'synthesis.weights.entropy', label: 'Class balance (entropy)', kind: 'number', hint: 'off at 0' },
    ],
  },
  {
    title: 'Schedule',
    fields: [
      { key: 'synthesis.eta0', label: 'Initial step size (η₀)', kind: 'number' },
      { key: 'synthesis.decades', label: 'η decay (decades)', kind: 'number', hint: 'η falls to η₀·10^−decades' },
      { key: 'synthesis.etaSchedule', label: 'η schedule', kind: 'select', options: ['linear', 'cosine', 'constant'] },
      { key: 'synthesis.langevin', label: 'Langevin noise', kind: 'bool', hint: 'add √(2η)·N(0, I) per step' },
    ],
  },
  {
    title: 'Student training',
    fields: [
      { key: 'student.epochs', label: 'Epochs', kind: 'int' },
      { key: 'student.batchSize', label: 'Batch size', kind: 'int' },
      { key: 'student.optimizer', label: 'Optimiser', kind: 'select', options: ['sgd', 'adam', 'adamw'] },
      { key: 'student.lr', label: 'Peak learning rate', kind: 'number' },
      { key: 'student.schedule', label: 'Learning-rate schedule', kind: 'select', options: ['onecycle', 'constant'] },
      { key: 'student.momentum', label: 'Momentum', kind: 'number' },
      { key: 'student.weightDecay', label: 'Weight decay', kind: 'number' },
      { key: 'student.temperature', label: 'Temperature', kind: 'number' },
      { key: 'student.valFraction', label: 'Held-out share', kind: 'number', hint: 'of the synthetic pool, for agreement' },
      { key: 'student.etaMin', label: 'Train on η from', kind: 'number', hint: 'the student learns only from sets made with a step size in this band; 0 keeps them all' },
      { key: 'student.etaMax', label: 'Train on η up to', kind: 'number', hint: 'upper end of that band; 1e10 keeps them all' },
      { key: 'student.augShift', label: 'Augment: shift (px)', kind: 'int', hint: 'largest random shift per batch, relabelled by the teacher; 0 is off' },
      { key: 'student.augMixup', label: 'Augment: mixup share', kind: 'number', hint: 'share of each batch blended with another sample, relabelled by the teacher; 0 is off' },
      { key: 'student.augContrast', label: 'Augment: contrast share', kind: 'number', hint: 'share of each batch given random contrast and brightness within the input range, relabelled by the teacher; 0 is off' },
      { key: 'student.augBlur', label: 'Augment: blur share', kind: 'number', hint: 'share of each batch smoothed by a small filter, relabelled by the teacher; 0 is off' },
      { key: 'student.augBackground', label: 'Augment: background share', kind: 'number', hint: 'share of each batch cut to a central ellipse on a dark background, relabelled by the teacher; 0 is off' },
      { key: 'student.augErase', label: 'Augment: erase share', kind: 'number', hint: 'share of each batch with one random rectangle set to the dark end of the input range (gaps, missing parts), relabelled by the teacher; 0 is off' },
      { key: 'student.inherit', label: 'Start from the teacher’s weights', kind: 'select', options: ['off', 'auto', 'on'], hint: 'when the student is a narrower copy of the teacher (LeNet-5 → LeNet-5-half, auto): it starts from the teacher’s strongest channels; auto falls back to random weights where it cannot, on stops with the reason' },
      { key: 'student.inheritLr', label: 'Peak learning rate from the teacher’s weights', kind: 'number', hint: 'used instead of the peak learning rate when the student starts from the teacher’s weights' },
      { key: 'student.hint', label: 'Feature hints weight', kind: 'number', hint: 'for a student that starts from the teacher’s weights: its hidden layers also learn the teacher’s activations of the channels they kept (FitNets); 0 is off' },
      { key: 'student.classBalance', label: 'Balance classes', kind: 'bool', hint: 'weight each relabelled batch so the teacher’s classes count equally (augmentation skews them)' },
    ],
  },
];

export const DEFAULT_TRAITS: TeacherTraits = { inputShape: [32, 32, 1], numClasses: 10 };
export const DEFAULT_SETTINGS: Settings = { preset: 'quick', overrides: {} };

/** Keys kept when the preset changes (the rest of the overrides are the old preset's tuning). */
const STICKY_KEYS = ['seed', 'student.arch'];

export function isPreset(v: unknown): v is PresetName {
  return typeof v === 'string' && (PRESET_NAMES as readonly string[]).includes(v);
}

function getPath(obj: unknown, key: string): unknown {
  let node: unknown = obj;
  for (const p of key.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[p];
  }
  return node;
}

/** A config value as the text a field shows. */
export function formatValue(v: unknown): string {
  if (Array.isArray(v)) return v.map((x) => String(x)).join(',');
  return String(v);
}

/** The value a key has in a preset, as text. */
export function presetValue(preset: PresetName, traits: TeacherTraits, key: string): string {
  return formatValue(getPath(presetConfig(preset, traits, 0), key));
}

export function configValue(config: CakeConfig, key: string): string {
  return formatValue(getPath(config, key));
}

/** Every leaf of a config as dotted key → text. */
export function flattenConfig(config: CakeConfig): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (node: unknown, prefix: string) => {
    if (typeof node === 'object' && node !== null && !Array.isArray(node)) {
      for (const [k, v] of Object.entries(node)) walk(v, prefix ? `${prefix}.${k}` : k);
    } else out[prefix] = formatValue(node);
  };
  walk(config, '');
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

const FIELD_KEYS = new Set(['seed', 'student.arch', ...FIELD_GROUPS.flatMap((g) => g.fields.map((f) => f.key))]);

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
  for (const [k, v] of Object.entries(given)) if (k in base && base[k] !== v) overrides[k] = v;
  return { preset, overrides };
}
