import type * as tf from '@tensorflow/tfjs';
import type { SynthesisConfig } from './config';
import type { StudentGradRequest, StudentGradResult } from './data-parallel';
import type { HintSpec } from './hints';
import type { RunControl } from './progress';
import { Rng, STREAM } from './rng';
import { synthesizeSet, type SetOutcome, type StepMetrics } from './synthesis';
import type { Teacher } from './teacher';

/**
 * What makes a run's synthesis sets: in this thread one after another (`inProcessSynthesizer`), or elsewhere (other
 * threads or workers), several at once. Sets are independent: set m draws all its randomness from
 * Rng.derive(seed, STREAM.synthesis, m), so a set made by any synthesizer equals the one synthesizeSet makes
 * in-process with the same teacher, config, seed and step size.
 *
 * The platform supplies the ones that run elsewhere (src/cli/parallel-synth.ts for Node's worker_threads,
 * src/worker/synth-pool.ts for the studio's workers); the engine only sees this interface.
 */
export interface SetSynthesizer {
  /** How many sets it runs at once (its workers). */
  readonly concurrency: number;
  /**
   * It runs sets in this thread. A set then starts only once the one before it has been handed on (see
   * runSetsInOrder), as in a plain loop: starting it earlier would gain nothing and keep two sets' tensors alive.
   */
  readonly inThread?: boolean;
  run(job: SetJob): Promise<SetOutcome>;
  /**
   * The teacher's logits for a batch, [n, classes] row-major, computed by a helper's copy of the teacher (the same
   * backend and kernels, so the same numbers as in-process). The student stage labels its next augmented batch this
   * way while it trains on the current one. Optional: without it the run labels in-process.
   */
  relabel?(x: Float32Array, n: number): Promise<Float32Array>;
  /**
   * The teacher's activations of the hinted channels for a batch (`teacherFeatures` with this spec), one row-major
   * array per spec entry, for the student's feature hints; as `relabel`, optional.
   */
  features?(x: Float32Array, n: number, spec: HintSpec[]): Promise<Float32Array[]>;
  /**
   * Data-parallel student steps (src/cake/data-parallel.ts): a helper's loss and gradients of `student` (its copy, built
   * from the topology on first use) on part of a batch; optional.
   */
  studentGrads?(student: tf.LayersModel, req: StudentGradRequest): Promise<StudentGradResult>;
  /** Stops the workers; jobs still running reject. */
  dispose(): Promise<void>;
}

export interface SetJob {
  cfg: SynthesisConfig;
  /** The run's seed; the set's generator is Rng.derive(seed, STREAM.synthesis, set). */
  seed: number;
  set: number;
  eta: number;
  /**
   * Called after every step. Metrics cost a device sync to read, so they come only on some steps, null on the others:
   * every `reportEvery` steps and at the last step, or, in this thread, where `wantsMetrics` says so.
   */
  onStep?: (step: number, metrics: StepMetrics | null) => void;
  reportEvery?: number;
  /**
   * Asked by a synthesizer in this thread at every step whether to read the metrics: the run answers yes only when a
   * progress report is due, so it pays the device sync only for the reports it makes. Helpers elsewhere cannot ask
   * across threads and keep to `reportEvery`.
   */
  wantsMetrics?: (step: number) => boolean;
  /** The run's pause and cancel, passed on to the set while it runs (a cancelled set rejects with CancelledError). */
  control?: RunControl;
}

/** Sets made in this thread, one after another, by synthesizeSet itself. */
export function inProcessSynthesizer(teacher: Teacher): SetSynthesizer {
  return {
    concurrency: 1,
    inThread: true,
    run: (job) =>
      synthesizeSet({
        teacher,
        cfg: job.cfg,
        set: job.set,
        eta: job.eta,
        rng: Rng.derive(job.seed, STREAM.synthesis, job.set),
        control: job.control,
        onStep: async (step, read) => {
          const every = job.reportEvery ?? 0;
          const wanted = job.wantsMetrics ? job.wantsMetrics(step) : step === job.cfg.steps || (every > 0 && step % every === 0);
          job.onStep?.(step, wanted ? await read() : null);
        },
      }),
    dispose: async () => {},
  };
}

/**
 * Runs sets first..end-1 on the synthesizer with up to `concurrency` in flight, and hands each outcome to `onSet` in
 * set order (a finished set waits for the sets before it), so a pool fills exactly as in a sequential run. Stops at
 * the first failure, after the sets in flight settle, and rethrows it. This is a run's one set loop, whichever
 * synthesizer makes the sets.
 */
export async function runSetsInOrder(
  synth: SetSynthesizer,
  first: number,
  end: number,
  job: (set: number) => SetJob,
  onSet: (set: number, outcome: SetOutcome) => void | Promise<void>,
): Promise<void> {
  // Sets started and not yet handed on.
  const pending = new Map<number, Promise<SetOutcome>>();
  const width = Math.max(1, synth.concurrency);
  // Keeps every helper elsewhere busy: a set that finishes before an earlier one waits in `pending` while the next
  // starts (at most 2 * concurrency sets are started ahead of the one being handed on). In this thread, one at a time.
  const window = synth.inThread ? 1 : 2 * width;
  let next = first;
  let running = 0;
  let failed = false;
  const launch = () => {
    while (!failed && next < end && running < width && pending.size < window) {
      const m = next++;
      running++;
      const p = synth.run(job(m));
      p.then(
        () => {
          running--;
          launch();
        },
        () => {
          running--;
        },
      );
      pending.set(m, p);
    }
  };
  launch();
  for (let m = first; m < end; m++) {
    const p = pending.get(m)!;
    let outcome: SetOutcome;
    try {
      outcome = await p;
    } catch (e) {
      failed = true;
      await Promise.allSettled(pending.values());
      throw e;
    }
    // Helpers elsewhere start the next set while this one is handed on; in this thread it is handed on first.
    if (synth.inThread) await onSet(m, outcome);
    pending.delete(m);
    launch();
    if (!synth.inThread) await onSet(m, outcome);
  }
}
