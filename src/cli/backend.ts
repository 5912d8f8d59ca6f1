import * as tf from '@tensorflow/tfjs';
import { initNodeBackend } from '../tfjs/node-backend';
import { initNodeWebGpu } from '../tfjs/node-webgpu';
import os from 'node:os';
import type { SetSynthesizer } from '../cake/parallel';
import type { NamedFile } from '../io/files';
import { numberOpt, UsageError, type Args } from './args';
import { createNodeSetSynthesizer } from './parallel-synth';

/**
 * Node runs on wasm (with our conv-gradient kernels); `webgpu` runs on a GPU through Dawn (src/tfjs/node-webgpu.ts);
 * `cpu` is there for cross-checks.
 */
export async function useBackend(name = 'wasm'): Promise<string> {
  if (name !== 'wasm' && name !== 'cpu' && name !== 'webgpu')
    throw new UsageError(`--backend must be wasm, webgpu or cpu in Node (webgl runs in the studio), got "${name}"`);
  await initNodeBackend();
  if (name === 'cpu') await tf.setBackend('cpu');
  if (name === 'webgpu') {
    try {
      const gpu = await initNodeWebGpu();
      process.stderr.write(`webgpu: ${gpu.adapterDescription}${gpu.software ? ' — a software adapter: correct, but slower than wasm' : ''}\n`);
    } catch (e) {
      throw new UsageError(`--backend webgpu: ${(e as Error).message}`);
    }
  }
  return tf.getBackend();
}

/**
 * This process's CPU time in milliseconds, for timing inference (src/models/speed.ts): the wasm backend runs in one
 * thread in Node, so its CPU time is the work's own time, which other processes on a shared machine do not inflate.
 */
export function cpuClock(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * `--workers N`: synthesis sets on N worker threads (one wasm thread each; wasm threads themselves crash in Node).
 * The default is one per core, at most 2 (measured: 2 workers make ~1.6x the sets per second of one on 2 idle cores);
 * 1 keeps synthesis in this thread. The cpu backend stays in-process (its workers would run wasm).
 */
export async function synthesisWorkers(args: Args, teacherFiles: NamedFile[], backend: string): Promise<SetSynthesizer | undefined> {
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const n = numberOpt(args, 'workers', Math.min(2, cores));
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--workers must be a whole number from 1 to 64, got ${n}`);
  if (n === 1 || backend !== 'wasm') return undefined;
  return createNodeSetSynthesizer(teacherFiles, n);
}
