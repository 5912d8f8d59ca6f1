import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateAccuracy } from '../models/evaluate';
import { accuracyAsync } from './evaluate';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('accuracyAsync', () => {
  it('counts accuracy, per-class accuracy and the confusion matrix as the synchronous evaluateAccuracy does', async () => {
    // Predicts the argmax of its 3 inputs.
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 3, useBias: false, kernelInitializer: 'identity' })] });
    const x = Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1]);
    const labels = [0, 1, 2, 1, 2];
    const acc = await accuracyAsync(model, x, [3], labels, 3, 2);
    expect(acc.correct).toBe(4);
    expect(acc.accuracy).toBeCloseTo(0.8);
    expect(acc.confusion).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [0, 0, 2],
    ]);
    expect(acc.perClass).toEqual([1, 0.5, 1]);
    const sync = await evaluateAccuracy(model, x, [3], labels, 3);
    expect(acc.confusion).toEqual(sync.confusion);
    const none = await accuracyAsync(model, x.subarray(0, 3), [3], [0], 3);
    expect(none.perClass).toEqual([1, null, null]);
    model.dispose();
  });
});
