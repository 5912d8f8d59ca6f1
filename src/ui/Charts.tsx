import { memo, useMemo, useRef, type ReactNode, type RefObject } from 'react';
import { CartesianGrid, Line, type BaseTickContentProps, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatNum } from './format';
import { thin, type EpochPoint, type History, type StudentPoint, type SynthPoint } from './history';
import { formatPower, linearAxis, logAxis } from './scales';
import type { StudioState } from './store';
import { useOnScreen, useThrottledSlice } from './throttled';

/**
 * Points drawn per line: the store keeps up to 2000 per series, but a recharts update costs time in proportion to
 * the points drawn, and a 400-pixel-wide chart shows no more detail than this.
 */
const DRAWN = 100;
/** Each chart redraws at most this often (the store updates up to ten times a second). */
const REDRAW_MS = 1000;

/**
 * A chart's points: the store's history slice, refreshed at most once per `REDRAW_MS` and only while the chart is on
 * screen, with each chart on its own phase so no two charts redraw in the same task (a recharts redraw is the most
 * expensive thing the page does during a run). Thinned for drawing and in x order: with synthesis helpers, progress
 * from two sets arrives interleaved.
 */
function useChartPoints<T extends { x: number } | { epoch: number }>(pick: (h: History) => readonly T[], visible: boolean, phaseMs: number): T[] {
  const select = useMemo(() => (s: StudioState) => pick(s.history), [pick]);
  const points = useThrottledSlice(select, REDRAW_MS, visible, phaseMs);
  return useMemo(() => {
    const at = (p: T) => ('x' in p ? p.x : p.epoch);
    // A copy: thin() hands back the store's own array when it is short enough.
    return [...thin(points, DRAWN)].sort((a, b) => at(a) - at(b));
  }, [points]);
}

/**
 * While a chart has no data it draws these placeholder points under its "Waiting for data…" cover, so that the first
 * real data is an update of existing lines (a few milliseconds) rather than their creation in the middle of a run.
 */
const SYNTH_PLACEHOLDER: SynthPoint[] = [0, 1, 2].map((x) => ({ x, total: 10, cls: 1, contr: 1, tv: 1, entropy: 0, eta: 0.1, hit: 0.5 }));
const STUDENT_PLACEHOLDER: StudentPoint[] = [0, 1, 2].map((x) => ({ x, loss: 1, lr: 0.1 }));
const EPOCH_PLACEHOLDER: EpochPoint[] = [1, 2].map((epoch) => ({ epoch, agreement: 0.5, valLoss: 1, trainLoss: 1 }));

const pickSynth = (h: History) => h.synth.points;
const pickStudent = (h: History) => h.student.points;
const pickEpochs = (h: History) => h.epochs.points;

const positive = (v: number) => (Number.isFinite(v) && v > 0 ? v : null);
const finite = (v: number) => (Number.isFinite(v) ? v : null);

const COLORS = {
  total: '#1f2937',
  cls: '#2563eb',
  contr: '#d97706',
  tv: '#059669',
  entropy: '#9333ea',
  eta: '#dc2626',
  hit: '#0891b2',
  loss: '#2563eb',
  lr: '#d97706',
  agreement: '#059669',
  valLoss: '#9333ea',
};

function ChartCard({
  cardRef,
  title,
  subtitle,
  empty,
  legend,
  children,
}: {
  cardRef: RefObject<HTMLElement | null>;
  title: string;
  subtitle: string;
  empty: boolean;
  legend: [string, string][];
  children: ReactNode;
}) {
  return (
    <figure className="chart-card" ref={cardRef}>
      <figcaption>
        <span className="chart-title">{title}</span>
        <span className="chart-subtitle">{subtitle}</span>
      </figcaption>
      {/* The chart stays mounted (on placeholder data) while empty: mounting a recharts chart is far costlier than
          updating one, so that cost is paid when the page loads rather than mid-run. */}
      <div className="chart-body">
        {children}
        {empty && <div className="chart-empty">Waiting for data…</div>}
      </div>
      <ul className="chart-legend">
        {legend.map(([name, color]) => (
          <li key={name}>
            <span className="swatch" style={{ background: color }} />
            {name}
          </li>
        ))}
      </ul>
    </figure>
  );
}

/**
 * Tick labels as plain SVG text. Recharts' own <Text> measures every new label string in the DOM, which forces a
 * layout of the whole page on each redraw; with interval 0 no label needs measuring at all.
 */
function tick(format: (v: number) => string = formatNum, unit = '') {
  return function Tick(p: BaseTickContentProps) {
    const dy = p.verticalAnchor === 'start' ? '0.71em' : p.verticalAnchor === 'end' ? '0' : '0.32em';
    return (
      <text x={p.x} y={p.y} dy={dy} textAnchor={p.textAnchor} fontSize={11} fill="#6b7280" className={p.className}>
        {format(Number(p.payload.value))}
        {unit}
      </text>
    );
  };
}
const plainTick = tick();
const percentTick = tick(String, '%');
const intTick = tick(String);
const powerTick = tick(formatPower);
const PERCENT_TICKS = [0, 25, 50, 75, 100];

const axisProps = { stroke: '#d1d5db', interval: 0, tick: plainTick } as const;
const tooltipProps = {
  formatter: (v: unknown) => (typeof v === 'number' ? formatNum(v) : String(v)),
  contentStyle: { fontSize: 12, borderRadius: 8, borderColor: '#e5e7eb' },
  isAnimationActive: false,
} as const;

const SynthLosses = memo(function SynthLosses({ points }: { points: SynthPoint[] }) {
  const data = points.map((p) => ({
    x: p.x,
    total: positive(p.total),
    cls: positive(p.cls),
    contr: positive(p.contr),
    tv: positive(p.tv),
    entropy: positive(p.entropy),
  }));
  const hasEntropy = data.some((d) => d.entropy !== null);
  const x = linearAxis(
    data.map((d) => d.x),
    { exact: true, integer: true },
  );
  const y = logAxis(data.flatMap((d) => [d.total, d.cls, d.contr, d.tv, d.entropy]));
  return (
    <ResponsiveContainer width="100%" height="100%">
      <LineChart data={data} margin={{ top: 6, right: 12, bottom: 0, left: 0 }}>
        <CartesianGrid stroke="#f0f1f3" vertical={false} />
        <XAxis dataKey="x" type="number" {...axisProps} domain={x.domain} ticks={x.ticks} />
        <YAxis scale="log" {...axisProps} domain={y.domain} ticks={y.ticks} tick={powerTick} allowDataOverflow width={50} />
        <Tooltip {...tooltipProps} labelFormatter={(l) => `step ${l}`} />
        <Line dataKey="total" name="total" stroke={COLORS.total} strokeWidth={2} dot={false} isAnimationActive={false} connectNulls />
        <Line dataKey="cls" name="classification" stroke={COLORS.cls} dot={false} isAnimationActive={false} connectNulls />
        <Line dataKey="contr" name="contrastive" stroke={COLORS.contr} dot={false} isAnimationActive={false} connectNulls />
        <Line dataKey="tv" name="total variation" stroke={COLORS.tv} dot={false} isAnimationActive={false} connectNulls />
        {hasEntropy && <Line dataKey="entropy" name="entropy" stroke={COLORS.entropy} dot={false} isAnimationActive={false} connectNulls />}
      </LineChart>
    </ResponsiveContainer>
  );
});

const EtaHit = memo(function EtaHit({ points }: { points: SynthPoint[] }) {
  const data = points.map((p) => ({ x: p.x, eta: positive(p.eta), hit: finite(p.hit * 100) }));
  const x = linearAxis(
    data.map((d) => d.x),
    { exact: true, integer: true },
  );
  const eta = logAxis(data.map((d) => d.eta));
  return (
    <ResponsiveContainer width="100%" height="100%">
      <LineChart data={data} margin={{ top: 6, right: 4, bottom: 0, left: 0 }}>
        <CartesianGrid stroke="#f0f1f3" vertical={false} />
        <XAxis dataKey="x" type="number" {...axisProps} domain={x.domain} ticks={x.ticks} />
        <YAxis yAxisId="eta" scale="log" {...axisProps} domain={eta.domain} ticks={eta.ticks} tick={powerTick} allowDataOverflow width={50} />
        <YAxis yAxisId="hit" orientation="right" {...axisProps} domain={[0, 100]} ticks={PERCENT_TICKS} tick={percentTick} width={44} />
        <Tooltip {...tooltipProps} labelFormatter={(l) => `step ${l}`} />
        <Line yAxisId="eta" dataKey="eta" name="η (step size)" stroke={COLORS.eta} dot={false} isAnimationActive={false} connectNulls />
        <Line yAxisId="hit" dataKey="hit" name="hit rate %" stroke={COLORS.hit} dot={false} isAnimationActive={false} connectNulls />
      </LineChart>
    </ResponsiveContainer>
  );
});

const StudentLoss = memo(function StudentLoss({ points }: { points: StudentPoint[] }) {
  const data = points.map((p) => ({ x: p.x, loss: finite(p.loss), lr: finite(p.lr) }));
  const x = linearAxis(
    data.map((d) => d.x),
    { exact: true, integer: true },
  );
  const loss = linearAxis(data.map((d) => d.loss));
  const lr = linearAxis(
    data.map((d) => d.lr),
    { min: 0 },
  );
  return (
    <ResponsiveContainer width="100%" height="100%">
      <LineChart data={data} margin={{ top: 6, right: 4, bottom: 0, left: 0 }}>
        <CartesianGrid stroke="#f0f1f3" vertical={false} />
        <XAxis dataKey="x" type="number" {...axisProps} domain={x.domain} ticks={x.ticks} />
        <YAxis yAxisId="loss" {...axisProps} domain={loss.domain} ticks={loss.ticks} width={50} />
        <YAxis yAxisId="lr" orientation="right" {...axisProps} domain={lr.domain} ticks={lr.ticks} width={52} />
        <Tooltip {...tooltipProps} labelFormatter={(l) => `step ${l}`} />
        <Line yAxisId="loss" dataKey="loss" name="student loss" stroke={COLORS.loss} dot={false} isAnimationActive={false} connectNulls />
        <Line yAxisId="lr" dataKey="lr" name="learning rate" stroke={COLORS.lr} dot={false} isAnimationActive={false} connectNulls strokeDasharray="4 3" />
      </LineChart>
    </ResponsiveContainer>
  );
});

const Agreement = memo(function Agreement({ points }: { points: EpochPoint[] }) {
  const data = points.map((p) => ({ epoch: p.epoch, agreement: finite(p.agreement * 100), valLoss: finite(p.valLoss) }));
  const showDots = data.length < 40;
  const x = linearAxis(
    data.map((d) => d.epoch),
    { min: 1, exact: true, integer: true },
  );
  const val = linearAxis(
    data.map((d) => d.valLoss),
    { min: 0 },
  );
  return (
    <ResponsiveContainer width="100%" height="100%">
      <LineChart data={data} margin={{ top: 6, right: 4, bottom: 0, left: 0 }}>
        <CartesianGrid stroke="#f0f1f3" vertical={false} />
        <XAxis dataKey="epoch" type="number" {...axisProps} domain={x.domain} ticks={x.ticks} tick={intTick} />
        <YAxis yAxisId="agr" {...axisProps} domain={[0, 100]} ticks={PERCENT_TICKS} tick={percentTick} width={50} />
        <YAxis yAxisId="val" orientation="right" {...axisProps} domain={val.domain} ticks={val.ticks} width={52} />
        <Tooltip {...tooltipProps} labelFormatter={(l) => `epoch ${l}`} />
        <Line yAxisId="agr" dataKey="agreement" name="agreement %" stroke={COLORS.agreement} strokeWidth={2} dot={showDots} isAnimationActive={false} connectNulls />
        <Line yAxisId="val" dataKey="valLoss" name="held-out loss" stroke={COLORS.valLoss} dot={showDots} isAnimationActive={false} connectNulls strokeDasharray="4 3" />
      </LineChart>
    </ResponsiveContainer>
  );
});

function SynthLossesCard() {
  const ref = useRef<HTMLElement>(null);
  const points = useChartPoints(pickSynth, useOnScreen(ref), 0);
  return (
    <ChartCard
      cardRef={ref}
      title="Synthesis loss terms"
      subtitle="log scale, per step"
      empty={points.length === 0}
      legend={[
        ['total', COLORS.total],
        ['classification', COLORS.cls],
        ['contrastive', COLORS.contr],
        ['total variation', COLORS.tv],
        ...(points.some((p) => p.entropy > 0) ? ([['entropy', COLORS.entropy]] as [string, string][]) : []),
      ]}
    >
      <SynthLosses points={points.length ? points : SYNTH_PLACEHOLDER} />
    </ChartCard>
  );
}

function EtaHitCard() {
  const ref = useRef<HTMLElement>(null);
  const points = useChartPoints(pickSynth, useOnScreen(ref), 250);
  return (
    <ChartCard
      cardRef={ref}
      title="Step size η and hit rate"
      subtitle="η on a log scale (left) · share of samples the teacher puts in their target class (right)"
      empty={points.length === 0}
      legend={[
        ['η (step size)', COLORS.eta],
        ['hit rate', COLORS.hit],
      ]}
    >
      <EtaHit points={points.length ? points : SYNTH_PLACEHOLDER} />
    </ChartCard>
  );
}

function StudentCard() {
  const ref = useRef<HTMLElement>(null);
  const points = useChartPoints(pickStudent, useOnScreen(ref), 500);
  return (
    <ChartCard
      cardRef={ref}
      title="Student loss and learning rate"
      subtitle="soft-target cross-entropy (left) · learning rate (right), per step"
      empty={points.length === 0}
      legend={[
        ['student loss', COLORS.loss],
        ['learning rate', COLORS.lr],
      ]}
    >
      <StudentLoss points={points.length ? points : STUDENT_PLACEHOLDER} />
    </ChartCard>
  );
}

function AgreementCard() {
  const ref = useRef<HTMLElement>(null);
  const points = useChartPoints(pickEpochs, useOnScreen(ref), 750);
  return (
    <ChartCard
      cardRef={ref}
      title="Teacher–student agreement"
      subtitle="top-1 on held-out synthetic samples (left) · held-out loss (right), per epoch"
      empty={points.length === 0}
      legend={[
        ['agreement', COLORS.agreement],
        ['held-out loss', COLORS.valLoss],
      ]}
    >
      <Agreement points={points.length ? points : EPOCH_PLACEHOLDER} />
    </ChartCard>
  );
}

export function Charts() {
  return (
    <section className="panel charts" role="region" aria-label="Loss curves">
      <h2>Loss curves</h2>
      <div className="chart-grid">
        <SynthLossesCard />
        <EtaHitCard />
        <StudentCard />
        <AgreementCard />
      </div>
    </section>
  );
}
