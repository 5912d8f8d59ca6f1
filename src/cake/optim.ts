import * as tf from '@tensorflow/tfjs';

/**
 * The student's optimisers, written out so that they match PyTorch's update rules exactly (the reference trains with
 * torch.optim) and so the learning rate and momentum can change every step under the one-cycle schedule.
 */
export interface Optimizer {
  /** One update. `grads` maps each variable's name to its gradient. */
  step(vars: tf.Variable[], grads: tf.NamedTensorMap, lr: number, momentum: number): void;
  /**
   * The optimiser's state for a checkpoint, its slots addressed by the position of their variable in `vars` (names
   * differ between two builds of the same model). Reads asynchronously (WebGPU-safe in a worker).
   */
  getState(vars: tf.Variable[]): Promise<OptimizerState>;
  /** Restore what getState gave, for the same list of variables (copies the data). */
  setState(vars: tf.Variable[], state: OptimizerState): void;
  dispose(): void;
}

/** A plain-data snapshot of an optimiser: its step count and, per slot kind, one array per variable (null: no slot yet). */
export interface OptimizerState {
  kind: 'sgd' | 'adam';
  t: number;
  slots: Record<string, (Float32Array | null)[]>;
}

async function readSlots(map: Map<string, tf.Variable>, vars: tf.Variable[]): Promise<(Float32Array | null)[]> {
  return Promise.all(vars.map(async (v) => {
    const s = map.get(v.name);
    return s ? ((await s.data()) as Float32Array).slice() : null;
  }));
}

function writeSlots(map: Map<string, tf.Variable>, vars: tf.Variable[], data: (Float32Array | null)[] | undefined): void {
  for (const s of map.values()) s.dispose();
  map.clear();
  if (!data) return;
  vars.forEach((v, i) => {
    const d = data[i];
    if (d) map.set(v.name, tf.variable(tf.tensor(d, v.shape, 'float32'), false));
  });
}

/** torch.optim.SGD: g ← g + wd·w; buf ← μ·buf + g; w ← w − lr·buf (no dampening, not Nesterov). */
export class SgdMomentum implements Optimizer {
  private bufs = new Map<string, tf.Variable>();
  constructor(private readonly weightDecay: number) {}

  step(vars: tf.Variable[], grads: tf.NamedTensorMap, lr: number, momentum: number): void {
    tf.tidy(() => {
      for (const v of vars) {
        const g0 = grads[v.name];
        if (!g0) continue;
        const g = this.weightDecay > 0 ? tf.add(g0, tf.mul(v, this.weightDecay)) : g0;
        let buf = this.bufs.get(v.name);
        if (!buf) {
          // PyTorch starts the buffer at the first gradient itself.
          buf = tf.variable(g, false);
          this.bufs.set(v.name, buf);
        } else {
          buf.assign(tf.add(tf.mul(buf, momentum), g));
        }
        v.assign(tf.sub(v, tf.mul(buf, lr)));
      }
    });
  }

  async getState(vars: tf.Variable[]): Promise<OptimizerState> {
    return { kind: 'sgd', t: 0, slots: { momentum: await readSlots(this.bufs, vars) } };
  }

  setState(vars: tf.Variable[], state: OptimizerState): void {
    if (state.kind !== 'sgd') throw new Error(`cannot restore ${state.kind} optimiser state into SGD`);
    writeSlots(this.bufs, vars, state.slots.momentum);
  }

  dispose(): void {
    for (const b of this.bufs.values()) b.dispose();
    this.bufs.clear();
  }
}

/** torch.optim.Adam (L2 added to the gradient) or AdamW (decoupled decay), β = (0.9, 0.999), ε = 1e-8 explicitly. */
export class AdamOpt implements Optimizer {
  private m = new Map<string, tf.Variable>();
  private v = new Map<string, tf.Variable>();
  private t = 0;
  constructor(
    private readonly weightDecay: number,
    private readonly decoupled: boolean,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {}

  step(vars: tf.Variable[], grads: tf.NamedTensorMap, lr: number): void {
    this.t++;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    tf.tidy(() => {
      for (const w of vars) {
        const g0 = grads[w.name];
        if (!g0) continue;
        const g = !this.decoupled && this.weightDecay > 0 ? tf.add(g0, tf.mul(w, this.weightDecay)) : g0;
        const m = this.slot(this.m, w);
        const v = this.slot(this.v, w);
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), this.eps));
        let next = tf.sub(w, tf.mul(update, lr));
        if (this.decoupled && this.weightDecay > 0) next = tf.sub(next, tf.mul(w, lr * this.weightDecay));
        w.assign(next);
      }
    });
  }

  async getState(vars: tf.Variable[]): Promise<OptimizerState> {
    return { kind: 'adam', t: this.t, slots: { m: await readSlots(this.m, vars), v: await readSlots(this.v, vars) } };
  }

  setState(vars: tf.Variable[], state: OptimizerState): void {
    if (state.kind !== 'adam') throw new Error(`cannot restore ${state.kind} optimiser state into Adam`);
    this.t = state.t;
    writeSlots(this.m, vars, state.slots.m);
    writeSlots(this.v, vars, state.slots.v);
  }

  private slot(map: Map<string, tf.Variable>, w: tf.Variable): tf.Variable {
    let s = map.get(w.name);
    if (!s) {
      s = tf.variable(tf.zerosLike(w), false);
      map.set(w.name, s);
    }
    return s;
  }

  dispose(): void {
    for (const s of [...this.m.values(), ...this.v.values()]) s.dispose();
    this.m.clear();
    this.v.clear();
  }
}

export function makeOptimizer(kind: 'sgd' | 'adam' | 'adamw', weightDecay: number): Optimizer {
  if (kind === 'sgd') return new SgdMomentum(weightDecay);
  return new AdamOpt(weightDecay, kind === 'adamw');
}
