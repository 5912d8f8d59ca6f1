/// <reference lib="webworker" />
/**
 * A synthesis helper in the browser: started by the studio's worker when it runs on wasm, it makes whole synthesis
 * sets on its own wasm backend so several cores work at once (see set-worker.ts).
 */
import { serveSetJobs, type SetWorkerIn } from './set-worker';
import { tryWasm } from './wasm-backend';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const handle = serveSetJobs(
  (msg, transfer) => scope.postMessage(msg, transfer),
  async () => {
    if ((await tryWasm()) == null) throw new Error('the wasm backend could not start in a synthesis helper');
  },
);
scope.onmessage = (e: MessageEvent<SetWorkerIn>) => handle(e.data);
