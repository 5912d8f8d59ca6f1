import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { measureSteps } from '../cake/bench';
import { buildStudent } from '../models/students';
import { freezeLayersModel } from './frozen-teacher';
import { initNodeBackend } from './node-backend';
import { initNodeWebGpu, type NodeWebGpu } from './node-webgpu';

// WebGPU in Node through Dawn. Machines without a GPU need Mesa (llvmpipe over EGL) for an adapter; without either
// these tests skip and say why.
let gpu: NodeWebGpu | null = null;
let why = '';

describe('WebGPU in Node (Dawn)', () => {
  beforeAll(async () => {
    await initNodeBackend();
    try {
      gpu = await initNodeWebGpu();
    } catch (e) {
      why = (e as Error).message;
    }
  }, 120_000);

  it('finds an adapter or says why not', (ctx) => {
    if (!gpu) {
      expect(why).toMatch(/no WebGPU adapter|needs the `webgpu` package/);
      ctx.skip(`no WebGPU adapter here: ${why}`);
    }
    expect(tf.getBackend()).toBe('webgpu');
    expect(gpu!.adapterDescription).toMatch(/\(.+\)$/);
  });

  it('runs a frozen teacher and its input gradient as wasm does', async (ctx) => {
    if (!gpu) ctx.skip(`no WebGPU adapter here: ${why}`);
    // The same seeded model and inputs built on each backend (reading webgpu tensors back synchronously needs a canvas).
    const x0 = new Float32Array(3 * 16 * 16).map((_, i) => Math.sin(i * 0.37));
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const { model } = buildStudent('cnn', [16, 16, 1], 4, undefined, { seed: 3 });
      const frozen = freezeLayersModel(model)!;
      const x = tf.tensor(x0, [3, 16, 16, 1]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(frozen.run(t))))(x);
      const out = (await g.data()) as Float32Array;
      tf.dispose([x, g]);
      frozen.dispose();
      model.dispose();
      return out;
    };
    const onGpu = await run('webgpu');
    const onWasm = await run('wasm');
    const scale = Math.max(...onWasm.map(Math.abs));
    expect(Math.max(...onGpu.map((v, i) => Math.abs(v - onWasm[i])))).toBeLessThan(1e-3 * scale);
    await tf.setBackend('webgpu');
  }, 120_000);

  it('times synthesis and student steps, waiting for the device', async (ctx) => {
    if (!gpu) ctx.skip(`no WebGPU adapter here: ${why}`);
    await tf.setBackend('webgpu');
    const teacher = buildStudent('cnn', [16, 16, 1], 4, undefined, { seed: 1 }).model;
    const student = buildStudent('mlp', [16, 16, 1], 4, undefined, { seed: 2 }).model;
    const t = await measureSteps({
      teacher: { inputShape: [16, 16, 1], numClasses: 4, logits: (x) => teacher.apply(x) as tf.Tensor2D },
      studentModel: student,
      synthBatch: 8,
      studentBatch: 8,
      steps: 2,
      warmup: 1,
    });
    expect(t.backend).toBe('webgpu');
    expect(t.device_sync).toBe(true);
    expect(t.synth_steps).toHaveLength(2);
    expect(t.student_steps).toHaveLength(2);
    teacher.dispose();
    student.dispose();
  }, 300_000);
});
