import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportFiles } from '../io/export-formats';
import { EXPORT_FORMATS, parseFormats, type ExportFormat } from '../io/format-names';
import { parseArgs, required, UsageError } from './args';
import { useBackend } from './backend';
import { readTeacherFiles } from './node-files';
import { loadTeacherWithin, loadTimeoutMs, TIMEOUT_USAGE } from './teacher-deadline';

export const EXPORT_USAGE = `cake export --model <student model.json> --to ${EXPORT_FORMATS.join('|')} --out <path> [--input-name <name>] ${TIMEOUT_USAGE}`;

export interface WrittenFormat {
  format: ExportFormat;
  files: string[];
  bytes: number;
  /** The folder a tfjs variant went to. */
  dir?: string;
}

/**
 * Writes a format's files. `out` is a folder for the tfjs variants; for ONNX and Keras it is the file to write, or a
 * folder to write student.onnx / student.h5 into. `inFolder` (distill) always treats `out` as the student's folder and
 * puts each tfjs variant in a subfolder named after it.
 */
export async function writeFormat(format: ExportFormat, files: Record<string, Uint8Array>, out: string, inFolder = false): Promise<WrittenFormat> {
  const single = Object.keys(files).length === 1;
  const isDir = inFolder || out.endsWith('/') || (await stat(out).then((s) => s.isDirectory(), () => false));
  let targets: [string, Uint8Array][];
  let dir: string | undefined;
  if (single) {
    const [name, bytes] = Object.entries(files)[0];
    targets = [[isDir ? path.join(out, name) : out, bytes]];
  } else {
    dir = inFolder ? path.join(out, format) : out;
    targets = Object.entries(files).map(([name, bytes]) => [path.join(dir!, name), bytes]);
  }
  for (const [file, bytes] of targets) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);
  }
  return { format, files: targets.map(([f]) => f), bytes: targets.reduce((s, [, b]) => s + b.byteLength, 0), ...(dir ? { dir } : {}) };
}

/** The teacher's input name from the report.json `cake distill` wrote beside the student, if there is one. */
async function teacherInputName(modelPath: string): Promise<string | undefined> {
  try {
    const report = JSON.parse(await readFile(path.join(path.dirname(modelPath), 'report.json'), 'utf8')) as { teacherInfo?: { inputName?: unknown } };
    return typeof report.teacherInfo?.inputName === 'string' ? report.teacherInfo.inputName : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `cake export`: a tfjs LayersModel (a student `cake distill` wrote, or any single-input classifier) in another
 * format. The ONNX graph's input takes the name given by --input-name, else the teacher's from the report.json
 * beside the model, so a student of an ONNX teacher keeps its input signature.
 */
export async function exportCommand(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { values: ['model', 'to', 'out', 'input-name', 'backend', 'timeout'] });
  const modelPath = required(args, 'model');
  let format: ExportFormat;
  try {
    const formats = parseFormats(required(args, 'to'));
    if (formats.length !== 1) throw new Error('name one format');
    format = formats[0];
  } catch (e) {
    throw new UsageError(`--to: ${(e as Error).message}`);
  }
  const out = required(args, 'out');
  const backend = await useBackend(args.values.get('backend'));
  const files = await readTeacherFiles([modelPath]);
  const loaded = await loadTeacherWithin(files, loadTimeoutMs(args, files), backend, modelPath);
  try {
    const inputName = args.values.get('input-name') ?? (await teacherInputName(modelPath));
    const files = await exportFiles(loaded.model, format, { inputName, classNames: loaded.info.classNames });
    const written = await writeFormat(format, files, out);
    process.stdout.write(JSON.stringify({ ...written, params: loaded.model.countParams(), ...(format === 'onnx' ? { inputName: inputName ?? loaded.model.inputs[0].sourceLayer.name } : {}) }) + '\n');
  } finally {
    loaded.dispose();
  }
}
