import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { classBalanceWeights, logitDistillationLoss } from './train';

beforeAll(async () => {
  await initNodeBackend();
});

const read = (t: tf.Tensor) => {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
};

describe('class-balanced distillation', () => {
  it('gives every class the same total weight in a skewed batch, and weight 1 in a balanced one', () => {
    // Three confident "class 0" answers and one "class 1": the class-1 sample weighs what the three others do.
    const skewed = read(classBalanceWeights(tf.tensor2d([[1, 0], [1, 0], [1, 0], [0, 1]])));
    expect(skewed[0] + skewed[1] + skewed[2]).toBeCloseTo(skewed[3], 5);
    expect(skewed.reduce((a, b) => a + b, 0) / 4).toBeCloseTo(1, 5);
    const balanced = read(classBalanceWeights(tf.tensor2d([[0.9, 0.1], [0.1, 0.9], [0.5, 0.5], [0.5, 0.5]])));
    for (const w of balanced) expect(w).toBeCloseTo(1, 5);
  });

  it('caps the weight of a class that is nearly absent, then scales to mean 1', () => {
    const probs = [[0, 1], ...Array.from({ length: 99 }, () => [1, 0])];
    const w = read(classBalanceWeights(tf.tensor2d(probs), 10));
    // Uncapped the lone sample would get 50 against ~0.5: capped at 10 before scaling.
    expect(w[0] / w[1]).toBeCloseTo(10 / (1 / (2 * 0.99)), 3);
    expect(w.reduce((a, b) => a + b, 0) / w.length).toBeCloseTo(1, 5);
  });

  it('the balanced loss equals the plain one on a balanced batch and weights rare classes up on a skewed one', () => {
    const student = tf.tensor2d([[2, 0], [1, 0], [0, 1], [0.5, 0]]);
    const balancedTeacher = tf.tensor2d([[3, 0], [0, 3], [0, 3], [3, 0]]);
    const plain = read(logitDistillationLoss(student, balancedTeacher, 1, false))[0];
    expect(read(logitDistillationLoss(student, balancedTeacher, 1, true))[0]).toBeCloseTo(plain, 5);
    // The teacher calls three samples class 0, one class 1; the student gets only the class-1 sample wrong.
    const skewedTeacher = tf.tensor2d([[5, 0], [5, 0], [5, 0], [0, 5]]);
    const rightOnCommon = tf.tensor2d([[2, 0], [1, 0], [3, 0], [0.5, 0]]);
    const unweighted = read(logitDistillationLoss(rightOnCommon, skewedTeacher, 1, false))[0];
    const weighted = read(logitDistillationLoss(rightOnCommon, skewedTeacher, 1, true))[0];
    expect(weighted).toBeGreaterThan(unweighted * 1.3);
    tf.dispose([student, balancedTeacher, skewedTeacher, rightOnCommon]);
  });
});
