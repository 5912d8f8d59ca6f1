/**
 * "Evaluate on labelled data": optional. The user drops MNIST-style IDX files, a CIFAR binary file or a folder of images per class; the
 * worker's evaluation module (src/worker/evaluate.ts) preprocesses them as the teacher declares and reports teacher
 * and student accuracy, per-class accuracy and confusion matrices. The data never reaches CAKE.
 */
import { useEffect, useState, type ChangeEvent, type DragEvent } from 'react';
import { create } from 'zustand';
import type { EvaluationResult, LabelledAccuracy, WireFile } from '../worker/protocol';
import { droppedFiles } from './App';
import { evaluateLabelled } from './actions';
import { formatInt, formatPercent } from './format';
import { useStudio } from './store';

interface EvaluationState {
  status: 'idle' | 'reading' | 'evaluating' | 'ready' | 'error';
  /** The page's copy of the labelled files, re-sent when the teacher or the student changes. */
  files: WireFile[] | null;
  result: EvaluationResult | null;
  error: string | null;
}

export const useEvaluation = create<EvaluationState>()(() => ({ status: 'idle', files: null, result: null, error: null }));

let evalSeq = 0;

async function evaluate(files: WireFile[]): Promise<void> {
  const seq = ++evalSeq;
  useEvaluation.setState({ status: 'evaluating', files, error: null });
  try {
    const result = await evaluateLabelled(files);
    if (seq === evalSeq) useEvaluation.setState({ status: 'ready', result, error: null });
  } catch (e) {
    if (seq === evalSeq) useEvaluation.setState({ status: 'error', result: null, error: (e as Error).message });
  }
}

/** Files from the panel's drop or file dialogs (names may carry folder paths). */
export async function loadLabelledFiles(files: { name: string; file: Blob }[]): Promise<void> {
  if (files.length === 0) {
    useEvaluation.setState({ status: 'error', error: 'No files were given; drop IDX images and labels, a CIFAR binary file, or a folder of images per class.' });
    return;
  }
  useEvaluation.setState({ status: 'reading', error: null });
  try {
    const wire = await Promise.all(files.map(async (f) => ({ name: f.name, data: await f.file.arrayBuffer() })));
    await evaluate(wire);
  } catch (e) {
    useEvaluation.setState({ status: 'error', error: `The files could not be read: ${(e as Error).message}` });
  }
}

function filesFromInput(e: ChangeEvent<HTMLInputElement>) {
  const list = Array.from(e.target.files ?? []);
  e.target.value = '';
  return list.map((f) => ({ name: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name, file: f as Blob }));
}

/** A sentence's first letter capitalised, unless it starts with a file name ("t10k-images-idx3-ubyte.gz holds…"). */
function capitalise(s: string): string {
  return /^[a-z]+(\s|$)/.test(s) ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

function AccuracyCell({ acc, testId }: { acc: LabelledAccuracy; testId: string }) {
  return (
    <td data-testid={testId}>
      {formatPercent(acc.accuracy)}{' '}
      <span className="muted small">
        ({formatInt(acc.correct)} / {formatInt(acc.total)})
      </span>
    </td>
  );
}

function Confusion({ who, acc, classNames }: { who: 'Teacher' | 'Student'; acc: LabelledAccuracy; classNames: string[] }) {
  return (
    <figure className="confusion">
      <figcaption>
        {who} confusion matrix <span className="muted small">rows: true class · columns: predicted</span>
      </figcaption>
      <div className="confusion-scroll">
        <table className="confusion-table" aria-label={`${who} confusion matrix`} data-testid={`confusion-${who.toLowerCase()}`}>
          <thead>
            <tr>
              <th scope="col" className="muted">
                true \ pred
              </th>
              {classNames.map((c, j) => (
                <th scope="col" key={j} title={c}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {acc.confusion.map((row, i) => {
              const total = row.reduce((a, b) => a + b, 0);
              return (
                <tr key={i}>
                  <th scope="row" title={classNames[i]}>
                    {classNames[i]}
                  </th>
                  {row.map((v, j) => {
                    const f = total ? v / total : 0;
                    const hue = i === j ? '47, 140, 80' : '214, 60, 45';
                    return (
                      <td
                        key={j}
                        className={i === j ? 'diag' : undefined}
                        style={v ? { background: `rgba(${hue}, ${(0.12 + 0.78 * f).toFixed(3)})`, color: f > 0.55 ? '#fff' : undefined } : undefined}
                        title={`true ${classNames[i]}, predicted ${classNames[j]}: ${v}`}
                      >
                        {v || ''}
                      </td>
                    );
                  })}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </figure>
  );
}

function Results({ result, studentArch }: { result: EvaluationResult; studentArch?: string }) {
  const { teacher, student, classNames } = result;
  const counts = teacher.confusion.map((row) => row.reduce((a, b) => a + b, 0));
  return (
    <>
      <p className="muted small" data-testid="evaluation-source">
        {formatInt(result.count)} labelled images from {result.source} · {result.imageSize[0]}×{result.imageSize[1]}
        {result.pad ? `, padded by ${result.pad}` : ''}, normalised as the teacher declares
      </p>
      <table className="summary" aria-label="Labelled accuracy">
        <thead>
          <tr>
            <th scope="col" />
            <th scope="col">Teacher</th>
            <th scope="col">Student{studentArch ? ` (${studentArch})` : ''}</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <th scope="row">Accuracy</th>
            <AccuracyCell acc={teacher} testId="eval-teacher-accuracy" />
            {student ? (
              <AccuracyCell acc={student} testId="eval-student-accuracy" />
            ) : (
              <td className="muted" data-testid="eval-student-accuracy">
                after a run
              </td>
            )}
          </tr>
        </tbody>
      </table>
      <div className="confusion-scroll">
        <table className="summary per-class" aria-label="Per-class accuracy">
          <thead>
            <tr>
              <th scope="col">Class</th>
              <th scope="col">Images</th>
              <th scope="col">Teacher</th>
              <th scope="col">Student</th>
            </tr>
          </thead>
          <tbody>
            {classNames.map((c, i) => (
              <tr key={i} data-testid={`per-class-${i}`}>
                <th scope="row">{c}</th>
                <td>{formatInt(counts[i])}</td>
                <td>{teacher.perClass[i] === null ? '—' : formatPercent(teacher.perClass[i]!)}</td>
                <td>{!student ? '' : student.perClass[i] === null ? '—' : formatPercent(student.perClass[i]!)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="confusions">
        <Confusion who="Teacher" acc={teacher} classNames={classNames} />
        {student && <Confusion who="Student" acc={student} classNames={classNames} />}
      </div>
    </>
  );
}

export function EvaluationPanel() {
  const { status, files, result, error } = useEvaluation();
  const card = useStudio((s) => s.teacher.card);
  const teacherReady = useStudio((s) => s.teacher.status === 'ready');
  const workerReady = useStudio((s) => s.workerStatus === 'ready');
  const runResult = useStudio((s) => s.result);
  const [over, setOver] = useState(false);

  // A new teacher, a new student or a restarted worker: measure again on the same data.
  useEffect(() => {
    const f = useEvaluation.getState().files;
    if (f && teacherReady && workerReady) void evaluate(f);
  }, [card, runResult, teacherReady, workerReady]);

  const busy = status === 'reading' || status === 'evaluating';
  const stop = (e: DragEvent) => {
    e.preventDefault();
    e.stopPropagation();
  };

  return (
    <section className="panel evaluation" aria-label="Labelled evaluation">
      <h2>Evaluate on labelled data</h2>
      <div
        className={`dropzone eval-drop ${over ? 'over' : ''}`}
        data-testid="evaluation-dropzone"
        onDragEnter={(e) => {
          stop(e);
          setOver(true);
        }}
        onDragOver={(e) => {
          stop(e);
          e.dataTransfer.dropEffect = 'copy';
        }}
        onDragLeave={(e) => {
          e.stopPropagation();
          setOver(false);
        }}
        onDrop={(e) => {
          stop(e);
          setOver(false);
          void droppedFiles(e.dataTransfer).then(loadLabelledFiles);
        }}
      >
        <p className="dropzone-text">
          Optional. Drop here MNIST-style IDX files (an images file and a labels file, <code>.gz</code> or raw, e.g.{' '}
          <code>t10k-images-idx3-ubyte.gz</code> + <code>t10k-labels-idx1-ubyte.gz</code>), a CIFAR binary file (e.g.{' '}
          <code>test_batch.bin</code>, <code>.gz</code> or raw) or a folder holding one sub-folder of images per
          class (named by class name or index). They are preprocessed as the teacher declares and used only to measure accuracy: they never
          reach CAKE.
        </p>
        <div className="button-row">
          <label className={`button secondary ${busy || !teacherReady ? 'disabled' : ''}`}>
            Choose files…
            <input
              className="visually-hidden"
              type="file"
              multiple
              aria-label="Labelled data files"
              disabled={busy || !teacherReady}
              onChange={(e) => void loadLabelledFiles(filesFromInput(e))}
            />
          </label>
          <label className={`button secondary ${busy || !teacherReady ? 'disabled' : ''}`}>
            Folder…
            <input
              className="visually-hidden"
              type="file"
              aria-label="Labelled data folder"
              disabled={busy || !teacherReady}
              {...{ webkitdirectory: '', directory: '' }}
              onChange={(e) => void loadLabelledFiles(filesFromInput(e))}
            />
          </label>
          {files && !busy && (
            <button
              type="button"
              className="button ghost"
              onClick={() => {
                evalSeq++;
                useEvaluation.setState({ status: 'idle', files: null, result: null, error: null });
              }}
            >
              Clear
            </button>
          )}
        </div>
      </div>

      {!teacherReady && <p className="hint">Load a teacher first; labelled data is preprocessed with its declared preprocessing.</p>}
      {busy && (
        <p className="muted" role="status" data-testid="evaluation-status">
          {status === 'reading' ? 'Reading the files…' : 'Evaluating…'}
        </p>
      )}
      {status === 'error' && error && (
        <div role="alert" className="alert alert-evaluation">
          <span className="alert-icon" aria-hidden="true">
            !
          </span>
          <span className="alert-text">{capitalise(error)}</span>
        </div>
      )}
      {result && status !== 'error' && (
        // While a new run goes on, the worker still holds the previous student: show the student once this run's is done.
        <Results result={runResult ? result : { ...result, student: undefined }} studentArch={runResult?.summary.student.arch} />
      )}
      {!files && status !== 'error' && (
        <p className="hint" data-testid="evaluation-empty">
          Without labelled data, the studio shows the student’s agreement with the teacher on fresh synthetic samples (the “Teacher–student
          agreement” chart under Loss curves, and the Result’s Agreement row).
        </p>
      )}
    </section>
  );
}
