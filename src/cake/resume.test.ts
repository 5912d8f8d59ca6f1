import type * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { presetConfig, withOverrides, type CakeConfig } from './config';
import { runCake, type StudentCheckpoint } from './pipeline';
import { SyntheticPool } from './pool';
import { randomConvTeacher, teacherFromModel } from './testing';

let teacherModel: tf.LayersModel;
const traits = { inputShape: [32, 32, 1], numClasses: 10 };

async function weightsOf(m: tf.LayersModel): Promise<number[][]> {
  return Promise.all(m.getWeights().map(async (w) => Array.from((await w.data()) as Float32Array)));
}

beforeAll(async () => {
  await initNodeBackend();
  teacherModel = randomConvTeacher(7);
});

describe('resuming student training from an epoch checkpoint', () => {
  for (const optimizer of ['sgd', 'adam'] as const) {
    it(`gives the same student as an uninterrupted run (${optimizer})`, async () => {
      const cfg: CakeConfig = withOverrides(presetConfig('smoke', traits, 5), {
        synthesis: { sets: 2 },
        student: { epochs: 3, optimizer, batchSize: 16 },
      });
      const pool = new SyntheticPool(32 * 32, 10, cfg.synthesis.batchSize);
      const checkpoints: StudentCheckpoint[] = [];
      const full = randomConvTeacher(100);
      const first = await runCake({
        teacher: teacherFromModel(teacherModel),
        config: cfg,
        student: full,
        studentArch: 'x',
        pool,
        onStudentCheckpoint: (c) => void checkpoints.push(c),
      });
      expect(checkpoints.map((c) => c.startEpoch)).toEqual([1, 2, 3]);
      expect(checkpoints[1].epochs).toHaveLength(2);

      // Resume after epoch 1 with another (differently initialised) build of the student.
      const resumed = randomConvTeacher(300);
      const epochsRun: number[] = [];
      const second = await runCake({
        teacher: teacherFromModel(teacherModel),
        config: cfg,
        student: resumed,
        studentArch: 'x',
        pool,
        studentResume: checkpoints[0],
        onEpoch: (e) => epochsRun.push(e.epoch),
      });
      expect(epochsRun).toEqual([1, 2]);
      expect(await weightsOf(resumed)).toEqual(await weightsOf(full));
      expect(second.report.studentTraining.agreement).toBe(first.report.studentTraining.agreement);
      full.dispose();
      resumed.dispose();
    });
  }
});
