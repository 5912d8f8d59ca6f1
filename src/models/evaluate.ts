import * as tf from '@tensorflow/tfjs';

/** Accuracy on labelled data (never seen by CAKE): overall, per class, and the confusion matrix [true][predicted]. */
export interface Accuracy {
  accuracy: number;
  correct: number;
  total: number;
  perClass: number[];
  confusion: number[][];
}

export function evaluateAccuracy(
  model: tf.LayersModel,
  x: Float32Array,
  inputShape: readonly number[],
  labels: ArrayLike<number>,
  numClasses: number,
  batch = 1000,
): Accuracy {
  const d = inputShape.reduce((a, b) => a * b, 1);
  const n = labels.length;
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let correct = 0;
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const pred = tf.tidy(() => {
      const xb = tf.tensor(x.subarray(start * d, (start + m) * d), [m, ...inputShape]);
      return tf.argMax(model.predict(xb) as tf.Tensor, -1).dataSync();
    });
    for (let i = 0; i < m; i++) {
      const t = labels[start + i];
      const p = pred[i];
      if (t < numClasses && p < numClasses) confusion[t][p]++;
      if (p === t) correct++;
    }
  }
  const perClass = confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total ? row[c] / total : NaN;
  });
  return { accuracy: correct / n, correct, total: n, perClass, confusion };
}
