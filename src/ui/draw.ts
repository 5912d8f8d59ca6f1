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
