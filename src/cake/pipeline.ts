import * as tf from '@tensorflow/tfjs';
import { augmentBatch, studentAugmentOptions } from './augment';
import { Clock, type StepPrior } from './clock';
import { studentAugments, studentUsesEta, validateConfig, type CakeConfig } from './config';
import { buildHints, type Hints } from './hints';
import { InheritError, inheritFromTeacher, type InheritedLayer } from './inherit';
import { flopsPerImage } from './flops';
import { measureMemory, memoryProblems, type MemoryPlan } from './memory';
import { initStudentWeights } from './init';
import { inferLayout } from './losses';
import type { OptimizerState } from './optim';
import { dataParallelObstacle } from './data-parallel';
import { inProcessSynthesizer, runSetsInOrder, type SetSynthesizer } from './parallel';
import { SyntheticPool } from './pool';
import { Throttle, type EpochResult, type Progress, RunControl, type SetResult, type SynthesisLosses } from './progress';
import type { RunReport } from './report';
import { Rng, STREAM } from './rng';
import { setEtas } from './schedule';
import type { Teacher } from './teacher';
import { topHessianEigenvalue } from './sharpness';
import { stepsPerEpoch, trainClassifier, trainsWithDropout, type TrainArgs } from './train';

/**
 * A whole CAKE run, top to bottom: synthesise M independent sets against the teacher, pool them, split 99/1, train
 * the student on the pool's soft labels. Progress, finished sets and finished epochs stream out through callbacks.
 * `runCake` reads as its steps; each step follows it, in order.
 */

export interface RunOptions {
  teacher: Teacher;
  config: CakeConfig;
  /** A freshly built student (see src/models/students.ts); the run re-initialises its weights from the seed. */
  student: tf.LayersModel;
  /** Zoo name of the student, for the report. */
  studentArch: string;
  /**
   * Sets already made by an earlier, interrupted run with the same config and seed (or a cached pool): synthesis
   * continues after them. Every set draws from its own seeded generator, so the result equals an uninterrupted run.
   */
  pool?: SyntheticPool;
  /** How the teacher's logits were obtained, for the report (e.g. "softmax removed"). */
  logitsFrom?: string;
  control?: RunControl;
  /** Throttled: at most one call per progressIntervalMs, plus one at the end of each set and epoch. */
  onProgress?: (p: Progress) => void;
  onSet?: (s: SetResult) => void;
  onEpoch?: (e: EpochResult) => void;
  progressIntervalMs?: number;
  /**
   * Resume student training from a checkpoint (taken by `onStudentCheckpoint`); `pool` must then hold every set.
   * The student gets the saved weights and optimiser state and training continues at `startEpoch`, with the same
   * shuffles and schedule, so the result equals an uninterrupted run on the same backend.
   */
  studentResume?: StudentCheckpoint;
  /** Called and awaited after every student epoch with what a checkpoint needs. */
  onStudentCheckpoint?: (c: StudentCheckpoint) => void | Promise<void>;
  /**
   * Runs synthesis sets elsewhere, several at once (e.g. one worker thread per core). Sets are independent and
   * seeded per set, so the pool equals the in-process one. Without it, sets run one after another here. Pause and
   * cancel reach the sets in flight through the jobs' `control`.
   */
  synthesizer?: SetSynthesizer;
  /** The teacher's layers, for `student.inherit` (the student starts from its strongest channels). */
  teacherModel?: tf.LayersModel;
  /** A probe's step costs (the studio's estimate), so the time left is right before the student's steps are timed. */
  stepPrior?: StepPrior;
  /**
   * Speed: train the student data-parallel with a helper of `synthesizer` (src/cake/data-parallel.ts) where the student
   * allows it. Not bit-identical to a one-thread run (float sums in another order), so only on request.
   */
  dataParallelStudent?: boolean;
}

/** The student's state after a whole epoch. */
export interface StudentCheckpoint {
  /** Epochs completed, i.e. the epoch to resume at. */
  startEpoch: number;
  /** Every weight of the student (model.weights order, trainable or not). */
  weights: Float32Array[];
  optimizer: OptimizerState;
  /** Results of the completed epochs. */
  epochs: EpochResult[];
  /** The peak learning rate the run chose for its student (capped by its sharpness), so a resumed run keeps it. */
  peakLr?: number;
}

export interface RunResult {
  student: tf.LayersModel;
  pool: SyntheticPool;
  report: RunReport;
}

export class ConfigError extends Error {
  constructor(readonly issues: { key: string; message: string }[]) {
    super(issues.map((i) => `${i.key} ${i.message}`).join('; '));
    this.name = 'ConfigError';
  }
}

// The run's random streams live with the generator; helpers and tests name them from here too.
export { STREAM };

/** The run, as the steps it takes: each reads the run's context and what the steps before it made. */
export async function runCake(opts: RunOptions): Promise<RunResult> {
  const run = openRun(opts);
  const memory = await checkMemory(run);
  const start = startStudent(run);
  const pool = checkPool(run);
  const synthesis = await synthesizeSets(run, pool);
  const split = splitPool(run, pool);
  const training = await trainStudent(run, start, pool, split);
  // What distilling bought, in the measure people quote: FLOPs per image of both.
  const flops = {
    teacher: await flopsPerImage((x) => run.teacher.logits(x), run.teacher.inputShape),
    student: await flopsPerImage((x) => opts.student.predict(x) as tf.Tensor, run.teacher.inputShape),
  };
  return { student: opts.student, pool, report: buildReport(run, start, pool, split, synthesis, training, memory, flops) };
}

/** What every step of a run reads. */
interface RunContext {
  opts: RunOptions;
  teacher: Teacher;
  config: CakeConfig;
  /** The step size (and noise scale) of each set, from the schedule. */
  etas: number[];
  control: RunControl;
  clock: Clock;
  /** Spaces the progress reports (see RunOptions.onProgress). */
  throttle: Throttle;
  /** Numbers in one input sample. */
  sampleSize: number;
}

/** Checks the config against the teacher (a ConfigError lists every problem) and sets up the run's context. */
function openRun(opts: RunOptions): RunContext {
  const { teacher, config } = opts;
  const issues = validateConfig(config, teacher);
  if (issues.length) throw new ConfigError(issues);
  const s = config.synthesis;
  const st = config.student;
  const etas = setEtas(s);
  // The student's steps, for the time estimate: the samples of the sets in its η band, less the held-out share.
  const total = etas.filter((eta) => studentUsesEta(st, eta)).length * s.batchSize;
  const nVal = Math.min(total - 1, Math.round(total * st.valFraction));
  const studentSteps = st.epochs * stepsPerEpoch(total - nVal, Math.min(st.batchSize, total - nVal));
  return {
    opts,
    teacher,
    config,
    etas,
    // A run always passes through a control's gate, which yields to the event loop every 30 ms: without one, steps
    // that wait on nothing outside (no helpers) chain as microtasks for the whole run, and a caller's timers and
    // signal handlers (e.g. a CLI that saves its work on Ctrl-C) never run.
    control: opts.control ?? new RunControl(),
    // A student step (forward and backward of a smaller net, weight gradients) costs roughly half a synthesis step
    // per sample; the guess only matters until the first student steps are timed.
    clock: new Clock(s.sets * s.steps, studentSteps, (0.5 * st.batchSize) / s.batchSize, opts.stepPrior),
    throttle: new Throttle(opts.progressIntervalMs ?? 100),
    sampleSize: teacher.inputShape.reduce((a, b) => a * b, 1),
  };
}

/**
 * Measures what the run's steps need in the backend's memory and refuses batches that would not fit, naming the
 * batch that would (memory.ts): a crash for memory mid-run takes the worker, and a browser tab, with it.
 */
async function checkMemory(run: RunContext): Promise<MemoryPlan> {
  const plan = await measureMemory(run.teacher, run.config, run.opts.student);
  const problems = memoryProblems(plan, run.config);
  if (problems.length) throw new ConfigError(problems);
  return plan;
}

/** Where the student's weights start, and the peak rate that goes with them. */
interface StudentStart {
  init: RunReport['student']['init'];
  /** Why `auto` fell back to random weights. */
  initNote?: string;
  lr: number;
  /** The teacher's channels each layer kept, for a student from the teacher. */
  inherited?: InheritedLayer[];
}

/**
 * Initialises the student from the run's seed and, as `student.inherit` asks, from the teacher's strongest channels;
 * says which, and why `auto` fell back to random weights. A resumed run then loads its checkpoint's weights.
 */
function startStudent(run: RunContext): StudentStart {
  const { student, teacherModel, studentResume: resume } = run.opts;
  const start = initialWeights(student, teacherModel, run.config);
  if (resume) {
    if (resume.weights.length !== student.weights.length) throw new Error('the checkpoint does not match this student');
    const tensors = resume.weights.map((w, i) => tf.tensor(w, student.weights[i].shape as number[], 'float32'));
    student.setWeights(tensors);
    tf.dispose(tensors);
  }
  return start;
}

function initialWeights(student: tf.LayersModel, teacherModel: tf.LayersModel | undefined, config: CakeConfig): StudentStart {
  const st = config.student;
  const random = () => initStudentWeights(student, Rng.derive(config.seed, STREAM.init, 0));
  random();
  if (st.inherit === 'off') return { init: 'random', lr: st.lr };
  try {
    if (!teacherModel) throw new InheritError('the teacher has no layers to copy (a graph model or an ONNX file)');
    const inherited = inheritFromTeacher(teacherModel, student);
    return { init: 'teacher', lr: st.inheritLr, inherited };
  } catch (e) {
    if (st.inherit === 'on' || !(e instanceof InheritError)) throw e;
    // A pairing that failed half-way has written some layers: start again from the seed.
    random();
    return { init: 'random', initNote: `${e.message} It started from random weights.`, lr: st.lr };
  }
}

/**
 * The pool the sets go into: a new one, or the sets an earlier run made (see RunOptions.pool), which must come from
 * this teacher and these synthesis settings; synthesis continues after them.
 */
function checkPool(run: RunContext): SyntheticPool {
  const { teacher, etas } = run;
  const s = run.config.synthesis;
  const pool = run.opts.pool ?? new SyntheticPool(run.sampleSize, teacher.numClasses, s.batchSize);
  if (pool.sampleSize !== run.sampleSize || pool.numClasses !== teacher.numClasses || pool.chunkSize !== s.batchSize)
    throw new Error('the saved synthetic pool does not match this teacher and synthesis batch');
  // Each set's step size depends on the number of sets and the schedule: a pool made under other settings would mix.
  pool.chunks.forEach((c, m) => {
    if (m >= s.sets) throw new Error(`the saved synthetic pool was made with other synthesis settings (it has more than this run's ${s.sets} sets)`);
    if (c.set !== m || Math.abs(c.eta - etas[m]) > 1e-9 * etas[m])
      throw new Error(`the saved synthetic pool was made with other synthesis settings (set ${c.set}: η ${c.eta}, this run's ${etas[m]})`);
  });
  if (run.opts.studentResume && pool.chunks.length < s.sets) throw new Error('resuming the student needs the complete synthetic pool');
  return pool;
}

/** What synthesis reports about itself. */
interface SynthesisSummary {
  /** Loss terms of the last step of the last set made. */
  finalLosses: SynthesisLosses;
  meanHitRate: number;
  sec: number;
  msPerStep: number;
}

/**
 * Makes the sets the pool lacks, on the run's synthesizer (or in this thread, one after another), and adds them to
 * the pool in set order.
 */
async function synthesizeSets(run: RunContext, pool: SyntheticPool): Promise<SynthesisSummary> {
  const { opts, teacher, config, etas, control, clock, throttle } = run;
  const s = config.synthesis;
  const synthesizer = opts.synthesizer ?? inProcessSynthesizer(teacher);
  const firstSet = pool.chunks.length;
  const start = Date.now();
  // Steps are counted over all the sets in flight; progress shows the set that reported last.
  let stepsDone = 0;
  let finalLosses: SynthesisLosses = { cls: NaN, contr: NaN, tv: NaN, entropy: NaN, total: NaN };
  let hitSum = 0;
  await runSetsInOrder(
    synthesizer,
    firstSet,
    s.sets,
    (m) => {
      const due = reportDue(run, s.steps);
      return {
        cfg: s,
        seed: config.seed,
        set: m,
        eta: etas[m],
        // Metrics cost a helper a device read: often enough for live curves, not on every step.
        reportEvery: Math.max(1, Math.min(10, Math.floor(s.steps / 8))),
        // In this thread they are read only for the reports made.
        wantsMetrics: due,
        control,
        onStep: (step, metrics) => {
          stepsDone++;
          clock.synthMs = (Date.now() - start) / stepsDone;
          if (!metrics || !due(step)) return;
          opts.onProgress?.({
            stage: 'synthesis',
            set: m,
            sets: s.sets,
            step,
            steps: s.steps,
            eta: etas[m],
            losses: metrics.losses,
            hitRate: metrics.hitRate,
            ...clock.timing(firstSet * s.steps + stepsDone, 0, s.batchSize, start, stepsDone),
          });
        },
      };
    },
    async (m, outcome) => {
      await control.gate();
      pool.add({ set: m, eta: etas[m], x: outcome.x, labels: outcome.labels });
      finalLosses = outcome.losses;
      hitSum += outcome.hitRate;
      opts.onSet?.({
        set: m,
        eta: etas[m],
        x: outcome.x,
        inputShape: [...teacher.inputShape],
        batchSize: s.batchSize,
        groupSize: s.groupSize,
        targets: outcome.targets,
        probs: outcome.probs,
        labels: outcome.labels,
        numClasses: teacher.numClasses,
        hitRate: outcome.hitRate,
        losses: outcome.losses,
      });
    },
  );
  const sec = (Date.now() - start) / 1000;
  const steps = (s.sets - firstSet) * s.steps;
  return { finalLosses, meanHitRate: hitSum / Math.max(1, s.sets - firstSet), sec, msPerStep: steps > 0 ? (sec * 1000) / steps : 0 };
}

/**
 * Whether a step of one set gets a progress report (the throttle's answer, always yes at the set's last step),
 * decided once per step: a synthesizer in this thread asks before it reads the metrics, and the run asks again when
 * they arrive; from helpers elsewhere they arrive unasked, every few steps.
 */
function reportDue(run: RunContext, steps: number): (step: number) => boolean {
  let decided = { step: 0, due: false };
  return (step) => {
    if (decided.step !== step) decided = { step, due: run.opts.onProgress !== undefined && run.throttle.due(step === steps) };
    return decided.due;
  };
}

/** Indices of the pool's samples the student trains on, and of those held out. */
type Split = ReturnType<SyntheticPool['split']>;

/** The samples the student trains on and those held out: from the sets in its η band (all of them by default). */
function splitPool(run: RunContext, pool: SyntheticPool): Split {
  const st = run.config.student;
  return pool.split(st.valFraction, Rng.derive(run.config.seed, STREAM.split, 0), (c) => studentUsesEta(st, c.eta));
}

/** What the student's training reports about itself. */
interface StudentSummary {
  /** Every epoch's result, those of a resumed run's checkpoint first. */
  epochs: EpochResult[];
  sec: number;
  steps: number;
  /** The student layers that learned the teacher's activations. */
  hinted?: string[];
  /** Why asked-for feature hints were not used. */
  hintNote?: string;
  /** The peak learning rate used, and the sharpness that capped it when it did. */
  peakLr: number;
  sharpness?: number;
}

/** Trains the student on the pool's split, from where startStudent (or a checkpoint) left it. */
async function trainStudent(
  run: RunContext,
  start: StudentStart,
  pool: SyntheticPool,
  { train, val }: Split,
): Promise<StudentSummary> {
  const { opts, teacher, config, control, clock, throttle } = run;
  const { student, synthesizer, studentResume: resume, onProgress } = opts;
  const st = config.student;
  const { hints, note: hintNote } = studentHints(run, start);
  const augment = studentAugmenter(run);
  const rate = resume?.peakLr !== undefined ? { lr: resume.peakLr } : await sharpnessCappedRate(run, start, pool, train);
  const began = Date.now();
  let steps = 0;
  const trained = await trainClassifier({
    model: student,
    source: { inputShape: teacher.inputShape, numClasses: teacher.numClasses, gather: (i, x, y) => pool.gather(i, x, y) },
    train,
    val,
    // A student that starts from the teacher's weights trains at its own (lower) peak rate.
    cfg: { ...st, lr: rate.lr },
    rngForEpoch: (epoch) => Rng.derive(config.seed, STREAM.shuffle, epoch),
    // Augmented batches are relabelled by the teacher.
    augment,
    relabel: augment ? (x) => teacher.logits(x) : undefined,
    // The synthesis helpers hold the teacher and sit idle now: they label the next batch while this one trains.
    relabelElsewhere: augment && synthesizer?.relabel ? (x, n) => synthesizer.relabel!(x, n) : undefined,
    control,
    onEpoch: opts.onEpoch,
    hints: hints ?? undefined,
    hintsElsewhere: hints && synthesizer?.features ? (x, n) => synthesizer.features!(x, n, hints.spec) : undefined,
    // Speed: both cores on the student's steps, when asked for and the student allows it (src/cake/data-parallel.ts).
    dataParallel:
      opts.dataParallelStudent && synthesizer?.studentGrads && !dataParallelObstacle(student, { classBalance: st.classBalance, hints: hints != null })
        ? { grads: (req) => synthesizer.studentGrads!(student, req) }
        : undefined,
    // A run's student is tuned through these settings: name them when its loss stops being finite.
    subject: 'the student',
    divergenceAdvice:
      `lower the student's peak learning rate (${rate.lr}: ${start.inherited ? 'student.inheritLr, used for a student that starts from the teacher’s weights' : 'student.lr'}${rate.lr < start.lr ? ', already capped by its sharpness: lower student.sharpnessCap' : ''})` +
      (hints ? ` or the feature hints' weight (student.hint, ${st.hint})` : ''),
    startEpoch: resume?.startEpoch,
    initialOptimizerState: resume?.optimizer,
    onEpochEnd: opts.onStudentCheckpoint ? checkpointEachEpoch(run, rate.lr) : undefined,
    onStep: async (step) => {
      steps++;
      clock.studentMs = (Date.now() - began) / steps;
      if (!onProgress || !throttle.due(step.step === step.stepsPerEpoch)) return;
      onProgress({
        stage: 'student',
        epoch: step.epoch,
        epochs: st.epochs,
        step: step.step,
        stepsPerEpoch: step.stepsPerEpoch,
        loss: await step.readLoss(),
        lr: step.lr,
        ...clock.timing(config.synthesis.sets * config.synthesis.steps, steps, Math.min(st.batchSize, train.length), began, steps),
      });
    },
  }).finally(() => hints?.dispose());
  return {
    epochs: [...(resume?.epochs ?? []), ...trained],
    sec: (Date.now() - began) / 1000,
    steps,
    ...(hints ? { hinted: hints.hinted } : {}),
    hintNote,
    peakLr: rate.lr,
    ...(rate.sharpness !== undefined ? { sharpness: rate.sharpness } : {}),
  };
}

/**
 * The student's peak learning rate: its start's (student.lr, or inheritLr from the teacher's weights), capped at
 * student.sharpnessCap / |λ| where λ is the sharpness of its loss on the first training samples (sharpness.ts). A
 * LeNet-5 copy (λ ≈ 3) keeps its rate; a ResNet copy (λ in the thousands) gets one it can train at.
 */
async function sharpnessCappedRate(run: RunContext, start: StudentStart, pool: SyntheticPool, train: Int32Array): Promise<{ lr: number; sharpness?: number }> {
  const { student } = run.opts;
  const cap = run.config.student.sharpnessCap;
  if (!(cap > 0) || train.length === 0) return { lr: start.lr };
  const n = Math.min(128, train.length);
  const x = new Float32Array(n * run.sampleSize);
  const y = new Float32Array(n * run.teacher.numClasses);
  pool.gather(train.subarray(0, n), x, y);
  const xt = tf.tensor(x, [n, ...run.teacher.inputShape]);
  const yt = tf.tensor2d(y, [n, run.teacher.numClasses]);
  try {
    const sharpness = await topHessianEigenvalue(student, xt, yt, Rng.derive(run.config.seed, STREAM.init, 1), { training: trainsWithDropout(student) });
    return { lr: Math.min(start.lr, cap / Math.max(1e-12, Math.abs(sharpness))), sharpness };
  } finally {
    tf.dispose([xt, yt]);
  }
}

/**
 * Feature hints, for a student that starts from the teacher's channels: they need the teacher's layers and the
 * channels the student kept. Null otherwise, with why hints that were asked for are not used.
 */
function studentHints(run: RunContext, start: StudentStart): { hints: Hints | null; note?: string } {
  const { teacherModel, student } = run.opts;
  if (!(run.config.student.hint > 0)) return { hints: null };
  if (start.inherited && teacherModel) return { hints: buildHints(teacherModel, student, start.inherited) };
  return {
    hints: null,
    note: start.inherited
      ? 'Feature hints (student.hint) were not used: the student has no hidden layer to hint.'
      : 'Feature hints (student.hint) were not used: they need a student that starts from the teacher’s weights.',
  };
}

/**
 * The student's batch augmentation (a lever beyond the method, off by default), or undefined when it is off. Each
 * epoch draws from its own generator, so a run resumed at an epoch augments as the original did.
 */
function studentAugmenter(run: RunContext): TrainArgs['augment'] {
  const { teacher, config } = run;
  if (!studentAugments(config.student)) return undefined;
  const options = studentAugmentOptions(config.student, config.synthesis.clampRange);
  const layout = teacher.layout ?? inferLayout(teacher.inputShape);
  const scratch = new Float32Array(run.sampleSize);
  let current = { epoch: -1, rng: new Rng(0) };
  return (x, n, epoch) => {
    if (current.epoch !== epoch) current = { epoch, rng: Rng.derive(config.seed, STREAM.augment, epoch) };
    augmentBatch(x, n, teacher.inputShape, layout, options, current.rng, scratch);
  };
}

/** After each epoch, hands RunOptions.onStudentCheckpoint what a checkpoint needs, and waits for it. */
function checkpointEachEpoch(run: RunContext, peakLr: number): TrainArgs['onEpochEnd'] {
  const { student, studentResume, onStudentCheckpoint } = run.opts;
  const epochs: EpochResult[] = [...(studentResume?.epochs ?? [])];
  return async ({ result, optimizerState }) => {
    epochs.push(result);
    const weights = await Promise.all(student.weights.map(async (w) => ((await w.read().data()) as Float32Array).slice()));
    await onStudentCheckpoint!({ startEpoch: result.epoch + 1, weights, optimizer: await optimizerState(), epochs: [...epochs], peakLr });
  };
}

/** The run's report: what it was given, what it made, and how long each stage took. */
function buildReport(
  run: RunContext,
  start: StudentStart,
  pool: SyntheticPool,
  split: Split,
  synthesis: SynthesisSummary,
  training: StudentSummary,
  memory: MemoryPlan,
  flops: { teacher: number; student: number },
): RunReport {
  const { opts, teacher, config } = run;
  const initNote = [start.initNote, training.hintNote].filter(Boolean).join(' ');
  const last = training.epochs[training.epochs.length - 1];
  return {
    config,
    seed: config.seed,
    backend: tf.getBackend(),
    teacher: { inputShape: [...teacher.inputShape], numClasses: teacher.numClasses, logitsFrom: opts.logitsFrom, flopsPerImage: flops.teacher },
    student: {
      arch: opts.studentArch,
      params: opts.student.countParams(),
      flopsPerImage: flops.student,
      init: start.init,
      ...(initNote ? { initNote } : {}),
      ...(training.hinted ? { hinted: training.hinted } : {}),
    },
    samples: { total: pool.size, train: split.train.length, validation: split.val.length },
    timings: { synthesisSec: synthesis.sec, studentSec: training.sec, totalSec: (Date.now() - run.clock.start) / 1000 },
    memory: {
      synthesisPeakBytes: Math.round(memory.synthesis.fixed + memory.synthesis.perSample * config.synthesis.batchSize),
      studentPeakBytes: memory.student ? Math.round(memory.student.fixed + memory.student.perSample * config.student.batchSize) : NaN,
      poolBytes: pool.bytes,
    },
    synthesis: { finalLosses: synthesis.finalLosses, meanHitRate: synthesis.meanHitRate, msPerStep: synthesis.msPerStep },
    studentTraining: {
      peakLr: training.peakLr,
      ...(training.sharpness !== undefined ? { sharpness: training.sharpness } : {}),
      finalTrainLoss: last?.trainLoss ?? NaN,
      agreement: last?.valAgreement ?? NaN,
      valLoss: last?.valLoss ?? NaN,
      msPerStep: training.steps > 0 ? (training.sec * 1000) / training.steps : 0,
    },
  };
}
