import type { CakeConfig } from './config';
import type { SynthesisLosses } from './progress';

/** What a finished run says about itself: written as report.json beside the student, shown in the studio. */
export interface RunReport {
  config: CakeConfig;
  seed: number;
  /** The tfjs backend the run used (wasm, webgpu, webgl, cpu). */
  backend: string;
  teacher: { inputShape: number[]; numClasses: number; logitsFrom?: string };
  /**
   * `init`: where the student's weights started (`teacher`: its strongest channels, `student.inherit`); `initNote`
   * says why `auto` started from random weights, and why feature hints asked for (`student.hint`) were not used;
   * `hinted`: the student layers that learned the teacher's activations (feature hints).
   */
  student: { arch: string; params: number; init: 'teacher' | 'random'; initNote?: string; hinted?: string[] };
  samples: { total: number; train: number; validation: number };
  timings: { synthesisSec: number; studentSec: number; totalSec: number };
  synthesis: {
    /** Loss terms of the last step of the last set. */
    finalLosses: SynthesisLosses;
    /** Mean over sets of the share of samples whose final teacher argmax equals their target. */
    meanHitRate: number;
    msPerStep: number;
  };
  studentTraining: {
    finalTrainLoss: number;
    /** Teacher–student top-1 agreement on the held-out synthetic samples. */
    agreement: number;
    valLoss: number;
    msPerStep: number;
  };
}
