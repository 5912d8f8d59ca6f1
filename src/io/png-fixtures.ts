import { zlibSync } from 'fflate';
import { paeth } from './png';

// Test-only: PNG files written byte by byte as an encoder writes them (chunks, CRCs left zero: png.ts does not
// check them), with any row filter, bit depth, colour type and interlacing.

export const crcless = (type: string, body: Uint8Array) => {
  const out = new Uint8Array(12 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set([...type].map((c) => c.charCodeAt(0)), 4);
  out.set(body, 8);
  return out;
};

/** Filter rows of `stride` bytes with filter (row index % 5) — or `fixed` — as an encoder would. */
export function filterRows(raw: Uint8Array, rows: number, stride: number, bpp: number, fixed?: number): Uint8Array {
  const out = new Uint8Array(rows * (stride + 1));
  for (let y = 0; y < rows; y++) {
    const f = fixed ?? y % 5;
    out[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const v = raw[y * stride + i];
      const left = i >= bpp ? raw[y * stride + i - bpp] : 0;
      const up = y > 0 ? raw[(y - 1) * stride + i] : 0;
      const upLeft = y > 0 && i >= bpp ? raw[(y - 1) * stride + i - bpp] : 0;
      const pred = [0, left, up, (left + up) >> 1, paeth(left, up, upLeft)][f];
      out[y * (stride + 1) + 1 + i] = (v - pred) & 0xff;
    }
  }
  return out;
}

/** Pack per-pixel sample values (each < 2^depth) into rows. */
export function pack(samples: number[][], width: number, channels: number, depth: number): { bytes: Uint8Array; stride: number } {
  const stride = Math.ceil((width * channels * depth) / 8);
  const bytes = new Uint8Array(samples.length * stride);
  samples.forEach((row, y) =>
    row.forEach((v, k) => {
      if (depth === 16) {
        bytes[y * stride + 2 * k] = v >> 8;
        bytes[y * stride + 2 * k + 1] = v & 0xff;
      } else {
        const bit = k * depth;
        bytes[y * stride + (bit >> 3)] |= v << (8 - depth - (bit & 7));
      }
    }),
  );
  return { bytes, stride };
}

export function png(width: number, height: number, colour: number, depth: number, data: Uint8Array, extra: Uint8Array[] = [], interlace = 0): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([depth, colour, 0, 0, interlace], 8);
  const z = zlibSync(data);
  const parts = [Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), crcless('IHDR', ihdr), ...extra, crcless('IDAT', z.subarray(0, 5)), crcless('IDAT', z.subarray(5)), crcless('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
}


/** An 8-bit RGB PNG of the given pixels ([height, width, 3] bytes), every row filter used in turn. */
export function rgbPng(width: number, height: number, rgb: Uint8Array): Uint8Array {
  const stride = width * 3;
  return png(width, height, 2, 8, filterRows(rgb, height, stride, 3));
}
