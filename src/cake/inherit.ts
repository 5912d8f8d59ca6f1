import * as tf from '@tensorflow/tfjs';

/**
 * Start a student from the teacher's own weights when the student is a narrower copy of the teacher's layer chain
 * (LeNet-5 → LeNet-5-half, or the zoo's `auto` half-width copy): each Conv2D or Dense layer keeps the teacher's
 * output channels that weigh most, scored by the L1 norm of the channel's filter (the filter-pruning rule of Li et
 * al., 2017) times the L1 norm of the next layer's weights on it (a channel the next layer barely reads matters
 * little however large its filter: on the Fashion-MNIST LeNet-5 the pruned half-width copy scores 55 % on t10k
 * before any training with the product, 17 % with the filter norm alone; MNIST 48 % and 42 %), and, on its input
 * side, the channels the layer before it kept; BatchNormalization keeps the statistics of those channels; the
 * classifier keeps every class. Only weights are read, never data, so the run stays data-free; CAKE's samples then
 * teach the student what the dropped channels did. The method's students start from scratch: this is a lever beyond
 * it (`student.inherit`).
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
}

const WEIGHTED = new Set(['Conv2D', 'Dense', 'BatchNormalization']);
/** Layers that neither hold weights nor move channels: ignored when pairing. */
const PASS_THROUGH = new Set(['InputLayer', 'MaxPooling2D', 'AveragePooling2D', 'Dropout', 'Activation', 'Softmax', 'ReLU']);
/** Layers that rearrange values: fine before the first weighted layer (input adapters), not after. */
const ADAPTERS = new Set(['Reshape', 'Permute']);

/** The layers that matter for pairing, in order, or why the chain cannot be paired. */
function structure(model: tf.LayersModel, who: string): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (PASS_THROUGH.has(cls)) continue;
    if (ADAPTERS.has(cls) && !out.some((l) => WEIGHTED.has(l.getClassName()))) continue;
    if (!WEIGHTED.has(cls) && cls !== 'Flatten') throw new InheritError(`the ${who} has a ${cls} layer ("${layer.name}")`);
    out.push(layer);
  }
  return out;
}

/** Indices of the `k` largest values, in their original order (so an unpruned layer keeps its channel order). */
function topK(scores: Float32Array, k: number): number[] {
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

/**
 * Copies the teacher's strongest channels into the student, layer by layer; throws InheritError naming the first
 * layer that does not pair (another layer type, kernel size, or a student wider than its teacher).
 */
export function inheritFromTeacher(teacher: tf.LayersModel, student: tf.LayersModel): InheritedLayer[] {
  const tLayers = structure(teacher, 'teacher');
  const sLayers = structure(student, 'student');
  const describe = (ls: tf.layers.Layer[]) => ls.map((l) => l.getClassName()).join(' → ');
  if (tLayers.length !== sLayers.length || tLayers.some((l, i) => l.getClassName() !== sLayers[i].getClassName()))
    throw new InheritError(`its layers (${describe(sLayers)}) are not the teacher's (${describe(tLayers)})`);
  // The classifier: the last Conv2D or Dense layer; it keeps every class, in order.
  let classifier = -1;
  tLayers.forEach((l, i) => {
    if (l.getClassName() !== 'BatchNormalization') classifier = i;
  });
  const report: InheritedLayer[] = [];
  // The teacher channels feeding the current layer; null while every channel is kept (the input, or unpruned layers).
  let sel: number[] | null = null;
  tLayers.forEach((t, i) => {
    const s = sLayers[i];
    const cls = t.getClassName();
    const where = `"${s.name}" (teacher "${t.name}")`;
    if (cls === 'Flatten') {
      // Channels-last flattening: position p, channel c → p·C + c.
      const shape = (t.input as tf.SymbolicTensor).shape as number[];
      const channels = shape[shape.length - 1];
      const positions = shape.slice(1, -1).reduce((a, b) => a * b, 1);
      if (sel) {
        const kept = sel;
        sel = Array.from({ length: positions * kept.length }, (_, j) => Math.floor(j / kept.length) * channels + kept[j % kept.length]);
      }
      return;
    }
    const tw = t.getWeights();
    const sw = s.getWeights();
    if (cls === 'BatchNormalization') {
      const n = (tw[0]?.shape[0] as number) ?? 0;
      if (sw.length !== tw.length || sw[0].shape[0] !== (sel?.length ?? n)) throw new InheritError(`${where} does not match the channels kept before it`);
      const fresh = copies(tw, () => (sel ? tw.map((w) => tf.gather(w, sel!)) : tw));
      s.setWeights(fresh);
      tf.dispose(fresh);
      report.push({ student: s.name, teacher: t.name, kept: sel?.length ?? n, of: n });
      return;
    }
    const tk = tw[0];
    const sk = sw[0];
    const rank = tk.shape.length;
    if (sk.shape.length !== rank || (rank === 4 && (sk.shape[0] !== tk.shape[0] || sk.shape[1] !== tk.shape[1])))
      throw new InheritError(`${where} has a ${sk.shape.slice(0, -2).join('×')} kernel, the teacher's ${tk.shape.slice(0, -2).join('×')}`);
    if (sw.length !== tw.length) throw new InheritError(`${where} ${sw.length > tw.length ? 'has a bias the teacher lacks' : 'lacks the teacher’s bias'}`);
    const inT = tk.shape[rank - 2];
    const outT = tk.shape[rank - 1];
    const inS = sk.shape[rank - 2];
    const outS = sk.shape[rank - 1];
    if (inS !== (sel?.length ?? inT)) throw new InheritError(`${where} takes ${inS} inputs where the channels kept before it give ${sel?.length ?? inT}`);
    if (outS > outT) throw new InheritError(`${where} has ${outS} outputs, more than the teacher's ${outT}`);
    if (i === classifier && outS !== outT) throw new InheritError(`the classifier ${where} has ${outS} outputs, the teacher ${outT}`);
    let out: number[] | null = null;
    if (outS < outT) {
      const score = l1PerColumn(tk, (a) => a.reshape([-1, outT]).sum(0));
      const next = outgoingNorms(tLayers, i, outT);
      for (let c = 0; c < outT; c++) score[c] *= next[c];
      out = topK(score, outS);
    }
    const fresh = copies(tw, () => {
      let k = tk;
      if (sel) k = tf.gather(k, sel, rank - 2);
      if (out) k = tf.gather(k, out, rank - 1);
      const bias = tw[1] && out ? tf.gather(tw[1], out) : tw[1];
      return bias ? [k, bias] : [k];
    });
    s.setWeights(fresh);
    tf.dispose(fresh);
    report.push({ student: s.name, teacher: t.name, kept: outS, of: outT });
    sel = out;
  });
  return report;
}

/** Per-channel sums of |kernel| that `reduce` takes from the kernel's absolute values, read back. */
function l1PerColumn(kernel: tf.Tensor, reduce: (abs: tf.Tensor) => tf.Tensor): Float32Array {
  const t = tf.tidy(() => reduce(kernel.abs()));
  const values = t.dataSync() as Float32Array;
  t.dispose();
  return values;
}

/**
 * How strongly the next Conv2D or Dense layer reads each of layer i's `channels` outputs: the L1 norm of its
 * weights on that channel (over every position, when a Flatten lies between). BatchNormalization's scaling in
 * between is not counted.
 */
function outgoingNorms(layers: tf.layers.Layer[], i: number, channels: number): Float32Array {
  let j = i + 1;
  let flattened = false;
  while (j < layers.length && !['Conv2D', 'Dense'].includes(layers[j].getClassName())) {
    flattened ||= layers[j].getClassName() === 'Flatten';
    j++;
  }
  const kernel = layers[j].getWeights()[0];
  if (kernel.shape.length === 4) return l1PerColumn(kernel, (a) => a.sum([0, 1, 3]));
  return l1PerColumn(kernel, (a) => (flattened ? a.reshape([-1, channels, kernel.shape[1] as number]).sum([0, 2]) : a.sum(1)));
}
