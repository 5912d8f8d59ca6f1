import * as tf from '@tensorflow/tfjs';
import type { CakeConfig } from './config';
import { synthesisLoss, inferLayout } from './losses';
import type { Teacher } from './teacher';
import { logitDistillationLoss } from './train';

/**
 * What a run's steps need in the backend's memory, measured before the run rather than found out by a crash. A
 * 224-pixel teacher's synthesis step at the method's batch of 500 needs about 9 GiB; the WASM heap ends at 4 GiB and a
 * browser tab often earlier, and running out there is an abort ("Aborted()", "memory access out of bounds") that
 * takes the worker with it. So a few steps at tiny batches are profiled (tfjs' own count of the bytes its tensors
 * hold, at the peak of each step), a line is fitted through them (bytes = fixed + batch · per sample), and a run whose
 * batches would not fit is refused with the batch that would.
 */
export interface StepMemory {
  /** Bytes held at the step's peak that do not grow with the batch (weights, the model's constants). */
  fixed: number;
  /** Bytes the peak grows by per sample of the batch. */
  perSample: number;
}

export interface MemoryPlan {
  synthesis: StepMemory;
  /** The student's step with the teacher relabelling its batch (absent when no student was given). */
  student?: StepMemory;
}

/**
 * The backend memory one worker's steps may use: half of WASM's 4 GiB address space, since in the studio two helper
 * workers synthesise at once (each with a heap of its own) in one tab, and the heap's fragments need room too.
 * MLPerf's CIFAR ResNet-8 at the method's batch of 500 needs 2.0 GiB by this count.
 */
export const MEMORY_BUDGET_BYTES = 2 * 1024 ** 3;

const peakOf = (bytes: StepMemory, batch: number) => bytes.fixed + bytes.perSample * batch;

async function peakBytes(step: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const profile = await tf.profile(() => tf.tidy(() => void step()) ?? []);
  return profile.peakBytes;
}

/** Fits bytes = fixed + batch · perSample through the peaks at two small batches. */
async function fit(step: (batch: number) => () => tf.Tensor | tf.Tensor[], small: number): Promise<StepMemory> {
  const a = await peakBytes(step(small));
  const b = await peakBytes(step(2 * small));
  const perSample = Math.max(0, (b - a) / small);
  return { fixed: Math.max(0, a - perSample * small), perSample };
}

/**
 * Profiles one synthesis step (the teacher's forward and backward pass to the inputs, with the run's loss) and, when
 * a student is given, one student step (the student's forward and backward pass and the teacher's labels for its
 * batch), each at two batches of `groupSize` and twice that.
 */
export async function measureMemory(teacher: Teacher, config: CakeConfig, student?: tf.LayersModel): Promise<MemoryPlan> {
  const s = config.synthesis;
  const K = Math.max(1, s.groupSize);
  const layout = teacher.layout ?? inferLayout(teacher.inputShape);
  const inputs = (batch: number) => tf.randomNormal([batch, ...teacher.inputShape]);
  const synthesis = await fit((batch) => () => {
    const x = inputs(batch);
    const targets = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % teacher.numClasses), 'int32'), teacher.numClasses).toFloat() as tf.Tensor2D;
    const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => synthesisLoss(teacher.logits(v), v, targets, K, s.weights, layout).total)(x);
    return [x, targets, value, grad];
  }, K);
  if (!student) return { synthesis };
  const vars = student.trainableWeights.map((w) => w.read() as tf.Variable);
  const studentStep = await fit((batch) => () => {
    const x = inputs(batch);
    const teacherLogits = teacher.logits(x);
    const { value, grads } = tf.variableGrads(() => logitDistillationLoss(student.apply(x) as tf.Tensor2D, teacherLogits), vars);
    return [x, teacherLogits, value, ...Object.values(grads)];
  }, K);
  return { synthesis, student: studentStep };
}

/** A run's batches that would not fit, as one sentence each, with the batch that would; empty when all fit. */
export function memoryProblems(plan: MemoryPlan, config: CakeConfig, budget = MEMORY_BUDGET_BYTES): { key: string; message: string }[] {
  const problems: { key: string; message: string }[] = [];
  const mib = (n: number) => `${Math.ceil(n / 1024 ** 2).toLocaleString('en-US')} MiB`;
  const check = (key: string, step: StepMemory | undefined, batch: number, multiple: number, what: string) => {
    if (!step || peakOf(step, batch) <= budget) return;
    const fits = Math.floor((budget - step.fixed) / Math.max(1, step.perSample) / multiple) * multiple;
    problems.push({
      key,
      message:
        `a ${what} step at batch ${batch} needs about ${mib(peakOf(step, batch))} of the backend's memory, more than the ${mib(budget)} a run may use; ` +
        (fits >= multiple ? `${fits} fits` : `even a batch of ${multiple} does not fit: this teacher is too large for this backend`),
    });
  };
  check('synthesis.batchSize', plan.synthesis, config.synthesis.batchSize, config.synthesis.groupSize, 'synthesis');
  check('student.batchSize', plan.student, config.student.batchSize, 1, 'student');
  return problems;
}
