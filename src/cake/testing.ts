import * as tf from '@tensorflow/tfjs';
import { Rng } from './rng';
import type { Teacher } from './teacher';

/** Helpers shared by the engine's tests: small teachers and data made on the spot, never files from elsewhere. */

/** Wraps a LayersModel that outputs logits as a CAKE teacher (inference mode, differentiable). */
export function teacherFromModel(model: tf.LayersModel): Teacher {
  const shape = model.inputs[0].shape.slice(1) as number[];
  const out = model.outputs[0].shape;
  return {
    inputShape: shape,
    numClasses: out[out.length - 1] as number,
    logits: (x) => model.apply(x, { training: false }) as tf.Tensor2D,
  };
}

/** sklearn's make_moons (noise 0.1), standardised to zero mean and unit variance as the reference does. */
export function twoMoons(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = Math.PI * rng.uniform();
    const inner = i % 2 === 1;
    x[2 * i] = (inner ? 1 - Math.cos(t) : Math.cos(t)) + 0.1 * rng.normal();
    x[2 * i + 1] = (inner ? 1 - Math.sin(t) - 0.5 : Math.sin(t)) + 0.1 * rng.normal();
    y[i] = inner ? 1 : 0;
  }
  for (const d of [0, 1]) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[2 * i + d] / n;
    let variance = 0;
    for (let i = 0; i < n; i++) variance += (x[2 * i + d] - mean) ** 2 / n;
    for (let i = 0; i < n; i++) x[2 * i + d] = (x[2 * i + d] - mean) / Math.sqrt(variance);
  }
  return { x, y };
}

/** A tiny LeNet-shaped conv teacher with random weights: enough to exercise every code path at LeNet size. */
export function randomConvTeacher(seed: number, inputShape = [32, 32, 1], classes = 10): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed + s });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape, filters: 6, kernelSize: 5, activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 84, activation: 'relu', kernelInitializer: init(3) }),
      tf.layers.dense({ units: classes, kernelInitializer: init(4) }),
    ],
  });
}

/** Share of points on which two models agree (top-1). */
export function agreement(a: tf.LayersModel, b: tf.LayersModel, x: tf.Tensor): number {
  return tf.tidy(() => {
    const pa = tf.argMax(a.predict(x) as tf.Tensor, -1);
    const pb = tf.argMax(b.predict(x) as tf.Tensor, -1);
    return tf.mean(tf.cast(tf.equal(pa, pb), 'float32')).dataSync()[0];
  });
}
