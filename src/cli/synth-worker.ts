import { parentPort } from 'node:worker_threads';
import { initNodeBackend } from '../tfjs/node-backend';
import { serveSetJobs, type SetWorkerIn } from '../worker/set-worker';

// One synthesis helper on a Node worker thread, with its own wasm backend (see src/worker/set-worker.ts).
const port = parentPort!;
const handle = serveSetJobs((msg, transfer) => port.postMessage(msg, transfer), initNodeBackend);
port.on('message', (msg: SetWorkerIn) => handle(msg));
