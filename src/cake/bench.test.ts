import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { measureSteps, median } from './bench';
import { randomConvTeacher, teacherFromModel } from './testing';

beforeAll(async () => {
  await initNodeBackend();
});

describe('measureSteps', () => {
  it('times the requested synthesis and student steps after warm-up, without leaking tensors', async () => {
    const teacherModel = randomConvTeacher(3);
    const student = randomConvTeacher(4);
    const before = tf.memory().numTensors;
    const t = await measureSteps({ teacher: teacherFromModel(teacherModel), studentModel: student, synthBatch: 20, studentBatch: 8, steps: 3, warmup: 1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(t.synth_steps).toHaveLength(3);
    expect(t.student_steps).toHaveLength(3);
    expect(t.synth_ms).toBe(median(t.synth_steps));
    expect(t.synth_ms).toBeGreaterThan(0);
    expect(t.student_ms).toBeGreaterThan(0);
    expect(t).toMatchObject({ synth_batch: 20, student_batch: 8, group: 10, backend: tf.getBackend(), device_sync: false });
    teacherModel.dispose();
    student.dispose();
  });

  it('skips the student when none is given', async () => {
    const teacherModel = randomConvTeacher(5);
    const t = await measureSteps({ teacher: teacherFromModel(teacherModel), synthBatch: 10, steps: 2, warmup: 0 });
    expect(t.synth_steps).toHaveLength(2);
    expect(t.student_steps).toHaveLength(0);
    expect(Number.isNaN(t.student_ms)).toBe(true);
    teacherModel.dispose();
  });
});
