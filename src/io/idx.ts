import { gunzipSync } from 'fflate';

// IDX is the format of MNIST and Fashion-MNIST (train-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, …). We read
// it to measure a teacher's and a student's accuracy on real test data; CAKE itself never sees these images.

export interface IdxArray {
  /** e.g. [10000, 28, 28] for images, [10000] for labels. */
  dims: number[];
  data: Uint8Array;
}

export class IdxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdxError';
  }
}

/** Magic numbers of the two unsigned-byte IDX files MNIST uses: images (3 dims) and labels (1 dim). */
export const IDX_IMAGES = 2051;
export const IDX_LABELS = 2049;

const TYPE_NAMES: Record<number, string> = { 0x09: 'int8', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };

/**
 * Parse an IDX file, gunzipping it first when it starts with the gzip magic. Only unsigned-byte data (the MNIST
 * family) is read; every other problem names the file and what is wrong.
 */
export function readIdx(input: ArrayBuffer | Uint8Array, name = 'the IDX file'): IdxArray {
  let bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new IdxError(`${name} looks gzip-compressed but cannot be decompressed (${(e as Error).message})`);
    }
  }
  if (bytes.length < 4) throw new IdxError(`${name} is too short to be an IDX file (${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0)
    throw new IdxError(`${name} is not an IDX file: it does not start with the IDX magic number (0x0000 then type and rank)`);
  const type = bytes[2];
  const rank = bytes[3];
  if (type !== 0x08)
    throw new IdxError(`${name} holds ${TYPE_NAMES[type] ?? `type 0x${type.toString(16)}`} values; only unsigned-byte IDX files (like MNIST) are supported`);
  if (rank < 1) throw new IdxError(`${name} declares 0 dimensions`);
  const header = 4 + 4 * rank;
  if (bytes.length < header) throw new IdxError(`${name} is truncated inside its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const held = bytes.length - header;
  if (held < expected) throw new IdxError(`${name} is truncated: its header declares [${dims.join(', ')}] = ${expected} values but it holds ${held}`);
  if (held > expected) throw new IdxError(`${name} holds ${held - expected} bytes more than its header's [${dims.join(', ')}] declares`);
  return { dims, data: bytes.subarray(header) };
}

/** Read an IDX image file (magic 2051): [n, rows, cols]. */
export function readIdxImages(input: ArrayBuffer | Uint8Array, name = 'the image file'): IdxArray {
  const arr = readIdx(input, name);
  if (arr.dims.length !== 3)
    throw new IdxError(`${name} has magic ${0x800 + arr.dims.length} (${arr.dims.length} dimensions); IDX images have magic ${IDX_IMAGES}: [count, rows, columns]`);
  return arr;
}

/** Read an IDX label file (magic 2049): [n]. */
export function readIdxLabels(input: ArrayBuffer | Uint8Array, name = 'the label file'): IdxArray {
  const arr = readIdx(input, name);
  if (arr.dims.length !== 1)
    throw new IdxError(`${name} has magic ${0x800 + arr.dims.length} (${arr.dims.length} dimensions); IDX labels have magic ${IDX_LABELS}: [count]`);
  return arr;
}

export interface ImageNormalisation {
  /** Zero pixels added on every side (2 turns MNIST's 28×28 into the 32×32 of the CAKE paper's LeNet-5). */
  pad?: number;
  /** Applied to raw pixel values first (1/255 maps 0..255 to 0..1). */
  scale?: number;
  mean?: number | number[];
  std?: number | number[];
}

/** The shape idxImagesToTensorData produces: [n, H + 2·pad, W + 2·pad, 1]. */
export function idxImagesShape(images: IdxArray, pad = 0): [number, number, number, number] {
  const [n, h, w] = images.dims;
  return [n, h + 2 * pad, w + 2 * pad, 1];
}

/**
 * IDX images as NHWC float data of shape idxImagesShape(images, pad): padded with zero pixels first, then each
 * value v becomes (v·scale − mean) / std, so the padding normalises like a black pixel (the torchvision
 * Pad-then-Normalize order the CAKE paper uses).
 */
export function idxImagesToTensorData(images: IdxArray, options: ImageNormalisation = {}): Float32Array {
  if (images.dims.length !== 3) throw new IdxError(`expected IDX images [count, rows, columns], got [${images.dims.join(', ')}]`);
  const { pad = 0, scale = 1 / 255 } = options;
  const first = (v: number | number[] | undefined, fallback: number) => (Array.isArray(v) ? (v[0] ?? fallback) : (v ?? fallback));
  const mean = first(options.mean, 0);
  const std = first(options.std, 1);
  if (!Number.isInteger(pad) || pad < 0) throw new IdxError(`pad must be a whole number ≥ 0, got ${pad}`);
  if (!(std !== 0 && Number.isFinite(std))) throw new IdxError(`std must be a non-zero number, got ${std}`);
  const [n, h, w] = images.dims;
  const [, H, W] = idxImagesShape(images, pad);
  const background = (0 * scale - mean) / std;
  const out = new Float32Array(n * H * W).fill(background);
  // A lookup table: 256 possible pixel values, millions of pixels.
  const table = Float32Array.from({ length: 256 }, (_, v) => (v * scale - mean) / std);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < h; r++) {
      const src = (i * h + r) * w;
      const dst = (i * H + r + pad) * W + pad;
      for (let c = 0; c < w; c++) out[dst + c] = table[images.data[src + c]];
    }
  }
  return out;
}
