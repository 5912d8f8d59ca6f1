/**
 * The one progress interface that the CLI and the worker both consume, and the control that pauses, resumes and
 * cancels a run between steps.
 */

export interface SynthesisLosses {
  cls: number;
  contr: number;
  tv: number;
  entropy: number;
  /** The weighted sum that the inputs descend. */
  total: number;
}

interface Timing {
  /** Seconds since the run started. */
  elapsedSec: number;
  /** Estimated seconds to the end of the whole run (synthesis and student); NaN until there is a measurement. */
  remainingSec: number;
  /** Share of the whole run's work done, 0..1. */
  fraction: number;
  samplesPerSec: number;
}

export interface SynthesisProgress extends Timing {
  stage: 'synthesis';
  /** 0-based set index and the number of sets. */
  set: number;
  sets: number;
  /** Steps done in this set (1..steps) and steps per set. */
  step: number;
  steps: number;
  /** The step size (and noise scale) of this set. */
  eta: number;
  losses: SynthesisLosses;
  /** Share of samples whose teacher argmax equals their target class (taken before the step's update). */
  hitRate: number;
}

export interface StudentProgress extends Timing {
  stage: 'student';
  /** 0-based epoch and the number of epochs. */
  epoch: number;
  epochs: number;
  /** Steps done in this epoch (1..stepsPerEpoch). */
  step: number;
  stepsPerEpoch: number;
  /** Soft-target cross-entropy of the last batch. */
  loss: number;
  lr: number;
}

export type Progress = SynthesisProgress | StudentProgress;

/** A finished set: its samples, what they aimed at and what the teacher says of them. */
export interface SetResult {
  set: number;
  eta: number;
  /** Samples in the teacher's input space, [batch, ...inputShape] row-major. */
  x: Float32Array;
  inputShape: number[];
  batchSize: number;
  groupSize: number;
  /** Target class of each sample. */
  targets: Int32Array;
  /** The teacher's softmax for each sample, [batch, numClasses]. */
  probs: Float32Array;
  /** The stored labels: the softmax itself, or its one-hot argmax with hard labels. */
  labels: Float32Array;
  numClasses: number;
  /** Share of samples whose final teacher argmax equals the target. */
  hitRate: number;
  losses: SynthesisLosses;
}

export interface EpochResult {
  epoch: number;
  epochs: number;
  /** Mean training loss over the epoch. */
  trainLoss: number;
  /** Teacher–student top-1 agreement on the held-out synthetic samples (NaN when none are held out). */
  valAgreement: number;
  /** Soft-target cross-entropy on the held-out samples. */
  valLoss: number;
}

export class CancelledError extends Error {
  constructor() {
    super('the run was cancelled');
    this.name = 'CancelledError';
  }
}

/**
 * Pause, resume and cancel, honoured between steps. The engine awaits `gate()` before each step; `gate` also yields
 * to the event loop now and then so a worker can receive the very messages that pause or cancel it.
 */
export type ControlState = 'running' | 'paused' | 'cancelled';

export class RunControl {
  private paused = false;
  private cancelled = false;
  private wake: (() => void) | null = null;
  private lastYield = 0;
  private readonly listeners = new Set<(state: ControlState) => void>();

  pause(): void {
    this.paused = true;
    this.notify();
  }
  resume(): void {
    this.paused = false;
    this.wake?.();
    this.notify();
  }
  cancel(): void {
    this.cancelled = true;
    this.wake?.();
    this.notify();
  }
  get state(): ControlState {
    return this.cancelled ? 'cancelled' : this.paused ? 'paused' : 'running';
  }
  /** Hears every pause, resume and cancel (e.g. to pass them on to helpers running sets elsewhere); returns an unsubscribe. */
  subscribe(listener: (state: ControlState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  private notify(): void {
    for (const l of this.listeners) l(this.state);
  }
  get isPaused(): boolean {
    return this.paused;
  }
  get isCancelled(): boolean {
    return this.cancelled;
  }

  /** Resolves when the run may take its next step; throws CancelledError once the run is cancelled. */
  async gate(yieldEveryMs = 30): Promise<void> {
    const now = Date.now();
    if (now - this.lastYield >= yieldEveryMs) {
      this.lastYield = now;
      await new Promise<void>((r) => setTimeout(r, 0));
    }
    while (this.paused && !this.cancelled) await new Promise<void>((r) => (this.wake = r));
    this.wake = null;
    if (this.cancelled) throw new CancelledError();
  }
}

/** Calls `emit` at most once per interval, and always for the events marked final (the end of a set or an epoch). */
export class Throttle {
  private last = -Infinity;
  constructor(private readonly intervalMs: number) {}
  due(force = false): boolean {
    const now = Date.now();
    if (!force && now - this.last < this.intervalMs) return false;
    this.last = now;
    return true;
  }
}
