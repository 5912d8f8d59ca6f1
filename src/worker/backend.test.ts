import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { timeProbeStep, webGpuWins } from './backend';

describe('choosing WebGPU by a timed probe', () => {
  beforeAll(async () => {
    await initNodeBackend();
  });

  it('takes WebGPU only when it measured faster than WASM', () => {
    expect(webGpuWins({ webgpuMs: 4, wasmMs: 20 })).toBe(true);
    expect(webGpuWins({ webgpuMs: 25, wasmMs: 20 })).toBe(false);
    expect(webGpuWins({ webgpuMs: 20, wasmMs: 20 })).toBe(false);
    expect(webGpuWins({ webgpuMs: NaN, wasmMs: 20 })).toBe(false); // the probe failed on the GPU
    expect(webGpuWins({ webgpuMs: 30, wasmMs: NaN })).toBe(true); // WASM could not start
  });

  it('times a synthesis-shaped step and frees what it made', async () => {
    expect(tf.getBackend()).toBe('wasm');
    const before = tf.memory().numTensors;
    const ms = await timeProbeStep(2);
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(60_000);
    expect(tf.memory().numTensors).toBe(before);
  });
});
