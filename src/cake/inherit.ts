import * as tf from '@tensorflow/tfjs';

/**
 * Start a student from the teacher's own weights when the student is a narrower copy of the teacher's layer chain
 * (LeNet-5 → LeNet-5-half, or the zoo's `auto` half-width copy): each Conv2D or Dense layer keeps the teacher's
 * output channels with the largest L1 norms (the filter-pruning rule of Li et al., 2017) and, on its input side, the
 * channels the layer before it kept; BatchNormalization keeps the statistics of those channels; the classifier keeps
 * every class. Only weights are read, never data, so the run stays data-free; CAKE's samples then teach the student
 * what the dropped channels did. The method's students start from scratch: this is a lever beyond it
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
   * `channels[j]`); null when every channel was kept. Absent for BatchNormalization.
   */
  channels?: number[] | null;
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
    // Channel indices below are channels-last (kernels, BatchNormalization's axis, the Flatten order).
    const c = layer.getConfig() as { dataFormat?: string; axis?: number | number[] };
    const axis = Array.isArray(c.axis) ? (c.axis.length === 1 ? c.axis[0] : NaN) : c.axis;
    if (c.dataFormat === 'channelsFirst' || (cls === 'BatchNormalization' && axis !== -1 && axis !== (layer.outputShape as number[]).length - 1))
      throw new InheritError(`the ${who}'s layer "${layer.name}" is channels-first`);
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
    if (l.getClassName() === 'Conv2D' || l.getClassName() === 'Dense') classifier = i;
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
      if (sw.length !== tw.length) throw new InheritError(`${where} has ${sw.length} weights, the teacher's ${tw.length}`);
      if (sw[0].shape[0] !== (sel?.length ?? n)) throw new InheritError(`${where} does not match the channels kept before it`);
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
      const norms = tf.tidy(() => tk.abs().reshape([-1, outT]).sum(0));
      out = topK(norms.dataSync() as Float32Array, outS);
      norms.dispose();
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
    report.push({ student: s.name, teacher: t.name, kept: outS, of: outT, channels: out });
    sel = out;
  });
  return report;
}
