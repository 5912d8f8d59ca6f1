/**
 * A run's clock: estimates the time left from measured step costs. Before the student has run, its step is guessed
 * from synthesis's, so the first estimate covers the whole run: from a probe's measured pair of step costs where the
 * run was given one (`StepPrior`), scaled by how fast synthesis really runs (helpers, load), else by a fixed ratio.
 */
export interface StepPrior {
  /** Milliseconds per synthesis step and per student step, both measured by a short probe run in one thread. */
  synthMs: number;
  studentMs: number;
}

export class Clock {
  readonly start = Date.now();
  /** Measured milliseconds per synthesis step and per student step; NaN until measured. */
  synthMs = NaN;
  studentMs = NaN;
  constructor(
    private readonly synthSteps: number,
    private readonly studentSteps: number,
    /** The guessed cost of a student step in synthesis steps, until one is measured (without a prior). */
    private readonly studentPerSynth: number,
    private readonly prior?: StepPrior,
  ) {}

  /**
   * The student step's cost until one is measured: the probe's, times the ratio of this run's synthesis step to the
   * probe's (the same helpers and load speed both stages), or the fixed guess.
   */
  private studentGuess(synth: number): number {
    const p = this.prior;
    if (p && p.synthMs > 0 && p.studentMs > 0) return p.studentMs * (Number.isFinite(synth) ? synth / p.synthMs : 1);
    return synth * this.studentPerSynth;
  }

  /** The run's timing fields of a progress report, after these steps of each stage; the samples rate is the stage's. */
  timing(synthDone: number, studentDone: number, samplesPerStep: number, stageStart: number, stageSteps: number) {
    const elapsedSec = (Date.now() - this.start) / 1000;
    const synth = Number.isFinite(this.synthMs) ? this.synthMs : NaN;
    const student = Number.isFinite(this.studentMs) ? this.studentMs : this.studentGuess(synth);
    const totalMs = this.synthSteps * (synth || 0) + this.studentSteps * (student || 0);
    const doneMs = synthDone * (synth || 0) + studentDone * (student || 0);
    const remainingSec = ((this.synthSteps - synthDone) * synth + (this.studentSteps - studentDone) * student) / 1000;
    const stageSec = (Date.now() - stageStart) / 1000;
    return {
      elapsedSec,
      remainingSec,
      fraction: totalMs > 0 ? doneMs / totalMs : 0,
      samplesPerSec: stageSec > 0 ? (stageSteps * samplesPerStep) / stageSec : 0,
    };
  }
}
