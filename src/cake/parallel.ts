import type { SynthesisConfig } from './config';
import type { HintSpec } from './hints';
import type { RunControl } from './progress';
import type { SetOutcome, StepMetrics } from './synthesis';

/**
 * Synthesis sets run elsewhere (other threads or workers), several at once. Sets are independent: set m draws all
 * its randomness from Rng.derive(seed, STREAM.synthesis, m), so a set made by any synthesizer equals the one
 * synthesizeSet makes in-process with the same teacher, config, seed and step size.
 *
 * The platform supplies the implementation (src/cli/parallel-synth.ts for Node's worker_threads); the engine only
 * sees this interface.
 */
export interface SetSynthesizer {
  /** How many sets it runs at once (its workers). */
  readonly concurrency: number;
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
   * Called after every step. Metrics are read (a device sync in the worker) every `reportEvery` steps and at the
   * last step; other calls get null.
   */
  onStep?: (step: number, metrics: StepMetrics | null) => void;
  reportEvery?: number;
  /** The run's pause and cancel, passed on to the set while it runs (a cancelled set rejects with CancelledError). */
  control?: RunControl;
}

/**
 * Runs sets first..end-1 on the synthesizer with up to `concurrency` in flight, and hands each outcome to `onSet` in
 * set order (a finished set waits for the sets before it), so a pool fills exactly as in a sequential run. Stops at
 * the first failure, after the sets in flight settle, and rethrows it.
 */
export async function runSetsInOrder(
  synth: SetSynthesizer,
  first: number,
  end: number,
  job: (set: number) => SetJob,
  onSet: (set: number, outcome: SetOutcome) => void | Promise<void>,
): Promise<void> {
  const pending = new Map<number, Promise<SetOutcome>>();
  const width = Math.max(1, synth.concurrency);
  let next = first;
  let running = 0;
  let failed = false;
  // Keeps every worker busy: a set that finishes before an earlier one waits in `pending` while the next starts
  // (at most 2 * concurrency sets are started ahead of the one being delivered).
  const launch = () => {
    while (!failed && next < end && running < width && pending.size < 2 * width) {
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
    pending.delete(m);
    launch();
    await onSet(m, outcome);
  }
}
