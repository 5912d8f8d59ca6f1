import * as tf from '@tensorflow/tfjs';
import type { InheritedLayer } from './inherit';

/**
 * Feature hints (FitNets, Romero et al., 2015) for a student that started from the teacher's channels
 * (`student.inherit`): each hidden layer the student copied is also pulled towards the teacher's own activations of
 * the channels it kept, on the same synthetic batch. A layer keeps the teacher's channel order, so no adapter is
 * needed: student channel j is teacher channel `channels[j]`. Logits carry 10 numbers per sample; the hinted layers
 * carry thousands, so each synthetic sample teaches more. Only the teacher's activations on CAKE's samples are read,
 * never data. A lever beyond the method (`student.hint`, 0 = off).
 */
export interface Hints {
  /** The student's hinted layers' outputs, then its logits; shares the student's weights. */
  student: tf.LayersModel;
  /** The teacher's activations of the kept channels of each hinted layer, for a batch (no gradient needed). */
  targets(x: tf.Tensor): tf.Tensor[];
  /** What a helper holding its own copy of the teacher needs to compute `targets` (see `teacherFeatures`). */
  spec: HintSpec[];
  /** Each target's shape for one sample (without the batch axis). */
  targetShapes: number[][];
  /** The hinted student layers, for the report (their teacher layers are `spec`'s). */
  hinted: string[];
  /** Frees the selection matrices (the two models share their layers' weights with the student and the teacher). */
  dispose(): void;
}

/** The hint term: mean over layers of the mean squared difference (a.sub(b).square(): see platform notes). */
export function hintLoss(studentFeatures: tf.Tensor[], teacherFeatures: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    const per = studentFeatures.map((s, i) => tf.mean(tf.square(tf.sub(s, teacherFeatures[i]))));
    return tf.div(tf.addN(per), per.length) as tf.Scalar;
  });
}

/** One hinted teacher layer: its name, and the channels the student kept of its `of` (null: all of them). */
export interface HintSpec {
  teacher: string;
  channels: number[] | null;
  of: number;
}

/**
 * The teacher's activations of the hinted channels, one tensor per spec entry: used in-process and by the synthesis
 * helpers, which hold their own copy of the teacher and label the student's next batch while it trains. The caller
 * disposes what `dispose` frees once done.
 */
export function teacherFeatures(teacher: tf.LayersModel, spec: HintSpec[]): { compute(x: tf.Tensor): tf.Tensor[]; dispose(): void } {
  const model = tf.model({ inputs: teacher.inputs, outputs: spec.map((h) => teacher.getLayer(h.teacher).output as tf.SymbolicTensor) });
  // Channel selection as a product with a 0/1 matrix: wasm's gather along the last axis of a feature map took twice
  // the teacher's whole forward pass; its matrix product is one of our fast kernels.
  const pick = spec.map((h) => {
    if (!h.channels) return null;
    const k = h.channels.length;
    const sel = new Float32Array(h.of * k);
    h.channels.forEach((c, j) => (sel[c * k + j] = 1));
    return tf.tensor2d(sel, [h.of, k]);
  });
  return {
    compute: (x) =>
      tf.tidy(() => {
        const out = model.apply(x, { training: false }) as tf.Tensor | tf.Tensor[];
        return (Array.isArray(out) ? out : [out]).map((t, i) => {
          const p = pick[i];
          return p ? tf.reshape(tf.matMul(tf.reshape(t, [-1, p.shape[0]]), p), [...t.shape.slice(0, -1), p.shape[1]]) : t;
        });
      }),
    dispose: () => tf.dispose(pick.filter((p): p is tf.Tensor2D => p !== null)),
  };
}

/**
 * The hints for a student that `inheritFromTeacher` paired with `teacher` (its report, `inherited`): every top-level
 * Conv2D and Dense layer but the classifier. Null when there is no such layer.
 */
export function buildHints(teacher: tf.LayersModel, student: tf.LayersModel, inherited: InheritedLayer[]): Hints | null {
  const weighted = inherited.filter((l) => l.channels !== undefined);
  // The last one is the classifier, matched through the logits already. Layers inside a nested model (a Teachable
  // Machine base) have no output reachable from the teacher's own input, so only top-level layers are hinted.
  const topLevel = new Set(teacher.layers.map((l) => l.name));
  const hidden = weighted.slice(0, -1).filter((l) => topLevel.has(l.teacher));
  if (hidden.length === 0) return null;
  const sOut = hidden.map((l) => student.getLayer(l.student).output as tf.SymbolicTensor);
  const studentModel = tf.model({ inputs: student.inputs, outputs: [...sOut, ...(student.outputs as tf.SymbolicTensor[])] });
  const spec = hidden.map((l) => ({ teacher: l.teacher, channels: l.channels ?? null, of: l.of }));
  const features = teacherFeatures(teacher, spec);
  return {
    student: studentModel,
    targets: features.compute,
    spec,
    targetShapes: sOut.map((o) => o.shape.slice(1) as number[]),
    hinted: hidden.map((l) => l.student),
    dispose: features.dispose,
  };
}
