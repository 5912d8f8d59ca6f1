import { gunzipSync } from 'fflate';

// The CIFAR binary format (cifar-10-batches-bin: data_batch_1.bin … test_batch.bin; CIFAR-100's train.bin and
// test.bin): records of label byte(s) then 32×32 red, 32×32 green and 32×32 blue bytes, row-major. Read for
// labelled evaluation; CAKE never sees these images.

export class CifarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CifarError';
  }
}

const SIDE = 32;
const PIXELS = SIDE * SIDE * 3;

export interface CifarImages {
  count: number;
  /** [count, 32, 32, 3] RGB bytes (interleaved, as image files hold them). */
  pixels: Uint8Array;
  labels: Int32Array;
  /** 'cifar-10', or 'cifar-100' (fine labels, or coarse ones when asked). */
  kind: 'cifar-10' | 'cifar-100';
}

/** Whether bytes (gzip or not, by their first two bytes) could be a CIFAR binary file: a name ending in .bin(.gz). */
export const looksLikeCifarName = (name: string) => /\.bin(\.gz)?$/i.test(name);

/**
 * Read a CIFAR-10 (1 label byte per record) or CIFAR-100 (coarse then fine label byte) binary file, gunzipping it
 * first when it is gzip. The record size tells the two apart; `coarse` picks CIFAR-100's 20 superclasses.
 */
export function readCifar(input: ArrayBuffer | Uint8Array, name = 'the CIFAR file', coarse = false): CifarImages {
  let bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new CifarError(`${name} looks gzip-compressed but cannot be decompressed (${(e as Error).message})`);
    }
  }
  const kind = bytes.length > 0 && bytes.length % (PIXELS + 1) === 0 ? 'cifar-10' : bytes.length > 0 && bytes.length % (PIXELS + 2) === 0 ? 'cifar-100' : undefined;
  if (!kind)
    throw new CifarError(
      `${name} is not a CIFAR binary file: its ${bytes.length} bytes are not a whole number of records (CIFAR-10: 1 label byte + 32×32×3 pixels = 3073 bytes; CIFAR-100: 3074)`,
    );
  const labelBytes = kind === 'cifar-10' ? 1 : 2;
  const record = PIXELS + labelBytes;
  const count = bytes.length / record;
  const pixels = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  const plane = SIDE * SIDE;
  for (let i = 0; i < count; i++) {
    const at = i * record;
    labels[i] = bytes[at + (labelBytes === 2 && !coarse ? 1 : 0)];
    const src = at + labelBytes;
    const dst = i * PIXELS;
    // Planar R, G, B → interleaved RGB.
    for (let p = 0; p < plane; p++) {
      pixels[dst + 3 * p] = bytes[src + p];
      pixels[dst + 3 * p + 1] = bytes[src + plane + p];
      pixels[dst + 3 * p + 2] = bytes[src + 2 * plane + p];
    }
  }
  return { count, pixels, labels, kind };
}
