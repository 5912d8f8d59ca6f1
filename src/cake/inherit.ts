import * as tf from '@tensorflow/tfjs';
import { batchNormAffine, CHANNEL_MAKERS, flattenGraph, foldableBatchNorms, GraphError, type FlatGraph, type GraphOp } from './graph';
import { INPUT_SCALE_LAYER } from './input-space';

/**
 * Start a student from the teacher's own weights when the student is a narrower copy of the teacher's graph
 * (LeNet-5 → LeNet-5-half, or the zoo's `auto` copy of any Layers teacher, residual and depthwise ones included):
 * each Conv2D, SeparableConv2D or Dense layer keeps the teacher's output channels with the largest L1 norms (the
 * filter-pruning rule of Li et al., 2017) and, on its input side, the channels the layers before it kept;
 * normalisations and depthwise convolutions keep the statistics and filters of those channels; the classifier keeps
 * every class. Channels that meet in a residual Add are one group and are kept together, scored by the sum of their
 * producers' norms. Only weights are read, never data, so the run stays data-free; CAKE's samples then teach the
 * student what the dropped channels did. The method's students start from scratch: this is a lever beyond it
 * (`student.inherit`). Scoring a channel by its filter's norm times the next layer's weights on it made a better
 * start (55 % against 17 % on Fashion-MNIST t10k before training) but a worse MNIST student after training (95.98 %
 * against 97.80 % at `quick`, one seed; BENCHMARKS.md), so the filter norm alone it is.
 */

export class InheritError extends Error {
  constructor(message: string) {
    super(`The student cannot start from the teacher's weights: ${message}.`);
    this.name = 'InheritError';
  }
}

/** What one student layer took from its teacher layer. */
export interface InheritedLayer {
  student: string;
  teacher: string;
  /** Output channels (or units) kept, of the teacher's. */
  kept: number;
  of: number;
  /**
   * Conv2D and Dense layers: the teacher's output channels kept, in order (student channel j is teacher channel
   * `channels[j]`); null when every channel was kept. Absent for other layers.
   */
  channels?: number[] | null;
}

/** Layers that neither hold weights nor move channels: skipped when pairing the two graphs. */
const PASS_THROUGH = new Set([
  'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'Softmax', 'Dropout', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout',
  'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'ZeroPadding2D', 'Cropping2D',
  'UpSampling2D', 'Rescaling',
]);
/** Layers that hold one weight vector per channel of their input (kept with the channels). */
const PER_CHANNEL = new Set(['BatchNormalization', 'LayerNormalization']);
const MERGES = new Set(['Add', 'Multiply', 'Average', 'Maximum']);
/** Layers that rearrange values: fine before the first weighted layer (input adapters), not after. */
const ADAPTERS = new Set(['Reshape', 'Permute']);

/**
 * The channels an op's output carries, as an expression over groups of channels that are pruned together: a group
 * (made by a Conv2D/Dense and shared through residual Adds), groups side by side (Concatenate), each channel repeated
 * (a depthwise multiplier), or positions × channels (Flatten).
 */
type Space =
  | { kind: 'group'; id: number }
  | { kind: 'input' }
  | { kind: 'concat'; parts: Space[] }
  | { kind: 'repeat'; of: Space; times: number }
  | { kind: 'flat'; of: Space; positions: number };

/**
 * A pairing step: a teacher op, its student twin, the ops' input indices in the reduced graph, the teacher op's input
 * shape, and the BatchNormalization right after each op when it has one (see foldableBatchNorms).
 */
interface Pair {
  t: GraphOp;
  s: GraphOp;
  inputs: number[];
  inShape: (number | null)[];
  tBn?: GraphOp;
  sBn?: GraphOp;
}

/** Both graphs without pass-through ops, paired op by op; throws InheritError where their structures differ. */
function pairGraphs(teacher: FlatGraph, student: FlatGraph): Pair[] {
  const reduce = (g: FlatGraph, who: string) => {
    const kept: { op: GraphOp; inputs: number[]; inShape: (number | null)[]; bn?: GraphOp }[] = [];
    const at = new Map<number, number>(); // flat index → reduced index
    const folded = foldableBatchNorms(g);
    let weightedSeen = false;
    g.ops.forEach((op, i) => {
      const cls = op.className;
      const source = op.inputs.map((j) => at.get(j)!);
      // A BatchNorm right after a layer goes with it: copied beside it, or folded into a student that has none.
      if (folded.has(i)) {
        kept[source[0]].bn = op;
        at.set(i, source[0]);
        return;
      }
      const passThrough = PASS_THROUGH.has(cls) || (ADAPTERS.has(cls) && !weightedSeen) || (cls === 'Reshape' && keepsChannels(g, op));
      if (passThrough && source.length === 1) {
        at.set(i, source[0]);
        return;
      }
      if (ADAPTERS.has(cls)) throw new InheritError(`the ${who}'s layer "${op.layer.name}" (${cls}) rearranges its channels`);
      const c = op.layer.getConfig() as { dataFormat?: string; axis?: number | number[] };
      const axis = Array.isArray(c.axis) ? (c.axis.length === 1 ? c.axis[0] : NaN) : c.axis;
      if (c.dataFormat === 'channelsFirst' || (PER_CHANNEL.has(cls) && axis !== -1 && axis !== op.shape.length - 1))
        throw new InheritError(`the ${who}'s layer "${op.layer.name}" is channels-first`);
      if (CHANNEL_MAKERS.has(cls) || cls === 'DepthwiseConv2D') weightedSeen = true;
      at.set(i, kept.length);
      kept.push({ op, inputs: source, inShape: op.inputs.length ? g.ops[op.inputs[0]].shape : [] });
    });
    return kept;
  };
  const t = reduce(teacher, 'teacher');
  const s = reduce(student, 'student');
  const describe = (ops: { op: GraphOp }[]) => ops.filter((o) => o.op.className !== 'InputLayer').map((o) => o.op.className).join(' → ');
  const same = t.length === s.length && t.every((o, i) => o.op.className === s[i].op.className && o.inputs.join() === s[i].inputs.join());
  if (!same) throw new InheritError(`its layers (${describe(s)}) are not the teacher's (${describe(t)})`);
  return t.map((o, i) => ({ t: o.op, s: s[i].op, inputs: o.inputs, inShape: o.inShape, tBn: o.bn, sBn: s[i].bn }));
}

/** Whether a Reshape only adds or drops unit axes around the channels ([C] ↔ [1, 1, C]). */
function keepsChannels(g: FlatGraph, op: GraphOp): boolean {
  const from = g.ops[op.inputs[0]].shape.slice(1);
  const to = op.shape.slice(1);
  const units = (s: (number | null)[]) => s.slice(0, -1).every((d) => d === 1);
  return from[from.length - 1] === to[to.length - 1] && units(from) && units(to);
}

/** Union-find over channel groups: the inputs of a residual Add must keep the same channels. */
class Groups {
  private parent: number[] = [];
  make(): number {
    this.parent.push(this.parent.length);
    return this.parent.length - 1;
  }
  find(a: number): number {
    while (this.parent[a] !== a) a = this.parent[a] = this.parent[this.parent[a]];
    return a;
  }
  union(a: number, b: number): void {
    this.parent[this.find(a)] = this.find(b);
  }
}

/** Indices of the `k` largest values, in their original order (so an unpruned layer keeps its channel order). */
function topK(scores: Float64Array, k: number): number[] {
  const order = [...scores.keys()].sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, k).sort((a, b) => a - b);
}

/**
 * The tensors `make` returns, as fresh tensors of their own. getWeights() hands out the teacher's own variables,
 * which the student must not share; and wasm's gather returns data that keeps its internal rank-4 shape, which
 * wasm's fused convolution then refuses as a bias.
 */
function copies(teacherWeights: tf.Tensor[], make: () => tf.Tensor[]): tf.Tensor[] {
  const made = tf.tidy(make);
  const fresh = made.map((t) => tf.tensor(t.dataSync(), t.shape, 'float32'));
  tf.dispose(made.filter((t) => !teacherWeights.includes(t)));
  return fresh;
}

const channelsOf = (op: GraphOp) => op.shape[op.shape.length - 1] as number;

/**
 * Copies the teacher's strongest channels into the student, layer by layer; throws InheritError naming the first
 * layer that does not pair (another layer type or wiring, kernel size, or a student wider than its teacher).
 */
export function inheritFromTeacher(teacher: tf.LayersModel, student: tf.LayersModel): InheritedLayer[] {
  let pairs: Pair[];
  try {
    pairs = pairGraphs(flattenGraph(teacher), flattenGraph(student));
  } catch (e) {
    if (e instanceof GraphError) throw new InheritError(e.message);
    throw e;
  }
  // The classifier: the last op that makes channels; it keeps every class, in order.
  let classifier = -1;
  pairs.forEach((p, i) => {
    if (CHANNEL_MAKERS.has(p.t.className)) classifier = i;
  });
  if (classifier < 0) throw new InheritError('the teacher has no Conv2D or Dense layer');

  // 1. The channel space of every op's output, and the groups residual merges tie together.
  const groups = new Groups();
  const spaces: Space[] = [];
  const producers = new Map<number, number[]>(); // group id → pair indices that make its channels
  const sizes = new Map<number, { teacher: number; student: number }>();
  pairs.forEach((p, i) => {
    const cls = p.t.className;
    const ins = p.inputs.map((j) => spaces[j]);
    if (cls === 'InputLayer') spaces[i] = { kind: 'input' };
    else if (CHANNEL_MAKERS.has(cls)) {
      const id = groups.make();
      producers.set(id, [i]);
      sizes.set(id, { teacher: channelsOf(p.t), student: channelsOf(p.s) });
      spaces[i] = { kind: 'group', id };
    } else if (cls === 'DepthwiseConv2D') {
      const times = (p.t.layer.getConfig() as { depthMultiplier?: number }).depthMultiplier ?? 1;
      spaces[i] = times === 1 ? ins[0] : { kind: 'repeat', of: ins[0], times };
    } else if (PER_CHANNEL.has(cls)) spaces[i] = ins[0];
    else if (MERGES.has(cls)) {
      const base = ins.filter((s): s is { kind: 'group'; id: number } => s.kind === 'group');
      if (base.length !== ins.length) {
        if (!ins.every((s) => JSON.stringify(s) === JSON.stringify(ins[0])))
          throw new InheritError(`its ${cls} "${p.s.layer.name}" merges channels that cannot be pruned together`);
      } else for (const b of base.slice(1)) groups.union(b.id, base[0].id);
      spaces[i] = ins[0];
    } else if (cls === 'Concatenate') spaces[i] = { kind: 'concat', parts: ins };
    else if (cls === 'Flatten') {
      const positions = (p.inShape.slice(1, -1) as number[]).reduce((a, b) => a * b, 1);
      spaces[i] = { kind: 'flat', of: ins[0], positions };
    } else throw new InheritError(`its ${cls} layer "${p.s.layer.name}" cannot be paired`);
  });

  // 2. Each group keeps its strongest channels: as many as the student's producers have.
  const selection = new Map<number, number[] | null>();
  const classifierGroup = (spaces[classifier] as { id: number }).id;
  const merged = new Map<number, number[]>();
  for (const [id, made] of producers) {
    const root = groups.find(id);
    merged.set(root, [...(merged.get(root) ?? []), ...made]);
    const a = sizes.get(id)!;
    const b = sizes.get(root)!;
    if (a.teacher !== b.teacher || a.student !== b.student)
      throw new InheritError(`the channels of "${pairs[made[0]].s.layer.name}" meet others in a merge with another width`);
  }
  for (const [root, made] of merged) {
    const { teacher: of, student: keep } = sizes.get(root)!;
    const where = `"${pairs[made[0]].s.layer.name}" (teacher "${pairs[made[0]].t.layer.name}")`;
    if (keep > of) throw new InheritError(`${where} has ${keep} outputs, more than the teacher's ${of}`);
    if (made.some((i) => groups.find((spaces[i] as { id: number }).id) === groups.find(classifierGroup)) && keep !== of)
      throw new InheritError(`the classifier ${where} has ${keep} outputs, the teacher ${of}`);
    if (keep === of) {
      selection.set(root, null);
      continue;
    }
    const scores = new Float64Array(of);
    for (const i of made) {
      const kernel = pairs[i].t.layer.getWeights()[pairs[i].t.className === 'SeparableConv2D' ? 1 : 0];
      // A BatchNorm after the layer rescales each channel by γ/σ: the filter's norm alone says nothing of what the
      // channel carries then (MLPerf's ResNet-8 kept at half width started at 14 % on CIFAR-10 scored without it).
      const bn = pairs[i].tBn ? batchNormAffine(pairs[i].tBn!.layer).scale : null;
      const norms = tf.tidy(() => kernel.abs().reshape([-1, of]).sum(0));
      const v = norms.dataSync();
      norms.dispose();
      for (let c = 0; c < of; c++) scores[c] += v[c] * (bn ? Math.abs(bn[c]) : 1);
    }
    selection.set(root, topK(scores, keep));
  }
  /** How many teacher channels a space holds. */
  const widthOf = (space: Space): number => {
    switch (space.kind) {
      case 'group':
        return sizes.get(groups.find(space.id))!.teacher;
      case 'repeat':
        return widthOf(space.of) * space.times;
      case 'concat':
        return space.parts.reduce((a, part) => a + widthOf(part), 0);
      default:
        throw new InheritError('the channels of the input or of a flattened map meet pruned ones');
    }
  };
  /** The teacher channels a space keeps, in the student's order, of its `total`; null when it keeps them all. */
  const keptOf = (space: Space, total: number): number[] | null => {
    switch (space.kind) {
      case 'input':
        return null;
      case 'group':
        return selection.get(groups.find(space.id)) ?? null;
      case 'repeat': {
        const inner = keptOf(space.of, total / space.times);
        return inner && inner.flatMap((c) => Array.from({ length: space.times }, (_, r) => c * space.times + r));
      }
      case 'flat': {
        const channels = total / space.positions;
        const inner = keptOf(space.of, channels);
        return inner && Array.from({ length: space.positions * inner.length }, (_, j) => Math.floor(j / inner.length) * channels + inner[j % inner.length]);
      }
      case 'concat': {
        // The parts lie side by side, each as wide as the layer that made it.
        let offset = 0;
        let all = true;
        const out: number[] = [];
        for (const part of space.parts) {
          const width = widthOf(part);
          const kept = keptOf(part, width);
          if (kept) all = false;
          out.push(...(kept ?? Array.from({ length: width }, (_, c) => c)).map((c) => c + offset));
          offset += width;
        }
        if (offset !== total) throw new InheritError('a concatenation of channels cannot be paired');
        return all ? null : out;
      }
    }
  };

  // 3. Copy each weighted layer's kept slices into its student twin. A student that scales its input first
  // (INPUT_SCALE_LAYER: u = a·x) gets the kernels of the layers that read the input divided by a: W_s·(a·x) = W_t·x.
  const inputScale = flattenGraph(student).ops.find((op) => op.layer.name === INPUT_SCALE_LAYER)?.layer.getConfig().scale as number | undefined;
  const report: InheritedLayer[] = [];
  pairs.forEach((p, i) => {
    const cls = p.t.className;
    if (!CHANNEL_MAKERS.has(cls) && cls !== 'DepthwiseConv2D' && !PER_CHANNEL.has(cls)) return;
    const where = `"${p.s.layer.name}" (teacher "${p.t.layer.name}")`;
    if (p.sBn && !p.tBn) throw new InheritError(`${where} has a BatchNormalization after it that the teacher lacks`);
    // A teacher BatchNorm the student does not have is folded into the layer's kernel and bias.
    const fold = p.tBn && !p.sBn ? batchNormAffine(p.tBn.layer) : null;
    const tw = fold ? foldedWeights(p.t, fold) : p.t.layer.getWeights();
    const sw = p.s.layer.getWeights();
    if (sw.length !== tw.length) throw new InheritError(`${where} has ${sw.length} weights, the teacher's ${tw.length}`);
    const inOp = pairs[p.inputs[0]]?.t;
    const inChannels = inOp ? channelsOf(inOp) : 0;
    const inKept = p.inputs.length ? keptOf(spaces[p.inputs[0]], inChannels) : null;
    const outKept = CHANNEL_MAKERS.has(cls) ? keptOf(spaces[i], channelsOf(p.t)) : inKept;
    const gather = (w: tf.Tensor, sel: number[] | null, axis: number) => (sel ? tf.gather(w, sel, axis) : w);
    const fresh = copies(tw, () => {
      switch (cls) {
        case 'Conv2D':
        case 'Dense': {
          const rank = tw[0].shape.length;
          const k = gather(gather(tw[0], inKept, rank - 2), outKept, rank - 1);
          return tw[1] ? [k, gather(tw[1], outKept, 0)] : [k];
        }
        case 'SeparableConv2D': {
          const times = tw[0].shape[3] as number;
          const mid = inKept && inKept.flatMap((c) => Array.from({ length: times }, (_, r) => c * times + r));
          const depthwise = gather(tw[0], inKept, 2);
          const pointwise = gather(gather(tw[1], mid, 2), outKept, 3);
          return tw[2] ? [depthwise, pointwise, gather(tw[2], outKept, 0)] : [depthwise, pointwise];
        }
        case 'DepthwiseConv2D': {
          const times = tw[0].shape[3] as number;
          const mid = inKept && inKept.flatMap((c) => Array.from({ length: times }, (_, r) => c * times + r));
          const k = gather(tw[0], inKept, 2);
          return tw[1] ? [k, gather(tw[1], mid, 0)] : [k];
        }
        default:
          return tw.map((w) => gather(w, inKept, 0));
      }
    });
    const mismatch = fresh.findIndex((w, j) => w.shape.join() !== sw[j].shape.join());
    if (mismatch >= 0) {
      const [a, b] = [fresh[mismatch].shape, sw[mismatch].shape];
      tf.dispose(fresh);
      if (cls !== 'Dense' && a.length === 4 && (a[0] !== b[0] || a[1] !== b[1]))
        throw new InheritError(`${where} has a ${b.slice(0, 2).join('×')} kernel, the teacher's ${a.slice(0, 2).join('×')}`);
      throw new InheritError(`${where} has weights of shape [${b}] where the teacher's channels it keeps give [${a}]`);
    }
    if (inputScale !== undefined && pairs[p.inputs[0]]?.t.className === 'InputLayer') {
      if (cls === 'SeparableConv2D' || PER_CHANNEL.has(cls)) throw new InheritError(`the input scaling cannot be folded into "${p.s.layer.name}" (${cls})`);
      const kernel = fresh[0];
      fresh[0] = tf.tidy(() => tf.div(kernel, inputScale));
      kernel.dispose();
    }
    p.s.layer.setWeights(fresh);
    tf.dispose(fresh);
    if (fold) tf.dispose(tw);
    if (p.tBn && p.sBn) {
      const bw = p.tBn.layer.getWeights();
      const bnFresh = copies(bw, () => bw.map((w) => gather(w, outKept, 0)));
      p.sBn.layer.setWeights(bnFresh);
      tf.dispose(bnFresh);
    }
    const of = channelsOf(p.t);
    report.push({
      student: p.s.layer.name,
      // With its BatchNorm folded in, the student layer computes what the teacher's BatchNorm outputs (feature hints).
      teacher: fold ? p.tBn!.layer.name : p.t.layer.name,
      kept: channelsOf(p.s),
      of,
      ...(cls === 'Conv2D' || cls === 'Dense' ? { channels: outKept } : {}),
    });
  });
  return report;
}

/**
 * A layer's weights with the BatchNorm after it folded in (y = scale·(W·x + b) + shift): the kernel scaled per output
 * channel and a bias of scale·b + shift, in the layer's own weight order (kernels, then the bias it now always has).
 */
function foldedWeights(op: GraphOp, { scale, shift }: { scale: Float32Array; shift: Float32Array }): tf.Tensor[] {
  const w = op.layer.getWeights();
  const hasBias = (op.layer.getConfig() as { useBias?: boolean }).useBias !== false;
  const n = scale.length;
  return tf.tidy(() => {
    const s = tf.tensor1d(scale);
    const bias = hasBias ? w[w.length - 1] : tf.zeros([n]);
    const foldedBias = tf.add(tf.mul(bias, s), tf.tensor1d(shift));
    switch (op.className) {
      case 'DepthwiseConv2D': {
        // Output channel c·m + j comes from input channel c's j-th filter: the kernel's last two axes.
        const [, , inC, mult] = w[0].shape as number[];
        return [tf.mul(w[0], tf.reshape(s, [inC, mult])), foldedBias];
      }
      case 'SeparableConv2D':
        return [tf.clone(w[0]), tf.mul(w[1], s), foldedBias];
      default:
        return [tf.mul(w[0], s), foldedBias];
    }
  });
}
