import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { presetConfig } from '../cake/config';
import { runCake } from '../cake/pipeline';
import { randomConvTeacher, teacherFromModel } from '../cake/testing';
import { exportStudent } from '../io/export';
import { initNodeBackend } from '../tfjs/node-backend';
import { buildStudent } from './students';

beforeAll(async () => {
  await initNodeBackend();
});

describe('a smoke distillation, exported', () => {
  it('loads with plain tf.loadLayersModel and predicts exactly what the engine’s student predicts', async () => {
    const teacher = randomConvTeacher(21);
    const config = presetConfig('smoke', { inputShape: [32, 32, 1], numClasses: 10 }, 3);
    const built = buildStudent('lenet5-half', [32, 32, 1], 10, teacher);
    const { student, report } = await runCake({ teacher: teacherFromModel(teacher), config, student: built.model, studentArch: built.arch });
    // FLOPs: conv 28·28·3 × 25 and 10·10·8 × 75 products, dense 200·60 + 60·42 + 42·10, two FLOPs each.
    expect(report.student).toEqual({ arch: 'lenet5-half', params: 15738, flopsPerImage: 267480, init: 'random' });

    const { modelJson, weights } = await exportStudent(student);
    const json = JSON.parse(JSON.stringify(modelJson)) as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] };
    const reloaded = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weights }),
    );
    const probe = tf.randomNormal([16, 32, 32, 1], 0, 1, 'float32', 4);
    const a = (student.predict(probe) as tf.Tensor).dataSync();
    const b = (reloaded.predict(probe) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    tf.dispose([probe]);
    [teacher, student, reloaded].forEach((m) => m.dispose());
  });
});
