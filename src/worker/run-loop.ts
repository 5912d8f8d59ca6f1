/**
 * Drives one CAKE run inside the worker: builds the student, calls the engine, and turns its callbacks into at most
 * ten messages a second for the page, with sample sets copied into transferable buffers. Also the tiny timed probe
 * that the page turns into an estimate of a budget's time.
 */
import * as tf from '@tensorflow/tfjs';
import type { SetSynthesizer } from '../cake/parallel';
import { runCake, RunControl, type CakeConfig, type EpochResult, type Progress, type SetResult, type StudentCheckpoint, type Teacher } from '../cake';
import type { SyntheticPool } from '../cake/pool';
import type { RunReport } from '../cake/report';
import { buildRunStudent } from '../models/students';
import type { ProbeTiming, RunEvent, RunOptions, WireSet, WorkerEvent } from './protocol';
import { probeKey } from './protocol';

export type Post = (event: WorkerEvent, transfer?: Transferable[]) => void;

/**
 * Collects a run's events and posts them together, at most once per interval. Progress keeps only its latest value per
 * stage; the live set only its latest; gallery sets and epoch results are all kept.
 */
export class Outbox {
  private events: RunEvent[] = [];
  private last = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly runId: number,
    private readonly post: Post,
    private readonly intervalMs = 100,
  ) {}

  progress(progress: Progress): void {
    // The latest per stage: a fast stage change must not swallow the last synthesis progress.
    this.events = this.events.filter((e) => e.kind !== 'progress' || e.progress.stage !== progress.stage);
    this.events.push({ kind: 'progress', progress });
    this.schedule();
  }

  set(set: WireSet, gallery: boolean): void {
    // An older pending live-only set is superseded; a pending gallery set stays but is no longer the live one.
    this.events = this.events.filter((e) => e.kind !== 'set' || e.gallery);
    for (const e of this.events) if (e.kind === 'set') e.live = false;
    this.events.push({ kind: 'set', set, live: true, gallery });
    this.schedule();
  }

  epoch(epoch: EpochResult): void {
    this.events.push({ kind: 'epoch', epoch });
    this.schedule();
  }

  private schedule(): void {
    const wait = this.last + this.intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else if (this.timer === null) this.timer = setTimeout(() => this.flush(), wait);
  }

  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.events.length === 0) return;
    const events = this.events;
    this.events = [];
    this.last = Date.now();
    const transfer: Transferable[] = [];
    for (const e of events) if (e.kind === 'set') transfer.push(e.set.x, e.set.targets, e.set.probs);
    this.post({ type: 'run-events', runId: this.runId, events }, transfer);
  }
}

/** Copy the first `groups` groups of a set into fresh buffers that can be transferred. */
export function wireSet(s: SetResult, sets: number, groups: number): WireSet {
  const sampleSize = s.inputShape.reduce((a, b) => a * b, 1);
  const count = Math.min(s.batchSize, Math.max(1, groups) * s.groupSize);
  return {
    set: s.set,
    sets,
    eta: s.eta,
    inputShape: [...s.inputShape],
    count,
    batchSize: s.batchSize,
    groupSize: s.groupSize,
    numClasses: s.numClasses,
    x: s.x.slice(0, count * sampleSize).buffer as ArrayBuffer,
    targets: s.targets.slice(0, count).buffer as ArrayBuffer,
    probs: s.probs.slice(0, count * s.numClasses).buffer as ArrayBuffer,
    hitRate: s.hitRate,
    losses: { ...s.losses },
  };
}

export interface RunArgs {
  runId: number;
  teacher: Teacher;
  /** The teacher as a LayersModel when it is one (the `auto` student copies its architecture). */
  teacherModel?: tf.LayersModel;
  /** The teacher's parameters, which size the student (`student.size`) when it has no layers to copy. */
  teacherParams?: number;
  logitsFrom?: string;
  config: CakeConfig;
  options: RunOptions;
  control: RunControl;
  post: Post;
  /** Sets of an interrupted run to continue from (see runCake's `pool`); the run adds its new sets to it. */
  pool?: SyntheticPool;
  /** A student checkpoint to continue training from (needs the complete pool). */
  studentResume?: StudentCheckpoint;
  /** After each finished set (already in `pool`), e.g. to checkpoint it. */
  onSetDone?: (s: SetResult) => void;
  /** Awaited after each student epoch with the student's state. */
  onStudentCheckpoint?: (c: StudentCheckpoint) => void | Promise<void>;
  /** Helpers that make synthesis sets several at a time (see synth-pool.ts); absent: sets are made here. */
  synthesizer?: SetSynthesizer;
}

export interface RunOutcome {
  student: tf.LayersModel;
  pool: SyntheticPool;
  report: RunReport;
  /** Why `auto` built what it built. */
  note?: string;
}

/** One full run, streaming events through an Outbox; resolves with the trained student. */
export async function driveRun(args: RunArgs): Promise<RunOutcome> {
  const { teacher, config, options, control, post } = args;
  const built = buildRunStudent(config, teacher.inputShape, teacher.numClasses, args.teacherModel, args.teacherParams);
  const outbox = new Outbox(args.runId, post, 100);
  const sets = config.synthesis.sets;
  const stride = Math.max(1, Math.ceil(sets / Math.max(1, options.gallerySlots)));
  try {
    const result = await runCake({
      teacher,
      teacherModel: args.teacherModel,
      config,
      student: built.model,
      studentArch: built.arch,
      logitsFrom: args.logitsFrom,
      control,
      progressIntervalMs: 100,
      onProgress: (p) => outbox.progress(p),
      onSet: (s) => {
        outbox.set(wireSet(s, sets, options.groupsShown), s.set % stride === 0 || s.set === sets - 1);
        args.onSetDone?.(s);
      },
      onEpoch: (e) => outbox.epoch(e),
      pool: args.pool,
      studentResume: args.studentResume,
      onStudentCheckpoint: args.onStudentCheckpoint,
      synthesizer: args.synthesizer,
      // The page's probe of these settings, if it measured them on this backend (its key names batches and student).
      stepPrior:
        options.probe && options.probe.key === probeKey(config) && options.probe.backend === tf.getBackend()
          ? { synthMs: options.probe.synthesisMsPerStep, studentMs: options.probe.studentMsPerStep }
          : undefined,
    });
    const note = [built.note, result.report.student.initNote].filter(Boolean).join(' ');
    return { student: result.student, pool: result.pool, report: result.report, note: note || undefined };
  } catch (e) {
    built.model.dispose();
    throw e;
  } finally {
    outbox.flush();
  }
}

/**
 * Time a few synthesis and student steps with the config's batch sizes and student. Small enough to run right after
 * the teacher loads; cancellable through `control`.
 */
export async function timeProbe(
  teacher: Teacher,
  teacherModel: tf.LayersModel | undefined,
  config: CakeConfig,
  control: RunControl,
  backend: ProbeTiming['backend'],
  teacherParams?: number,
): Promise<ProbeTiming> {
  const s = config.synthesis;
  const st = config.student;
  const probeSets = Math.min(4, Math.max(1, Math.ceil(st.batchSize / Math.max(1, s.batchSize))));
  const once = async (steps: number) => {
    const probeConfig: CakeConfig = {
      ...config,
      synthesis: { ...s, sets: probeSets, steps },
      // Every probe set trains the student: the probe's few sets have other step sizes than the run's η band.
      student: { ...st, epochs: 1, valFraction: 0, etaMin: 0, etaMax: 1e10 },
    };
    const built = buildRunStudent(config, teacher.inputShape, teacher.numClasses, teacherModel, teacherParams);
    try {
      const result = await runCake({
        teacher,
        teacherModel,
        config: probeConfig,
        student: built.model,
        studentArch: built.arch,
        control,
        progressIntervalMs: 1e9,
      });
      return result.report;
    } finally {
      built.model.dispose();
    }
  };
  // The first steps pay for kernel set-up and compilation; time a second, warm pass.
  await once(1);
  const r = await once(3);
  return {
    synthesisMsPerStep: r.synthesis.msPerStep,
    studentMsPerStep: r.studentTraining.msPerStep,
    key: probeKey(config),
    backend,
  };
}
