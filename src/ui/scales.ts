/**
 * Axis domains and tick positions computed here rather than by recharts, so that a log axis gets one tick per decade
 * (recharts' own log ticks crowd into an unreadable column) and no axis ever needs its labels measured.
 */

export interface Axis {
  domain: [number, number];
  ticks: number[];
}

function finiteValues(values: readonly (number | null | undefined)[], positiveOnly = false): number[] {
  const out: number[] = [];
  for (const v of values) if (typeof v === 'number' && Number.isFinite(v) && (!positiveOnly || v > 0)) out.push(v);
  return out;
}

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
  return step * mag;
}

/** A linear axis spanning the data (rounded outwards to nice values unless `exact`), with about `count` ticks. */
export function linearAxis(
  values: readonly (number | null | undefined)[],
  opts: { min?: number; max?: number; count?: number; exact?: boolean; integer?: boolean } = {},
): Axis {
  const v = finiteValues(values);
  let lo = opts.min ?? (v.length ? Math.min(...v) : 0);
  let hi = opts.max ?? (v.length ? Math.max(...v) : 1);
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= opts.min === undefined ? pad : 0;
    hi += pad;
  }
  let step = niceStep(hi - lo, opts.count ?? 4);
  if (opts.integer) step = Math.max(1, Math.round(step));
  if (!opts.exact) {
    if (opts.min === undefined) lo = Math.floor(lo / step) * step;
    if (opts.max === undefined) hi = Math.ceil(hi / step) * step;
  }
  const ticks: number[] = [];
  const first = Math.ceil(lo / step - 1e-9) * step;
  for (let t = first; t <= hi + step * 1e-9 && ticks.length < 50; t += step) ticks.push(Number(t.toPrecision(12)));
  return { domain: [lo, hi], ticks };
}

/** A log axis from the decade below the smallest positive value to the decade above the largest, a tick per decade. */
export function logAxis(values: readonly (number | null | undefined)[], maxTicks = 6): Axis {
  const v = finiteValues(values, true);
  if (v.length === 0) return { domain: [0.1, 10], ticks: [0.1, 1, 10] };
  let lo = Math.floor(Math.log10(Math.min(...v)));
  let hi = Math.ceil(Math.log10(Math.max(...v)));
  if (hi === lo) {
    lo -= 1;
    hi += 1;
  }
  const every = Math.max(1, Math.ceil((hi - lo + 1) / maxTicks));
  const ticks: number[] = [];
  for (let k = hi; k >= lo; k -= every) ticks.unshift(10 ** k);
  return { domain: [10 ** lo, 10 ** hi], ticks };
}

/** "0.001", "1", "1000", or "1e-5" / "1e8" outside that range. */
export function formatPower(v: number): string {
  if (!(v > 0)) return String(v);
  const k = Math.round(Math.log10(v));
  if (Math.abs(v - 10 ** k) > 1e-9 * v) return Number(v.toPrecision(3)).toString();
  return k >= -3 && k <= 4 ? String(Number((10 ** k).toPrecision(1))) : `1e${k}`;
}
