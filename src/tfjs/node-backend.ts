import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradKernels } from './wasm-conv-grad';

// Node gets the wasm backend rather than tfjs-node (whose install needs a download from Google storage that this
// environment cannot reach) or the pure-JS cpu backend (50-80x slower for conv training). In Node the wasm
// backend finds its .wasm binaries next to its own module, so no setWasmPaths is needed.

let ready: Promise<string> | undefined;

/**
 * The cpu backend prints a "install tfjs-node" banner on its first tensor write in Node. The advice does not
 * apply here (tfjs-node cannot be installed, wasm is the backend we want), so mark the banner as already shown.
 * This flips only the flag that gates the message; the IS_NODE env flag is left alone.
 */
export function silenceCpuBackendBanner(): void {
  if (tf.findBackendFactory('cpu') == null) return;
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu != null && 'firstUse' in cpu) cpu.firstUse = false;
}

/** Selects the wasm backend with the conv gradient kernels it lacks; resolves to the backend name. Idempotent. */
export function initNodeBackend(): Promise<string> {
  ready ??= (async () => {
    silenceCpuBackendBanner();
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend failed to initialise');
    await tf.ready();
    registerWasmGradKernels();
    return tf.getBackend();
  })().catch((e: unknown) => {
    ready = undefined;
    throw e;
  });
  return ready.then((name) => {
    // Someone may have switched backends since; put wasm back so callers always get what the name says.
    if (tf.getBackend() !== name) return tf.setBackend(name).then(() => name);
    return name;
  });
}
