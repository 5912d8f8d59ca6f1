import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SetSynthesizer } from '../cake/parallel';
import type { NamedFile } from '../io/files';
import { setWorkerPool, type Port, type SetWorkerOut } from '../worker/set-worker';

/**
 * Synthesis sets on Node worker threads (src/worker/set-worker.ts): each thread has its own wasm backend (one
 * thread each) and its own copy of the teacher, and runs one set at a time. On a machine with two free cores two
 * workers make ~1.6x the sets per second of one thread (BENCHMARKS.md); when other processes already load the
 * cores they gain less.
 */
export function createNodeSetSynthesizer(
  teacherFiles: NamedFile[],
  workers = Math.max(1, Math.min(2, os.availableParallelism?.() ?? os.cpus().length)),
): Promise<SetSynthesizer> {
  return setWorkerPool(Array.from({ length: workers }, nodePort), teacherFiles);
}

function nodePort(): Port {
  const worker = new Worker(new URL('./synth-worker.mjs', import.meta.url));
  return {
    post: (msg) => worker.postMessage(msg),
    listen(onMessage, onFail) {
      worker.on('message', (m: SetWorkerOut) => onMessage(m));
      worker.on('error', onFail);
      worker.on('exit', (code) => onFail(new Error(`synthesis worker exited (code ${code})`)));
    },
    terminate: async () => {
      await worker.terminate();
    },
  };
}
