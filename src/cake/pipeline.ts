import * as tf from '@tensorflow/tfjs';
import { buildHints } from './hints';
import { InheritError, inheritFromTeacher, type InheritedLayer } from './inherit';
import { studentAugments, studentSets, studentUsesEta, validateConfig, type CakeConfig } from './config';
import { augmentBatch, studentAugmentOptions } from './augment';
import { initStudentWeights } from './init';
import { inferLayout } from './losses';
import type { OptimizerState } from './optim';
import { SyntheticPool } from './pool';
import { Throttle, type EpochResult, type Progress, RunControl, type SetResult, type SynthesisLosses } from './progress';
import type { RunReport } from './report';
import { runSetsInOrder, type SetSynthesizer } from './parallel';
import { Rng } from './rng';
import { etaForSet } from './schedule';
import { synthesizeSet, type SetOutcome } from './synthesis';
import type { Teacher } from './teacher';
import { stepsPerEpoch, trainClassifier } from './train';

/**
 * A whole CAKE run, top to bottom: synthesise M independent sets against the teacher, pool them, split 99/1, train
 * the student on the pool's soft labels. Progress, finished sets and finished epochs stream out through callbacks.
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

/** The run's random streams, one per purpose, all from the one seed; sets and epochs derive their own (see Rng.derive). */
export const STREAM = { synthesis: 1, split: 2, shuffle: 3, init: 4, augment: 5 } as const;

/** Estimates the time left from measured step costs; before the student has run, its step is guessed from synthesis. */
class Clock {
  readonly start = Date.now();
  synthMs = NaN;
  studentMs = NaN;
  constructor(
    private readonly synthSteps: number,
    private readonly studentSteps: number,
    private readonly studentPerSynth: number,
  ) {}
  timing(synthDone: number, studentDone: number, samplesPerStep: number, stageStart: number, stageSteps: number) {
    const elapsedSec = (Date.now() - this.start) / 1000;
    const synth = Number.isFinite(this.synthMs) ? this.synthMs : NaN;
    const student = Number.isFinite(this.studentMs) ? this.studentMs : synth * this.studentPerSynth;
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

/**
 * Initialises the student from the run's seed and, as `student.inherit` asks, from the teacher's strongest channels;
 * says which, and why `auto` fell back to random weights.
 */
function startStudent(
  student: tf.LayersModel,
  teacherModel: tf.LayersModel | undefined,
  config: CakeConfig,
): { init: RunReport['student']['init']; initNote?: string; lr: number; inherited?: InheritedLayer[] } {
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

export async function runCake(opts: RunOptions): Promise<RunResult> {
  const { teacher, config, student, onProgress, onSet, onEpoch } = opts;
  // A run always passes through a control's gate, which yields to the event loop every 30 ms: without one, steps that
  // wait on nothing outside (no helpers) chain as microtasks for the whole run, and a caller's timers and signal
  // handlers (e.g. a CLI that saves its work on Ctrl-C) never run.
  const control = opts.control ?? new RunControl();
  const issues = validateConfig(config, teacher);
  if (issues.length) throw new ConfigError(issues);
  const s = config.synthesis;
  const st = config.student;
  const init = startStudent(student, opts.teacherModel, config);
  const resume = opts.studentResume;
  if (resume) {
    if (resume.weights.length !== student.weights.length) throw new Error('the checkpoint does not match this student');
    const tensors = resume.weights.map((w, i) => tf.tensor(w, student.weights[i].shape as number[], 'float32'));
    student.setWeights(tensors);
    tf.dispose(tensors);
  }

  const sampleSize = teacher.inputShape.reduce((a, b) => a * b, 1);
  // The student trains on the sets in its η band (all of them by default).
  const total = studentSets(config).length * s.batchSize;
  const nVal = Math.min(total - 1, Math.round(total * st.valFraction));
  const studentSteps = st.epochs * stepsPerEpoch(total - nVal, Math.min(st.batchSize, total - nVal));
  // A student step (forward and backward of a smaller net, weight gradients) costs roughly half a synthesis step per
  // sample; the guess only matters until the first student steps are timed.
  const clock = new Clock(s.sets * s.steps, studentSteps, (0.5 * st.batchSize) / s.batchSize);
  const throttle = new Throttle(opts.progressIntervalMs ?? 100);
  const pool = opts.pool ?? new SyntheticPool(sampleSize, teacher.numClasses, s.batchSize);
  if (pool.sampleSize !== sampleSize || pool.numClasses !== teacher.numClasses || pool.chunkSize !== s.batchSize)
    throw new Error('the saved synthetic pool does not match this teacher and synthesis batch');
  // Each set's step size depends on the number of sets and the schedule: a pool made under other settings would mix.
  pool.chunks.forEach((c, m) => {
    const eta = etaForSet(m, s.sets, s.eta0, s.decades, s.etaSchedule);
    if (c.set !== m || m >= s.sets || Math.abs(c.eta - eta) > 1e-9 * eta)
      throw new Error(`the saved synthetic pool was made with other synthesis settings (set ${c.set}: η ${c.eta}, this run's ${eta})`);
  });
  const firstSet = pool.chunks.length;
  if (resume && firstSet < s.sets) throw new Error('resuming the student needs the complete synthetic pool');

  // --- synthesis ---
  const synthStart = Date.now();
  let lastLosses: SynthesisLosses = { cls: NaN, contr: NaN, tv: NaN, entropy: NaN, total: NaN };
  let hitSum = 0;
  const reportSynthesis = (m: number, step: number, done: number, losses: SynthesisLosses, hitRate: number) =>
    onProgress?.({
      stage: 'synthesis',
      set: m,
      sets: s.sets,
      step,
      steps: s.steps,
      eta: etaForSet(m, s.sets, s.eta0, s.decades, s.etaSchedule),
      losses,
      hitRate,
      ...clock.timing(done, 0, s.batchSize, synthStart, done - firstSet * s.steps),
    });
  const finishSet = (m: number, outcome: SetOutcome) => {
    const eta = etaForSet(m, s.sets, s.eta0, s.decades, s.etaSchedule);
    pool.add({ set: m, eta, x: outcome.x, labels: outcome.labels });
    lastLosses = outcome.losses;
    hitSum += outcome.hitRate;
    onSet?.({
      set: m,
      eta,
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
  };
  if (opts.synthesizer) {
    // Several sets at once: steps are counted over all of them; progress shows the set that reported last.
    let stepsDone = 0;
    await runSetsInOrder(
      opts.synthesizer,
      firstSet,
      s.sets,
      (m) => ({
        cfg: s,
        seed: config.seed,
        set: m,
        eta: etaForSet(m, s.sets, s.eta0, s.decades, s.etaSchedule),
        // Metrics cost the helper a device read: often enough for live curves, not on every step.
        reportEvery: Math.max(1, Math.min(10, Math.floor(s.steps / 8))),
        control,
        onStep: (step, metrics) => {
          stepsDone++;
          clock.synthMs = (Date.now() - synthStart) / stepsDone;
          if (metrics && throttle.due(step === s.steps))
            reportSynthesis(m, step, firstSet * s.steps + stepsDone, metrics.losses, metrics.hitRate);
        },
      }),
      async (m, outcome) => {
        await control.gate();
        finishSet(m, outcome);
      },
    );
  } else {
    for (let m = firstSet; m < s.sets; m++) {
      const outcome = await synthesizeSet({
        teacher,
        cfg: s,
        set: m,
        eta: etaForSet(m, s.sets, s.eta0, s.decades, s.etaSchedule),
        rng: Rng.derive(config.seed, STREAM.synthesis, m),
        control,
        onStep: async (step, read) => {
          const done = m * s.steps + step;
          clock.synthMs = (Date.now() - synthStart) / (done - firstSet * s.steps);
          if (!onProgress || !throttle.due(step === s.steps)) return;
          const { losses, hitRate } = await read();
          reportSynthesis(m, step, done, losses, hitRate);
        },
      });
      finishSet(m, outcome);
    }
  }
  const synthesisSec = (Date.now() - synthStart) / 1000;
  const synthSteps = (s.sets - firstSet) * s.steps;
  const synthMsPerStep = synthSteps > 0 ? (synthesisSec * 1000) / synthSteps : 0;

  // --- student ---
  const { train, val } = pool.split(st.valFraction, Rng.derive(config.seed, STREAM.split, 0), (c) => studentUsesEta(st, c.eta));
  const studentStart = Date.now();
  let studentStepsDone = 0;
  // Augmented student batches (a lever beyond the method, off by default) are relabelled by the teacher.
  const augmenting = studentAugments(st);
  const augmentOptions = studentAugmentOptions(st, s.clampRange);
  let augRng = { epoch: -1, rng: new Rng(0) };
  const augRngFor = (epoch: number) => {
    if (augRng.epoch !== epoch) augRng = { epoch, rng: Rng.derive(config.seed, STREAM.augment, epoch) };
    return augRng.rng;
  };
  const scratch = new Float32Array(sampleSize);
  const layout = teacher.layout ?? inferLayout(teacher.inputShape);
  const doneEpochs: EpochResult[] = [...(resume?.epochs ?? [])];
  // Feature hints need the teacher's layers and the channels the student kept: only for a student from the teacher.
  const hints = st.hint > 0 && init.inherited && opts.teacherModel ? buildHints(opts.teacherModel, student, init.inherited) : null;
  const hintNote =
    st.hint > 0 && !hints
      ? init.inherited
        ? 'Feature hints (student.hint) were not used: the student has no hidden layer to hint.'
        : 'Feature hints (student.hint) were not used: they need a student that starts from the teacher’s weights.'
      : undefined;
  const initNote = [init.initNote, hintNote].filter(Boolean).join(' ');
  const trained = await trainClassifier({
    model: student,
    source: { inputShape: teacher.inputShape, numClasses: teacher.numClasses, gather: (i, x, y) => pool.gather(i, x, y) },
    train,
    val,
    // A student that starts from the teacher's weights trains at its own (lower) peak rate.
    cfg: { ...st, lr: init.lr },
    rngForEpoch: (epoch) => Rng.derive(config.seed, STREAM.shuffle, epoch),
    augment: augmenting
      ? (x, n, epoch) =>
          augmentBatch(x, n, teacher.inputShape, layout, augmentOptions, augRngFor(epoch), scratch)
      : undefined,
    relabel: augmenting ? (x) => teacher.logits(x) : undefined,
    // The synthesis helpers hold the teacher and sit idle now: they label the next batch while this one trains.
    relabelElsewhere: augmenting && opts.synthesizer?.relabel ? (x, n) => opts.synthesizer!.relabel!(x, n) : undefined,
    control,
    onEpoch,
    hints: hints ?? undefined,
    hintsElsewhere: hints && opts.synthesizer?.features ? (x, n) => opts.synthesizer!.features!(x, n, hints.spec) : undefined,
    // A run's student is tuned through these settings: name them when its loss stops being finite.
    subject: 'the student',
    divergenceAdvice:
      `lower the student's peak learning rate (${init.lr}: ${init.inherited ? 'student.inheritLr, used for a student that starts from the teacher’s weights' : 'student.lr'})` +
      (hints ? ` or the feature hints' weight (student.hint, ${st.hint})` : ''),
    startEpoch: resume?.startEpoch,
    initialOptimizerState: resume?.optimizer,
    onEpochEnd: opts.onStudentCheckpoint
      ? async ({ result, optimizerState }) => {
          doneEpochs.push(result);
          const weights = await Promise.all(student.weights.map(async (w) => ((await w.read().data()) as Float32Array).slice()));
          await opts.onStudentCheckpoint!({ startEpoch: result.epoch + 1, weights, optimizer: await optimizerState(), epochs: [...doneEpochs] });
        }
      : undefined,
    onStep: async (step) => {
      studentStepsDone++;
      clock.studentMs = (Date.now() - studentStart) / studentStepsDone;
      if (!onProgress || !throttle.due(step.step === step.stepsPerEpoch)) return;
      onProgress({
        stage: 'student',
        epoch: step.epoch,
        epochs: st.epochs,
        step: step.step,
        stepsPerEpoch: step.stepsPerEpoch,
        loss: await step.readLoss(),
        lr: step.lr,
        ...clock.timing(s.sets * s.steps, studentStepsDone, Math.min(st.batchSize, train.length), studentStart, studentStepsDone),
      });
    },
  }).finally(() => hints?.dispose());
  const studentSec = (Date.now() - studentStart) / 1000;
  const epochs = [...(resume?.epochs ?? []), ...trained];
  const last = epochs[epochs.length - 1];

  const report: RunReport = {
    config,
    seed: config.seed,
    backend: tf.getBackend(),
    teacher: { inputShape: [...teacher.inputShape], numClasses: teacher.numClasses, logitsFrom: opts.logitsFrom },
    student: {
      arch: opts.studentArch,
      params: student.countParams(),
      init: init.init,
      ...(initNote ? { initNote } : {}),
      ...(hints ? { hinted: hints.hinted } : {}),
    },
    samples: { total: pool.size, train: train.length, validation: val.length },
    timings: { synthesisSec, studentSec, totalSec: (Date.now() - clock.start) / 1000 },
    synthesis: { finalLosses: lastLosses, meanHitRate: hitSum / Math.max(1, s.sets - firstSet), msPerStep: synthMsPerStep },
    studentTraining: {
      finalTrainLoss: last?.trainLoss ?? NaN,
      agreement: last?.valAgreement ?? NaN,
      valLoss: last?.valLoss ?? NaN,
      msPerStep: studentStepsDone > 0 ? (studentSec * 1000) / studentStepsDone : 0,
    },
  };
  return { student, pool, report };
}
