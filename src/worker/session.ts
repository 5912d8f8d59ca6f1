/**
 * Everything the studio's worker holds between commands (the backend, the teacher, the last result, the run, the
 * estimate's probe, test switches) and the named ways it changes. Command handlers read it and call its transitions;
 * nothing else keeps state in the worker.
 */
import * as tf from '@tensorflow/tfjs';
import type { RunControl } from '../cake';
import type { SyntheticPool } from '../cake/pool';
import type { DeployReport, RunReport } from '../cake/report';
import type { LoadedTeacher } from '../io/teacher-load';
import { chooseBackend } from './backend';
import type { BackendChoice, BackendInfo, ResultSummary, TeacherCard, WireFile } from './protocol';
import type { Post } from './run-loop';

export interface SessionTeacher {
  loaded: LoadedTeacher;
  card: TeacherCard;
  /** The files it was loaded from, kept for checkpoints (a resumed run reloads the teacher from them) and helpers. */
  files: WireFile[];
}

export interface RunResult {
  student: tf.LayersModel;
  /** Kept for the download until the next run starts (then released: two pools need not live at once). */
  pool: SyntheticPool | null;
  report: RunReport;
  summary: ResultSummary;
  modelJson: object;
  weights: ArrayBuffer;
  /** The teacher's input name and class names, which the student's other formats carry. */
  teacherInput: { inputName?: string; classNames?: string[] };
}

export interface ActiveRun {
  runId: number;
  control: RunControl;
  /** Its id in the run history. */
  recordId: string;
}

/** The worker's state. Read it through the getters; change it only through the named transitions below. */
export class Session {
  private current: {
    teacher: SessionTeacher | null;
    result: RunResult | null;
    run: ActiveRun | null;
    probe: { control: RunControl; done: Promise<unknown> } | null;
    failCheckpointsFrom: number | undefined;
    stallTeacherReads: boolean;
  } = { teacher: null, result: null, run: null, probe: null, failCheckpointsFrom: undefined, stallTeacherReads: false };
  private backendReady: Promise<BackendInfo> | null = null;

  constructor(readonly post: Post) {}

  get teacher(): SessionTeacher | null {
    return this.current.teacher;
  }

  /** The last finished run's student, for downloads, predictions and evaluation. */
  get result(): RunResult | null {
    return this.current.result;
  }

  get run(): ActiveRun | null {
    return this.current.run;
  }

  /** Tests: the first set whose checkpoint fails as a full quota would (`fail-checkpoints`); none when undefined. */
  get failCheckpointsFrom(): number | undefined {
    return this.current.failCheckpointsFrom;
  }

  /** Tests: teacher reads never return (`stall-teacher-reads`), as a reader spinning on a damaged file. */
  get stallTeacherReads(): boolean {
    return this.current.stallTeacherReads;
  }

  /** Start the backend the page asked for (`init`). */
  startBackend(choice: BackendChoice): Promise<BackendInfo> {
    this.backendReady = chooseBackend(choice);
    return this.backendReady;
  }

  /** The backend, started on `auto` if no `init` came first. */
  backend(): Promise<BackendInfo> {
    this.backendReady ??= chooseBackend('auto');
    return this.backendReady;
  }

  /** A new teacher replaces the old one, whose tensors are freed. */
  teacherLoaded(teacher: SessionTeacher): void {
    this.current.teacher?.loaded.dispose();
    this.current.teacher = teacher;
  }

  /** A run began; the last result's pool is released (two pools need not live at once). */
  runStarted(run: ActiveRun): void {
    this.current.run = run;
    if (this.current.result) this.current.result.pool = null;
  }

  runEnded(): void {
    this.current.run = null;
  }

  /** A finished run's student replaces the previous one, whose tensors are freed. */
  resultReady(result: RunResult): void {
    this.current.result?.student.dispose();
    this.current.result = result;
  }

  /** The student's variants were measured after its run; they join its report if it is still the result. */
  deployMeasured(result: RunResult, deploy: DeployReport): boolean {
    if (this.current.result !== result) return false;
    result.report = { ...result.report, deploy };
    return true;
  }

  probeStarted(control: RunControl, done: Promise<unknown>): void {
    this.current.probe = { control, done };
  }

  /** The probe under `control` ended (unless a newer one replaced it meanwhile). */
  probeEnded(control: RunControl): void {
    if (this.current.probe?.control === control) this.current.probe = null;
  }

  /** Stop the estimate's probe, if one is running, and wait until it has let go of the backend. */
  async cancelProbe(): Promise<void> {
    const probe = this.current.probe;
    if (!probe) return;
    probe.control.cancel();
    await probe.done.catch(() => undefined);
    this.probeEnded(probe.control);
  }

  /** Tests: make checkpoints of sets from `set` on fail (for runs started after this). */
  failCheckpoints(set: number): void {
    this.current.failCheckpointsFrom = set;
  }

  /** Tests: make every later teacher read spin (only a new worker reads again). */
  stallTeacherReadsFromNow(): void {
    this.current.stallTeacherReads = true;
  }
}

/** An error's text for the page. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The teacher as a LayersModel when it is one (the `auto` student copies its architecture); graph models are not. */
export function asLayersModel(m: unknown): tf.LayersModel | undefined {
  return m instanceof tf.LayersModel ? m : undefined;
}
