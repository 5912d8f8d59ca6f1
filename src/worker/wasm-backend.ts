/**
 * The wasm backend in a browser worker: binaries from Vite's asset URLs, one thread (the threaded build's pthread
 * workers crash inside Vite module workers), our conv-gradient and speed kernels registered. Used by the studio's
 * worker (backend.ts) and by its synthesis helpers (synth.worker.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { registerWasmGradKernels } from '../tfjs/wasm-conv-grad';

let wasmPathsSet = false;
let wasmKernelsRegistered = false;

/** Selects wasm; resolves to a description of it, or null when it cannot start. */
export async function tryWasm(): Promise<string | null> {
  if (!wasmPathsSet) {
    setWasmPaths({
      'tfjs-backend-wasm.wasm': wasmPlainUrl,
      'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
    });
    wasmPathsSet = true;
  }
  // The threaded build's pthread workers crash inside Vite module workers; stay single-threaded.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  if (!(await tf.setBackend('wasm'))) return null;
  await tf.ready();
  if (!wasmKernelsRegistered) {
    registerWasmGradKernels();
    wasmKernelsRegistered = true;
  }
  let simd = false;
  try {
    simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  } catch {
    simd = false;
  }
  return `WebAssembly${simd ? ' SIMD' : ''}, 1 thread`;
}

