import { TeacherError } from './teacher-error';

// What a teacher file may ask for, checked before anything is allocated. A damaged file can declare any size (a
// flipped bit in a shape turns 16 filters into 1048592, a zip's directory can promise 4 GiB from 1 KB), and the
// readers would allocate what it says: tfjs' WebAssembly heap grows to 4 GiB and then aborts, taking every later
// call with it, and a browser tab dies long before. So each reader compares the sizes a file declares with the bytes
// it actually holds and with these caps, and refuses with a sentence instead.

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * The most weight data one teacher may hold once decoded to float32: 1 GiB. Twice VGG-16 (528 MB), far above what
 * CAKE can distil in a tab; the WebAssembly backend's heap is 4 GiB at most and also holds the run.
 */
export const MAX_WEIGHT_BYTES = 1 * GiB;
/** The most values one tensor may declare (1 GiB as float32). */
export const MAX_TENSOR_VALUES = MAX_WEIGHT_BYTES / 4;
/** The most a zip may unpack to, all entries together (one model with its side files). */
export const MAX_UNZIPPED_BYTES = 1 * GiB;
/** The most entries a zip may list: a TensorFlow.js model of 1 GiB in 4 MB shards has about 260. */
export const MAX_ZIP_ENTRIES = 4096;
/**
 * The most values the input, or one layer's output, may hold for one sample: 64 MiB as float32. A 224×224×3 input
 * is 150 528 values and VGG-16's largest activation 3.2 million; beyond this the probe batches of the gradient check
 * alone would take gigabytes.
 */
export const MAX_SAMPLE_VALUES = 2 ** 24;
/**
 * How deep a model's JSON may nest. Real configs nest about 10 levels, plus about 6 per nested model; the readers
 * and tfjs walk configs recursively, so a config nested thousands deep would end in a stack overflow.
 */
export const MAX_JSON_DEPTH = 100;

/**
 * How long reading, building and gradient-checking a teacher may take before the studio or the CLI gives up on it:
 * 30 s plus 1 s per MiB of its files. Measured on a load thread of the shared 2-core dev machine, healthy teachers
 * of 0.2 to 2 MiB (LeNet, an MLP, ResNet-8, DoodleNet) take 0.02 to 0.8 s, and dense models of 16, 64 and 256 MiB
 * take 0.7, 2.3 and 5.4 s (0.02 to 0.05 s per MiB). The base is about 40 times the slowest small teacher and the
 * per-MiB term 20 to 50 times the cost of a MiB, so a slower machine or a busier tab is not cut off, while a file
 * that is looping is given up on within half a minute or so.
 */
export function loadDeadlineMs(bytes: number): number {
  return 30_000 + Math.ceil((1000 * Math.max(0, bytes)) / MiB);
}

/** "1.2 MiB", "335.3 GiB": sizes in messages. */
export function sizeText(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'an unbounded size';
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(1)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

const shapeText = (shape: readonly unknown[]) => `[${shape.map((d) => (typeof d === 'number' ? d : JSON.stringify(d))).join(',')}]`;

/**
 * Check a shape a file declares for one tensor: whole non-negative dimensions, and at most MAX_TENSOR_VALUES values.
 * Returns the number of values. `what` names the tensor ('weight "conv1/kernel"'), `where` the file.
 */
export function checkDeclaredShape(shape: unknown, what: string, where: string): number {
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0))
    throw new TeacherError('too-large', `${where}: ${what} has the shape ${Array.isArray(shape) ? shapeText(shape) : JSON.stringify(shape)}, which is not a list of whole sizes; the file is damaged`);
  const values = (shape as number[]).reduce((p, d) => p * d, 1);
  if (values > MAX_TENSOR_VALUES)
    throw new TeacherError(
      'too-large',
      `${where}: ${what} declares the shape ${shapeText(shape)} (${values.toExponential(1)} values, ${sizeText(values * 4)} as float32), beyond the ${sizeText(MAX_WEIGHT_BYTES)} a teacher may hold; the file is damaged or not a model that fits in a browser tab`,
    );
  return values;
}

/** Refuse an input shape (without the batch axis) larger than MAX_SAMPLE_VALUES. */
export function checkInputShape(shape: readonly number[], where: string): void {
  const values = shape.reduce((p, d) => p * d, 1);
  if (values > MAX_SAMPLE_VALUES)
    throw new TeacherError(
      'too-large',
      `${where}: the model's input ${shapeText(shape)} holds ${sizeText(values * 4)} per sample, beyond the ${sizeText(MAX_SAMPLE_VALUES * 4)} CAKE can synthesise; the file is damaged or the model is far too large for CAKE`,
    );
}

/** Refuse weights that together decode to more than MAX_WEIGHT_BYTES. */
export function checkTotalWeights(float32Bytes: number, where: string): void {
  if (float32Bytes > MAX_WEIGHT_BYTES)
    throw new TeacherError(
      'too-large',
      `${where} declares ${sizeText(float32Bytes)} of weights, beyond the ${sizeText(MAX_WEIGHT_BYTES)} a teacher may hold; the file is damaged or not a model that fits in a browser tab`,
    );
}

/** Refuse a parsed JSON value nested deeper than MAX_JSON_DEPTH (walked without recursion). */
export function checkJsonDepth(value: unknown, where: string): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > MAX_JSON_DEPTH)
      throw new TeacherError('too-large', `${where} nests deeper than ${MAX_JSON_DEPTH} levels; a model config never does, so the file is damaged`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
}

/** What fflate tells a filter about a zip entry before it inflates it. */
export interface ZipEntryInfo {
  name: string;
  size: number;
  originalSize: number;
}

/**
 * Wrap a zip entry filter (fflate's `unzipSync({ filter })`) so the zip's directory is held to the caps before
 * anything is inflated: fflate allocates each entry's declared size up front, and walks as many entries as the
 * directory claims (a damaged count can claim four billion). Throws TeacherError('bad-zip').
 */
export function guardZipEntries(zipName: string, keep: (entry: ZipEntryInfo) => boolean): (entry: ZipEntryInfo) => boolean {
  let entries = 0;
  let total = 0;
  return (entry) => {
    if (++entries > MAX_ZIP_ENTRIES)
      throw new TeacherError('bad-zip', `"${zipName}" lists more than ${MAX_ZIP_ENTRIES} entries; a model archive never does, so the zip is damaged`);
    if (!keep(entry)) return false;
    total += entry.originalSize;
    if (entry.originalSize > MAX_UNZIPPED_BYTES || total > MAX_UNZIPPED_BYTES)
      throw new TeacherError(
        'bad-zip',
        `"${zipName}" would unpack to more than ${sizeText(MAX_UNZIPPED_BYTES)} ("${entry.name}" alone declares ${sizeText(entry.originalSize)} from ${sizeText(entry.size)}); it is damaged or not a model archive`,
      );
    return true;
  };
}
