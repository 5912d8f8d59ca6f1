import * as tf from '@tensorflow/tfjs';
import type { SynthesisConfig } from '../cake/config';
import { teacherFeatures, type HintSpec } from '../cake/hints';
import { inProcessSynthesizer, type SetJob, type SetSynthesizer } from '../cake/parallel';
import { CancelledError, RunControl, type ControlState } from '../cake/progress';
import { NonFiniteLossError, type SetOutcome, type StepMetrics } from '../cake/synthesis';
import { computeStudentGrads, type StudentGradRequest, type StudentGradResult } from '../cake/data-parallel';
import type { NamedFile } from '../io/files';
import { loadTeacher, type LoadedTeacher } from '../io/teacher-load';

/**
 * Synthesis sets on helper workers, one set at a time each, and later the student stage's relabelling (the teacher's
 * logits for augmented batches): the messages, the loop a helper runs, and the pool the run talks to.
 * Platform-neutral: the studio's worker starts browser Workers (synth.worker.ts), the CLI starts Node
 * worker threads (src/cli/parallel-synth.ts); each side only supplies a `Port` and how to start a backend. Every
 * helper has its own wasm backend and its own copy of the teacher; set m draws from Rng.derive(seed, synthesis, m),
 * so a set made by a helper equals the set synthesizeSet makes in-process.
 */

export type SetWorkerIn =
  | { type: 'init'; files: NamedFile[] }
  | { type: 'job'; id: number; cfg: SynthesisConfig; seed: number; set: number; eta: number; reportEvery: number; state: ControlState }
  /** The teacher's logits for a batch of inputs [n, ...inputShape]. */
  | { type: 'relabel'; id: number; x: Float32Array; n: number }
  /** The teacher's activations of the hinted channels for a batch (feature hints, see src/cake/hints.ts). */
  | { type: 'features'; id: number; x: Float32Array; n: number; spec: HintSpec[] }
  /**
   * Data-parallel student steps: loss and gradients of the student (built from `topology` when given, else the one
   * sent last) on part of a batch (see src/cake/data-parallel.ts).
   */
  | ({ type: 'student-grads'; id: number; topology?: string } & StudentGradRequest)
  /** Pause, resume or cancel a job; handled at once, not queued behind the job it controls. */
  | { type: 'control'; id: number; state: ControlState };

export type SetWorkerOut =
  | { type: 'ready' }
  | { type: 'step'; id: number; step: number; metrics: StepMetrics | null }
  | {
      type: 'done';
      id: number;
      x: Float32Array;
      labels: Float32Array;
      probs: Float32Array;
      targets: Int32Array;
      hitRate: number;
      losses: StepMetrics['losses'];
    }
  | { type: 'logits'; id: number; logits: Float32Array }
  | { type: 'features'; id: number; features: Float32Array[] }
  | ({ type: 'student-grads'; id: number } & StudentGradResult)
  | { type: 'error'; id: number | null; name: string; message: string; set?: number; step?: number; value?: number };

/** The helper's side: handles messages one at a time, in arrival order. Returns the message handler. */
export function serveSetJobs(
  post: (msg: SetWorkerOut, transfer: ArrayBuffer[]) => void,
  startBackend: () => Promise<unknown>,
): (msg: SetWorkerIn) => void {
  let loaded: LoadedTeacher | null = null;
  // The feature extractor of the run's hint spec, built on first use (a run has one spec).
  let features: { key: string; f: ReturnType<typeof teacherFeatures> } | null = null;
  // The student's copy for data-parallel steps (src/cake/data-parallel.ts), built from the topology sent first.
  let student: tf.LayersModel | null = null;
  let queue = Promise.resolve();
  const controls = new Map<number, RunControl>();
  const apply = (control: RunControl, state: ControlState) => {
    if (state === 'cancelled') control.cancel();
    else if (state === 'paused') control.pause();
    else control.resume();
  };
  const fail = (id: number | null, e: unknown) => {
    const err = e as Error & { set?: number; step?: number };
    const value = e instanceof NonFiniteLossError ? Number(/became (\S+)/.exec(err.message)?.[1]) : undefined;
    post({ type: 'error', id, name: err.name, message: err.message, set: err.set, step: err.step, value }, []);
  };
  const handle = async (msg: SetWorkerIn) => {
    if (msg.type === 'init') {
      try {
        await startBackend();
        loaded = await loadTeacher(msg.files);
        post({ type: 'ready' }, []);
      } catch (e) {
        fail(null, e);
      }
      return;
    }
    if (msg.type === 'relabel') {
      try {
        if (!loaded) throw new Error('synthesis worker: no teacher loaded');
        const teacher = loaded.teacher;
        const out = tf.tidy(() => teacher.logits(tf.tensor(msg.x, [msg.n, ...teacher.inputShape])));
        const logits = (await out.data()) as Float32Array;
        out.dispose();
        post({ type: 'logits', id: msg.id, logits }, [logits.buffer as ArrayBuffer]);
      } catch (e) {
        fail(msg.id, e);
      }
      return;
    }
    if (msg.type === 'features') {
      try {
        if (!loaded?.model) throw new Error('synthesis worker: no teacher layers loaded for feature hints');
        const key = JSON.stringify(msg.spec);
        if (features?.key !== key) {
          // Cleared before building: a spec that fails to build must not leave the old, disposed extractor behind.
          features?.f.dispose();
          features = null;
          features = { key, f: teacherFeatures(loaded.model, msg.spec) };
        }
        const f = features.f;
        const x = loaded.teacher.inputShape;
        const outs = tf.tidy(() => f.compute(tf.tensor(msg.x, [msg.n, ...x])));
        const arrays = (await Promise.all(outs.map((t) => t.data()))) as Float32Array[];
        tf.dispose(outs);
        post({ type: 'features', id: msg.id, features: arrays }, arrays.map((a) => a.buffer as ArrayBuffer));
      } catch (e) {
        fail(msg.id, e);
      }
      return;
    }
    if (msg.type === 'student-grads') {
      try {
        if (!loaded) throw new Error('synthesis worker: no teacher loaded');
        if (msg.topology) {
          student?.dispose();
          student = null;
          student = await tf.models.modelFromJSON(JSON.parse(msg.topology) as tf.io.ModelJSON);
        }
        if (!student) throw new Error('synthesis worker: no student model sent');
        const teacher = loaded.teacher;
        const out = await computeStudentGrads(student, msg, (x) => teacher.logits(x));
        post({ type: 'student-grads', id: msg.id, ...out }, out.grads.map((g) => g.buffer as ArrayBuffer));
      } catch (e) {
        fail(msg.id, e);
      }
      return;
    }
    if (msg.type !== 'job') return;
    const { id, cfg, seed, set, eta, reportEvery } = msg;
    const control = controls.get(id)!;
    try {
      if (!loaded) throw new Error('synthesis worker: no teacher loaded');
      // This helper makes the set as a run does in its own thread; metrics are read every `reportEvery` steps.
      const out = await inProcessSynthesizer(loaded.teacher).run({
        cfg,
        seed,
        set,
        eta,
        reportEvery,
        control,
        onStep: (step, metrics) => post({ type: 'step', id, step, metrics }, []),
      });
      const buffers = [...new Set([out.x.buffer, out.labels.buffer, out.probs.buffer, out.targets.buffer])] as ArrayBuffer[];
      post({ type: 'done', id, x: out.x, labels: out.labels, probs: out.probs, targets: out.targets, hitRate: out.hitRate, losses: out.losses }, buffers);
    } catch (e) {
      fail(id, e);
    } finally {
      controls.delete(id);
    }
  };
  return (msg) => {
    if (msg.type === 'control') {
      const control = controls.get(msg.id);
      if (control) apply(control, msg.state);
      return;
    }
    if (msg.type === 'job') {
      const control = new RunControl();
      apply(control, msg.state);
      controls.set(msg.id, control);
    }
    queue = queue.then(() => handle(msg));
  };
}

/** The pool's view of one helper: how to send it messages and hear from it. */
export interface Port {
  post(msg: SetWorkerIn): void;
  /** Registers the handlers; `onFail` hears about a helper that errored or exited. */
  listen(onMessage: (msg: SetWorkerOut) => void, onFail: (e: Error) => void): void;
  terminate(): Promise<void> | void;
}

/** Starts `ports.length` helpers with the teacher's files and resolves once all have loaded it. */
export async function setWorkerPool(ports: Port[], teacherFiles: NamedFile[]): Promise<SetSynthesizer> {
  let helpers: Helper[];
  try {
    helpers = await Promise.all(ports.map((p) => startHelper(p, teacherFiles)));
  } catch (e) {
    await Promise.all(ports.map((p) => p.terminate()));
    throw e;
  }
  const idle = [...helpers];
  const waiting: ((h: Helper) => void)[] = [];
  const acquire = () => new Promise<Helper>((resolve) => (idle.length ? resolve(idle.pop()!) : waiting.push(resolve)));
  const release = (h: Helper) => {
    const next = waiting.shift();
    if (next) next(h);
    else idle.push(h);
  };
  let nextId = 1;
  return {
    concurrency: helpers.length,
    async run(job: SetJob): Promise<SetOutcome> {
      const h = await acquire();
      try {
        return await h.run(nextId++, job);
      } finally {
        release(h);
      }
    },
    async relabel(x: Float32Array, n: number): Promise<Float32Array> {
      const h = await acquire();
      try {
        return await h.relabel(nextId++, x, n);
      } finally {
        release(h);
      }
    },
    async features(x: Float32Array, n: number, spec: HintSpec[]): Promise<Float32Array[]> {
      const h = await acquire();
      try {
        return await h.features(nextId++, x, n, spec);
      } finally {
        release(h);
      }
    },
    async studentGrads(model: tf.LayersModel, req: StudentGradRequest): Promise<StudentGradResult> {
      const h = await acquire();
      try {
        return await h.studentGrads(nextId++, model, req);
      } finally {
        release(h);
      }
    },
    async dispose() {
      await Promise.all(ports.map((p) => p.terminate()));
    },
  };
}

interface Helper {
  run(id: number, job: SetJob): Promise<SetOutcome>;
  relabel(id: number, x: Float32Array, n: number): Promise<Float32Array>;
  features(id: number, x: Float32Array, n: number, spec: HintSpec[]): Promise<Float32Array[]>;
  studentGrads(id: number, model: tf.LayersModel, req: StudentGradRequest): Promise<StudentGradResult>;
}

function toError(m: Extract<SetWorkerOut, { type: 'error' }>): Error {
  if (m.name === 'NonFiniteLossError' && m.set != null && m.step != null) return new NonFiniteLossError(m.set, m.step, m.value ?? NaN);
  if (m.name === 'CancelledError') return new CancelledError();
  const e = new Error(m.message);
  e.name = m.name;
  return e;
}

function startHelper(port: Port, files: NamedFile[]): Promise<Helper> {
  // The one request in flight (the pool gives a helper one at a time): a set or a batch to label.
  let current: { id: number; onMessage: (m: SetWorkerOut) => void; reject: (e: Error) => void } | null = null;
  let failStart: ((e: Error) => void) | null = null;
  let dead: Error | null = null;
  let sentStudent: tf.LayersModel | null = null;
  const send = <T>(id: number, msg: SetWorkerIn, onMessage: (m: SetWorkerOut, settle: (v: T) => void) => void, control?: RunControl) =>
    new Promise<T>((resolve, reject) => {
      if (dead) return reject(dead);
      const unsubscribe = control?.subscribe((state) => port.post({ type: 'control', id, state }));
      const finish = () => {
        current = null;
        unsubscribe?.();
      };
      current = {
        id,
        onMessage: (m) => {
          if (m.type === 'error') {
            finish();
            reject(toError(m));
          } else
            onMessage(m, (v) => {
              finish();
              resolve(v);
            });
        },
        reject: (e) => {
          finish();
          reject(e);
        },
      };
      port.post(msg);
    });
  const helper: Helper = {
    run: (id, job) =>
      send<SetOutcome>(
        id,
        {
          type: 'job',
          id,
          cfg: job.cfg,
          seed: job.seed,
          set: job.set,
          eta: job.eta,
          reportEvery: job.reportEvery ?? 0,
          state: job.control?.state ?? 'running',
        },
        (m, settle) => {
          if (m.type === 'step') job.onStep?.(m.step, m.metrics);
          else if (m.type === 'done')
            settle({ x: m.x, labels: m.labels, probs: m.probs, targets: m.targets, hitRate: m.hitRate, losses: m.losses });
        },
        job.control,
      ),
    relabel: (id, x, n) =>
      send<Float32Array>(id, { type: 'relabel', id, x, n }, (m, settle) => {
        if (m.type === 'logits') settle(m.logits);
      }),
    features: (id, x, n, spec) =>
      send<Float32Array[]>(id, { type: 'features', id, x, n, spec }, (m, settle) => {
        if (m.type === 'features') settle(m.features);
      }),
    studentGrads: (id, model, req) => {
      // The topology goes with the first request for a model; later ones send only weights and data.
      const topology = model === sentStudent ? undefined : JSON.stringify(model.toJSON(null, false));
      sentStudent = model;
      return send<StudentGradResult>(id, { type: 'student-grads', id, topology, ...req }, (m, settle) => {
        if (m.type === 'student-grads') settle({ loss: m.loss, grads: m.grads });
      });
    },
  };
  return new Promise<Helper>((resolveStart, rejectStart) => {
    failStart = rejectStart;
    port.listen(
      (m) => {
        if (m.type === 'ready') {
          failStart = null;
          resolveStart(helper);
        } else if (m.type === 'error' && m.id == null) {
          failStart?.(toError(m));
        } else if (current && 'id' in m && m.id === current.id) {
          current.onMessage(m);
        }
      },
      (e) => {
        dead = e;
        failStart?.(e);
        current?.reject(e);
      },
    );
    // Each helper gets its own copy of the files (posting may transfer or detach them).
    port.post({ type: 'init', files: files.map((f) => ({ name: f.name, data: f.data.slice(0) })) });
  });
}
