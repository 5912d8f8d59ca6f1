import { BACKEND_CHOICES, type BackendChoice } from '../worker/protocol';
import { chooseBackend } from './actions';
import { isRunActive, useStudio } from './store';

const CHOICE_LABELS: Record<BackendChoice, string> = {
  auto: 'Automatic',
  webgpu: 'WebGPU',
  wasm: 'WebAssembly',
  webgl: 'WebGL',
  cpu: 'CPU (plain JS)',
};

export function Header() {
  const backend = useStudio((s) => s.backend);
  const workerStatus = useStudio((s) => s.workerStatus);
  const choice = useStudio((s) => s.backendChoice);
  const running = useStudio((s) => isRunActive(s.run.status));

  return (
    <header className="header">
      <div className="brand">
        <div className="logo" aria-hidden="true">
          <svg viewBox="0 0 32 32" width="30" height="30">
            <rect x="3" y="14" width="26" height="13" rx="3" fill="#f4c9a7" />
            <rect x="3" y="14" width="26" height="5" rx="2" fill="#e9a07a" />
            <path d="M16 5 q2 3 0 6 q-2 -3 0 -6z" fill="#e4572e" />
            <rect x="15.2" y="10" width="1.6" height="4" fill="#7a5230" />
          </svg>
        </div>
        <div>
          <h1>CAKE Studio</h1>
          <p className="tagline">Distil an image classifier into a smaller student without its training data, entirely in this tab.</p>
        </div>
      </div>
      <div className="backend" aria-live="polite">
        <div className="backend-status">
          {backend ? (
            <>
              <span className={`dot ${backend.name}`} aria-hidden="true" />
              <span className="backend-name">Backend: {backend.name}</span>
              <span className="backend-adapter" title={backend.note ?? backend.adapter}>
                {backend.adapter}
              </span>
            </>
          ) : (
            <span className="backend-name muted">{workerStatus === 'failed' ? 'No backend available' : 'Starting the worker…'}</span>
          )}
        </div>
        <label className="backend-select">
          <span>Backend</span>
          <select
            value={choice}
            disabled={running}
            onChange={(e) => chooseBackend(e.target.value as BackendChoice)}
            aria-label="Backend"
          >
            {BACKEND_CHOICES.map((c) => (
              <option key={c} value={c}>
                {CHOICE_LABELS[c]}
              </option>
            ))}
          </select>
        </label>
      </div>
    </header>
  );
}
