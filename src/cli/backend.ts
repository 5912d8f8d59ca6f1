import * as tf from '@tensorflow/tfjs';
import { initNodeBackend } from '../tfjs/node-backend';
import { UsageError } from './args';

/** Node runs on wasm (with our conv-gradient kernels); `cpu` is there for cross-checks. */
export async function useBackend(name = 'wasm'): Promise<string> {
  if (name !== 'wasm' && name !== 'cpu')
    throw new UsageError(`--backend must be wasm or cpu in Node (webgpu and webgl run in the studio), got "${name}"`);
  await initNodeBackend();
  if (name === 'cpu') await tf.setBackend('cpu');
  return tf.getBackend();
}
