import type { Rng } from './rng';

/**
 * The synthetic pool: every set's samples and labels, stored as one chunk per set in plain typed arrays, so 256k
 * samples of 32×32 never need one giant tensor (or one giant allocation). Each sample stays tagged with its set and η.
 */
export interface PoolChunk {
  set: number;
  eta: number;
  x: Float32Array;
  labels: Float32Array;
}

export class SyntheticPool {
  readonly chunks: PoolChunk[] = [];
  private count = 0;

  constructor(
    /** Floats per sample (the product of the teacher's input shape). */
    readonly sampleSize: number,
    readonly numClasses: number,
    /** Samples per chunk (the synthesis batch); every chunk holds exactly this many. */
    readonly chunkSize: number,
  ) {}

  get size(): number {
    return this.count;
  }

  add(chunk: PoolChunk): void {
    if (chunk.x.length !== this.chunkSize * this.sampleSize || chunk.labels.length !== this.chunkSize * this.numClasses)
      throw new Error(`a pool chunk must hold ${this.chunkSize} samples`);
    this.chunks.push(chunk);
    this.count += this.chunkSize;
  }

  setOf(i: number): number {
    return this.chunks[Math.floor(i / this.chunkSize)].set;
  }
  etaOf(i: number): number {
    return this.chunks[Math.floor(i / this.chunkSize)].eta;
  }

  /** Copies the samples named by `indices` into x ([n, sampleSize]) and labels ([n, numClasses]). */
  gather(indices: ArrayLike<number>, x: Float32Array, labels: Float32Array): void {
    const d = this.sampleSize;
    const c = this.numClasses;
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      const chunk = this.chunks[Math.floor(i / this.chunkSize)];
      const o = i % this.chunkSize;
      x.set(chunk.x.subarray(o * d, (o + 1) * d), k * d);
      labels.set(chunk.labels.subarray(o * c, (o + 1) * c), k * c);
    }
  }

  /**
   * The reference's random 99/1 split: a seeded permutation of the samples, the first round(n·valFraction) held out.
   * At least one sample stays in training. `keepSet` restricts both parts to the samples of some sets (the student's
   * η band): the permutation runs over the kept samples and is mapped back to pool indices, so keeping every set
   * gives the whole pool's split.
   */
  split(valFraction: number, rng: Rng, keepSet: (chunk: PoolChunk) => boolean = () => true): { train: Int32Array; val: Int32Array } {
    const kept = this.chunks.flatMap((c, k) => (keepSet(c) ? [k] : []));
    const n = kept.length * this.chunkSize;
    if (n === 0) throw new Error('no set of the synthetic pool is in the student’s η band');
    const perm = rng.permutation(n);
    for (let i = 0; i < n; i++) perm[i] = kept[Math.floor(perm[i] / this.chunkSize)] * this.chunkSize + (perm[i] % this.chunkSize);
    const nVal = Math.min(n - 1, Math.round(n * valFraction));
    return { val: perm.slice(0, nVal), train: perm.slice(nVal) };
  }

  /** Bytes held, for the studio's storage estimate. */
  get bytes(): number {
    return this.count * (this.sampleSize + this.numClasses) * 4;
  }
}

const POOL_MAGIC = 0x43414b50; // "CAKP"

/**
 * The pool as bytes (a header, then each chunk's set, η, samples and labels), for caching a pool between benchmark
 * runs and for checkpoints. Little-endian, as typed arrays are on every platform tfjs runs on.
 */
export function encodePool(pool: SyntheticPool): Uint8Array {
  const per = 16 + 4 * pool.chunkSize * (pool.sampleSize + pool.numClasses);
  const out = new Uint8Array(24 + per * pool.chunks.length);
  const view = new DataView(out.buffer);
  [POOL_MAGIC, 1, pool.sampleSize, pool.numClasses, pool.chunkSize, pool.chunks.length].forEach((v, i) => view.setUint32(4 * i, v, true));
  let o = 24;
  for (const c of pool.chunks) {
    view.setUint32(o, c.set, true);
    view.setFloat64(o + 8, c.eta, true);
    out.set(new Uint8Array(c.x.buffer, c.x.byteOffset, c.x.byteLength), o + 16);
    out.set(new Uint8Array(c.labels.buffer, c.labels.byteOffset, c.labels.byteLength), o + 16 + c.x.byteLength);
    o += per;
  }
  return out;
}

export function decodePool(bytes: Uint8Array): SyntheticPool {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 24 || view.getUint32(0, true) !== POOL_MAGIC) throw new Error('not a CAKE synthetic pool file');
  const [, , sampleSize, numClasses, chunkSize, n] = [0, 1, 2, 3, 4, 5].map((i) => view.getUint32(4 * i, true));
  const pool = new SyntheticPool(sampleSize, numClasses, chunkSize);
  const per = 16 + 4 * chunkSize * (sampleSize + numClasses);
  if (bytes.byteLength !== 24 + per * n) throw new Error('the synthetic pool file is truncated');
  for (let k = 0, o = 24 + bytes.byteOffset; k < n; k++, o += per) {
    const copy = bytes.buffer.slice(o + 16, o + per);
    pool.add({
      set: view.getUint32(o - bytes.byteOffset, true),
      eta: view.getFloat64(o - bytes.byteOffset + 8, true),
      x: new Float32Array(copy, 0, chunkSize * sampleSize),
      labels: new Float32Array(copy, 4 * chunkSize * sampleSize, chunkSize * numClasses),
    });
  }
  return pool;
}
