import * as tf from '@tensorflow/tfjs';
import type { Rng } from './rng';
import { softTargetCrossEntropy } from './train';

/**
 * How sharp the student's loss is where it starts: the largest-magnitude eigenvalue of the loss's Hessian in the
 * student's weights, by power iteration on Hessian-vector products (finite differences of two gradients). Plain
 * gradient descent with momentum diverges once the peak rate times that eigenvalue is much above 1. A student copied
 * from a LeNet-5 has about 3 (rate 0.05 is safe); one copied from MLPerf's CIFAR ResNet-8 has about 6,000 to 26,000,
 * whatever the inputs (synthetic samples, noise, clipped pixels), and diverged within two epochs at 0.002. So a run
 * caps its student's peak rate at `student.sharpnessCap` / |λ| (see trainStudent).
 */
export async function topHessianEigenvalue(
  model: tf.LayersModel,
  x: tf.Tensor,
  targets: tf.Tensor2D,
  rng: Rng,
  { iterations = 10, training = false }: { iterations?: number; training?: boolean } = {},
): Promise<number> {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (vars.length === 0) return 0;
  const gradients = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => softTargetCrossEntropy(model.apply(x, { training }) as tf.Tensor2D, targets), vars);
      value.dispose();
      return vars.map((v) => grads[v.name] ?? tf.zerosLike(v));
    });
  // Reads are asynchronous: a synchronous read loses the WebGPU device inside a worker.
  const sum = async (parts: tf.Tensor[], f: (t: tf.Tensor, i: number) => tf.Tensor) => {
    const total = tf.tidy(() => tf.addN(parts.map((t, i) => tf.sum(f(t, i)))));
    const value = (await total.data())[0];
    total.dispose();
    return value;
  };
  const start = vars.map((w) => w.clone());
  let v = vars.map((w) => tf.tensor(rng.fillNormal(new Float32Array(w.size), 1), w.shape));
  let lambda = 0;
  try {
    for (let it = 0; it < iterations; it++) {
      const norm = Math.sqrt(await sum(v, (t) => tf.square(t)));
      if (!(norm > 0) || !Number.isFinite(norm)) break;
      const unit = v.map((t) => tf.div(t, norm));
      tf.dispose(v);
      // A step of 1e-3 relative to the weights' own scale keeps the difference above float32 rounding.
      const eps = 1e-3 * Math.max(1e-3, Math.sqrt((await sum(start, (w) => tf.square(w))) / start.length));
      const moveTo = (sign: number) =>
        vars.forEach((w, i) => {
          const t = tf.tidy(() => tf.add(start[i], tf.mul(unit[i], sign * eps)));
          w.assign(t);
          t.dispose();
        });
      moveTo(1);
      const plus = gradients();
      moveTo(-1);
      const minus = gradients();
      v = plus.map((g, i) => tf.tidy(() => tf.div(tf.sub(g, minus[i]), 2 * eps)));
      tf.dispose([...plus, ...minus]);
      lambda = await sum(v, (h, i) => tf.mul(h, unit[i]));
      tf.dispose(unit);
    }
  } finally {
    vars.forEach((w, i) => w.assign(start[i]));
    tf.dispose([...start, ...v]);
  }
  return lambda;
}
