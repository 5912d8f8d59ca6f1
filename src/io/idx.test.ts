import { gzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { idxImagesShape, idxImagesToTensorData, readIdx, readIdxImages, readIdxLabels } from './idx';

/** An IDX file: 0, 0, type, rank, big-endian dims, data. */
function idx(dims: number[], data: number[], type = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, type, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

describe('readIdx', () => {
  const images = idx([2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);

  it('reads raw and gzipped files alike', () => {
    for (const bytes of [images, gzipSync(images)]) {
      const arr = readIdxImages(bytes.slice().buffer);
      expect(arr.dims).toEqual([2, 2, 3]);
      expect([...arr.data]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    }
    expect(readIdxLabels(idx([3], [7, 2, 1])).data).toEqual(new Uint8Array([7, 2, 1]));
  });

  it('refuses broken files with a clear sentence', () => {
    expect(() => readIdx(new Uint8Array([1, 2, 3, 4, 5]), 'x.idx')).toThrow('x.idx is not an IDX file');
    expect(() => readIdx(images.slice(0, images.length - 2), 'x.idx')).toThrow(
      'x.idx is truncated: its header declares [2, 2, 3] = 12 values but it holds 10',
    );
    expect(() => readIdx(new Uint8Array([...images, 0]), 'x.idx')).toThrow('x.idx holds 1 bytes more than');
    expect(() => readIdx(idx([1], [0, 0, 0, 0], 0x0d), 'f.idx')).toThrow('f.idx holds float32 values; only unsigned-byte IDX files');
    expect(() => readIdxImages(idx([3], [1, 2, 3]), 'labels.idx')).toThrow('labels.idx has magic 2049 (1 dimensions); IDX images have magic 2051');
    expect(() => readIdxLabels(images, 'images.idx')).toThrow('images.idx has magic 2051 (3 dimensions); IDX labels have magic 2049');
    expect(() => readIdx(new Uint8Array([0x1f, 0x8b, 1, 2, 3]), 'z.gz')).toThrow('z.gz looks gzip-compressed but cannot be decompressed');
  });
});

describe('idxImagesToTensorData', () => {
  it('pads with zero pixels first, then normalises every value', () => {
    const images = readIdxImages(idx([1, 2, 2], [0, 255, 51, 102]));
    const opts = { pad: 1, scale: 1 / 255, mean: 0.5, std: 0.25 };
    expect(idxImagesShape(images, 1)).toEqual([1, 4, 4, 1]);
    const out = idxImagesToTensorData(images, opts);
    expect(out).toHaveLength(16);
    const f = (v: number) => (v / 255 - 0.5) / 0.25;
    const bg = f(0);
    const expected = [bg, bg, bg, bg, bg, f(0), f(255), bg, bg, f(51), f(102), bg, bg, bg, bg, bg];
    expected.forEach((v, i) => expect(out[i]).toBeCloseTo(v, 5));
  });

  it('defaults to scale 1/255, no padding, no normalisation (MNIST 28 → 32 with pad 2)', () => {
    const images = readIdxImages(idx([2, 28, 28], new Array(2 * 28 * 28).fill(255)));
    expect(idxImagesToTensorData(images).every((v) => Math.abs(v - 1) < 1e-6)).toBe(true);
    expect(idxImagesShape(images, 2)).toEqual([2, 32, 32, 1]);
    expect(idxImagesToTensorData(images, { pad: 2, mean: [0.1307], std: [0.3081] })).toHaveLength(2 * 32 * 32);
  });
});
