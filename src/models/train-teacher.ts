import * as tf from '@tensorflow/tfjs';
import { presetConfig, type StudentConfig } from '../cake/config';
import type { EpochResult } from '../cake/progress';
import { Rng } from '../cake/rng';
import { trainClassifier, type StudentStep } from '../cake/train';
import { initStudentWeights } from '../cake/init';
import { evaluateAccuracy, type Accuracy } from './evaluate';
import { buildStudent } from './students';

/**
 * Trains a demo teacher on real labelled images the paper's way (spec §2.6): SGD with momentum and a one-cycle
 * schedule, plain cross-entropy (one-hot targets through the same soft-target loss), and, when asked, random shifts
 * of up to `shift` pixels (the CLI's default is none: shift-trained teachers distil worse, BENCHMARKS.md). Images
 * arrive preprocessed ([n, H, W, 1] floats).
 */
export interface LabelledImages {
  x: Float32Array;
  labels: Uint8Array;
  /** [H, W, C] */
  shape: [number, number, number];
  /** The value a blank pixel has after preprocessing, used to fill shifted-in borders. */
  background: number;
}

export interface TeacherTraining {
  arch: string;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  shift: number;
  numClasses: number;
}

export async function trainTeacher(
  train: LabelledImages,
  test: LabelledImages,
  t: TeacherTraining,
  hooks: { onStep?: (s: StudentStep) => void; onEpoch?: (e: EpochResult, testAcc: number) => void } = {},
): Promise<{ model: tf.LayersModel; test: Accuracy }> {
  const { model } = buildStudent(t.arch, train.shape, t.numClasses);
  const rng = new Rng(t.seed);
  initStudentWeights(model, rng.fork());
  const d = train.shape.reduce((a, b) => a * b, 1);
  const C = t.numClasses;
  // The method's student recipe (SGD momentum, weight decay, one-cycle), with no augmentation: on real data the
  // shifts are applied below with the one-hot labels kept (a shifted digit is still that digit).
  const cfg: StudentConfig = {
    ...presetConfig('paper', { inputShape: train.shape, numClasses: C }).student,
    arch: t.arch,
    epochs: t.epochs,
    batchSize: t.batchSize,
    lr: t.lr,
    valFraction: 0,
  };
  const shiftRng = rng.fork();
  const [H, W] = train.shape;
  const scratch = new Float32Array(d);
  await trainClassifier({
    model,
    source: {
      inputShape: train.shape,
      numClasses: C,
      gather: (idx, x, y) => {
        y.fill(0);
        for (let k = 0; k < idx.length; k++) {
          x.set(train.x.subarray(idx[k] * d, (idx[k] + 1) * d), k * d);
          y[k * C + train.labels[idx[k]]] = 1;
        }
      },
    },
    train: Int32Array.from({ length: train.labels.length }, (_, i) => i),
    val: new Int32Array(0),
    cfg,
    rngForEpoch: (e) => Rng.derive(t.seed, 3, e),
    subject: 'the teacher',
    divergenceAdvice: `lower its peak learning rate (${t.lr}, --lr in \`cake train-teacher\`)`,
    onStep: hooks.onStep,
    onEpochEnd: async ({ result: e }) => {
      const acc = hooks.onEpoch ? (await evaluateAccuracy(model, test.x, test.shape, test.labels, C)).accuracy : NaN;
      hooks.onEpoch?.(e, acc);
    },
    augment: t.shift > 0 ? (x, n) => {
      // Shift each (single-channel) image by up to `shift` pixels in each direction, filling with the background.
      for (let k = 0; k < n; k++) {
        const dx = shiftRng.int(2 * t.shift + 1) - t.shift;
        const dy = shiftRng.int(2 * t.shift + 1) - t.shift;
        if (dx === 0 && dy === 0) continue;
        const img = x.subarray(k * d, (k + 1) * d);
        scratch.fill(train.background);
        for (let r = 0; r < H; r++) {
          const sr = r - dy;
          if (sr < 0 || sr >= H) continue;
          for (let c = 0; c < W; c++) {
            const sc = c - dx;
            if (sc >= 0 && sc < W) scratch[r * W + c] = img[sr * W + sc];
          }
        }
        img.set(scratch);
      }
    } : undefined,
  });
  return { model, test: await evaluateAccuracy(model, test.x, test.shape, test.labels, C) };
}
