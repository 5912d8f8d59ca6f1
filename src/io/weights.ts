import type * as tf from '@tensorflow/tfjs';
import { basename, dirname, type NamedFile } from './files';
import { checkDeclaredShape, checkTotalWeights } from './limits';
import { TeacherError } from './teacher-error';

// Matching weightsManifest paths to dropped files and checking their bytes before tfjs sees them: tfjs' own
// errors for a short or missing shard ("Offset is outside the bounds of the DataView") do not tell a user which
// file to fix.

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };
const QUANT_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

/** Bytes one weight occupies in the shard data, quantization included. */
export function weightByteLength(spec: tf.io.WeightsManifestEntry): number {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const per = spec.quantization ? QUANT_BYTES[spec.quantization.dtype] : DTYPE_BYTES[spec.dtype];
  return count * per;
}

const quote = (names: string[]) => names.map((n) => `"${n}"`).join(', ');

/**
 * The file for a manifest path: same basename, preferring model.json's folder. Converters write shards with and
 * without ".bin" (legacy graph models have none), and downloads sometimes add or drop it, so both are accepted.
 */
function findFile(files: readonly NamedFile[], path: string, modelDir: string): NamedFile | undefined {
  const want = basename(path);
  const alternatives = [want, want.endsWith('.bin') ? want.slice(0, -4) : `${want}.bin`];
  for (const candidate of alternatives) {
    for (const caseless of [false, true]) {
      const hits = files.filter((f) =>
        caseless ? basename(f.name).toLowerCase() === candidate.toLowerCase() : basename(f.name) === candidate,
      );
      if (hits.length > 0) return hits.find((f) => dirname(f.name) === modelDir) ?? hits[0];
    }
  }
  return undefined;
}

export interface ResolvedWeights {
  specs: tf.io.WeightsManifestEntry[];
  /** All groups' shards, concatenated in manifest order: the layout tfjs' decodeWeights expects for `specs`. */
  data: ArrayBuffer;
}

/** Find every shard, check each group's byte count against its weight specs, and join them into one buffer. */
export function resolveWeights(manifest: tf.io.WeightsManifestConfig, files: readonly NamedFile[], modelFile: NamedFile): ResolvedWeights {
  const modelDir = dirname(modelFile.name);
  const modelName = basename(modelFile.name);
  checkManifestSizes(manifest, modelName);
  const missing = manifest.flatMap((g) => g.paths.filter((p) => !findFile(files, p, modelDir)).map(basename));
  if (missing.length === 1)
    throw new TeacherError('missing-weights', `weights file "${missing[0]}" is missing: drop it together with ${modelName}`);
  if (missing.length > 1)
    throw new TeacherError('missing-weights', `weights files ${quote(missing)} are missing: drop them together with ${modelName}`);

  const buffers: ArrayBuffer[] = [];
  for (const group of manifest) {
    const shards = group.paths.map((p) => findFile(files, p, modelDir)!);
    const names = shards.map((f) => basename(f.name));
    const declared = group.weights.reduce((sum, w) => sum + weightByteLength(w), 0);
    const held = shards.reduce((sum, f) => sum + f.data.byteLength, 0);
    if (held !== declared) {
      const empty = shards.filter((f) => f.data.byteLength === 0).map((f) => basename(f.name));
      if (empty.length > 0)
        throw new TeacherError(
          'weights-size',
          `weights file ${quote(empty)} ${empty.length === 1 ? 'is' : 'are'} empty (0 bytes) but ${modelName} declares ${declared} bytes${shards.length > 1 ? ` for ${quote(names)}` : ''}`,
        );
      throw new TeacherError(
        'weights-size',
        shards.length === 1
          ? `weights "${names[0]}" hold ${held} bytes but ${modelName} declares ${declared}`
          : `weights ${quote(names)} hold ${held} bytes together but ${modelName} declares ${declared}`,
      );
    }
    buffers.push(...shards.map((f) => f.data));
  }
  return { specs: manifest.flatMap((g) => g.weights), data: concat(buffers) };
}

/**
 * Before any shard is touched: every weight's shape within the caps, and all of them together too (src/io/limits.ts).
 * The bytes present are compared with these sizes afterwards.
 */
function checkManifestSizes(manifest: tf.io.WeightsManifestConfig, modelName: string): void {
  let values = 0;
  for (const group of manifest) for (const w of group.weights) values += checkDeclaredShape(w.shape, `weight "${w.name}"`, modelName);
  checkTotalWeights(values * 4, modelName);
}

function concat(buffers: ArrayBuffer[]): ArrayBuffer {
  if (buffers.length === 1) return buffers[0];
  const out = new Uint8Array(buffers.reduce((s, b) => s + b.byteLength, 0));
  let at = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  return out.buffer;
}

/**
 * Refuse weights holding NaN or ±Inf, naming the first one: a teacher with them produces NaN logits and the
 * whole run would be garbage without a clue why. Reads float32 and float16 bit patterns directly, without tensors.
 */
export function checkFiniteWeights(resolved: ResolvedWeights): void {
  let offset = 0;
  for (const spec of resolved.specs) {
    const bytes = weightByteLength(spec);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    let bad = 0;
    const q = spec.quantization;
    if (q) {
      if (q.dtype === 'float16') bad = countNonFiniteHalf(resolved.data, offset, count);
    } else if (spec.dtype === 'float32' || spec.dtype === 'complex64') {
      bad = countNonFiniteFloat(resolved.data, offset, bytes / 4);
    }
    if (bad > 0)
      throw new TeacherError(
        'non-finite-weights',
        `weight "${spec.name}" holds ${bad} NaN or infinite value${bad === 1 ? '' : 's'} (of ${count}); the model is broken: re-export it from a healthy checkpoint`,
      );
    offset += bytes;
  }
}

function countNonFiniteFloat(data: ArrayBuffer, offset: number, n: number): number {
  // Float32Array needs a 4-byte aligned offset; quantized weights before this one can misalign it.
  const view = offset % 4 === 0 ? new Float32Array(data, offset, n) : new Float32Array(data.slice(offset, offset + n * 4));
  let bad = 0;
  for (let i = 0; i < n; i++) if (!Number.isFinite(view[i])) bad++;
  return bad;
}

function countNonFiniteHalf(data: ArrayBuffer, offset: number, n: number): number {
  const view = new DataView(data, offset, n * 2);
  let bad = 0;
  // A half float is NaN or Inf exactly when all five exponent bits are set.
  for (let i = 0; i < n; i++) if ((view.getUint16(i * 2, true) & 0x7c00) === 0x7c00) bad++;
  return bad;
}

/** The float32 values of the weight named `name` (e.g. "normalization/mean"), when there is one. */
export function weightValues(resolved: ResolvedWeights, name: string): Float32Array | undefined {
  let offset = 0;
  for (const spec of resolved.specs) {
    const bytes = weightByteLength(spec);
    if (spec.name === name && spec.dtype === 'float32' && !spec.quantization) return new Float32Array(resolved.data.slice(offset, offset + bytes));
    offset += bytes;
  }
  return undefined;
}
