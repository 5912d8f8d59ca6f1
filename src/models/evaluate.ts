import * as tf from '@tensorflow/tfjs';

/** Accuracy on labelled data (never seen by CAKE): overall, per class, and the confusion matrix [true][predicted]. */
export interface Accuracy {
  accuracy: number;
  correct: number;
  total: number;
  /** Per true class; null for a class with no samples. */
  perClass: (number | null)[];
  confusion: number[][];
}

/**
 * Evaluates a model on preprocessed inputs. Predictions are read asynchronously: the same code runs in the CLI and in
 * the studio's worker, where a synchronous read destroys the WebGPU device.
 */
export async function evaluateAccuracy(
  model: tf.LayersModel,
  x: Float32Array,
  inputShape: readonly number[],
  labels: ArrayLike<number>,
  numClasses: number,
  batch = 500,
): Promise<Accuracy> {
  const d = inputShape.reduce((a, b) => a * b, 1);
  const n = labels.length;
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let correct = 0;
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const out = tf.tidy(() => {
      const xb = tf.tensor(x.subarray(start * d, (start + m) * d), [m, ...inputShape], 'float32');
      const y = model.predict(xb);
      return tf.argMax(Array.isArray(y) ? y[0] : y, -1);
    });
    const pred = await out.data();
    out.dispose();
    for (let i = 0; i < m; i++) {
      const t = labels[start + i];
      const p = pred[i];
      if (t < numClasses && p < numClasses) confusion[t][p]++;
      if (p === t) correct++;
    }
  }
  const perClass = confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total ? row[c] / total : null;
  });
  return { accuracy: n ? correct / n : 0, correct, total: n, perClass, confusion };
}
