import { describe, expect, it } from 'vitest';
import { decodePng, resizeRgba } from './png';
import { crcless, filterRows, pack, png } from './png-fixtures';

// PNG files written by png-fixtures.ts with every row filter, bit depth, colour type and Adam7 interlacing, read back.

const W = 7;
const H = 5;

describe('PNG decoding', () => {
  it('RGB and RGBA at 8 and 16 bits, every row filter, IDAT split in two', () => {
    const rgb = Array.from({ length: H }, (_, y) => Array.from({ length: W * 3 }, (_, i) => (y * 53 + i * 29) % 256));
    const { bytes, stride } = pack(rgb, W, 3, 8);
    const img = decodePng(png(W, H, 2, 8, filterRows(bytes, H, stride, 3)));
    expect([img.width, img.height]).toEqual([W, H]);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) expect([...img.rgba.subarray((y * W + x) * 4, (y * W + x) * 4 + 4)]).toEqual([...rgb[y].slice(3 * x, 3 * x + 3), 255]);
    const rgba16 = Array.from({ length: H }, (_, y) => Array.from({ length: W * 4 }, (_, i) => (y * 4099 + i * 7919) % 65536));
    const p16 = pack(rgba16, W, 4, 16);
    const img16 = decodePng(png(W, H, 6, 16, filterRows(p16.bytes, H, p16.stride, 8)));
    expect([...img16.rgba.subarray(0, 8)]).toEqual([...rgba16[0].slice(0, 8)].map((s) => s >> 8));
  });

  it('grey at 1, 2 and 4 bits (scaled to 0–255), grey+alpha, and a palette with transparency', () => {
    for (const depth of [1, 2, 4]) {
      const max = (1 << depth) - 1;
      const grey = Array.from({ length: H }, (_, y) => Array.from({ length: W }, (_, x) => (x + y) % (max + 1)));
      const { bytes, stride } = pack(grey, W, 1, depth);
      const img = decodePng(png(W, H, 0, depth, filterRows(bytes, H, stride, 1)));
      expect(img.rgba[(2 * W + 3) * 4]).toBe(Math.round((grey[2][3] * 255) / max));
    }
    const ga = pack([[10, 200, 30, 40]], 2, 2, 8);
    expect([...decodePng(png(2, 1, 4, 8, filterRows(ga.bytes, 1, ga.stride, 2))).rgba]).toEqual([10, 10, 10, 200, 30, 30, 30, 40]);
    const palette = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255]);
    const idx = pack([[0, 1, 2, 1]], 4, 1, 2);
    const img = decodePng(png(4, 1, 3, 2, filterRows(idx.bytes, 1, idx.stride, 1, 0), [crcless('PLTE', palette), crcless('tRNS', Uint8Array.of(128))]));
    expect([...img.rgba]).toEqual([255, 0, 0, 128, 0, 255, 0, 255, 0, 0, 255, 255, 0, 255, 0, 255]);
  });

  it('Adam7 interlacing', () => {
    const grey = Array.from({ length: H }, (_, y) => Array.from({ length: W }, (_, x) => y * W + x));
    // Seven passes, each its own filtered sub-image.
    const passes = [[0, 0, 8, 8], [0, 4, 8, 8], [4, 0, 8, 4], [0, 2, 4, 4], [2, 0, 4, 2], [0, 1, 2, 2], [1, 0, 2, 1]];
    const chunks: Uint8Array[] = [];
    for (const [y0, x0, dy, dx] of passes) {
      const rows: number[][] = [];
      for (let y = y0; y < H; y += dy) {
        const row: number[] = [];
        for (let x = x0; x < W; x += dx) row.push(grey[y][x]);
        if (row.length) rows.push(row);
      }
      if (rows.length === 0) continue;
      const { bytes, stride } = pack(rows, rows[0].length, 1, 8);
      chunks.push(filterRows(bytes, rows.length, stride, 1));
    }
    const data = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
    chunks.reduce((o, c) => (data.set(c, o), o + c.length), 0);
    const img = decodePng(png(W, H, 0, 8, data, [], 1));
    expect(Array.from({ length: W * H }, (_, p) => img.rgba[4 * p])).toEqual(grey.flat());
  });

  it('says what is wrong with a file it cannot read', () => {
    expect(() => decodePng(Uint8Array.from([1, 2, 3]), 'a.png')).toThrow('a.png is not a PNG image');
    const { bytes, stride } = pack([[1, 2, 3]], 1, 3, 8);
    const whole = png(1, 1, 2, 8, filterRows(bytes, 1, stride, 3));
    expect(() => decodePng(whole.subarray(0, 40), 'cut.png')).toThrow(/cut\.png is truncated/);
  });

  it('resizes by area averages down and bilinearly up', () => {
    // 4×2 → 2×1: each output pixel averages a 2×2 block.
    const rgba = Uint8Array.from([0, 0, 0, 255, 100, 0, 0, 255, 200, 0, 0, 255, 40, 0, 0, 255, 0, 0, 0, 255, 100, 0, 0, 255, 200, 0, 0, 255, 40, 0, 0, 255]);
    expect([...resizeRgba({ width: 4, height: 2, rgba }, 2, 1)]).toEqual([50, 0, 0, 255, 120, 0, 0, 255]);
    const up = resizeRgba({ width: 2, height: 1, rgba: Uint8Array.from([0, 0, 0, 255, 100, 0, 0, 255]) }, 4, 1);
    expect([0, 4, 8, 12].map((i) => up[i])).toEqual([0, 25, 75, 100]);
  });
});
