import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { inputMapFor, rangeInSynthesisSpace, teacherInSynthesisSpace, toTeacherSpace } from './input-space';

beforeAll(async () => {
  await initNodeBackend();
});

describe('the synthesis space', () => {
  it('stays the teacher’s own for normalised ranges and standardises raw and 0-1 pixels', () => {
    expect(inputMapFor(undefined)).toBeNull();
    expect(inputMapFor([-0.4242, 2.8215])).toBeNull();
    expect(inputMapFor([-1, 1])).toBeNull();
    expect(inputMapFor([-2.118, 2.64])).toBeNull();
    expect(inputMapFor([0, 255])).toEqual({ scale: 63.75, offset: 127.5 });
    expect(inputMapFor([0, 1])).toEqual({ scale: 0.25, offset: 0.5 });
    // u in [-2, 2] covers the range; the range maps back to [-2, 2].
    expect(rangeInSynthesisSpace([0, 255], inputMapFor([0, 255]))).toEqual([-2, 2]);
    expect(Array.from(toTeacherSpace(new Float32Array([-2, 0, 2]), inputMapFor([0, 1])))).toEqual([0, 0.5, 1]);
  });

  it('shows the teacher the mapped input, with gradients to u scaled by the map', () => {
    const teacher = {
      inputShape: [2],
      numClasses: 2,
      logits: (x: tf.Tensor) => tf.tidy(() => tf.concat([x, tf.neg(x)], 1).slice([0, 0], [-1, 2]) as tf.Tensor2D),
    };
    const map = inputMapFor([0, 255]);
    const mapped = teacherInSynthesisSpace(teacher, map);
    const u = tf.tensor2d([[0, 1]]);
    expect(mapped.logits(u).arraySync()).toEqual([[127.5, 191.25]]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(mapped.logits(v)))(u);
    expect(g.arraySync()).toEqual([[63.75, 63.75]]);
    expect(teacherInSynthesisSpace(teacher, null)).toBe(teacher);
  });
});
