import * as tf from '@tensorflow/tfjs';
import { logitDistillationLoss, softTargetCrossEntropy } from './train';

/*
 * Data-parallel student steps on two cores. Each batch is cut in two: this thread computes the gradient of its first
 * half, a helper holding a copy of the student (and of the teacher, to label augmented batches) computes the second
 * half's at the same weights, the two are averaged by sample count and this thread applies the update. The result is
 * the full batch's gradient up to the order of the sums, so a run with it differs from a one-thread run in float
 * rounding (and then in everything downstream): it is used only when asked for, and a run with it is still the same
 * for the same seed. Students whose loss couples the samples of a batch are left to one thread: BatchNorm in training
 * mode (batch statistics, moving averages) and the class-balance weights (batch means); so are feature hints.
 */

/** A helper's half of a step: the student at `weights` (its trainable weights, in order) on n samples. */
export interface StudentGradRequest {
  weights: Float32Array[];
  x: Float32Array;
  n: number;
  /** Stored soft labels [n, classes], or null to have the helper's teacher label the inputs (augmented batches). */
  labels: Float32Array | null;
  temperature: number;
}

export interface StudentGradResult {
  /** The mean loss over the n samples. */
  loss: number;
  /** d(mean loss)/d(weight), one array per trainable weight, in order. */
  grads: Float32Array[];
}

/** Where the second half of each batch goes: a helper thread (src/worker/set-worker.ts) or, in tests, this thread. */
export interface StudentGradHelper {
  grads(req: StudentGradRequest): Promise<StudentGradResult>;
}

/** Why a student cannot train data-parallel, or null when it can. */
export function dataParallelObstacle(model: tf.LayersModel, opts: { classBalance: boolean; hints: boolean }): string | null {
  if (model.nonTrainableWeights.length > 0) return 'the student has non-trainable weights (BatchNorm statistics), which a split batch would change';
  if (opts.classBalance) return 'class-balance weights are means over the whole batch';
  if (opts.hints) return 'feature hints are computed in one thread';
  return null;
}

/** The loss CAKE's student minimises on one batch (or part of one): against the teacher's logits, or stored labels. */
export function studentLoss(logits: tf.Tensor2D, targets: { teacherLogits: tf.Tensor2D } | { labels: tf.Tensor2D }, temperature: number): tf.Scalar {
  return 'teacherLogits' in targets
    ? logitDistillationLoss(logits, targets.teacherLogits, temperature, false)
    : softTargetCrossEntropy(logits, targets.labels, temperature);
}

/**
 * The helper's side: loss and gradients of `model` (a copy of the student) at the request's weights, the targets
 * from `teacherLogits` (the helper's teacher) when the request carries no labels.
 */
export async function computeStudentGrads(
  model: tf.LayersModel,
  req: StudentGradRequest,
  teacherLogits: (x: tf.Tensor) => tf.Tensor2D,
): Promise<StudentGradResult> {
  const vars = model.trainableWeights;
  if (req.weights.length !== vars.length) throw new Error(`student gradients: ${req.weights.length} weights sent for ${vars.length}`);
  tf.tidy(() => vars.forEach((v, i) => v.write(tf.tensor(req.weights[i], v.shape as number[], 'float32'))));
  const variables = vars.map((v) => v.read() as tf.Variable);
  const out = tf.tidy(() => {
    const inputShape = model.inputs[0].shape.slice(1) as number[];
    const x = tf.tensor(req.x, [req.n, ...inputShape]);
    const classes = model.outputs[0].shape[1] as number;
    const targets = req.labels ? { labels: tf.tensor2d(req.labels, [req.n, classes]) } : { teacherLogits: teacherLogits(x) };
    const { value, grads } = tf.variableGrads(
      () => studentLoss(model.apply(x, { training: true }) as tf.Tensor2D, targets, req.temperature),
      variables,
    );
    return { value, grads: variables.map((v) => grads[v.name]) };
  });
  const [loss, ...grads] = await Promise.all([out.value.data(), ...out.grads.map((g) => g.data())]);
  tf.dispose([out.value, ...out.grads]);
  return { loss: loss[0], grads: grads as Float32Array[] };
}

/** (a·na + b·nb) / (na + nb) per weight: two halves' mean gradients as the whole batch's. */
export function combineGrads(local: tf.Tensor[], na: number, remote: Float32Array[], nb: number): tf.Tensor[] {
  return tf.tidy(() =>
    local.map((g, i) => tf.div(tf.add(tf.mul(g, na), tf.mul(tf.tensor(remote[i], g.shape, 'float32'), nb)), na + nb)),
  );
}
