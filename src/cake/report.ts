import type { CakeConfig } from './config';
import type { SynthesisLosses } from './progress';

/** What a finished run says about itself: written as report.json beside the student, shown in the studio. */
export interface RunReport {
  config: CakeConfig;
  seed: number;
  /** The tfjs backend the run used (wasm, webgpu, webgl, cpu). */
  backend: string;
  /** `flopsPerImage`: floating-point operations of one forward pass per image (flops.ts), as for the student. */
  teacher: { inputShape: number[]; numClasses: number; logitsFrom?: string; flopsPerImage?: number };
  /**
   * `init`: where the student's weights started (`teacher`: its strongest channels, `student.inherit`); `initNote`
   * says why `auto` started from random weights, and why feature hints asked for (`student.hint`) were not used;
   * `hinted`: the student layers that learned the teacher's activations (feature hints).
   */
  student: { arch: string; params: number; flopsPerImage?: number; init: 'teacher' | 'random'; initNote?: string; hinted?: string[] };
  samples: { total: number; train: number; validation: number };
  timings: { synthesisSec: number; studentSec: number; totalSec: number };
  /**
   * Backend memory at the peak of a synthesis step and of a student step at the run's batches, as measured before it
   * (tfjs' count of its tensors' bytes, fitted over two small batches: memory.ts), and the pool's bytes.
   */
  memory: { synthesisPeakBytes: number; studentPeakBytes: number; poolBytes: number };
  synthesis: {
    /** Loss terms of the last step of the last set. */
    finalLosses: SynthesisLosses;
    /** Mean over sets of the share of samples whose final teacher argmax equals their target. */
    meanHitRate: number;
    msPerStep: number;
  };
  studentTraining: {
    /** The peak learning rate it trained at, and the sharpness that capped it (student.sharpnessCap) when it did. */
    peakLr: number;
    sharpness?: number;
    finalTrainLoss: number;
    /** Teacher–student top-1 agreement on the held-out synthetic samples. */
    agreement: number;
    valLoss: number;
    msPerStep: number;
  };
  /** Sizes, agreement and speed of the student's tfjs variants against the teacher; absent where not measured. */
  deploy?: DeployReport;
}

/** Milliseconds per image at batch 1 and batch 32: the median of timed samples after warm-up (src/models/speed.ts). */
export interface InferenceTime {
  batch1: number;
  batch32: number;
}

/** One tfjs variant of the student as a user would load it: its bytes, how closely it follows the float student, its speed. */
export interface VariantReport {
  format: 'tfjs-float32' | 'tfjs-float16' | 'tfjs-uint8';
  /** Bytes of its weights file. */
  bytes: number;
  /** Top-1 agreement with the float32 student on fresh synthetic samples (1 for the float32 student itself). */
  agreement: number;
  /** On labelled data, when given: agreement with the float32 student, and accuracy. */
  labelled?: { agreement: number; accuracy: number };
  msPerImage: InferenceTime;
  /** The teacher's time divided by this variant's, per batch size. */
  speedup: InferenceTime;
}

/** What deploying the student buys, measured on the run's backend after the run. */
export interface DeployReport {
  backend: string;
  /** What the times count: elapsed time (the studio), or the process's CPU time (the CLI, single-threaded wasm). */
  clock: 'wall' | 'cpu';
  /** Fresh synthetic samples the variants were compared on: one more CAKE set, outside the student's pool. */
  samples: number;
  labelledSamples?: number;
  teacher: { params: number; msPerImage: InferenceTime; accuracy?: number };
  student: { params: number };
  variants: VariantReport[];
}
