import { memo, useCallback, useEffect, useMemo, useRef } from 'react';
import type { Preprocessing } from '../worker/protocol';
import { drawSample } from './draw';
import { parseDraft } from './preprocessing';
import { formatNum, formatPercent } from './format';
import { useOnScreen, useThrottledSlice } from './throttled';
import { layoutSheet, paintSheet, type SheetSpec, type SheetText } from './sheet';
import { GROUPS_SHOWN, selectSample, useStudio, type SampleSet, type StudioState } from './store';

function usePreprocessing(): Preprocessing {
  const draft = useStudio((s) => s.preprocessing);
  return useMemo(() => parseDraft(draft).value, [draft]);
}

function useClassName(): (c: number) => string {
  const names = useStudio((s) => s.teacher.card?.classNames);
  return useCallback((c: number) => names?.[c] ?? String(c), [names]);
}

/** The teacher's top class and its probability for sample i. */
export function topOf(s: SampleSet, i: number): { cls: number; p: number } {
  let best = 0;
  let p = -Infinity;
  for (let c = 0; c < s.numClasses; c++) {
    const v = s.probs[i * s.numClasses + c];
    if (v > p) {
      p = v;
      best = c;
    }
  }
  return { cls: best, p };
}

function SampleCanvas({ sample, index, pre, size }: { sample: SampleSet; index: number; pre: Preprocessing; size: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (ref.current) drawSample(ref.current, sample.x, index, sample.inputShape, pre);
  }, [sample, index, pre]);
  return <canvas ref={ref} className="sample-canvas" style={{ width: size, height: size }} />;
}

/** Live grid: 48-pixel images with captions and a "G1" column. Gallery: 32-pixel images, "set N / η" column. */
const LIVE_SPEC: SheetSpec = { image: 48, pad: 4, gap: 4, captions: true, label: 28 };
const GALLERY_SPEC: SheetSpec = { image: 32, pad: 1, gap: 4, captions: false, label: 66 };

// The sheet's text colours and font follow the stylesheet; read once (reading computed style can force a style pass).
let sheetStyle: Pick<SheetText, 'font' | 'colors'> | null = null;
function sheetTextStyle(): Pick<SheetText, 'font' | 'colors'> {
  if (sheetStyle) return sheetStyle;
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  sheetStyle = {
    font: css.fontFamily || 'sans-serif',
    colors: { muted: v('--muted', '#6b7280'), faint: v('--faint', '#9ca3af'), ok: v('--ok', '#047857'), bad: v('--bad', '#b42318') },
  };
  return sheetStyle;
}

/** A sheet row: samples `indices` of set `sample`, with its label lines. */
interface Row {
  sample: SampleSet;
  indices: readonly number[];
  label: readonly string[];
}

/**
 * Rows of samples painted into one canvas (see sheet.ts). Over it lies one transparent button per sample, for the
 * click that enlarges it, keyboard focus and the screen-reader label; the buttons have fixed sizes and no content, so
 * a new set changes their labels but never the page's layout.
 */
const SampleSheet = memo(function SampleSheet({
  rows,
  spec,
  pre,
  name,
  label,
}: {
  rows: readonly Row[];
  spec: SheetSpec;
  pre: Preprocessing;
  name: (c: number) => string;
  /** What the sheet holds, for screen readers. */
  label: string;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  const layout = useMemo(() => layoutSheet(rows.map((r) => r.indices.length), spec), [rows, spec]);
  // The teacher's top class of each cell, for the buttons' labels and the painted captions.
  const tops = useMemo(() => layout.cells.map((c) => topOf(rows[c.row].sample, rows[c.row].indices[c.col])), [layout, rows]);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    // Painted in the next animation frame, a task of its own, not inside React's commit; newer rows that arrive
    // first cancel this paint, so a burst of sets costs one paint.
    const frame = requestAnimationFrame(() => {
      const sheetRows = rows.map(({ sample, indices, label }) => ({ x: sample.x, inputShape: sample.inputShape, targets: sample.targets, indices, label }));
      paintSheet(canvas, layout, spec, sheetRows, tops, pre, { ...sheetTextStyle(), name });
    });
    return () => cancelAnimationFrame(frame);
  }, [rows, layout, tops, spec, pre, name]);
  return (
    <div className="sheet" role="group" aria-label={label} style={{ width: layout.width, height: layout.height }}>
      <canvas ref={ref} className="sheet-canvas" style={{ width: layout.width, height: layout.height }} aria-hidden="true" />
      {layout.cells.map((c, k) => {
        const { sample, indices } = rows[c.row];
        const i = indices[c.col];
        const target = sample.targets[i];
        const top = tops[k];
        const text = `Set ${sample.set + 1}, sample ${i + 1}: target ${name(target)}, teacher says ${name(top.cls)} at ${formatPercent(top.p, 0)}`;
        return (
          <button
            key={`${c.row}:${c.col}`}
            type="button"
            className="sample"
            style={{ left: c.x, top: c.y, width: c.w, height: c.h }}
            onClick={() => selectSample(sample, i)}
            aria-label={text}
            title={text}
          />
        );
      })}
    </div>
  );
});

/** `n` consecutive integers from `start`. */
const range = (start: number, n: number) => Array.from({ length: Math.max(0, n) }, (_, k) => start + k);

function LiveGrid({ sample }: { sample: SampleSet }) {
  const pre = usePreprocessing();
  const name = useClassName();
  const groups = Math.ceil(sample.count / sample.groupSize);
  const totalGroups = Math.ceil(sample.batchSize / sample.groupSize);
  const rows = useMemo(
    () =>
      range(0, groups).map((g) => ({
        sample,
        indices: range(g * sample.groupSize, Math.min(sample.groupSize, sample.count - g * sample.groupSize)),
        label: [`G${g + 1}`],
      })),
    [sample, groups],
  );
  return (
    <div>
      <div className="samples-meta">
        Set {sample.set + 1} of {sample.sets} · η {formatNum(sample.eta)} · hit rate {formatPercent(sample.hitRate, 0)}
        {totalGroups > groups && (
          <span className="muted">
            {' '}
            · showing {groups} of {totalGroups} groups
          </span>
        )}
      </div>
      <div className="sample-grid">
        <SampleSheet rows={rows} spec={LIVE_SPEC} pre={pre} name={name} label={`Set ${sample.set + 1}: ${groups} groups of ${sample.groupSize}`} />
      </div>
    </div>
  );
}

/** Samples per gallery row: the first members of the set's first group. */
const GALLERY_SAMPLES = 5;

function Gallery({ sets }: { sets: SampleSet[] }) {
  const pre = usePreprocessing();
  const name = useClassName();
  // Newest first.
  const rows = useMemo(
    () =>
      [...sets].reverse().map((s) => ({ sample: s, indices: range(0, Math.min(s.count, GALLERY_SAMPLES)), label: [`set ${s.set + 1}`, `η ${formatNum(s.eta)}`] })),
    [sets],
  );
  return (
    <div className="gallery">
      <SampleSheet rows={rows} spec={GALLERY_SPEC} pre={pre} name={name} label="Earlier sets by η" />
    </div>
  );
}

/** The sample grids redraw at most this often during a run. */
const SAMPLES_REDRAW_MS = 300;

const pickLive = (s: StudioState) => s.live;
const pickGallery = (s: StudioState) => s.gallery;

export function Samples() {
  const ref = useRef<HTMLElement>(null);
  const onScreen = useOnScreen(ref);
  const live = useThrottledSlice(pickLive, SAMPLES_REDRAW_MS, onScreen);
  const gallery = useThrottledSlice(pickGallery, SAMPLES_REDRAW_MS, onScreen);
  // Read the stylesheet's colours while nothing runs (reading computed style can force a style pass).
  useEffect(() => void sheetTextStyle(), []);
  return (
    <section ref={ref} className="panel samples" role="region" aria-label="Synthetic samples">
      <h2>Synthetic samples</h2>
      {!live ? (
        <p className="muted">Samples appear here as each set finishes: one row per group, each with its target class (→) and the teacher’s top class.</p>
      ) : (
        <div className="samples-layout">
          <div className="samples-live">
            <h3>Current set</h3>
            <LiveGrid sample={live} />
          </div>
          {gallery.length > 0 && (
            <div className="samples-gallery">
              <h3>Earlier sets by η</h3>
              <Gallery sets={gallery} />
            </div>
          )}
        </div>
      )}
      <p className="hint">Click a sample to enlarge it with the teacher’s class probabilities. Up to {GROUPS_SHOWN} groups of each set are shown.</p>
    </section>
  );
}

export function SampleDialog() {
  const selected = useStudio((s) => s.selected);
  const pre = usePreprocessing();
  const name = useClassName();
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!selected) return;
    closeRef.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') selectSample(null);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [selected]);
  if (!selected) return null;
  const { sample, index } = selected;
  const C = sample.numClasses;
  const probs = Array.from(sample.probs.subarray(index * C, (index + 1) * C), (p, c) => ({ c, p }));
  const shown = C > 16 ? [...probs].sort((a, b) => b.p - a.p).slice(0, 16) : probs;
  const target = sample.targets[index];
  const top = topOf(sample, index);
  return (
    <div className="dialog-backdrop" onClick={() => selectSample(null)}>
      <div
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-label={`Sample ${index + 1} of set ${sample.set + 1}`}
        onClick={(e) => e.stopPropagation()}
      >
        <div className="dialog-head">
          <h3>
            Sample {index + 1} · set {sample.set + 1}
          </h3>
          <button ref={closeRef} type="button" className="button ghost" onClick={() => selectSample(null)} aria-label="Close">
            ✕
          </button>
        </div>
        <div className="dialog-body">
          <div>
            <SampleCanvas sample={sample} index={index} pre={pre} size={224} />
            <dl className="facts compact">
              <dt>Target</dt>
              <dd>{name(target)}</dd>
              <dt>Teacher</dt>
              <dd className={top.cls === target ? 'ok' : 'bad'}>
                {name(top.cls)} ({formatPercent(top.p)})
              </dd>
              <dt>η</dt>
              <dd>{formatNum(sample.eta)}</dd>
            </dl>
          </div>
          <div className="prob-bars" aria-label="Teacher's class probabilities">
            <p className="hint">
              {C > 16 ? `Top 16 of ${C} classes. ` : ''}Blue: the target class; dark: the teacher’s top class.
            </p>
            {shown.map(({ c, p }) => (
              <div key={c} className={`prob-row ${c === target ? 'target' : ''} ${c === top.cls ? 'top' : ''}`}>
                <span className="prob-name" title={name(c)}>
                  {name(c)}
                </span>
                <span className="prob-track">
                  <span className="prob-fill" style={{ width: `${Math.max(0, Math.min(1, p)) * 100}%` }} />
                </span>
                <span className="prob-value">{formatPercent(p)}</span>
              </div>
            ))}
          </div>
        </div>
      </div>
    </div>
  );
}
