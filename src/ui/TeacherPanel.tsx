import { useId, useRef, type ChangeEvent } from 'react';
import { cancelTeacherLoad, loadDemoTeacher, loadTeacherFiles } from './actions';
import { choiceOf, parseDraft, PREPROCESSING_CHOICES, type PreprocessingChoice } from './preprocessing';
import { formatBytes, formatFlops, formatInt, formatPercent, formatShape } from './format';
import { isRunActive, preprocessingChosen, preprocessingEdited, useStudio } from './store';

function filesFromInput(e: ChangeEvent<HTMLInputElement>) {
  const list = Array.from(e.target.files ?? []);
  e.target.value = '';
  return list.map((f) => ({ name: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name, file: f as Blob }));
}

/** The teacher formats the studio reads, as the card names them. */
export const FORMAT_WORDS: Record<string, string> = {
  'tfjs-layers': 'TensorFlow.js layers model',
  'tfjs-graph': 'TensorFlow.js graph model',
  'keras-h5': 'Keras HDF5 (.h5)',
  keras: 'Keras 3 (.keras)',
  onnx: 'ONNX',
};

/** What the file inputs accept: every format's files, zips and text side files; weight shards often have no extension,
 * which application/octet-stream covers (and file dialogs always offer "All files"). */
export const TEACHER_ACCEPT = '.json,.bin,.h5,.hdf5,.keras,.onnx,.data,.zip,.txt,application/octet-stream';

const OUTPUT_WORDS: Record<string, string> = {
  logits: 'logits',
  probabilities: 'probabilities (softmax)',
};

function logitsNote(from: string | undefined): string | null {
  if (!from || from === 'logits') return null;
  if (from === 'log-probabilities') return 'CAKE uses log-probabilities as logits';
  return `CAKE uses the pre-softmax output (${from.replace(/-/g, ' ')})`;
}

export function TeacherPanel() {
  const teacher = useStudio((s) => s.teacher);
  const running = useStudio((s) => isRunActive(s.run.status));
  const ready = useStudio((s) => s.workerStatus === 'ready');
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const card = teacher.card;
  // A load in progress does not lock these: another file or the demo replaces it (a damaged file may never finish).
  const busy = running;

  return (
    <section className="panel teacher-panel" aria-labelledby="teacher-heading">
      <h2 id="teacher-heading">Teacher</h2>
      <div className={`dropzone ${card ? 'compact' : ''}`}>
        {!card && (
          <p className="dropzone-text">
            Drop a model anywhere on the page: <code>model.json</code> with its weight shards (TensorFlow.js layers or graph),
            a Keras <code>.h5</code>/<code>.hdf5</code>/<code>.keras</code> file, an <code>.onnx</code> file (with its{' '}
            <code>.data</code> file), a folder, or a <code>.zip</code>.
          </p>
        )}
        <div className="button-row">
          <label className={`button secondary ${busy ? 'disabled' : ''}`}>
            Choose files…
            <input
              ref={fileInput}
              className="visually-hidden"
              type="file"
              multiple
              accept={TEACHER_ACCEPT}
              aria-label="Teacher model files"
              disabled={busy}
              onChange={(e) => void loadTeacherFiles(filesFromInput(e))}
            />
          </label>
          <label className={`button secondary ${busy ? 'disabled' : ''}`}>
            Folder…
            <input
              ref={folderInput}
              className="visually-hidden"
              type="file"
              aria-label="Teacher model folder"
              disabled={busy}
              {...{ webkitdirectory: '', directory: '' }}
              onChange={(e) => void loadTeacherFiles(filesFromInput(e))}
            />
          </label>
          <button type="button" className="button secondary" disabled={busy || !ready} onClick={() => void loadDemoTeacher()}>
            Use demo teacher
          </button>
        </div>
      </div>

      {teacher.status === 'loading' && (
        <div className="loading" role="status">
          <div className="loading-text">
            {teacher.phase ?? 'Loading'}
            {teacher.loading ? <span className="muted"> · {teacher.loading.source}</span> : null}
          </div>
          <div className="loading-bar">
            <progress max={1} value={teacher.fraction ?? 0} aria-label="Teacher loading progress" />
            {teacher.loading?.cancellable && (
              <button type="button" className="button secondary" onClick={cancelTeacherLoad}>
                Cancel
              </button>
            )}
          </div>
        </div>
      )}

      {teacher.notice && teacher.status !== 'loading' && (
        <p className="teacher-notice" role="alert" data-testid="teacher-notice">
          {teacher.notice}
        </p>
      )}

      {card && (
        <div className="teacher-card" aria-label="Teacher card">
          {teacher.source && <div className="teacher-source">{teacher.source}</div>}
          <dl className="facts">
            <dt>Format</dt>
            <dd data-testid="teacher-format">{FORMAT_WORDS[card.format] ?? card.format}</dd>
            <dt>Input shape</dt>
            <dd>
              <span data-testid="teacher-input-shape">{formatShape(card.inputShape)}</span> <span className="muted">{card.layout}</span>
            </dd>
            <dt>Classes</dt>
            <dd>
              <span data-testid="teacher-classes">{card.numClasses}</span>
              {card.classNames && (
                <div className="class-names" title={card.classNames.join(', ')}>
                  {card.classNames.slice(0, 24).map((n, i) => (
                    <span key={i} className="chip">
                      {n}
                    </span>
                  ))}
                  {card.classNames.length > 24 && <span className="muted">+{card.classNames.length - 24} more</span>}
                </div>
              )}
            </dd>
            <dt>Parameters</dt>
            <dd>
              {formatInt(card.params)}
              {card.weightBytes > 0 && <span className="muted"> · {formatBytes(card.weightBytes)}</span>}
            </dd>
            {card.flopsPerImage !== undefined && card.flopsPerImage > 0 && (
              <>
                <dt>Compute</dt>
                <dd data-testid="teacher-flops">{formatFlops(card.flopsPerImage)} per image</dd>
              </>
            )}
            <dt>Output</dt>
            <dd>
              {OUTPUT_WORDS[card.outputKind] ?? card.outputKind}
              {logitsNote(card.logitsFrom) && <div className="muted small">{logitsNote(card.logitsFrom)}</div>}
            </dd>
            <dt>Gradients</dt>
            <dd className={card.gradientCheck.ok ? 'ok' : 'bad'}>
              {card.gradientCheck.ok ? '✓ ' : '✗ '}
              {card.gradientCheck.message}
            </dd>
            {card.metadata?.dataset && (
              <>
                <dt>Trained on</dt>
                <dd>
                  {card.metadata.dataset}
                  {card.metadata.testAccuracy !== undefined && (
                    <span className="muted"> · test accuracy {formatPercent(card.metadata.testAccuracy, 2)}</span>
                  )}
                </dd>
              </>
            )}
          </dl>
          <PreprocessingEditor channels={channelsOf(card.inputShape)} from={card.preprocessingFrom} />
        </div>
      )}
    </section>
  );
}

function channelsOf(shape: number[]): number {
  if (shape.length < 3) return 1;
  const last = shape[shape.length - 1];
  if (last <= 4) return last;
  return shape[0] <= 4 ? shape[0] : 1;
}

function PreprocessingEditor({ channels, from }: { channels: number; from?: string }) {
  const draft = useStudio((s) => s.preprocessing);
  const parsed = parseDraft(draft);
  const choice = choiceOf(draft);
  const id = useId();
  const sourceText =
    draft.source === 'metadata'
      ? `from ${from ?? 'the metadata'}`
      : draft.source === 'guess'
        ? 'a guess: check it'
        : draft.source === 'user'
          ? 'chosen by you'
          : 'not declared: pick one';

  return (
    <details className="preprocessing" open={draft.source !== 'metadata'}>
      <summary>
        Input preprocessing <span className="muted small" data-testid="preprocessing-source">({sourceText})</span>
      </summary>
      {draft.source === 'guess' && from && <p className="hint">Guessed from {from}.</p>}
      {draft.source === 'default' && (
        <p className="hint">
          The file does not say how pixels became inputs. Samples are drawn as pixel / 255 and the run keeps to its
          range-free defaults; picking the teacher&apos;s preprocessing lets the run draw samples and augment within its real range.
        </p>
      )}
      <p className="hint">input = (pixel · scale − mean) / std. Your choice is remembered for this teacher and used by the next run.</p>
      <div className="field">
        <label htmlFor={`${id}-choice`}>Preprocessing</label>
        <select
          id={`${id}-choice`}
          value={choice}
          onChange={(e) => {
            const v = e.target.value as PreprocessingChoice;
            if (v !== 'custom') preprocessingChosen(v);
          }}
        >
          {PREPROCESSING_CHOICES.map((c) => (
            <option key={c.id} value={c.id}>
              {c.label}
            </option>
          ))}
          <option value="custom">Custom (the fields below)</option>
        </select>
      </div>
      <div className="grid-2">
        {(['scale', 'mean', 'std'] as const).map((k) => (
          <div key={k} className={`field ${parsed.errors[k] ? 'invalid' : ''}`}>
            <label htmlFor={`${id}-${k}`}>{k === 'scale' ? 'Pixel scale' : k === 'mean' ? 'Mean' : 'Std'}</label>
            <input
              id={`${id}-${k}`}
              type="text"
              inputMode="decimal"
              value={draft[k]}
              aria-invalid={Boolean(parsed.errors[k])}
              aria-describedby={parsed.errors[k] ? `${id}-${k}-err` : undefined}
              onChange={(e) => preprocessingEdited({ [k]: e.target.value })}
            />
            {parsed.errors[k] && (
              <p id={`${id}-${k}-err`} className="field-error">
                {parsed.errors[k]}
              </p>
            )}
          </div>
        ))}
        <div className="field">
          <label htmlFor={`${id}-order`}>Channel order</label>
          <select
            id={`${id}-order`}
            value={draft.channelOrder}
            disabled={channels < 3}
            onChange={(e) => preprocessingEdited({ channelOrder: e.target.value as 'rgb' | 'bgr' })}
          >
            <option value="rgb">RGB</option>
            <option value="bgr">BGR</option>
          </select>
        </div>
      </div>
    </details>
  );
}
