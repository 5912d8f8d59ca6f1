import { EXPORT_FORMATS, FORMAT_ABOUT, type DeployReport, type ExportFormat, type InferenceTime } from '../worker/protocol';
import { downloadFormat } from './actions';
import { useBusy } from './busy';
import { formatBytes, formatPercent } from './format';

// The result's deployment part: the student's other formats to download, and what its tfjs variants weigh, how
// closely they follow the float student and how fast they run against the teacher (measured by the worker after
// the run, src/models/deploy.ts).

const LABELS: Record<ExportFormat, string> = { onnx: 'ONNX', keras: 'Keras .h5', 'tfjs-float16': 'tfjs float16', 'tfjs-uint8': 'tfjs uint8' };

const ms = (v: number) => (Number.isFinite(v) ? (v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2)) : '—');
const times = (t: InferenceTime) => `${ms(t.batch1)} / ${ms(t.batch32)} ms`;
const speedup = (t: InferenceTime) => `${t.batch1.toFixed(1)}× / ${t.batch32.toFixed(1)}×`;

export function DeployPanel({ deploy, teacherBytes }: { deploy?: DeployReport; teacherBytes: number }) {
  const [busy, run] = useBusy<ExportFormat>();
  return (
    <div className="deploy" data-testid="deploy">
      <h3>Deploy</h3>
      <div className="deploy-downloads" role="group" aria-label="Download the student as">
        <span className="muted small">Download as</span>
        {EXPORT_FORMATS.map((f) => (
          <button
            key={f}
            type="button"
            className="button"
            title={FORMAT_ABOUT[f]}
            aria-label={`Download ${LABELS[f]}`}
            disabled={busy !== null}
            onClick={() => run(f, () => downloadFormat(f))}
          >
            {busy === f ? '…' : LABELS[f]}
          </button>
        ))}
      </div>
      {!deploy ? (
        <p className="muted small" data-testid="deploy-measuring">
          Measuring the student’s size, agreement and speed…
        </p>
      ) : (
        <>
          <table className="summary" aria-label="Student variants">
            <thead>
              <tr>
                <th scope="col" />
                <th scope="col">Weights</th>
                <th scope="col">Agreement</th>
                <th scope="col">Time per image (batch 1 / 32)</th>
                <th scope="col">Speed-up</th>
              </tr>
            </thead>
            <tbody>
              <tr>
                <th scope="row">Teacher</th>
                <td>{teacherBytes > 0 ? formatBytes(teacherBytes) : '—'}</td>
                <td className="muted">—</td>
                <td>{times(deploy.teacher.msPerImage)}</td>
                <td className="muted">1×</td>
              </tr>
              {deploy.variants.map((v) => (
                <tr key={v.format} data-testid={`variant-${v.format}`}>
                  <th scope="row">Student, {v.format.replace('-', ' ')}</th>
                  <td>{formatBytes(v.bytes)}</td>
                  <td>{formatPercent(v.agreement)}</td>
                  <td>{times(v.msPerImage)}</td>
                  <td data-testid={`speedup-${v.format}`}>{speedup(v.speedup)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="hint">
            Measured on {deploy.backend}: time per image is the median of timed runs after warm-up, output read-back
            included. Agreement is the top-1 match with the float32 student on {deploy.samples} fresh synthetic samples (one
            more CAKE set it never trained on). Quantized weights are expanded to float32 when tfjs loads them, so the
            variants download smaller but run alike. ONNX and Keras files run outside the browser and are not timed here.
          </p>
        </>
      )}
    </div>
  );
}
