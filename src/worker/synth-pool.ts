import type { SetSynthesizer } from '../cake/parallel';
import type { NamedFile } from '../io/files';
import { setWorkerPool, type Port, type SetWorkerOut } from './set-worker';

/**
 * Synthesis helpers for a run on wasm: `count` browser Workers (synth.worker.ts), each with its own wasm backend
 * and copy of the teacher. While they make sets, the studio's worker only waits and streams their progress.
 */
export function createBrowserSetSynthesizer(teacherFiles: NamedFile[], count: number): Promise<SetSynthesizer> {
  return setWorkerPool(Array.from({ length: count }, browserPort), teacherFiles);
}

/** Helpers for a run: one per core up to 2 by default (memory grows with each: a teacher and a batch of activations). */
export function defaultSynthesisWorkers(): number {
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency ?? 1 : 1;
  return Math.max(1, Math.min(2, cores));
}

function browserPort(): Port {
  const worker = new Worker(new URL('./synth.worker.ts', import.meta.url), { type: 'module', name: 'cake-synthesis' });
  return {
    post: (msg) => worker.postMessage(msg),
    listen(onMessage, onFail) {
      worker.onmessage = (e: MessageEvent<SetWorkerOut>) => onMessage(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        onFail(new Error(`a synthesis helper failed: ${e.message || 'unknown error'}`));
      };
      worker.onmessageerror = () => onFail(new Error('a synthesis helper sent a message that could not be read'));
    },
    terminate: () => worker.terminate(),
  };
}
