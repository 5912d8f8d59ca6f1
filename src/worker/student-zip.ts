/**
 * The student's zip: model.json, weights.bin, report.json and settings.json (plain `tf.loadLayersModel` reads the
 * first two), and pool.bin when asked; for the run just finished (`export-student`) or one in the history
 * (`download-run`).
 */
import { encodePool } from '../cake/pool';
import { studentZip } from '../io/export';
import { getFinished } from './checkpoints';
import type { StudentZip } from './protocol';
import type { RunResult } from './session';

interface StudentFiles {
  modelJson: object;
  weights: ArrayBuffer;
  report: object;
  settings: unknown;
}

function pack(files: StudentFiles, name: string, pool?: Uint8Array): StudentZip {
  const entries: Record<string, string | ArrayBuffer | Uint8Array> = {
    'model.json': JSON.stringify(files.modelJson),
    'weights.bin': files.weights,
    'report.json': JSON.stringify(files.report, null, 2),
    'settings.json': JSON.stringify(files.settings ?? null, null, 2),
  };
  // The pool that trained the student, readable with decodePool (src/cake/pool.ts).
  if (pool) entries['pool.bin'] = pool;
  const zip = studentZip(entries);
  const data = zip.buffer.byteLength === zip.byteLength ? (zip.buffer as ArrayBuffer) : (zip.slice().buffer as ArrayBuffer);
  return { data, filename: `cake-student-${name.replace(/[^\w.-]+/g, '-')}.zip` };
}

/** The zip of the run just finished, with the page's settings file (and its synthetic pool when asked). */
export function resultZip(result: RunResult | null, settings: unknown, includePool = false): StudentZip {
  if (!result) throw new Error('there is no student to download yet');
  if (includePool && !result.pool) throw new Error('the synthetic pool was released when the next run started');
  return pack({ ...result, settings }, result.report.student.arch, includePool && result.pool ? encodePool(result.pool) : undefined);
}

/** The zip of run `id` from the history. */
export async function historyZip(id: string): Promise<StudentZip> {
  const finished = await getFinished(id);
  if (!finished) throw new Error('this run has no finished student');
  const arch = String((finished.report as { student?: { arch?: string } }).student?.arch ?? 'student');
  return pack(finished, `${arch}-${id}`);
}
