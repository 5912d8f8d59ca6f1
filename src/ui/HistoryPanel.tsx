import { deleteRun, downloadRun, resumeFromCheckpoint } from './actions';
import { formatBytes, formatDateTime, formatDuration, formatInt, formatPercent } from './format';
import { isRunActive, useStudio } from './store';
import { resumable, type RunRecord } from '../worker/protocol';

const STATUS_WORDS: Record<RunRecord['status'], string> = {
  running: 'running',
  interrupted: 'interrupted',
  done: 'finished',
  failed: 'failed',
  stopped: 'stopped',
};

function where(r: RunRecord): string {
  const c = r.config;
  if (r.stage === 'done') return 'complete';
  if (r.stage === 'student') return `epoch ${r.epochsDone} of ${c.student.epochs} saved`;
  return `set ${r.setsDone} of ${c.synthesis.sets} saved`;
}

function settingsLine(r: RunRecord): string {
  const s = r.config.synthesis;
  const st = r.config.student;
  return `${r.preset} · seed ${r.seed} · ${s.sets}×${s.steps}×${s.batchSize} · ${st.arch}, ${st.epochs} epochs · ${r.backend}`;
}

/** Past and interrupted runs: resume, re-download, delete. */
export function HistoryPanel() {
  const runs = useStudio((s) => s.runs);
  const active = useStudio((s) => isRunActive(s.run.status));
  const currentId = useStudio((s) => s.run.checkpoint?.id);
  const ready = useStudio((s) => s.workerStatus === 'ready');
  if (runs.length === 0) return null;
  return (
    <section className="panel history" aria-labelledby="history-heading">
      <h2 id="history-heading">Runs</h2>
      <ul className="run-list" aria-label="Run history">
        {runs.map((r) => {
          const current = active && r.id === currentId;
          return (
            <li key={r.id} className={`run-item run-${r.status}`} data-testid="run-item" data-run-id={r.id}>
              <div className="run-item-head">
                <strong>{formatDateTime(r.createdAt)}</strong>{' '}
                <span className={`chip status-${r.status}`} data-testid="run-item-status">
                  {current ? 'running now' : STATUS_WORDS[r.status]}
                </span>{' '}
                <span className="muted small">{r.teacher.source}</span>
              </div>
              <div className="muted small">{settingsLine(r)}</div>
              <div className="small">
                {r.metrics ? (
                  <>
                    {r.metrics.studentArch}, {formatInt(r.metrics.studentParams)} parameters ({formatBytes(r.metrics.studentBytes)}) · agreement{' '}
                    {formatPercent(r.metrics.agreement)} · train loss {r.metrics.trainLoss.toFixed(3)} · {formatDuration(r.metrics.totalSec)}
                  </>
                ) : (
                  <>
                    {where(r)}
                    {r.message ? ` · ${r.message}` : ''}
                  </>
                )}
              </div>
              <div className="button-row">
                {!current && resumable(r) && (
                  <button type="button" className="button primary" disabled={active || !ready} onClick={() => void resumeFromCheckpoint(r.id)}>
                    Resume from checkpoint
                  </button>
                )}
                {r.status === 'done' && (
                  <button type="button" className="button secondary" onClick={() => void downloadRun(r)}>
                    Download
                  </button>
                )}
                {!current && (
                  <button type="button" className="button secondary" aria-label={`Delete run of ${formatDateTime(r.createdAt)}`} onClick={() => void deleteRun(r.id)}>
                    Delete
                  </button>
                )}
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
