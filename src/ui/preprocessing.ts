/**
 * How the teacher's inputs were made from pixels (input = (pixel·scale − mean) / std), as the teacher card edits it.
 * What the files declare fills it; a teacher that declares nothing gets a guess or pixel / 255 until the user picks one
 * of the usual choices or types their own. A user's choice drives the run (its input range is where samples are drawn
 * and what the range-dependent augmentations use), is drawn with the samples, and is remembered per teacher file.
 */
import { inputRangeOf } from '../io/input-range';
import type { Preprocessing } from '../worker/protocol';

/** "0.5", "1/255" */
function parseNumber(text: string): number {
  const frac = /^([\d.eE+-]+)\s*\/\s*([\d.eE+-]+)$/.exec(text);
  return frac ? Number(frac[1]) / Number(frac[2]) : text === '' ? NaN : Number(text);
}


/** Parse "0.5", "1/255" or "0.485,0.456,0.406" into a number or per-channel numbers; null when invalid. */
export function parseNumbers(text: string): number | number[] | null {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) return null;
  const nums = parts.map(parseNumber);
  if (nums.some((n) => !Number.isFinite(n))) return null;
  return nums.length === 1 ? nums[0] : nums;
}

export interface PreprocessingDraft {
  scale: string;
  mean: string;
  std: string;
  channelOrder: 'rgb' | 'bgr';
  /** Where the values came from: the files, a guess from the model's statistics, nothing (pixel / 255), the user. */
  source: 'metadata' | 'guess' | 'default' | 'user';
}

export const DEFAULT_DRAFT: PreprocessingDraft = { scale: '1/255', mean: '0', std: '1', channelOrder: 'rgb', source: 'default' };

/** A pixel scale as text: "1/255" or "1/127.5" when it is one of those, else the number. */
function formatScale(v: number): string {
  const inv = Math.round((1 / v) * 10) / 10;
  return Math.abs(1 / v - inv) < 1e-6 * inv ? `1/${inv}` : String(v);
}

export function draftFrom(pre: Partial<Preprocessing> | undefined, guessed = false): PreprocessingDraft {
  if (!pre || (pre.scale === undefined && pre.mean === undefined && pre.std === undefined)) return DEFAULT_DRAFT;
  const fmt = (v: number | number[] | undefined, d: string) => (v === undefined ? d : Array.isArray(v) ? v.join(',') : String(v));
  return {
    scale: pre.scale !== undefined && pre.scale > 0 ? formatScale(pre.scale) : DEFAULT_DRAFT.scale,
    mean: fmt(pre.mean, '0'),
    std: fmt(pre.std, '1'),
    channelOrder: pre.channelOrder ?? 'rgb',
    source: guessed ? 'guess' : 'metadata',
  };
}

export interface ParsedPreprocessing {
  value: Preprocessing;
  errors: Partial<Record<'scale' | 'mean' | 'std', string>>;
}

export function parseDraft(d: PreprocessingDraft): ParsedPreprocessing {
  const errors: ParsedPreprocessing['errors'] = {};
  const scale = parseNumbers(d.scale);
  const mean = parseNumbers(d.mean);
  const std = parseNumbers(d.std);
  if (typeof scale !== 'number' || scale <= 0) errors.scale = 'must be one positive number, e.g. 1/255';
  if (mean === null) errors.mean = 'must be a number or comma-separated numbers per channel';
  if (std === null || (Array.isArray(std) ? std.some((v) => v <= 0) : std <= 0))
    errors.std = 'must be a positive number or positive numbers per channel';
  return {
    value: {
      scale: typeof scale === 'number' && scale > 0 ? scale : 1 / 255,
      mean: mean ?? 0,
      std: std !== null && !errors.std ? std : 1,
      channelOrder: d.channelOrder,
    },
    errors,
  };
}

/** The usual ways pixels become inputs, offered on the teacher card. */
export const PREPROCESSING_CHOICES = [
  { id: '0-1', label: '0 – 1 (pixel / 255)', scale: '1/255', mean: '0', std: '1' },
  { id: '-1-1', label: '−1 – 1 (pixel / 127.5 − 1)', scale: '1/127.5', mean: '1', std: '1' },
  { id: '0-255', label: '0 – 255 (raw pixels)', scale: '1', mean: '0', std: '1' },
  { id: 'imagenet', label: 'ImageNet mean and std (torchvision)', scale: '1/255', mean: '0.485,0.456,0.406', std: '0.229,0.224,0.225' },
] as const;

export type PreprocessingChoice = (typeof PREPROCESSING_CHOICES)[number]['id'] | 'custom';

/** Which of the usual choices a draft is, by value; 'custom' when none. */
export function choiceOf(d: PreprocessingDraft): PreprocessingChoice {
  const v = parseDraft(d);
  if (Object.keys(v.errors).length > 0) return 'custom';
  const same = (a: number | number[] | undefined, b: number | number[] | undefined) => {
    const x = [a ?? 0].flat();
    const y = [b ?? 0].flat();
    return x.length === y.length && x.every((n, i) => Math.abs(n - y[i]) < 1e-6 * Math.max(1, Math.abs(n)));
  };
  for (const c of PREPROCESSING_CHOICES) {
    const p = parseDraft({ ...d, scale: c.scale, mean: c.mean, std: c.std }).value;
    if (same(p.scale, v.value.scale) && same(p.mean, v.value.mean) && same(p.std, v.value.std)) return c.id;
  }
  return 'custom';
}

/** The draft of one of the usual choices, chosen by the user. */
export function draftOfChoice(id: Exclude<PreprocessingChoice, 'custom'>, channelOrder: 'rgb' | 'bgr'): PreprocessingDraft {
  const c = PREPROCESSING_CHOICES.find((x) => x.id === id)!;
  return { scale: c.scale, mean: c.mean, std: c.std, channelOrder, source: 'user' };
}

/**
 * The input range a draft gives the run: the user's choice when it parses, the files' or the guess's range otherwise
 * (`declared`), and nothing when nothing is known (the run then keeps its range-free defaults).
 */
export function runInputRange(d: PreprocessingDraft, declared: [number, number] | undefined): [number, number] | undefined {
  if (d.source !== 'user') return declared;
  const parsed = parseDraft(d);
  return Object.keys(parsed.errors).length > 0 ? declared : inputRangeOf(parsed.value);
}

const STORAGE_KEY = 'cake-studio.preprocessing';

/** The user's preprocessing per teacher, by a key naming its files and input shape. */
function storedDrafts(): Record<string, PreprocessingDraft> {
  try {
    const v = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}') as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, PreprocessingDraft>) : {};
  } catch {
    return {};
  }
}

export function loadStoredDraft(teacherKey: string): PreprocessingDraft | null {
  const d = storedDrafts()[teacherKey];
  const ok = d && typeof d.scale === 'string' && typeof d.mean === 'string' && typeof d.std === 'string' && (d.channelOrder === 'rgb' || d.channelOrder === 'bgr');
  return ok ? { scale: d.scale, mean: d.mean, std: d.std, channelOrder: d.channelOrder, source: 'user' } : null;
}

export function storeDraft(teacherKey: string, d: PreprocessingDraft): void {
  try {
    const all = storedDrafts();
    all[teacherKey] = d;
    // Remember the last 50 teachers.
    const keys = Object.keys(all);
    for (const k of keys.slice(0, Math.max(0, keys.length - 50))) delete all[k];
    localStorage.setItem(STORAGE_KEY, JSON.stringify(all));
  } catch {
    // Storage may be full or disabled; the choice still holds for this page.
  }
}
