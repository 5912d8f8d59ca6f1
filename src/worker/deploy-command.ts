/**
 * The student's other formats in the studio: after a run, the deploy measurement (sizes, agreement and speed of the
 * tfjs variants against the teacher, on the worker's backend, src/models/deploy.ts); on request (`export-format`),
 * one format as a file to save.
 */
import type { CakeConfig } from '../cake/config';
import type { Teacher } from '../cake/teacher';
import { studentZip } from '../io/export';
import { exportFiles } from '../io/export-formats';
import type { ExportFormat } from '../io/format-names';
import { freshSamples, measureDeployment } from '../models/deploy';
import type { StudentFile } from './protocol';
import type { RunResult, Session } from './session';

/**
 * Measures the finished student against the teacher on one fresh CAKE set and, if that student is still the
 * session's result, adds the measurement to its report and tells the page (`deploy-measured`). A failure is logged:
 * the run itself is done and good.
 */
export async function measureAfterRun(session: Session, runId: number, teacher: { teacher: Teacher; params: number }, result: RunResult, config: CakeConfig): Promise<void> {
  try {
    const samples = await freshSamples(teacher.teacher, config);
    try {
      const deploy = await measureDeployment({ teacher: teacher.teacher, teacherParams: teacher.params, student: result.student, samples });
      if (session.deployMeasured(result, deploy)) session.post({ type: 'deploy-measured', runId, deploy });
    } finally {
      samples.dispose();
    }
  } catch (e) {
    console.warn('cake worker: the student could not be measured', e);
  }
}

/**
 * One format of the run just finished: the ONNX or Keras file alone, named after the student; a tfjs variant as a
 * zip with its model.json and weights.bin, and the run's report.json and the page's settings.json, as in the float
 * student's zip.
 */
export async function formatFile(result: RunResult | null, format: ExportFormat, settings: unknown): Promise<StudentFile> {
  if (!result) throw new Error('there is no student to download yet');
  // The student takes the teacher's input name: an ONNX teacher's student drops into the same code.
  const files = await exportFiles(result.student, format, result.teacherInput);
  const base = `cake-student-${result.report.student.arch.replace(/[^\w.-]+/g, '-')}`;
  const names = Object.keys(files);
  if (names.length === 1) {
    const ext = names[0].slice(names[0].lastIndexOf('.'));
    return { data: files[names[0]].slice().buffer as ArrayBuffer, filename: `${base}${ext}`, mime: 'application/octet-stream' };
  }
  const zip = studentZip({ ...files, 'report.json': JSON.stringify(result.report, null, 2), 'settings.json': JSON.stringify(settings ?? null, null, 2) });
  return { data: zip.slice().buffer as ArrayBuffer, filename: `${base}-${format}.zip`, mime: 'application/zip' };
}
