import type * as tf from '@tensorflow/tfjs';
import { exportStudent, type ExportedModel } from './export';
import { weightByteLength } from './weights';

// Smaller students for the browser: the weights of a tfjs LayersModel stored as float16 or as 8-bit affine
// integers, in the manifest format tfjs-converter writes (`--quantize_float16`, `--quantize_uint8`) and plain
// tf.loadLayersModel reads: each weight's manifest entry keeps dtype float32 and gains
// `quantization: {dtype: 'float16'}` or `quantization: {dtype: 'uint8', scale, min}`; tfjs dequantizes at load
// time, so the model runs in float32 and only the download and storage shrink.

export type Quantization = 'float16' | 'uint8';
export const QUANTIZATIONS: readonly Quantization[] = ['float16', 'uint8'];

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half-precision bits of `v`, rounded to nearest, ties to even (as numpy's astype(float16)). */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // A half subnormal: m·2^-24, from the float's full 24-bit significand.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = sign | (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and reaches infinity past 65504).
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return half;
}

/**
 * uint8 affine parameters as tfjs-converter computes them (quantization.py, _get_affine_quantization_range): the
 * range is nudged so that 0 is exactly representable when it lies inside it (zero weights and padding stay zero).
 */
export function affineRange(min: number, max: number): { min: number; scale: number } {
  if (min === max) return { min, scale: 1 };
  const scale = (max - min) / 255;
  if (min <= 0 && 0 <= max) return { min: -Math.round(-min / scale) * scale, scale };
  return { min, scale };
}

/** One float32 weight's values quantized: its bytes and its manifest `quantization`. */
function quantizeValues(values: Float32Array, dtype: Quantization): { bytes: Uint8Array; quantization: tf.io.WeightsManifestEntry['quantization'] } {
  if (dtype === 'float16') {
    const half = Uint16Array.from(values, floatToHalf);
    return { bytes: new Uint8Array(half.buffer), quantization: { dtype: 'float16' } };
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (values.length === 0) lo = hi = 0;
  const { min, scale } = affineRange(lo, hi);
  const max = min + 255 * scale;
  const bytes = Uint8Array.from(values, (v) => Math.round((Math.min(Math.max(v, min), max) - min) / scale));
  return { bytes, quantization: { dtype: 'uint8', scale, min } };
}

/** Float32 weight specs and their data, quantized weight by weight (other dtypes are copied unchanged). */
export function quantizeWeights(specs: readonly tf.io.WeightsManifestEntry[], data: ArrayBuffer, dtype: Quantization): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  const parts: Uint8Array[] = [];
  const out: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (spec.quantization) throw new Error(`weight "${spec.name}" is already quantized (${spec.quantization.dtype})`);
    const size = weightByteLength(spec);
    if (offset + size > data.byteLength) throw new Error(`the weight data ends before weight "${spec.name}"`);
    if (spec.dtype !== 'float32') {
      parts.push(new Uint8Array(data, offset, size));
      out.push({ ...spec });
    } else {
      const q = quantizeValues(new Float32Array(data.slice(offset, offset + size)), dtype);
      parts.push(q.bytes);
      out.push({ ...spec, quantization: q.quantization });
    }
    offset += size;
  }
  const joined = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.byteLength;
  }
  return { specs: out, data: joined.buffer };
}

/** The model as model.json + weights.bin with quantized weights (same file names as the float export). */
export async function exportQuantized(model: tf.LayersModel, dtype: Quantization): Promise<ExportedModel> {
  const float = await exportStudent(model);
  const group = float.modelJson.weightsManifest[0];
  const q = quantizeWeights(group.weights, float.weights, dtype);
  return { modelJson: { ...float.modelJson, weightsManifest: [{ ...group, weights: q.specs }] }, weights: q.data };
}
