/**
 * Everything the studio's worker holds between commands (the backend, the teacher, the last result, the run, the
 * estimate's probe, test switches) and the named ways it changes. Command handlers read it and call its transitions;
 * nothing else keeps state in the worker.
 */
import * as tf from '@tensorflow/tfjs';
import type { RunControl } from '../cake';
import type { SyntheticPool } from '../cake/pool';
import type { RunReport } from '../cake/report';
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
}

export interface ActiveRun {
  runId: number;
  control: RunControl;
  /** Its id in the run history. */
  recordId: string;
}

export class Session {
  teacher: SessionTeacher | null = null;
  result: RunResult | null = null;
  run: ActiveRun | null = null;
  probe: { control: RunControl; done: Promise<unknown> } | null = null;
  /** Tests: the first set whose checkpoint fails as a full quota would (`fail-checkpoints`); none when undefined. */
  failCheckpointsFrom: number | undefined;
  private backendReady: Promise<BackendInfo> | null = null;

  constructor(readonly post: Post) {}

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
    this.teacher?.loaded.dispose();
    this.teacher = teacher;
  }

  runStarted(run: ActiveRun): void {
    this.run = run;
    if (this.result) this.result.pool = null;
  }

  runEnded(): void {
    this.run = null;
  }

  /** A finished run's student replaces the previous one, whose tensors are freed. */
  resultReady(result: RunResult): void {
    this.result?.student.dispose();
    this.result = result;
  }

  probeStarted(control: RunControl, done: Promise<unknown>): void {
    this.probe = { control, done };
  }

  /** The probe under `control` ended (unless a newer one replaced it meanwhile). */
  probeEnded(control: RunControl): void {
    if (this.probe?.control === control) this.probe = null;
  }

  /** Stop the estimate's probe, if one is running, and wait until it has let go of the backend. */
  async cancelProbe(): Promise<void> {
    const probe = this.probe;
    if (!probe) return;
    probe.control.cancel();
    await probe.done.catch(() => undefined);
    this.probeEnded(probe.control);
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
