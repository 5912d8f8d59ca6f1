import { memo, startTransition, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Preprocessing } from '../worker/protocol';
import { drawSample, parseDraft } from './draw';
import { formatNum, formatPercent } from './format';
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

const SampleCell = memo(function SampleCell({
  sample,
  index,
  pre,
  name,
  size,
}: {
  sample: SampleSet;
  index: number;
  pre: Preprocessing;
  name: (c: number) => string;
  size: number;
}) {
  const target = sample.targets[index];
  const top = topOf(sample, index);
  const hit = top.cls === target;
  return (
    <button
      type="button"
      className={`sample ${hit ? 'hit' : 'miss'}`}
      onClick={() => selectSample(sample, index)}
      aria-label={`Sample ${index + 1}: target ${name(target)}, teacher says ${name(top.cls)} at ${formatPercent(top.p, 0)}`}
    >
      <SampleCanvas sample={sample} index={index} pre={pre} size={size} />
      <span className="sample-caption">
        <span className="target" title="target class">
          → {name(target)}
        </span>
        <span className="top" title="the teacher's top class and probability">
          {name(top.cls)} {Math.round(top.p * 100)}%
        </span>
      </span>
    </button>
  );
});

function LiveGrid({ sample }: { sample: SampleSet }) {
  const pre = usePreprocessing();
  const name = useClassName();
  const groups = Math.ceil(sample.count / sample.groupSize);
  const totalGroups = Math.ceil(sample.batchSize / sample.groupSize);
  const rows = [];
  for (let g = 0; g < groups; g++) {
    const cells = [];
    for (let k = 0; k < sample.groupSize && g * sample.groupSize + k < sample.count; k++) {
      const i = g * sample.groupSize + k;
      cells.push(<SampleCell key={i} sample={sample} index={i} pre={pre} name={name} size={48} />);
    }
    rows.push(
      <div key={g} className="group-row" role="group" aria-label={`Group ${g + 1}`}>
        <span className="group-label">G{g + 1}</span>
        {cells}
      </div>,
    );
  }
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
      <div className="sample-grid">{rows}</div>
    </div>
  );
}

function Gallery({ sets }: { sets: SampleSet[] }) {
  const pre = usePreprocessing();
  const name = useClassName();
  return (
    <div className="gallery" aria-label="Earlier sets by η">
      {sets.map((s) => (
        <div key={s.set} className="gallery-row">
          <div className="gallery-label">
            <span>set {s.set + 1}</span>
            <span className="muted">η {formatNum(s.eta)}</span>
          </div>
          <div className="gallery-samples">
            {Array.from({ length: Math.min(s.count, GALLERY_SAMPLES) }, (_, i) => (
              <SampleCell key={i} sample={s} index={i} pre={pre} name={name} size={32} />
            ))}
          </div>
        </div>
      ))}
    </div>
  );
}

/**
 * A store slice that re-renders this component in a transition: React may then split the (largish) render of a new
 * sample grid into slices instead of one long task. (zustand's own hook always renders synchronously.)
 */
function useTransitionedSlice<T>(pick: (s: StudioState) => T): T {
  const [value, setValue] = useState(() => pick(useStudio.getState()));
  useEffect(
    () =>
      useStudio.subscribe((s, prev) => {
        const next = pick(s);
        if (next !== pick(prev)) startTransition(() => setValue(next));
      }),
    [pick],
  );
  return value;
}

/** Samples per gallery row: the first members of the set's first group. */
const GALLERY_SAMPLES = 5;

const pickLive = (s: StudioState) => s.live;
const pickGallery = (s: StudioState) => s.gallery;

export function Samples() {
  const live = useTransitionedSlice(pickLive);
  const gallery = useTransitionedSlice(pickGallery);
  return (
    <section className="panel samples" role="region" aria-label="Synthetic samples">
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
              <Gallery sets={[...gallery].reverse()} />
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
