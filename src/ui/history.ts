/**
 * Bounded, downsampled chart history. A series keeps at most `max` points: when full it drops every other point and
 * from then on keeps only every `stride`-th new one, so an hours-long run costs the same memory and drawing time as a
 * short one while the curve keeps its shape over the whole run.
 */

export const MAX_POINTS = 2000;

export interface Series<T> {
  readonly points: readonly T[];
  /** Keep one incoming point in `stride`. */
  readonly stride: number;
  /** Points offered so far. */
  readonly seen: number;
}

export function emptySeries<T>(): Series<T> {
  return { points: [], stride: 1, seen: 0 };
}

export function pushPoint<T>(series: Series<T>, point: T, max = MAX_POINTS): Series<T> {
  const seen = series.seen + 1;
  if ((seen - 1) % series.stride !== 0) return { ...series, seen };
  let points = [...series.points, point];
  let stride = series.stride;
  if (points.length > max) {
    points = points.filter((_, i) => i % 2 === 0);
    stride *= 2;
  }
  return { points, stride, seen };
}

/** At most `n` evenly spaced points (always including the last), for drawing. */
export function thin<T>(points: readonly T[], n: number): T[] {
  if (points.length <= n) return points as T[];
  const out: T[] = [];
  const step = (points.length - 1) / (n - 1);
  for (let i = 0; i < n; i++) out.push(points[Math.round(i * step)]);
  return out;
}

export interface SynthPoint {
  /** Global synthesis step: set·T + step. */
  x: number;
  total: number;
  cls: number;
  contr: number;
  tv: number;
  entropy: number;
  eta: number;
  hit: number;
}

export interface StudentPoint {
  /** Global student step: epoch·stepsPerEpoch + step. */
  x: number;
  loss: number;
  lr: number;
}

export interface EpochPoint {
  epoch: number;
  agreement: number;
  valLoss: number;
  trainLoss: number;
}

export interface History {
  synth: Series<SynthPoint>;
  student: Series<StudentPoint>;
  epochs: Series<EpochPoint>;
}

export function emptyHistory(): History {
  return { synth: emptySeries(), student: emptySeries(), epochs: emptySeries() };
}
