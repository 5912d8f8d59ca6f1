// How closely two models' outputs agree on the same inputs: the share of rows whose top-1 class is the same, and
// the largest difference in any output. Used to check exported and quantized students against the float student.

export interface Agreement {
  /** Rows compared. */
  rows: number;
  /** Share of rows with the same argmax, 0..1. */
  top1: number;
  /** Largest |a − b| over every output. */
  maxAbsDiff: number;
}

function argmax(v: ArrayLike<number>, from: number, n: number): number {
  let best = from;
  for (let i = from + 1; i < from + n; i++) if (v[i] > v[best]) best = i;
  return best - from;
}

/** Compares two [rows, classes] outputs stored row by row. */
export function compareOutputs(a: ArrayLike<number>, b: ArrayLike<number>, classes: number): Agreement {
  if (a.length !== b.length || classes < 1 || a.length % classes !== 0)
    throw new Error(`outputs of ${a.length} and ${b.length} values cannot be compared as rows of ${classes} classes`);
  const rows = a.length / classes;
  let same = 0;
  for (let r = 0; r < rows; r++) if (argmax(a, r * classes, classes) === argmax(b, r * classes, classes)) same++;
  let maxAbsDiff = 0;
  for (let i = 0; i < a.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a[i] - b[i]));
  return { rows, top1: rows > 0 ? same / rows : NaN, maxAbsDiff };
}
