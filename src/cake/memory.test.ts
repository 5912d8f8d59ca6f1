import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { presetConfig, withOverrides } from './config';
import { measureMemory, memoryProblems } from './memory';

beforeAll(async () => {
  await initNodeBackend();
});

describe('the memory a run needs', () => {
  it('grows with the batch as measured, and a batch that would not fit is refused with one that would', async () => {
    const model = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 8, kernelSize: 3, activation: 'relu' }), tf.layers.flatten(), tf.layers.dense({ units: 4 })] });
    const teacher = { inputShape: [16, 16, 3], numClasses: 4, logits: (x: tf.Tensor) => model.apply(x) as tf.Tensor2D };
    const config = presetConfig('smoke', { inputShape: [16, 16, 3], numClasses: 4 });
    const before = tf.memory().numTensors;
    const plan = await measureMemory(teacher, config, model);
    expect(tf.memory().numTensors).toBe(before);
    // Per sample the step holds at least the input, the conv's output and their gradients (768 + 1,568 floats).
    expect(plan.synthesis.perSample).toBeGreaterThan(4 * (768 + 1568));
    expect(plan.synthesis.perSample).toBeLessThan(40 * (768 + 1568));
    expect(plan.student!.perSample).toBeGreaterThan(0);
    expect(memoryProblems(plan, config)).toEqual([]);
    const huge = withOverrides(config, { synthesis: { batchSize: 4_000_000 }, student: { batchSize: 8192 } });
    const problems = memoryProblems(plan, huge, 64 * 1024 ** 2);
    expect(problems.map((p) => p.key)).toEqual(['synthesis.batchSize', 'student.batchSize']);
    const fits = Number(problems[0].message.match(/; (\d+) fits$/)?.[1]);
    expect(fits % config.synthesis.groupSize).toBe(0);
    expect(plan.synthesis.fixed + plan.synthesis.perSample * fits).toBeLessThanOrEqual(64 * 1024 ** 2);
    expect(plan.synthesis.fixed + plan.synthesis.perSample * (fits + config.synthesis.groupSize)).toBeGreaterThan(64 * 1024 ** 2);
    expect(problems[0].message).toMatch(/^a synthesis step at batch 4000000 needs about [\d,]+ MiB of the backend's memory, more than the 64 MiB a run may use; \d+ fits$/);
    model.dispose();
  });
});
