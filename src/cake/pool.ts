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
   * The reference's random 99/1 split: a seeded permutation of all samples, the first round(n·valFraction) held out.
   * At least one sample stays in training.
   */
  split(valFraction: number, rng: Rng): { train: Int32Array; val: Int32Array } {
    const perm = rng.permutation(this.count);
    const nVal = Math.min(this.count - 1, Math.round(this.count * valFraction));
    return { val: perm.slice(0, nVal), train: perm.slice(nVal) };
  }

  /** Bytes held, for the studio's storage estimate. */
  get bytes(): number {
    return this.count * (this.sampleSize + this.numClasses) * 4;
  }
}
