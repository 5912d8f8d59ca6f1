import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { buildHints, hintLoss } from './hints';
import { inheritFromTeacher } from './inherit';
import { initStudentWeights } from './init';
import { makeOptimizer } from './optim';
import { Rng } from './rng';

beforeAll(async () => {
  await initNodeBackend();
});

function chain([c1, c2, f]: [number, number, number], seed: number): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.inputLayer({ inputShape: [12, 12, 1] }),
      tf.layers.conv2d({ filters: c1, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: c2, kernelSize: 3, activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: f, activation: 'relu' }),
      tf.layers.dense({ units: 4 }),
    ],
  });
  initStudentWeights(model, new Rng(seed));
  return model;
}

/** The hint term of each hinted layer on x, one loss per layer. */
function perLayer(hints: NonNullable<ReturnType<typeof buildHints>>, x: tf.Tensor): number[] {
  return tf.tidy(() => {
    const outs = hints.student.apply(x, { training: false }) as tf.Tensor[];
    const targets = hints.targets(x);
    return targets.map((t, i) => hintLoss([outs[i]], [t]).dataSync()[0]);
  });
}

describe('feature hints for a student from the teacher’s channels', () => {
  it('hint every hidden Conv2D and Dense layer against the teacher channels the student kept', () => {
    const teacher = chain([6, 8, 10], 1);
    // Silence the odd channels of every hidden layer: the kept (strongest) ones then carry everything, so a student
    // copied from them reproduces each kept activation exactly, and any channel mismatch would show.
    for (const layer of teacher.layers.filter((l) => ['Conv2D', 'Dense'].includes(l.getClassName())).slice(0, -1)) {
      const [k, b] = layer.getWeights();
      const units = k.shape[k.shape.length - 1];
      const kv = k.dataSync().map((v, j) => ((j % units) % 2 ? 0 : v));
      const bv = b.dataSync().map((v, j) => (j % 2 ? 0 : v));
      layer.setWeights([tf.tensor(kv, k.shape), tf.tensor(bv, b.shape)]);
    }
    const student = chain([3, 4, 5], 2);
    const hints = buildHints(teacher, student, inheritFromTeacher(teacher, student))!;
    expect(hints.spec.map((h) => h.teacher)).toEqual(teacher.layers.filter((l) => ['Conv2D', 'Dense'].includes(l.getClassName())).slice(0, -1).map((l) => l.name));
    const x = tf.randomNormal([3, 12, 12, 1], 0, 1, 'float32', 4);
    const losses = perLayer(hints, x);
    expect(losses).toHaveLength(3);
    for (const l of losses) expect(l).toBeLessThan(1e-10);
    // A student that is not the teacher's copy is far from its activations.
    initStudentWeights(student, new Rng(9));
    expect(Math.max(...perLayer(hints, x))).toBeGreaterThan(1e-3);
  });

  it('pull the student’s hidden layers towards the teacher’s under training', () => {
    const teacher = chain([6, 8, 10], 1);
    const student = chain([3, 4, 5], 2);
    const hints = buildHints(teacher, student, inheritFromTeacher(teacher, student))!;
    const x = tf.randomNormal([16, 12, 12, 1], 0, 1, 'float32', 5);
    const before = perLayer(hints, x);
    // The first layer sees the teacher's own inputs: its copy is exact. Deeper ones lost the dropped channels.
    expect(before[0]).toBeLessThan(1e-10);
    expect(before[1]).toBeGreaterThan(1e-4);
    const vars = student.trainableWeights.map((w) => w.read() as tf.Variable);
    const opt = makeOptimizer('sgd', 0);
    const targets = hints.targets(x);
    for (let i = 0; i < 30; i++)
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const outs = hints.student.apply(x, { training: true }) as tf.Tensor[];
          return hintLoss(outs.slice(0, -1), targets);
        }, vars);
        opt.step(vars, grads, 0.05, 0.9);
      });
    const after = perLayer(hints, x);
    expect(after[1] + after[2]).toBeLessThan(0.5 * (before[1] + before[2]));
  });

  it('need a hidden layer: a student whose only weighted layer is its classifier has none', () => {
    const mk = (seed: number) => {
      const m = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })] });
      initStudentWeights(m, new Rng(seed));
      return m;
    };
    const teacher = mk(1);
    const student = mk(2);
    expect(buildHints(teacher, student, inheritFromTeacher(teacher, student))).toBeNull();
  });
});
