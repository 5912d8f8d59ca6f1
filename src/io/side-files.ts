import { basename, dirname, fileText, type NamedFile } from './files';
import type { Preprocessing } from './teacher-info';

// Files dropped next to model.json that describe it: class names (class_names.txt, labels.txt, Teachable
// Machine's metadata.json) and our own train-teacher metadata.json with the preprocessing the teacher expects.

export interface SideInfo {
  classNames?: string[];
  /** Which file the class names came from, for the UI and for warnings. */
  classNamesFrom?: string;
  preprocessing?: Preprocessing;
  /** Where the preprocessing was read from, in words. */
  preprocessingFrom?: string;
  dataset?: string;
  testAccuracy?: number;
  /** Things that were found but not used, each one sentence. */
  warnings: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isNumbers = (v: unknown): v is number[] | number => isNumber(v) || (Array.isArray(v) && v.length > 0 && v.every(isNumber));
const isRange = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && v.every(isNumber) && v[0] < v[1];

/**
 * One class name per line. Teachable Machine's TF Lite labels.txt prefixes each with its index ("0 Cat"); that
 * prefix is dropped only when every line has it in order, so names that genuinely start with a digit survive.
 */
export function parseClassNames(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).map((l) => l.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const indexed = lines.length > 0 && lines.every((l, i) => new RegExp(`^${i}\\s+\\S`).test(l));
  return indexed ? lines.map((l) => l.replace(/^\d+\s+/, '')) : lines;
}

/** A side file by basename, preferring the model's own folder when a zip holds several. */
function sideFile(files: readonly NamedFile[], name: string, modelDir: string): NamedFile | undefined {
  const hits = files.filter((f) => basename(f.name).toLowerCase() === name);
  return hits.find((f) => dirname(f.name) === modelDir) ?? hits[0];
}

/** The side files next to a model, read once: class-name lists not yet matched to the model, and the metadata. */
export interface SideFiles {
  /** Class-name lists in the order they are tried: class_names.txt, labels.txt, metadata.json. */
  candidates: { from: string; names: string[] }[];
  preprocessing?: Preprocessing;
  preprocessingFrom?: string;
  dataset?: string;
  testAccuracy?: number;
  warnings: string[];
}

/**
 * Read class names and preprocessing from the side files next to `modelFile`. Never throws: a broken side file
 * becomes a warning, because the model itself is still usable. Class names are matched to the model later
 * (classNamesFor), once its class count is known.
 */
export function readSideFiles(files: readonly NamedFile[], modelFile: NamedFile): SideFiles {
  const dir = dirname(modelFile.name);
  const info: SideInfo = { warnings: [] };
  const candidates: { from: string; names: string[] }[] = [];
  for (const name of ['class_names.txt', 'labels.txt']) {
    const f = sideFile(files, name, dir);
    if (f) candidates.push({ from: basename(f.name), names: parseClassNames(fileText(f)) });
  }

  const metaFile = sideFile(files, 'metadata.json', dir);
  if (metaFile) {
    let meta: unknown;
    try {
      meta = JSON.parse(fileText(metaFile));
    } catch (e) {
      info.warnings.push(`metadata.json was ignored: it is not valid JSON (${(e as Error).message})`);
    }
    if (isObject(meta)) readMetadata(meta, info, candidates);
  }
  return { candidates, ...info };
}

/** The first class-name list with the model's class count; the others become warnings. */
export function classNamesFor(side: SideFiles, numClasses: number): SideInfo {
  const info: SideInfo = { ...side, warnings: [...side.warnings] };
  delete (info as Partial<SideFiles>).candidates;
  for (const c of side.candidates) {
    if (c.names.length === numClasses) {
      info.classNames = c.names;
      info.classNamesFrom = c.from;
      break;
    }
    info.warnings.push(`${c.from} lists ${c.names.length} class names but the model has ${numClasses} classes, so it was ignored`);
  }
  return info;
}

function readMetadata(meta: Record<string, unknown>, info: SideInfo, candidates: { from: string; names: string[] }[]): void {
  const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
  // Ours says classNames; Teachable Machine says labels.
  if (strings(meta.classNames)) candidates.push({ from: 'metadata.json', names: meta.classNames as string[] });
  else if (strings(meta.labels)) candidates.push({ from: 'metadata.json', names: meta.labels as string[] });
  if (typeof meta.dataset === 'string') info.dataset = meta.dataset;
  if (isNumber(meta.testAccuracy)) info.testAccuracy = meta.testAccuracy;

  const pre: Preprocessing = {};
  const p = meta.preprocessing;
  if (isObject(p)) {
    if (isNumber(p.pad) && p.pad >= 0) pre.pad = p.pad;
    if (isNumber(p.scale)) pre.scale = p.scale;
    if (isNumbers(p.mean)) pre.mean = p.mean;
    if (isNumbers(p.std)) pre.std = p.std;
    if (typeof p.channelOrder === 'string') pre.channelOrder = p.channelOrder;
    if (isRange(p.inputRange)) pre.inputRange = p.inputRange;
  }
  if (isRange(meta.inputRange)) pre.inputRange = meta.inputRange;
  // Teachable Machine image models take pixels mapped to [-1, 1] (x/127.5 − 1); its metadata says so only implicitly.
  const isTeachableImage =
    (typeof meta.tmVersion === 'string' || typeof meta.packageName === 'string') &&
    (isNumber(meta.imageSize) || String(meta.packageName ?? '').includes('image'));
  if (isTeachableImage && Object.keys(pre).length === 0) Object.assign(pre, { scale: 1 / 127.5, mean: 1, std: 1, inputRange: [-1, 1] });
  if (Object.keys(pre).length > 0) {
    info.preprocessing = pre;
    info.preprocessingFrom = isTeachableImage && !isObject(p) ? "Teachable Machine's metadata.json (its image models take pixel/127.5 − 1)" : 'metadata.json';
  }
}
