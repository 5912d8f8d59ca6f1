/**
 * Synthetic samples from the teacher's input space to pixels: undo the normalisation (x·std + mean), divide by the
 * pixel scale to get 0..255, clamp. Rank-2 [H, W] inputs and one-channel images are grayscale; three channels are RGB
 * (BGR swapped back); NCHW is read channel-first.
 */
import type { Preprocessing } from '../worker/protocol';

export interface ImageGeometry {
  height: number;
  width: number;
  channels: number;
  channelFirst: boolean;
}

export function geometry(inputShape: readonly number[]): ImageGeometry {
  if (inputShape.length === 1) {
    const side = Math.round(Math.sqrt(inputShape[0]));
    if (side * side === inputShape[0]) return { height: side, width: side, channels: 1, channelFirst: false };
    return { height: 1, width: inputShape[0], channels: 1, channelFirst: false };
  }
  if (inputShape.length === 2) return { height: inputShape[0], width: inputShape[1], channels: 1, channelFirst: false };
  const [a, b, c] = inputShape;
  if (c <= 4) return { height: a, width: b, channels: c, channelFirst: false };
  if (a <= 4) return { height: b, width: c, channels: a, channelFirst: true };
  return { height: a, width: b, channels: c, channelFirst: false };
}

const at = (v: number | number[], c: number) => (Array.isArray(v) ? (v[c] ?? v[0] ?? 0) : v);

/** Write sample `index` of a [n, ...inputShape] buffer into RGBA pixels. */
export function samplePixels(
  x: Float32Array,
  index: number,
  g: ImageGeometry,
  pre: Preprocessing,
  out: Uint8ClampedArray,
): void {
  const { height: H, width: W, channels: C, channelFirst } = g;
  const plane = H * W;
  const base = index * plane * C;
  const scale = pre.scale === 0 ? 1 : pre.scale;
  const swap = pre.channelOrder === 'bgr' && C >= 3;
  // pixel = (x·std + mean) / scale = x·mul + add, per source channel; red, green and blue read channels src[0..2].
  const src = C >= 3 ? (swap ? [2, 1, 0] : [0, 1, 2]) : [0, 0, 0];
  const mul = src.map((c) => at(pre.std, c) / scale);
  const add = src.map((c) => at(pre.mean, c) / scale);
  // Where channel c of pixel i sits: base + i·step + c·stride.
  const step = channelFirst ? 1 : C;
  const stride = channelFirst ? plane : 1;
  const [r0, g0, b0] = src.map((c) => base + c * stride);
  for (let i = 0, o = 0; i < plane; i++, o += 4) {
    const k = i * step;
    out[o] = x[r0 + k] * mul[0] + add[0];
    out[o + 1] = x[g0 + k] * mul[1] + add[1];
    out[o + 2] = x[b0 + k] * mul[2] + add[2];
    out[o + 3] = 255;
  }
}

export function drawSample(
  canvas: HTMLCanvasElement,
  x: Float32Array,
  index: number,
  inputShape: readonly number[],
  pre: Preprocessing,
): void {
  const g = geometry(inputShape);
  if (canvas.width !== g.width) canvas.width = g.width;
  if (canvas.height !== g.height) canvas.height = g.height;
  // A CPU-backed canvas: dozens of tiny GPU-backed canvases cost far more to create and upload to than to draw.
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) return;
  const img = ctx.createImageData(g.width, g.height);
  samplePixels(x, index, g, pre, img.data);
  ctx.putImageData(img, 0, 0);
}

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
  /** Where the values came from. */
  source: 'metadata' | 'default' | 'user';
}

export const DEFAULT_DRAFT: PreprocessingDraft = { scale: '1/255', mean: '0', std: '1', channelOrder: 'rgb', source: 'default' };

/** A pixel scale as text: "1/255" or "1/127.5" when it is one of those, else the number. */
function formatScale(v: number): string {
  const inv = Math.round((1 / v) * 10) / 10;
  return Math.abs(1 / v - inv) < 1e-6 * inv ? `1/${inv}` : String(v);
}

export function draftFrom(pre: Partial<Preprocessing> | undefined): PreprocessingDraft {
  if (!pre || (pre.scale === undefined && pre.mean === undefined && pre.std === undefined)) return DEFAULT_DRAFT;
  const fmt = (v: number | number[] | undefined, d: string) => (v === undefined ? d : Array.isArray(v) ? v.join(',') : String(v));
  return {
    scale: pre.scale !== undefined && pre.scale > 0 ? formatScale(pre.scale) : DEFAULT_DRAFT.scale,
    mean: fmt(pre.mean, '0'),
    std: fmt(pre.std, '1'),
    channelOrder: pre.channelOrder ?? 'rgb',
    source: 'metadata',
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
