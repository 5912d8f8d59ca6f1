/** The run's random streams, one per purpose, all from the one seed; sets and epochs derive their own (see Rng.derive). */
export const STREAM = { synthesis: 1, split: 2, shuffle: 3, init: 4, augment: 5 } as const;

/**
 * The run's one source of randomness. Every draw (initial noise, target classes, Langevin noise, the train/validation
 * split, shuffles, student initialisation) comes from here, in JavaScript rather than from backend kernels, so the
 * same seed gives the same numbers on every backend and the state can be saved and restored.
 */
export class Rng {
  private s: number;
  /** A spare normal from the last Box–Muller pair. */
  private spare: number | null = null;

  constructor(seed: number) {
    // splitmix32 of the seed, so that nearby seeds start far apart.
    this.s = mix32((seed >>> 0) ^ 0x9e3779b9);
  }

  /**
   * The generator for one numbered unit of work (a set, an epoch) of one stream, from the run's seed alone. Deriving
   * per unit, instead of drawing on from one long stream, lets a resumed run redo exactly the unit it stopped in.
   */
  static derive(seed: number, stream: number, index: number): Rng {
    return new Rng(mix32(mix32((seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2d)) ^ Math.imul(index + 1, 0x165667b1)));
  }

  /** The complete state, for checkpoints. */
  get state(): { s: number; spare: number | null } {
    return { s: this.s, spare: this.spare };
  }
  static fromState(state: { s: number; spare: number | null }): Rng {
    const r = new Rng(0);
    r.s = state.s;
    r.spare = state.spare;
    return r;
  }

  /** A uniformly distributed 32-bit unsigned integer (mulberry32). */
  nextUint32(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A whole number in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  fillNormal(out: Float32Array, std = 1, mean = 0): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }

  fillUniform(out: Float32Array, low: number, high: number): Float32Array {
    const w = high - low;
    for (let i = 0; i < out.length; i++) out[i] = low + w * this.uniform();
    return out;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    this.shuffle(p);
    return p;
  }

  shuffle(a: Int32Array): Int32Array {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** An independent stream for one purpose, so adding draws in one place does not shift every other draw. */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }
}

function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
