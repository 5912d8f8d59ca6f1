import { useEffect, useState } from 'react';
import { Charts } from './Charts';
import { EvaluationPanel } from './EvaluationPanel';
import { loadTeacherFiles } from './actions';
import { HistoryPanel } from './HistoryPanel';
import { Header } from './Header';
import { ResultPanel } from './ResultPanel';
import { RunPanel } from './RunPanel';
import { SampleDialog, Samples } from './Samples';
import { SettingsPanel } from './SettingsPanel';
import { dismiss, useStudio } from './store';
import { TeacherPanel } from './TeacherPanel';

interface EntryLike {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  fullPath: string;
  file?: (ok: (f: File) => void, err: (e: unknown) => void) => void;
  createReader?: () => { readEntries: (ok: (entries: EntryLike[]) => void, err: (e: unknown) => void) => void };
}

/** Every file under a dropped entry, with its path relative to the drop. */
async function walk(entry: EntryLike, out: { name: string; file: Blob }[]): Promise<void> {
  if (entry.isFile && entry.file) {
    const file = await new Promise<File>((ok, err) => entry.file!(ok, err));
    out.push({ name: entry.fullPath.replace(/^\//, '') || entry.name, file });
  } else if (entry.isDirectory && entry.createReader) {
    const reader = entry.createReader();
    // readEntries returns at most ~100 entries per call; read until empty.
    for (;;) {
      const batch = await new Promise<EntryLike[]>((ok, err) => reader.readEntries(ok, err));
      if (batch.length === 0) break;
      for (const e of batch) await walk(e, out);
    }
  }
}

export async function droppedFiles(dt: DataTransfer): Promise<{ name: string; file: Blob }[]> {
  const entries: EntryLike[] = [];
  for (const item of Array.from(dt.items ?? [])) {
    const entry = (item as unknown as { webkitGetAsEntry?: () => EntryLike | null }).webkitGetAsEntry?.() ?? null;
    if (entry) entries.push(entry);
  }
  if (entries.length > 0) {
    const out: { name: string; file: Blob }[] = [];
    for (const e of entries) await walk(e, out);
    return out;
  }
  return Array.from(dt.files).map((f) => ({ name: f.name, file: f }));
}

function useFileDrop(): boolean {
  const [dragging, setDragging] = useState(false);
  useEffect(() => {
    let depth = 0;
    const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth++;
      setDragging(true);
    };
    const leave = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const over = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e) || !e.dataTransfer) return;
      e.preventDefault();
      depth = 0;
      setDragging(false);
      const dt = e.dataTransfer;
      void droppedFiles(dt).then((files) => loadTeacherFiles(files));
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragleave', leave);
    window.addEventListener('dragover', over);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('dragover', over);
      window.removeEventListener('drop', drop);
    };
  }, []);
  return dragging;
}

function Alerts() {
  const alerts = useStudio((s) => s.alerts);
  if (alerts.length === 0) return null;
  return (
    <div className="alerts">
      {alerts.map((a) => (
        <div key={a.id} role="alert" className={`alert alert-${a.scope}`}>
          <span className="alert-icon" aria-hidden="true">
            !
          </span>
          <span className="alert-text">{a.message}</span>
          <button type="button" className="alert-close" aria-label="Dismiss" onClick={() => dismiss(a.id)}>
            ✕
          </button>
        </div>
      ))}
    </div>
  );
}

export function App() {
  const dragging = useFileDrop();
  return (
    <div className="app">
      <Header />
      <div className="layout">
        <aside className="sidebar">
          <TeacherPanel />
          <SettingsPanel />
        </aside>
        <main className="main">
          <Alerts />
          <RunPanel />
          <ResultPanel />
          <EvaluationPanel />
          <HistoryPanel />
          <Charts />
          <Samples />
        </main>
      </div>
      <footer className="footer">
        Everything runs in this browser tab: the teacher, the synthetic samples and the student never leave your machine.
      </footer>
      <SampleDialog />
      {dragging && (
        <div className="drop-overlay" aria-hidden="true">
          <div className="drop-card">Drop to load the teacher</div>
        </div>
      )}
    </div>
  );
}
