import { useState } from 'react';
import { downloadStudent } from './actions';
import { useBusy } from './busy';
import { DeployPanel } from './DeployPanel';
import { formatBytes, formatDuration, formatFlops, formatInt, formatPercent } from './format';
import { useStudio } from './store';

export function ResultPanel() {
  const result = useStudio((s) => s.result);
  const [busy, run] = useBusy<'download'>();
  const [includePool, setIncludePool] = useState(false);
  if (!result) return null;
  const { summary, report } = result;
  const ratio = summary.teacher.params > 0 ? summary.student.params / summary.teacher.params : NaN;
  const hinted = report.student.hinted?.length ?? 0;

  return (
    <section className="panel result" aria-labelledby="result-heading">
      <div className="run-head">
        <div>
          <h2 id="result-heading">Result</h2>
          <p className="muted small">
            Student <strong>{summary.student.arch}</strong> · {formatPercent(ratio, 0)} of the teacher’s parameters ·{' '}
            {report.student.init === 'teacher' ? 'started from the teacher’s strongest channels, ' : ''}
            {hinted > 0 ? `learned the teacher’s activations in ${hinted} hidden layer${hinted > 1 ? 's' : ''}, ` : ''}
            trained on{' '}
            {formatInt(report.samples.train)} synthetic samples
          </p>
        </div>
        <button
          type="button"
          className="button primary"
          disabled={busy !== null}
          onClick={() => run('download', () => downloadStudent(includePool))}
        >
          Download student
        </button>
      </div>
      <div className="checkbox pool-option">
        <input id="include-pool" type="checkbox" checked={includePool} onChange={(e) => setIncludePool(e.target.checked)} />
        <label htmlFor="include-pool">Include synthetic pool</label>{' '}
        <span className="muted small" data-testid="pool-size">
          pool.bin, {formatBytes(summary.poolBytes)}
        </span>
      </div>
      {summary.student.note && <p className="hint">{summary.student.note}</p>}
      <table className="summary" aria-label="Teacher and student">
        <thead>
          <tr>
            <th scope="col" />
            <th scope="col">Teacher</th>
            <th scope="col">Student</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <th scope="row">Parameters</th>
            <td>{formatInt(summary.teacher.params)}</td>
            <td>{formatInt(summary.student.params)}</td>
          </tr>
          {report.teacher.flopsPerImage !== undefined && report.student.flopsPerImage !== undefined && (
            <tr>
              <th scope="row">Compute per image</th>
              <td>{formatFlops(report.teacher.flopsPerImage)}</td>
              <td data-testid="student-flops">{formatFlops(report.student.flopsPerImage)}</td>
            </tr>
          )}
          <tr>
            <th scope="row">Weights size</th>
            <td>{summary.teacher.bytes > 0 ? `${formatBytes(summary.teacher.bytes)} (${formatInt(summary.teacher.bytes)} bytes)` : '—'}</td>
            <td>
              {formatBytes(summary.student.bytes)} ({formatInt(summary.student.bytes)} bytes)
            </td>
          </tr>
          <tr>
            <th scope="row">Agreement</th>
            <td className="muted">reference</td>
            <td data-testid="agreement">
              {formatPercent(summary.agreement)} <span className="muted small">top-1 on {formatInt(report.samples.validation)} held-out samples</span>
            </td>
          </tr>
          <tr>
            <th scope="row">Time</th>
            <td className="muted">—</td>
            <td>
              {formatDuration(summary.totalSec)}{' '}
              <span className="muted small">
                (synthesis {formatDuration(summary.synthesisSec)}, student {formatDuration(summary.studentSec)})
              </span>
            </td>
          </tr>
          <tr>
            <th scope="row">Backend</th>
            <td colSpan={2}>
              {summary.backend.name} <span className="muted small">{summary.backend.adapter}</span>
            </td>
          </tr>
        </tbody>
      </table>
      <p className="hint">
        The zip holds <code>model.json</code> and <code>weights.bin</code> (plain <code>tf.loadLayersModel</code> reads them), <code>report.json</code> and{' '}
        <code>settings.json</code>; with the box ticked, also <code>pool.bin</code> (every synthetic sample and its label, read by{' '}
        <code>decodePool</code>).
      </p>
      <DeployPanel deploy={report.deploy} teacherBytes={summary.teacher.bytes} />
    </section>
  );
}
