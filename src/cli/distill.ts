import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  applySettings,
  PRESET_NAMES,
  presetConfig,
  runCake,
  validateConfig,
  type CakeConfig,
  type PresetName,
} from '../cake';
import type { SetSynthesizer } from '../cake/parallel';
import { exportStudent } from '../io/export';
import { inspectTeacher } from '../io/teacher-info';
import { loadTeacher } from '../io/teacher-load';
import { buildStudent } from '../models/students';
import { numberOpt, parseArgs, required, UsageError } from './args';
import { readTeacherFiles } from './node-files';
import { ProgressLine } from './progress-line';
import { synthesisWorkers, useBackend } from './backend';

export const DISTILL_USAGE =
  'cake distill --teacher <model.json | model.zip | .h5 | .keras | .onnx> [other files…] --preset smoke|quick|standard|paper [--student <arch>] [--seed N] [--set key=value …] [--backend wasm|cpu] [--workers N] --out <dir>';

/** `cake distill`: teacher files in, a student (model.json + weights.bin) and report.json out. */
export async function distill(argv: string[]): Promise<void> {
  const args = parseArgs(argv, {
    values: ['preset', 'student', 'seed', 'out', 'backend', 'workers'],
    repeated: ['teacher', 'set'],
    flags: ['quiet'],
  });
  const teacherPaths = [...(args.repeated.get('teacher') ?? []), ...args.positionals];
  if (teacherPaths.length === 0) throw new UsageError('missing --teacher <model.json>');
  const out = required(args, 'out');
  const preset = (args.values.get('preset') ?? 'quick') as PresetName;
  if (!PRESET_NAMES.includes(preset)) throw new UsageError(`--preset must be one of ${PRESET_NAMES.join(', ')}, got "${preset}"`);
  const seed = numberOpt(args, 'seed', 0);
  const backend = await useBackend(args.values.get('backend'));
  const line = new ProgressLine();
  const quiet = args.flags.has('quiet');

  const teacherFiles = await readTeacherFiles(teacherPaths);
  const loaded = await loadTeacher(teacherFiles);
  let synthesizer: SetSynthesizer | undefined;
  try {
    const info = await inspectTeacher(loaded);
    if (info.gradientCheck && !info.gradientCheck.ok) throw new Error(`the teacher's input gradients are unusable: ${info.gradientCheck.message}`);
    const traits = { inputShape: info.inputShape, numClasses: info.numClasses, inputRange: info.preprocessing?.inputRange };
    let config: CakeConfig = presetConfig(preset, traits, seed);
    const student = args.values.get('student');
    if (student) config = { ...config, student: { ...config.student, arch: student } };
    try {
      config = applySettings(config, args.repeated.get('set') ?? []);
    } catch (e) {
      throw new UsageError(`--set: ${(e as Error).message}`);
    }
    const issues = validateConfig(config, traits);
    if (issues.length) throw new UsageError(issues.map((i) => `${i.key} ${i.message}`).join('; '));
    const built = buildStudent(config.student.arch, info.inputShape, info.numClasses, loaded.model);
    if (!quiet) {
      line.log(
        `teacher: ${info.inputShape.join('×')} → ${info.numClasses} classes, ${info.params} parameters, logits: ${info.logitsFrom}; ` +
          `student: ${built.arch} (${built.model.countParams()} parameters)${built.note ? ` — ${built.note}` : ''}; backend ${backend}`,
      );
      const s = config.synthesis;
      line.log(`preset ${preset}: ${s.sets} sets × ${s.steps} steps × batch ${s.batchSize}, student ${config.student.epochs} epochs; seed ${config.seed}`);
    }
    synthesizer = await synthesisWorkers(args, teacherFiles, backend);
    if (!quiet && synthesizer) line.log(`synthesis on ${synthesizer.concurrency} worker threads`);
    const { student: model, report } = await runCake({
      synthesizer,
      teacher: loaded.teacher,
      teacherModel: loaded.model,
      config,
      student: built.model,
      studentArch: built.arch,
      logitsFrom: info.logitsFrom,
      onProgress: quiet ? undefined : (p) => line.update(p),
    });
    line.done();
    const { modelJson, weights } = await exportStudent(model);
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, 'model.json'), JSON.stringify(modelJson));
    await writeFile(path.join(out, 'weights.bin'), new Uint8Array(weights));
    const full = { ...report, preset, studentNote: built.note, teacherInfo: info, command: `cake distill ${argv.join(' ')}` };
    await writeFile(path.join(out, 'report.json'), JSON.stringify(full, null, 2));
    // The student is a drop-in replacement: it inherits the teacher's class names and input preprocessing.
    const metadata = {
      classNames: info.classNames,
      preprocessing: info.preprocessing,
      inputRange: info.preprocessing?.inputRange,
      distilledWith: 'CAKE',
      dataset: info.dataset,
    };
    await writeFile(path.join(out, 'metadata.json'), JSON.stringify(metadata, null, 2));
    process.stdout.write(
      JSON.stringify({
        out,
        preset,
        student: report.student,
        samples: report.samples.total,
        agreement: report.studentTraining.agreement,
        timings: report.timings,
        backend: report.backend,
      }) + '\n',
    );
    model.dispose();
  } finally {
    await synthesizer?.dispose();
    loaded.dispose();
  }
}
