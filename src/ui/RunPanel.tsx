import { useMemo } from 'react';
import { pauseRun, resumeRun, startRun, stopRun } from './actions';
import { formatBytes, formatDuration, formatInt, formatNum, formatPercent } from './format';
import { resolveSettings } from './settings';
import { isRunActive, traitsOf, useStudio, type CheckpointState } from './store';

const STATUS_TEXT: Record<string, string> = {
  idle: 'Ready when you are',
  starting: 'Starting…',
  running: 'Running',
  paused: 'Paused',
  stopping: 'Stopping…',
  done: 'Finished',
  stopped: 'Stopped',
  error: 'Failed',
};

function Bar({ value, label }: { value: number; label: string }) {
  const v = Number.isFinite(value) ? Math.max(0, Math.min(1, value)) : 0;
  return (
    <div className="bar" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(v * 100)}>
      <div className="bar-fill" style={{ transform: `scaleX(${v})` }} />
    </div>
  );
}

/** Where the run's checkpoint stands: saved after every set and every epoch. */
export function checkpointText(cp: CheckpointState | undefined, resumedFrom?: { setsDone: number; epochsDone: number }): string | null {
  if (!cp) return null;
  if (!cp.active) return 'Checkpoints: off for this run';
  const resumed = resumedFrom ? ` · resumed from ${resumedFrom.epochsDone > 0 ? `epoch ${resumedFrom.epochsDone}` : `set ${resumedFrom.setsDone}`}` : '';
  if (cp.epochsDone > 0) return `Checkpoint saved: epoch ${cp.epochsDone} of ${cp.epochs || '?'}${resumed}`;
  if (cp.setsDone > 0) return `Checkpoint saved: set ${cp.setsDone} of ${cp.sets || '?'}${resumed}`;
  return `Checkpoints: after every set and every epoch${resumed}`;
}

function CheckpointLine() {
  const run = useStudio((s) => s.run);
  const storage = useStudio((s) => s.storage);
  const text = checkpointText(run.checkpoint, run.resumedFrom);
  if (!text) return null;
  return (
    <p className="hint checkpoint" data-testid="checkpoint-status">
      {text}
      {storage && run.checkpoint?.active && (
        <span className="muted small">
          {' '}
          · needs {formatBytes(storage.needed)}
          {storage.available !== undefined ? ` of ${formatBytes(storage.available)} free` : ''}
        </span>
      )}
    </p>
  );
}

export function RunPanel() {
  const run = useStudio((s) => s.run);
  const teacher = useStudio((s) => s.teacher);
  const settings = useStudio((s) => s.settings);
  const preprocessing = useStudio((s) => s.preprocessing);
  const workerReady = useStudio((s) => s.workerStatus === 'ready');
  const valid = useMemo(() => resolveSettings(settings, traitsOf({ teacher, preprocessing })).valid, [settings, teacher, preprocessing]);
  const active = isRunActive(run.status);
  const canStart = !active && workerReady && teacher.status === 'ready' && valid;
  const syn = run.synthesis;
  const stu = run.student;
  const latest = run.latest;

  const startHint =
    teacher.status !== 'ready' ? 'Load a teacher first.' : !valid ? 'Fix the invalid settings first.' : !workerReady ? 'The worker is starting.' : null;

  return (
    <section className="panel run-panel" aria-labelledby="run-heading">
      <div className="run-head">
        <div>
          <h2 id="run-heading">Run</h2>
          <div className={`status status-${run.status}`} data-testid="run-status">
            {STATUS_TEXT[run.status]}
            {run.status === 'error' && run.message ? `: ${run.message}` : ''}
          </div>
        </div>
        <div className="button-row">
          {!active && (
            <button type="button" className="button primary" disabled={!canStart} onClick={startRun} title={startHint ?? undefined}>
              Start
            </button>
          )}
          {run.status === 'running' && (
            <button type="button" className="button secondary" onClick={pauseRun}>
              Pause
            </button>
          )}
          {run.status === 'paused' && (
            <button type="button" className="button primary" onClick={resumeRun}>
              Resume
            </button>
          )}
          {active && (
            <button type="button" className="button danger" disabled={run.status === 'stopping'} onClick={stopRun}>
              Stop
            </button>
          )}
        </div>
      </div>
      {!active && startHint && run.status === 'idle' && <p className="hint">{startHint}</p>}
      <CheckpointLine />

      {(syn || stu) && (
        <div className="stages">
          <div className={`stage ${latest?.stage === 'synthesis' ? 'current' : ''}`}>
            <div className="stage-title">
              <span>Synthesis</span>
              {syn && (
                <span className="stage-detail" data-testid="synthesis-progress">
                  set {syn.set + 1} of {syn.sets} · step {syn.step} of {syn.steps}
                  {(run.synthesisWorkers ?? 1) > 1 && <span data-testid="synthesis-workers"> · {run.synthesisWorkers} sets at once</span>}
                </span>
              )}
            </div>
            <Bar
              label="Synthesis progress"
              value={syn ? (syn.set * syn.steps + syn.step) / Math.max(1, syn.sets * syn.steps) : 0}
            />
            {syn && (
              <div className="stage-stats">
                <span>η {formatNum(syn.eta)}</span>
                <span>loss {formatNum(syn.losses.total)}</span>
                <span>hit rate {formatPercent(syn.hitRate, 0)}</span>
              </div>
            )}
          </div>
          <div className={`stage ${latest?.stage === 'student' ? 'current' : ''}`}>
            <div className="stage-title">
              <span>Student</span>
              {stu ? (
                <span className="stage-detail" data-testid="student-progress">
                  epoch {stu.epoch + 1} of {stu.epochs} · step {stu.step} of {stu.stepsPerEpoch}
                </span>
              ) : (
                <span className="stage-detail muted">waits for the synthetic pool</span>
              )}
            </div>
            <Bar
              label="Student progress"
              value={stu ? (stu.epoch * stu.stepsPerEpoch + stu.step) / Math.max(1, stu.epochs * stu.stepsPerEpoch) : 0}
            />
            {stu && (
              <div className="stage-stats">
                <span>loss {formatNum(stu.loss)}</span>
                <span>lr {formatNum(stu.lr)}</span>
                {run.lastEpoch && <span>agreement {formatPercent(run.lastEpoch.valAgreement)}</span>}
              </div>
            )}
          </div>
          {latest && (
            <div className="overall">
              <Bar label="Overall progress" value={run.status === 'done' ? 1 : latest.fraction} />
              <div className="stage-stats">
                <span>{formatPercent(run.status === 'done' ? 1 : latest.fraction, 0)} done</span>
                <span>{formatInt(latest.samplesPerSec)} samples/s</span>
                <span>elapsed {formatDuration(latest.elapsedSec)}</span>
                {active && <span data-testid="eta">ETA {formatDuration(latest.remainingSec)}</span>}
              </div>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
