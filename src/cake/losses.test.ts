import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { classificationLoss, contrastiveLoss, entropyLoss, synthesisLoss, totalVariation } from './losses';

beforeAll(async () => {
  await initNodeBackend();
});

const value = (t: tf.Tensor) => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};

describe('loss terms against hand computation', () => {
  // Two groups of K=2, three classes.
  const z = [
    [1, 2, 0],
    [0, 0, 3],
    [2, -1, 1],
    [0.5, 0.5, 0.5],
  ];
  const targets = [1, 2, 0, 2];

  it('classification loss is K times the mean cross-entropy', () => {
    const ce = z.map((row, i) => {
      const lse = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
      return lse - row[targets[i]];
    });
    const expected = (2 * ce.reduce((a, b) => a + b, 0)) / 4;
    const got = value(classificationLoss(tf.tensor2d(z), tf.oneHot(targets, 3).toFloat() as tf.Tensor2D, 2));
    expect(got).toBeCloseTo(expected, 5);
  });

  it('contrastive loss is (1/G) Σ_g Σ_{i<j} ‖z_i − z_j‖² / C, the reference scaling', () => {
    const sq = (a: number[], b: number[]) => a.reduce((s, v, k) => s + (v - b[k]) ** 2, 0);
    const expected = (sq(z[0], z[1]) / 3 + sq(z[2], z[3]) / 3) / 2;
    expect(value(contrastiveLoss(tf.tensor2d(z), 2))).toBeCloseTo(expected, 5);
  });

  it('contrastive loss equals the reference broadcast form 0.5·K²·mean over [G,K,K,C]', () => {
    const K = 5;
    const logits = tf.randomNormal([4 * K, 7], 0, 3, 'float32', 1) as tf.Tensor2D;
    const reference = tf.tidy(() => {
      const g = logits.reshape([4, K, 7]);
      const d = g.expandDims(2).sub(g.expandDims(1)).square(); // [G, K, K, C]
      return d.mean().mul(0.5 * K * K);
    });
    expect(value(contrastiveLoss(logits, K))).toBeCloseTo(value(reference), 3);
    logits.dispose();
  });

  it('total variation is the mean |vertical| plus mean |horizontal| neighbour difference', () => {
    // One 3x3 single-channel image (NHWC) and the same image in HW layout.
    const img = [
      [1, 2, 4],
      [0, 1, 1],
      [3, 3, 0],
    ];
    const vertical = [1, 1, 3, 3, 2, 1]; // |row1-row0| then |row2-row1|
    const horizontal = [1, 2, 1, 0, 0, 3];
    const expected = vertical.reduce((a, b) => a + b) / 6 + horizontal.reduce((a, b) => a + b) / 6;
    expect(value(totalVariation(tf.tensor4d([img.map((r) => r.map((v) => [v]))]), 'NHWC'))).toBeCloseTo(expected, 5);
    expect(value(totalVariation(tf.tensor3d([img]), 'HW'))).toBeCloseTo(expected, 5);
    expect(value(totalVariation(tf.tensor4d([[img]]), 'NCHW'))).toBeCloseTo(expected, 5);
    expect(value(totalVariation(tf.tensor2d([[1, 5]]), 'flat'))).toBe(0);
  });

  it('entropy term is mean_c p̄_c log10 p̄_c of the batch-mean softmax', () => {
    const p = z.map((row) => {
      const e = row.map(Math.exp);
      const s = e.reduce((a, b) => a + b);
      return e.map((v) => v / s);
    });
    const pBar = [0, 1, 2].map((c) => p.reduce((a, r) => a + r[c], 0) / 4);
    const expected = pBar.reduce((a, v) => a + v * Math.log10(v), 0) / 3;
    expect(value(entropyLoss(tf.tensor2d(z)))).toBeCloseTo(expected, 6);
  });

  it('the total is the weighted sum and skips zero-weight terms', () => {
    const logits = tf.tensor2d(z);
    const x = tf.randomNormal([4, 3, 3, 1], 0, 1, 'float32', 2);
    const oneHot = tf.oneHot(targets, 3).toFloat() as tf.Tensor2D;
    const w = { cls: 2, contr: 3, tv: 5, entropy: 0 };
    const t = synthesisLoss(logits, x, oneHot, 2, w, 'NHWC');
    const expected = 2 * value(t.cls.clone()) + 3 * value(t.contr.clone()) + 5 * value(t.tv.clone());
    expect(value(t.entropy)).toBe(0);
    expect(value(t.total)).toBeCloseTo(expected, 4);
    tf.dispose([t.cls, t.contr, t.tv, logits, x, oneHot]);
  });
});

describe('gradients against finite differences', () => {
  it('d(total)/dx through a small conv teacher matches central differences', () => {
    const kernel = tf.randomNormal([3, 3, 1, 4], 0, 0.5, 'float32', 3);
    const dense = tf.randomNormal([4 * 4 * 4, 5], 0, 0.3, 'float32', 4);
    const logitsOf = (x: tf.Tensor) =>
      tf.tidy(() => tf.matMul(tf.relu(tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, 1, 'same')).reshape([4, 64]), dense as tf.Tensor2D));
    const oneHot = tf.oneHot([0, 1, 2, 3], 5).toFloat() as tf.Tensor2D;
    const w = { cls: 1, contr: 0.1, tv: 0.5, entropy: 0.3 };
    const f = (x: tf.Tensor) => synthesisLoss(logitsOf(x) as tf.Tensor2D, x, oneHot, 2, w, "NHWC").total;
    const x0 = tf.randomNormal([4, 4, 4, 1], 0, 1, 'float32', 5);
    const grad = tf.grad(f)(x0);
    const g = grad.dataSync();
    const base = x0.dataSync();
    const eps = 1e-2;
    for (const i of [0, 7, 19, 33, 50, 63]) {
      const plus = Float32Array.from(base);
      const minus = Float32Array.from(base);
      plus[i] += eps;
      minus[i] -= eps;
      const fd = (tf.tidy(() => f(tf.tensor(plus, x0.shape))).dataSync()[0] - tf.tidy(() => f(tf.tensor(minus, x0.shape))).dataSync()[0]) / (2 * eps);
      expect(Math.abs(fd - g[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
    }
    tf.dispose([kernel, dense, oneHot, x0, grad]);
  });
});
