export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '—';
  if (sec < 1) return `${Math.round(sec * 1000)} ms`;
  if (sec < 60) return `${sec < 10 ? sec.toFixed(1) : Math.round(sec)} s`;
  const m = Math.floor(sec / 60);
  const s = Math.round(sec % 60);
  if (m < 60) return `${m} min ${s.toString().padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${(m % 60).toString().padStart(2, '0')} min`;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

// One formatter, made once: toLocaleString builds a new one on every call, which is slow enough to show in a profile.
const INT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatInt(n: number): string {
  return Number.isFinite(n) ? INT.format(Math.round(n)) : '—';
}

// Same fields as Date.prototype.toLocaleString(), in the user's locale, with the formatter made once.
const DATE_TIME = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });

export function formatDateTime(ms: number): string {
  return Number.isFinite(ms) ? DATE_TIME.format(ms) : '—';
}

export function formatPercent(v: number, digits = 1): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(digits)} %` : '—';
}

/** Compact number for losses and rates: 3 significant digits, scientific when very small or large. */
export function formatNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(3)).toString();
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(' × ')}]`;
}

/** "25.0 MFLOPs", "1.2 GFLOPs": floating-point operations, as model cards quote them. */
export function formatFlops(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GFLOPs`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MFLOPs`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kFLOPs`;
  return `${Math.round(n)} FLOPs`;
}
