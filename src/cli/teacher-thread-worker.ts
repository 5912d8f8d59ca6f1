import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { TeacherError } from '../io/teacher-error';
import { inspectTeacher } from '../io/teacher-info';
import { loadTeacher } from '../io/teacher-load';
import { initNodeBackend } from '../tfjs/node-backend';
import type { ThreadIn, ThreadOut } from './teacher-thread';

// A teacher load on its own worker thread (see teacher-thread.ts): reads, builds and gradient-checks the files it is
// sent and answers with the teacher's info or the error, one message per load.
const port = parentPort!;
port.on('message', async (msg: ThreadIn) => {
  let out: ThreadOut;
  try {
    // Tests: every read spins, as a reader stuck on a damaged file does (the studio's stallTeacherReads).
    if (process.env.CAKE_TEST_STALL_TEACHER_READS) for (;;);
    await initNodeBackend();
    if (msg.backend === 'cpu') await tf.setBackend('cpu');
    const loaded = await loadTeacher(msg.files);
    try {
      out = { id: msg.id, ok: true, info: await inspectTeacher(loaded) };
    } finally {
      loaded.dispose();
    }
  } catch (e) {
    const err = e as Error & { code?: string };
    const restart = e instanceof TeacherError && e.restartReader;
    out = { id: msg.id, ok: false, name: err?.name ?? typeof e, code: err?.code, message: String(err?.message ?? e), restart };
  }
  port.postMessage(out);
});
