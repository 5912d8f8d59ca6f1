import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { Rng } from './rng';
import { topHessianEigenvalue } from './sharpness';
import { softTargetCrossEntropy } from './train';

beforeAll(async () => {
  await initNodeBackend();
});

describe("the student loss's sharpness", () => {
  it('is the largest eigenvalue of the Hessian, as the explicit Hessian of a small model gives it', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 3, activation: 'tanh', kernelInitializer: tf.initializers.randomNormal({ stddev: 2, seed: 1 }) }), tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.randomNormal({ stddev: 2, seed: 2 }) })] });
    const x = tf.tensor2d([[1, -2, 0.5], [0.3, 0.8, -1], [2, 0.1, 0.4], [-1, -1, 1]]);
    const y = tf.tensor2d([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const flat = () => tf.concat(vars.map((v) => v.reshape([-1])));
    const grad = () => tf.tidy(() => { const { value, grads } = tf.variableGrads(() => softTargetCrossEntropy(model.apply(x) as tf.Tensor2D, y), vars); value.dispose(); return tf.concat(vars.map((v) => grads[v.name].reshape([-1]))); });
    const w0 = flat().arraySync() as number[];
    const set = (w: number[]) => { let o = 0; for (const v of vars) { v.assign(tf.tensor(w.slice(o, o + v.size), v.shape)); o += v.size; } };
    const n = w0.length;
    const H: number[][] = [];
    for (let j = 0; j < n; j++) {
      const e = 1e-3;
      set(w0.map((v, k) => (k === j ? v + e : v)));
      const gp = grad().arraySync() as number[];
      set(w0.map((v, k) => (k === j ? v - e : v)));
      const gm = grad().arraySync() as number[];
      H.push(gp.map((g, k) => (g - gm[k]) / (2 * e)));
    }
    set(w0);
    // The largest-magnitude eigenvalue of the explicit (symmetrised) Hessian, by power iteration.
    let v = Array.from({ length: n }, (_, k) => Math.sin(k + 1));
    let lambda = 0;
    for (let it = 0; it < 500; it++) {
      const hv = v.map((_, i) => v.reduce((s, vj, j) => s + 0.5 * (H[i][j] + H[j][i]) * vj, 0));
      lambda = hv.reduce((s, h, i) => s + h * v[i], 0) / v.reduce((s, vi) => s + vi * vi, 0);
      const norm = Math.hypot(...hv);
      v = hv.map((h) => h / norm);
    }
    const found = await topHessianEigenvalue(model, x, y, new Rng(4), { iterations: 60 });
    expect(Math.abs(lambda)).toBeGreaterThan(0.05);
    expect(found).toBeCloseTo(lambda, 2);
    // The weights are as they were.
    expect(flat().arraySync()).toEqual(w0);
    model.dispose();
  });
});
