import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { Rng } from '../cake/rng';
import { trainTeacher, type LabelledImages } from './train-teacher';

beforeAll(async () => {
  await initNodeBackend();
});

/** n random 32×32 images in two classes, told apart by their mean brightness. */
function images(n: number, seed: number): LabelledImages {
  const rng = new Rng(seed);
  const d = 32 * 32;
  const x = new Float32Array(n * d);
  const labels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    labels[k] = k % 2;
    for (let i = 0; i < d; i++) x[k * d + i] = rng.normal() * 0.3 + (labels[k] ? 0.5 : -0.5);
  }
  return { x, labels, shape: [32, 32, 1], background: -0.5 };
}

describe('trainTeacher', () => {
  const t = { arch: 'lenet5', epochs: 1, batchSize: 8, seed: 0, shift: 1, numClasses: 2 };

  it('learns an easy two-class problem', async () => {
    const { model, test } = await trainTeacher(images(64, 1), images(32, 2), { ...t, epochs: 3, lr: 0.05 });
    expect(test.accuracy).toBeGreaterThan(0.9);
    model.dispose();
  });

  it('stops on a loss that is no longer finite, naming the teacher and the flag to lower', async () => {
    // A rate this large overflows the weights within the epoch (the reference's own rate, 0.5, did so on MNIST).
    await expect(trainTeacher(images(64, 1), images(32, 2), { ...t, lr: 1e30 })).rejects.toThrow(
      /^the teacher's loss became (NaN|Infinity) in epoch 1; lower its peak learning rate \(1e\+30, --lr in `cake train-teacher`\)$/,
    );
  });
});
