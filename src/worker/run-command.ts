/**
 * Starting a run (`start`) or continuing one from its checkpoint (`resume-checkpoint`), and running it to the end:
 * helpers, checkpoints, the engine through driveRun, the result kept for downloads, and the history updated.
 */
import { CancelledError, RunControl, studentAugments, type CakeConfig, type StudentCheckpoint } from '../cake';
import type { SetSynthesizer } from '../cake/parallel';
import { SyntheticPool } from '../cake/pool';
import type { RunReport } from '../cake/report';
import { exportStudent } from '../io/export';
import { webGpuDeviceLost } from './backend';
import { loadTeacherFiles } from './load-teacher';
import { encodedPoolBytes, type CommandOf, type ResultSummary, type RunOptions, type RunRecord, type TeacherCard, type WireFile } from './protocol';
import { Checkpointer, loadResume, newRecord, postRuns, type ResumePoint } from './run-history';
import { driveRun } from './run-loop';
import { measureAfterRun } from './deploy-command';
import { asLayersModel, errorText, type RunResult, type Session } from './session';
import { createBrowserSetSynthesizer, defaultSynthesisWorkers } from './synth-pool';

/** `start`: a new run on the loaded teacher. Answers with run events; ends with run-done, run-stopped or run-error. */
export async function startRun(session: Session, cmd: CommandOf<'start'>): Promise<void> {
  const { runId } = cmd;
  if (!session.teacher) return session.post({ type: 'run-error', runId, message: 'load a teacher before starting a run' });
  if (session.run) return session.post({ type: 'run-error', runId, message: 'a run is already in progress' });
  const b = await session.backend();
  const teacher = session.teacher;
  const record = newRecord(cmd, teacher.card, b.name);
  await runWith(session, { runId, config: cmd.config, options: cmd.options, record, files: teacher.files, settings: cmd.settings });
}

/**
 * `resume-checkpoint`: reload the checkpoint's teacher and answer with its card, then run on from the checkpoint (run
 * events, as for `start`). When the run cannot be resumed it says why twice: as the request's error (the teacher
 * was not loaded) and as run-error (the run the page started for it failed).
 */
export async function resumeRun(session: Session, cmd: CommandOf<'resume-checkpoint'>): Promise<TeacherCard> {
  const { runId } = cmd;
  const failed = (text: string) => session.post({ type: 'run-error', runId, message: text });
  if (session.run) {
    failed('a run is already in progress');
    throw new Error('a run is already in progress');
  }
  let point: ResumePoint;
  let card: TeacherCard;
  try {
    point = await loadResume(cmd.id);
  } catch (e) {
    failed(`the run could not be resumed: ${errorText(e)}`);
    throw e;
  }
  try {
    card = await loadTeacherFiles(session, cmd.requestId, point.files);
  } catch (e) {
    failed("the run could not be resumed: the checkpoint's teacher could not be loaded");
    throw e;
  }
  const b = await session.backend();
  const record: RunRecord = { ...point.record, status: 'running', backend: b.name, message: undefined };
  void runWith(session, {
    runId,
    config: record.config,
    options: cmd.options,
    record,
    files: null,
    settings: record.settings,
    pool: point.pool,
    studentResume: point.studentResume,
  });
  return card;
}

interface RunArgs {
  runId: number;
  config: CakeConfig;
  options: RunOptions;
  record: RunRecord;
  /** The teacher's files to store with a new run's checkpoint (null when resuming: they are stored already). */
  files: WireFile[] | null;
  settings: unknown;
  pool?: SyntheticPool;
  studentResume?: StudentCheckpoint;
}

async function runWith(session: Session, args: RunArgs): Promise<void> {
  const { runId, record } = args;
  const { post } = session;
  const b = await session.backend();
  const teacher = session.teacher;
  if (!teacher) return post({ type: 'run-error', runId, message: 'load a teacher before starting a run' });
  const control = new RunControl();
  session.runStarted({ runId, control, recordId: record.id });
  const { loaded, card, files } = teacher;
  const checkpoints = new Checkpointer(record, runId, post, session.failCheckpointsFrom);
  const sampleSize = card.inputShape.reduce((x, y) => x * y, 1);
  const pool = args.pool ?? new SyntheticPool(sampleSize, card.numClasses, args.config.synthesis.batchSize);
  const setsLeft = args.config.synthesis.sets - pool.chunks.length;
  let synthesizer: SetSynthesizer | undefined;
  let result: RunResult | undefined;
  // Everything after runStarted sits in the try, so that a failure anywhere ends the run (and frees it) the same way.
  try {
    synthesizer = await synthesisHelpers(b.name, args.options.synthesisWorkers, files, setsLeft, studentAugments(args.config.student));
    post({
      type: 'run-started',
      runId,
      checkpointId: record.id,
      resumedFrom: args.pool ? { setsDone: record.setsDone, epochsDone: record.epochsDone } : undefined,
      synthesisWorkers: synthesizer?.concurrency ?? 1,
    });
    if (record.checkpointing) await checkpoints.begin(args.files);
    void postRuns(post);
    const outcome = await driveRun({
      runId,
      teacher: loaded.teacher,
      teacherModel: asLayersModel(loaded.model),
      teacherParams: card.params,
      logitsFrom: card.logitsFrom,
      config: args.config,
      options: args.options,
      control,
      post,
      pool,
      studentResume: args.studentResume,
      onSetDone: (s) => checkpoints.set(s),
      onStudentCheckpoint: (c) => checkpoints.student(c),
      synthesizer,
    });
    const exported = await exportStudent(outcome.student);
    const report: RunReport = { ...outcome.report, backend: b.name };
    const summary: ResultSummary = {
      backend: b,
      teacher: { params: card.params, bytes: card.weightBytes },
      student: { arch: report.student.arch, params: report.student.params, bytes: exported.weights.byteLength, note: outcome.note },
      agreement: report.studentTraining.agreement,
      poolBytes: encodedPoolBytes(outcome.pool.chunks.length, outcome.pool.chunkSize, outcome.pool.sampleSize, outcome.pool.numClasses),
      synthesisSec: report.timings.synthesisSec,
      studentSec: report.timings.studentSec,
      totalSec: report.timings.totalSec,
    };
    result = {
      student: outcome.student,
      pool: outcome.pool,
      report,
      summary,
      modelJson: exported.modelJson,
      weights: exported.weights,
      teacherInput: { inputName: card.inputName, classNames: card.classNames },
    };
    session.resultReady(result);
    post({ type: 'run-done', runId, report, summary });
    await checkpoints.end(
      'done',
      {
        stage: 'done',
        metrics: {
          agreement: report.studentTraining.agreement,
          trainLoss: report.studentTraining.finalTrainLoss,
          valLoss: report.studentTraining.valLoss,
          studentArch: report.student.arch,
          studentParams: report.student.params,
          studentBytes: exported.weights.byteLength,
          totalSec: report.timings.totalSec,
        },
      },
      { modelJson: exported.modelJson, weights: exported.weights.slice(0), report, settings: args.settings },
    );
  } catch (e) {
    if (e instanceof CancelledError) {
      post({ type: 'run-stopped', runId });
      await checkpoints.end('stopped', { message: 'stopped by the user' });
    } else {
      console.error('cake worker: run failed', e);
      const text = webGpuDeviceLost() ?? errorText(e);
      post({ type: 'run-error', runId, message: text });
      await checkpoints.end(webGpuDeviceLost() ? 'interrupted' : 'failed', { message: text });
    }
  } finally {
    session.runEnded();
    await synthesizer?.dispose();
  }
  // After the run (a new one may start meanwhile): what the student is worth deployed, for the result panel.
  if (result) await measureAfterRun(session, runId, { teacher: loaded.teacher, params: card.params }, result, args.config);
}

/**
 * Helpers for a run on wasm with sets left to make or augmented student batches to label (see synth-pool.ts). None
 * on GPU backends (one device, already parallel) or when one worker is asked for. If helpers cannot start, the run
 * does that work here instead.
 */
async function synthesisHelpers(
  backend: string,
  wanted: number | undefined,
  files: WireFile[],
  setsLeft: number,
  labelsBatches: boolean,
): Promise<SetSynthesizer | undefined> {
  const most = wanted ?? defaultSynthesisWorkers();
  // Sets gain from helpers two or more at a time (this worker only waits for them); labelling gains from one.
  const n = Math.min(most, labelsBatches ? Math.max(1, setsLeft) : setsLeft);
  if (backend !== 'wasm' || most < 2 || n < (labelsBatches ? 1 : 2)) return undefined;
  try {
    return await createBrowserSetSynthesizer(files, n);
  } catch (e) {
    console.warn('cake worker: synthesis helpers could not start; making the sets in this worker', e);
    return undefined;
  }
}
