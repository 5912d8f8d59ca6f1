import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { withOverrides, presetConfig } from './config';
import { runCake } from './pipeline';
import { Rng } from './rng';
import { agreement, teacherFromModel, twoMoons } from './testing';
import { trainClassifier } from './train';

/**
 * The paper's Figure 1 setting: a small MLP teacher on 2-D two-moons, CAKE with pairs (K = 2), an MLP student judged
 * by agreement with the teacher on a dense grid. A CE-only variant (no contrastive term) runs beside it.
 */

const mlp = (seed: number) =>
  tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [2], units: 32, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
      tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }),
    ],
  });

function grid(n: number, lim: number): tf.Tensor2D {
  const pts: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) pts.push(-lim + (2 * lim * i) / (n - 1), -lim + (2 * lim * j) / (n - 1));
  return tf.tensor2d(pts, [n * n, 2]);
}

let teacher: tf.LayersModel;

beforeAll(async () => {
  await initNodeBackend();
  teacher = mlp(1);
  const data = twoMoons(1000, 7);
  const onehot = new Float32Array(1000 * 2);
  data.y.forEach((c, i) => (onehot[2 * i + c] = 1));
  await trainClassifier({
    model: teacher,
    source: {
      inputShape: [2],
      numClasses: 2,
      gather: (idx, x, y) => {
        for (let k = 0; k < idx.length; k++) {
          x.set(data.x.subarray(2 * idx[k], 2 * idx[k] + 2), 2 * k);
          y.set(onehot.subarray(2 * idx[k], 2 * idx[k] + 2), 2 * k);
        }
      },
    },
    train: Int32Array.from({ length: 1000 }, (_, i) => i),
    val: new Int32Array(0),
    cfg: { ...presetConfig('smoke', { inputShape: [2], numClasses: 2 }).student, epochs: 40, batchSize: 50, lr: 0.1 },
    rngForEpoch: (e) => Rng.derive(3, 0, e),
  });
});

describe('two moons (Figure 1)', () => {
  it('the teacher learns the moons', () => {
    const data = twoMoons(500, 99);
    const acc = tf.tidy(() =>
      tf.mean(tf.cast(tf.equal(tf.argMax(teacher.predict(tf.tensor2d(data.x, [500, 2])) as tf.Tensor, -1), tf.tensor1d(data.y, 'int32')), 'float32')).dataSync()[0],
    );
    expect(acc).toBeGreaterThan(0.97);
  });

  it('CAKE with K = 2 gives a student agreeing with the teacher on ≥ 95 % of a dense grid; CE-only beside it', async () => {
    // The reference's 2-D row (spec §3.1), with fewer sets so the test takes seconds.
    const base = withOverrides(presetConfig('paper', { inputShape: [2], numClasses: 2 }, 5), {
      synthesis: { sets: 40, steps: 100, batchSize: 100, groupSize: 2, eta0: 1e-2, weights: { cls: 1e-2, contr: 1e-3, tv: 0, entropy: 0 } },
      student: { epochs: 20, batchSize: 64, lr: 0.1 },
    });
    const results: Record<string, number> = {};
    const g = grid(60, 2.5);
    for (const [name, contr] of [['cake', 1e-3], ['ce-only', 0]] as const) {
      const student = mlp(11);
      const config = withOverrides(base, { synthesis: { weights: { contr } } });
      await runCake({ teacher: teacherFromModel(teacher), config, student, studentArch: 'mlp' });
      results[name] = agreement(teacher, student, g);
      student.dispose();
    }
    g.dispose();
    console.log(`two-moons grid agreement: CAKE ${(100 * results.cake).toFixed(1)} %, CE-only ${(100 * results['ce-only']).toFixed(1)} %`);
    expect(results.cake).toBeGreaterThanOrEqual(0.95);
  });
});
