import { unzlibSync } from 'fflate';

// A PNG decoder in plain TypeScript over fflate's inflate, for reading labelled image folders where no browser
// decodes them (the CLI in Node, without a native image library). Every PNG the format allows: grey, grey+alpha,
// RGB, RGBA and palette images at bit depths 1 to 16, with or without Adam7 interlacing. JPEG has no decoder here.

export interface DecodedImage {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel, row-major. */
  rgba: Uint8Array;
}

export class PngError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PngError';
  }
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Channels per colour type: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Adam7's passes: starting row and column, row and column steps. */
const ADAM7 = [
  [0, 0, 8, 8],
  [0, 4, 8, 8],
  [4, 0, 8, 4],
  [0, 2, 4, 4],
  [2, 0, 4, 2],
  [0, 1, 2, 2],
  [1, 0, 2, 1],
];

/** The Paeth predictor of the PNG specification. */
export function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Undo the per-row filters of one (sub)image in place; returns the offset after it. */
function unfilter(data: Uint8Array, at: number, rows: number, stride: number, bpp: number, name: string): number {
  let prev: Uint8Array | undefined;
  for (let y = 0; y < rows; y++) {
    if (at + 1 + stride > data.length) throw new PngError(`${name} is truncated: its image data ends in row ${y + 1} of ${rows}`);
    const filter = data[at];
    const row = data.subarray(at + 1, at + 1 + stride);
    for (let i = 0; i < stride; i++) {
      const left = i >= bpp ? row[i - bpp] : 0;
      const up = prev ? prev[i] : 0;
      const upLeft = prev && i >= bpp ? prev[i - bpp] : 0;
      switch (filter) {
        case 0:
          break;
        case 1:
          row[i] = (row[i] + left) & 0xff;
          break;
        case 2:
          row[i] = (row[i] + up) & 0xff;
          break;
        case 3:
          row[i] = (row[i] + ((left + up) >> 1)) & 0xff;
          break;
        case 4:
          row[i] = (row[i] + paeth(left, up, upLeft)) & 0xff;
          break;
        default:
          throw new PngError(`${name} has an unknown row filter ${filter}; it is damaged`);
      }
    }
    // Move the row one byte left over its filter byte, so rows lie contiguous for reading.
    data.copyWithin(at - y, at + 1, at + 1 + stride);
    prev = data.subarray(at - y, at - y + stride);
    at += 1 + stride;
  }
  return at;
}

/** Decode a PNG file to 8-bit RGBA. */
export function decodePng(bytes: Uint8Array, name = 'the image'): DecodedImage {
  if (bytes.length < 8 || !SIGNATURE.every((v, i) => bytes[i] === v)) throw new PngError(`${name} is not a PNG image`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  let depth = 0;
  let colour = 0;
  let interlace = 0;
  let palette: Uint8Array | undefined;
  let transparency: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let ended = false;
  for (let at = 8; at + 8 <= bytes.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const body = bytes.subarray(at + 8, at + 8 + length);
    if (body.length < length) throw new PngError(`${name} is truncated inside its ${type} chunk`);
    if (type === 'IHDR') {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      depth = body[8];
      colour = body[9];
      interlace = body[12];
    } else if (type === 'PLTE') palette = body;
    else if (type === 'tRNS') transparency = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') {
      ended = true;
      break;
    }
    at += 12 + length;
  }
  const channels = CHANNELS[colour];
  if (!width || !height || channels === undefined || ![1, 2, 4, 8, 16].includes(depth))
    throw new PngError(`${name} has a header this decoder does not understand (colour type ${colour}, bit depth ${depth})`);
  if (colour === 3 && !palette) throw new PngError(`${name} is a palette image without a palette`);
  if (idat.length === 0) throw new PngError(ended ? `${name} holds no image data` : `${name} is truncated: it ends before its image data`);
  const joined = new Uint8Array(idat.reduce((s, c) => s + c.length, 0));
  idat.reduce((o, c) => (joined.set(c, o), o + c.length), 0);
  let raw: Uint8Array;
  try {
    raw = unzlibSync(joined);
  } catch (e) {
    throw new PngError(`${name} has image data that cannot be inflated (${(e as Error).message}); it is ${ended ? 'damaged' : 'truncated'}`);
  }

  const bitsPerPixel = channels * depth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const rgba = new Uint8Array(width * height * 4);
  const maxValue = (1 << depth) - 1;
  /** Sample k of pixel x in a row of unfiltered bytes, scaled to 0–255 (palette indices left as they are). */
  const sample = (row: Uint8Array, x: number, k: number): number => {
    if (depth === 8) return row[x * channels + k];
    if (depth === 16) return row[2 * (x * channels + k)];
    const bit = (x * channels + k) * depth;
    const v = (row[bit >> 3] >> (8 - depth - (bit & 7))) & maxValue;
    return colour === 3 ? v : Math.round((v * 255) / maxValue);
  };
  const put = (row: Uint8Array, x: number, px: number) => {
    const o = px * 4;
    if (colour === 3) {
      const i = sample(row, x, 0);
      rgba[o] = palette![3 * i] ?? 0;
      rgba[o + 1] = palette![3 * i + 1] ?? 0;
      rgba[o + 2] = palette![3 * i + 2] ?? 0;
      rgba[o + 3] = transparency?.[i] ?? 255;
    } else if (channels <= 2) {
      const g = sample(row, x, 0);
      rgba[o] = rgba[o + 1] = rgba[o + 2] = g;
      rgba[o + 3] = channels === 2 ? sample(row, x, 1) : 255;
    } else {
      rgba[o] = sample(row, x, 0);
      rgba[o + 1] = sample(row, x, 1);
      rgba[o + 2] = sample(row, x, 2);
      rgba[o + 3] = channels === 4 ? sample(row, x, 3) : 255;
    }
  };

  const passes = interlace === 1 ? ADAM7 : [[0, 0, 1, 1]];
  let at = 0;
  for (const [y0, x0, dy, dx] of passes) {
    const w = Math.ceil((width - x0) / dx);
    const h = Math.ceil((height - y0) / dy);
    if (w <= 0 || h <= 0) continue;
    const stride = Math.ceil((w * bitsPerPixel) / 8);
    const start = at;
    at = unfilter(raw, at, h, stride, bpp, name);
    // unfilter packed the pass's rows at `start - row index`… contiguous from `start`.
    for (let y = 0; y < h; y++) {
      const row = raw.subarray(start + y * stride, start + (y + 1) * stride);
      for (let x = 0; x < w; x++) put(row, x, (y0 + y * dy) * width + x0 + x * dx);
    }
  }
  return { width, height, rgba };
}

/**
 * RGBA resized to width×height: area averages when shrinking (each output pixel is the mean of the source pixels it
 * covers), bilinear with half-pixel centres when enlarging.
 */
export function resizeRgba(image: DecodedImage, width: number, height: number): Uint8Array {
  const { width: W, height: H, rgba } = image;
  if (W === width && H === height) return rgba;
  const out = new Uint8Array(width * height * 4);
  const sx = W / width;
  const sy = H / height;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      if (sx >= 1 && sy >= 1) {
        // The source rectangle [x·sx, (x+1)·sx) × [y·sy, (y+1)·sy), partial pixels weighted by their overlap.
        const acc = [0, 0, 0, 0];
        let total = 0;
        for (let v = Math.floor(y * sy); v < Math.min(H, Math.ceil((y + 1) * sy)); v++) {
          const wy = Math.min(v + 1, (y + 1) * sy) - Math.max(v, y * sy);
          for (let u = Math.floor(x * sx); u < Math.min(W, Math.ceil((x + 1) * sx)); u++) {
            const wgt = wy * (Math.min(u + 1, (x + 1) * sx) - Math.max(u, x * sx));
            const i = (v * W + u) * 4;
            for (let k = 0; k < 4; k++) acc[k] += wgt * rgba[i + k];
            total += wgt;
          }
        }
        for (let k = 0; k < 4; k++) out[o + k] = Math.round(acc[k] / total);
      } else {
        const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), H - 1);
        const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), W - 1);
        const [y0, x0] = [Math.floor(fy), Math.floor(fx)];
        const [y1, x1] = [Math.min(y0 + 1, H - 1), Math.min(x0 + 1, W - 1)];
        const [ty, tx] = [fy - y0, fx - x0];
        for (let k = 0; k < 4; k++) {
          const top = rgba[(y0 * W + x0) * 4 + k] * (1 - tx) + rgba[(y0 * W + x1) * 4 + k] * tx;
          const bottom = rgba[(y1 * W + x0) * 4 + k] * (1 - tx) + rgba[(y1 * W + x1) * 4 + k] * tx;
          out[o + k] = Math.round(top * (1 - ty) + bottom * ty);
        }
      }
    }
  return out;
}
