import * as tf from '@tensorflow/tfjs';
import { gzipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { idxImagesToTensorData, readIdx } from './idx';
import { fitPadding, inputGeometry, prepareLabelled, readIdxPair, readImageFolder, toModelInput, type ImageDecoder } from './labelled-data';

/** An unsigned-byte IDX file. */
function idx(dims: number[], data: ArrayLike<number>): ArrayBuffer {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, 0x08, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(Array.from(data), 4 + 4 * dims.length);
  return out.buffer;
}

const MNIST_INFO = {
  inputShape: [32, 32, 1],
  layout: 'NHWC',
  numClasses: 10,
  preprocessing: { pad: 2, scale: 1 / 255, mean: 0.1307, std: 0.3081 },
};

function pixels(n: number, h: number, w: number): Uint8Array {
  return Uint8Array.from({ length: n * h * w }, (_, i) => (i * 37) % 256);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('labelled evaluation preprocessing', () => {
  it('pads and normalises IDX images exactly as idxImagesToTensorData does (the CAKE MNIST convention)', async () => {
    const px = pixels(3, 28, 28);
    const labels = [1, 2, 3];
    const files = [
      { name: 't10k-images-idx3-ubyte.gz', data: gzipSync(new Uint8Array(idx([3, 28, 28], px))).slice().buffer as ArrayBuffer },
      { name: 't10k-labels-idx1-ubyte', data: idx([3], labels) },
    ];
    const prepared = await prepareLabelled(files, MNIST_INFO);
    expect(prepared.pad).toBe(2);
    expect(prepared.imageSize).toEqual([28, 28]);
    expect([...prepared.labels]).toEqual(labels);
    const expected = idxImagesToTensorData(readIdx(idx([3, 28, 28], px)), { pad: 2, scale: 1 / 255, mean: 0.1307, std: 0.3081 });
    expect(prepared.x.length).toBe(3 * 32 * 32);
    expect(Math.max(...prepared.x.map((v, i) => Math.abs(v - expected[i])))).toBeLessThan(1e-6);
  });

  it('fits images by the declared padding, by none, or by equal padding; says why not otherwise', () => {
    const g = inputGeometry([32, 32, 1], 'NHWC');
    expect(fitPadding(28, 28, g, 2)).toBe(2);
    expect(fitPadding(32, 32, g, 2)).toBe(0);
    expect(fitPadding(28, 28, g)).toBe(2);
    expect(() => fitPadding(30, 28, g, 2)).toThrow(/30×28 and cannot be fitted to the teacher's 32×32 input/);
    expect(() => fitPadding(40, 40, g)).toThrow(/larger than the teacher's 32×32 input/);
    expect(inputGeometry([3, 8, 6], 'NCHW')).toEqual({ layout: 'NCHW', height: 8, width: 6, channels: 3 });
    expect(inputGeometry([784], 'flat')).toMatchObject({ height: 28, width: 28, channels: 1 });
  });

  it('refuses mismatched counts, wrong magic numbers and out-of-range labels with specific messages', () => {
    const images = { name: 'train-images-idx3-ubyte', data: idx([4, 2, 2], pixels(4, 2, 2)) };
    expect(() => readIdxPair([images, { name: 'train-labels-idx1-ubyte', data: idx([3], [0, 1, 2]) }], 10)).toThrow(
      'train-images-idx3-ubyte holds 4 images but train-labels-idx1-ubyte holds 3 labels; they must match',
    );
    expect(() => readIdxPair([images, { name: 'train-labels-idx1-ubyte', data: idx([4, 1, 1], [0, 1, 2, 3]) }], 10)).toThrow(
      /train-labels-idx1-ubyte has magic 2051 .*IDX labels have magic 2049/,
    );
    expect(() => readIdxPair([images, { name: 'train-labels-idx1-ubyte', data: new Uint8Array([1, 2, 3, 4, 5, 6]).buffer }], 10)).toThrow(
      /not an IDX file/,
    );
    expect(() => readIdxPair([images, { name: 'labels', data: idx([4], [0, 1, 12, 3]) }], 10)).toThrow(
      "labels: label 12 (image 2) is outside the teacher's 10 classes",
    );
    expect(() => readIdxPair([images], 10)).toThrow(/one IDX images file and one IDX labels file/);
  });

  it('prefers the test pair when training and test files are dropped together', () => {
    const pair = readIdxPair(
      [
        { name: 'train-images-idx3-ubyte', data: idx([2, 2, 2], pixels(2, 2, 2)) },
        { name: 'train-labels-idx1-ubyte', data: idx([2], [0, 1]) },
        { name: 't10k-images-idx3-ubyte', data: idx([1, 2, 2], pixels(1, 2, 2)) },
        { name: 't10k-labels-idx1-ubyte', data: idx([1], [5]) },
      ],
      10,
    );
    expect(pair.count).toBe(1);
    expect([...pair.labels]).toEqual([5]);
  });

  it('reads a folder of images per class (by class name or index) through the decoder, in the teacher layout', async () => {
    // A fake decoder: solid colour per file, from its name.
    const colours: Record<string, [number, number, number]> = { a: [255, 0, 0], b: [0, 0, 255] };
    const decode: ImageDecoder = async (_d, name, w, h) => {
      const c = colours[name.split('/').pop()!.charAt(0)];
      const out = new Uint8ClampedArray(w * h * 4);
      for (let p = 0; p < w * h; p++) out.set([...c, 255], 4 * p);
      return out;
    };
    const blob = new ArrayBuffer(1);
    const files = [
      { name: 'set/cat/a1.png', data: blob },
      { name: 'set/1/b1.jpg', data: blob },
      { name: 'set/readme.txt', data: blob },
    ];
    const g = inputGeometry([3, 2, 2], 'NCHW');
    const { data, pad } = await readImageFolder(files, g, {}, 2, ['cat', 'dog'], decode);
    expect(pad).toBe(0);
    expect(data.count).toBe(2);
    expect([...data.labels]).toEqual([0, 1]);
    const x = toModelInput(data, g, { scale: 1, channelOrder: 'BGR' }, 0);
    // NCHW, BGR: image 0 (red) has channel 2 = 255, image 1 (blue) has channel 0 = 255.
    expect([...x.subarray(0, 12)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255]);
    expect([...x.subarray(12, 24)]).toEqual([255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0]);
    await expect(readImageFolder([{ name: 'set/horse/a.png', data: blob }], g, {}, 2, ['cat', 'dog'], decode)).rejects.toThrow(
      /"horse" is neither one of the teacher's class names \(cat, dog\) nor a class index/,
    );
    await expect(readImageFolder([{ name: 'set/7/a.png', data: blob }], g, {}, 2, undefined, decode)).rejects.toThrow(/names class 7, but the teacher has 2 classes/);
  });
});

/** CIFAR binary records: label byte(s), then the red, green and blue planes of a 32×32 image. */
function cifar(labels: number[][], pixel: (i: number, k: number, p: number) => number): Uint8Array {
  const record = labels[0].length + 3072;
  const out = new Uint8Array(labels.length * record);
  labels.forEach((l, i) => {
    out.set(l, i * record);
    for (let k = 0; k < 3; k++) for (let p = 0; p < 1024; p++) out[i * record + l.length + k * 1024 + p] = pixel(i, k, p);
  });
  return out;
}

describe('CIFAR binary files', () => {
  const pixel = (i: number, k: number, p: number) => (i * 50 + k * 80 + p) % 256;
  const NCHW = { inputShape: [3, 32, 32], layout: 'NCHW', numClasses: 10, preprocessing: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } };

  it('reads CIFAR-10 (gzip or not) into an NCHW teacher with per-channel mean and std, preferring the test batch', async () => {
    const test = cifar([[3], [7]], pixel);
    const files = [
      { name: 'cifar10/data_batch_1.bin', data: cifar([[1]], pixel).buffer as ArrayBuffer },
      { name: 'cifar10/test_batch.bin.gz', data: gzipSync(test).slice().buffer as ArrayBuffer },
      { name: 'cifar10/batches.meta.txt', data: new TextEncoder().encode('airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n').buffer as ArrayBuffer },
    ];
    const prepared = await prepareLabelled(files, NCHW);
    expect([...prepared.labels]).toEqual([3, 7]);
    expect(prepared.source).toBe('test_batch.bin.gz (CIFAR-10; airplane, automobile, bird, …)');
    // Image 1, green plane, pixel (row 2, column 5).
    const p = 2 * 32 + 5;
    const expected = (pixel(1, 1, p) / 255 - 0.456) / 0.224;
    expect(prepared.x[((1 * 3 + 1) * 32 + 2) * 32 + 5]).toBeCloseTo(expected, 5);
  });

  it('reads CIFAR-100 (fine labels, or coarse for a 20-class teacher) into an NHWC teacher', async () => {
    const data = cifar([[4, 61], [19, 2]], pixel).buffer as ArrayBuffer;
    const fine = await prepareLabelled([{ name: 'test.bin', data }], { inputShape: [32, 32, 3], layout: 'NHWC', numClasses: 100 });
    expect([...fine.labels]).toEqual([61, 2]);
    // NHWC: image 0, pixel 10, blue.
    expect(fine.x[10 * 3 + 2]).toBeCloseTo(pixel(0, 2, 10) / 255, 6);
    const coarse = await prepareLabelled([{ name: 'test.bin', data }], { inputShape: [32, 32, 3], layout: 'NHWC', numClasses: 20 });
    expect([...coarse.labels]).toEqual([4, 19]);
  });

  it('refuses a file that is not whole records, and labels beyond the teacher', async () => {
    const info = { inputShape: [32, 32, 3], layout: 'NHWC', numClasses: 10 };
    await expect(prepareLabelled([{ name: 'x.bin', data: new ArrayBuffer(5000) }], info)).rejects.toThrow(/x\.bin is not a CIFAR binary file: its 5000 bytes are not a whole number of records/);
    await expect(prepareLabelled([{ name: 'x.bin', data: cifar([[12]], pixel).buffer as ArrayBuffer }], info)).rejects.toThrow("x.bin: label 12 (image 0) is outside the teacher's 10 classes");
  });
});
