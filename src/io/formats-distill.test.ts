import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { presetConfig, runCake, withOverrides, type CakeConfig } from '../cake';
import { buildStudent } from '../models/students';
import type { NamedFile } from './files';
import { graphModelFixture } from './graph-fixtures';
import { keras2Lenet, keras3Functional } from './keras-fixtures';
import { onnxConvNet } from './onnx-fixtures';
import { inspectTeacher } from './teacher-info';
import { loadTeacher } from './teacher-load';

// Every importer's teacher goes through a real CAKE run. The fixtures' teachers are randomly initialised (not
// trained): CAKE only needs a function to distil, and a student that reproduces a random teacher's decisions has
// learned the teacher, not a data set. Agreement is measured on held-out synthetic samples the student never
// trained on; those samples are class-balanced by construction, so chance is 1/classes. The tests ask for twice
// chance. The Keras 2 LeNet only runs the smoke preset (its 28×28 input makes longer runs slow here).

beforeAll(async () => {
  await initNodeBackend();
});

async function distil(files: NamedFile[], overrides: Parameters<typeof withOverrides>[1] = {}) {
  const loaded = await loadTeacher(files);
  try {
    const info = await inspectTeacher(loaded);
    expect(info.gradientCheck?.ok, info.gradientCheck?.message).toBe(true);
    const traits = { inputShape: info.inputShape, numClasses: info.numClasses };
    const config: CakeConfig = withOverrides(presetConfig('smoke', traits, 1), overrides);
    const built = buildStudent(config.student.arch, info.inputShape, info.numClasses, loaded.model, { seed: 1 });
    const { student, report } = await runCake({ teacher: loaded.teacher, config, student: built.model, studentArch: built.arch, logitsFrom: info.logitsFrom, progressIntervalMs: 1e9 });
    // The student takes exactly the teacher's input.
    expect(student.inputs[0].shape.slice(1)).toEqual(info.inputShape);
    const out = tf.tidy(() => (student.predict(tf.zeros([2, ...info.inputShape])) as tf.Tensor).shape);
    expect(out).toEqual([2, info.numClasses]);
    student.dispose();
    return { info, report };
  } finally {
    loaded.dispose();
  }
}

/** Four classes in every fixture below: chance agreement is 1/4 (seen: 0.66–0.79 with the settings below). */
const CHANCE = 1 / 4;

/** Enough synthesis and training on these tiny teachers for the student to learn them. */
const longer = { synthesis: { sets: 20, steps: 12 }, student: { epochs: 12, lr: 0.005, optimizer: 'adam' as const, valFraction: 0.2 } };

describe('smoke distillation from every format', () => {
  it('a graph model', async () => {
    const fx = graphModelFixture({ classes: 4 });
    const { report } = await distil(fx.files);
    expect(report.samples.total).toBeGreaterThan(0);
    const { report: r2 } = await distil(fx.files, longer);
    expect(r2.studentTraining.agreement).toBeGreaterThan(2 * CHANCE);
    fx.dispose();
  }, 120_000);

  it('a Keras 2 .h5', async () => {
    const fx = await keras2Lenet('lenet.h5', 28, 4);
    fx.reference.dispose();
    const { report } = await distil([fx.file]);
    expect(report.samples.total).toBeGreaterThan(0);
  }, 120_000);

  it('a Keras 3 .keras', async () => {
    const fx = await keras3Functional();
    fx.reference.dispose();
    const { report } = await distil([fx.file], longer);
    expect(report.studentTraining.agreement).toBeGreaterThan(2 * CHANCE);
  }, 120_000);

  it('an ONNX model with NCHW input', async () => {
    const fx = onnxConvNet({ size: 12 });
    const { info, report } = await distil([fx.file], longer);
    expect(info.layout).toBe('NCHW');
    expect(report.studentTraining.agreement).toBeGreaterThan(2 * CHANCE);
    fx.dispose();
  }, 120_000);
});
