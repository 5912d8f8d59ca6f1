import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readTeacherFiles } from '../cli/node-files';
import { initNodeBackend } from '../tfjs/node-backend';
import { ortRun } from './onnx-reference';
import { inspectTeacher } from './teacher-info';
import { loadTeacher } from './teacher-load';

// The public teachers in ../shared/teachers (real exports from outside the project; never committed) import,
// pass the gradient check and, for ONNX, compute what ONNX Runtime computes. Skipped where ../shared is absent.

const DIR = '../shared/teachers';
const here = existsSync(DIR);
if (!here) console.warn(`skipping the shared-teacher tests: ${DIR} is not present`);

beforeAll(async () => {
  await initNodeBackend();
});

const TEACHERS: { path: string; inputShape: number[]; classes: number }[] = [
  { path: 'cifar10-resnet32-pytorch-onnx/resnet32.onnx', inputShape: [3, 32, 32], classes: 10 },
  { path: 'cifar10-resnet8-mlperf-keras/pretrainedResnet.h5', inputShape: [32, 32, 3], classes: 10 },
  { path: 'imagenet-mobilenet-v1-0.25-keras/mobilenet_v1_0.25_224.h5', inputShape: [224, 224, 3], classes: 1000 },
  { path: 'fashion-mnist-mlp-tfjs/model.json', inputShape: [28, 28], classes: 10 },
  { path: 'ml5-doodlenet-tfjs/model.json', inputShape: [28, 28, 1], classes: 345 },
  { path: 'tensorspace-lenet-mnist-graph/model.json', inputShape: [28, 28, 1], classes: 10 },
  { path: 'tensorspace-lenet-mnist-keras/mnist.h5', inputShape: [28, 28], classes: 10 },
];

describe.skipIf(!here)('the shared public teachers', () => {
  for (const t of TEACHERS)
    it(`${t.path} imports and its input gradients are sound`, async () => {
      const loaded = await loadTeacher(await readTeacherFiles([`${DIR}/${t.path}`]));
      try {
        const info = await inspectTeacher(loaded);
        expect(info.inputShape).toEqual(t.inputShape);
        expect(info.numClasses).toBe(t.classes);
        expect(info.gradientCheck?.ok, info.gradientCheck?.message).toBe(true);
      } finally {
        loaded.dispose();
      }
    }, 120_000);

  it('ResNet-32 (PyTorch ONNX, option-A shortcuts) gives ONNX Runtime\'s logits', async () => {
    const files = await readTeacherFiles([`${DIR}/cifar10-resnet32-pytorch-onnx/resnet32.onnx`]);
    const loaded = await loadTeacher(files);
    try {
      const x = tf.randomUniform([3, 3, 32, 32], -2, 2, 'float32', 9);
      const ref = await ortRun(files[0], x.dataSync() as Float32Array, x.shape);
      const ours = tf.tidy(() => loaded.teacher.logits(x).dataSync());
      const worst = ref.data.reduce((m, v, i) => Math.max(m, Math.abs(v - ours[i])), 0);
      expect(worst).toBeLessThan(1e-3);
      x.dispose();
    } finally {
      loaded.dispose();
    }
  }, 120_000);
});
