import * as tf from '@tensorflow/tfjs';
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
import { dataParallelObstacle } from '../cake/data-parallel';
import type { SetSynthesizer } from '../cake/parallel';
import { exportStudent } from '../io/export';
import { exportFiles } from '../io/export-formats';
import { parseFormats, type ExportFormat } from '../io/format-names';
import { inputRangeOf } from '../io/input-range';
import { teacherTraits } from '../io/teacher-info';
import { deploySummary, freshSamples, measureDeployment } from '../models/deploy';
import { buildRunStudent } from '../models/students';
import { numberOpt, parseArgs, required, UsageError, type Args } from './args';
import { labelledData, preprocessingFlags } from './datasets';
import { writeFormat } from './export';
import { readTeacherFiles } from './node-files';
import { ProgressLine } from './progress-line';
import { cpuClock, synthesisWorkers, useBackend } from './backend';
import { loadTeacherWithin, loadTimeoutMs, TIMEOUT_USAGE } from './teacher-deadline';

export const DISTILL_USAGE =
  `cake distill --teacher <model.json | model.zip | .h5 | .keras | .onnx> [other files…] --preset smoke|quick|standard|paper [--student <arch>] [--seed N] [--set key=value …] [--backend wasm|webgpu|cpu] [--workers N] [--parallel-student] [--format onnx,keras,tfjs-float16,tfjs-uint8] [--scale S --mean M[,M,M] --std S[,S,S]] [--data <labelled data> | --images <idx> --labels <idx>] ${TIMEOUT_USAGE} --out <dir>`;

/** `--format a,b` (or repeated): the extra formats to write beside the float student. */
function formatsOf(args: Args): ExportFormat[] {
  try {
    return parseFormats((args.repeated.get('format') ?? []).join(','));
  } catch (e) {
    throw new UsageError(`--format: ${(e as Error).message}`);
  }
}

/** `cake distill`: teacher files in, a student (model.json + weights.bin) and report.json out. */
export async function distill(argv: string[]): Promise<void> {
  const args = parseArgs(argv, {
    values: ['preset', 'student', 'seed', 'out', 'backend', 'workers', 'images', 'labels', 'data', 'timeout', 'scale', 'mean', 'std'],
    repeated: ['teacher', 'set', 'format'],
    flags: ['quiet', 'parallel-student'],
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
  const formats = formatsOf(args);
  if (args.values.has('images') !== args.values.has('labels')) throw new UsageError('--images and --labels go together');

  const teacherFiles = await readTeacherFiles(teacherPaths);
  const loaded = await loadTeacherWithin(teacherFiles, loadTimeoutMs(args, teacherFiles), backend, teacherPaths[0]);
  let synthesizer: SetSynthesizer | undefined;
  try {
    const info = loaded.info;
    if (info.gradientCheck && !info.gradientCheck.ok) throw new Error(`the teacher's input gradients are unusable: ${info.gradientCheck.message}`);
    // Preprocessing given on the command line (input = (pixel·scale − mean) / std) overrides what the files declare or
    // what was guessed: its input range is where samples are drawn and what range-dependent augmentations use.
    const declared = preprocessingFlags(args);
    delete declared.pad;
    if (Object.keys(declared).length > 0) {
      const pre = { ...info.preprocessing, ...declared };
      info.preprocessing = { ...pre, inputRange: inputRangeOf(pre) };
      info.preprocessingFrom = 'the command line (--scale, --mean, --std)';
    }
    const traits = teacherTraits(info);
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
    const built = buildRunStudent(config, info.inputShape, info.numClasses, loaded.model, info.params);
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
    // Speed: --parallel-student splits each student batch with a helper (not bit-identical to one thread).
    const parallelStudent = args.flags.has('parallel-student');
    if (parallelStudent && !quiet) {
      const obstacle = !synthesizer
        ? 'it needs helper threads (--workers 2 or more, on wasm)'
        : dataParallelObstacle(built.model, { classBalance: config.student.classBalance, hints: config.student.hint > 0 && config.student.inherit !== 'off' });
      line.log(obstacle ? `student: one thread (--parallel-student: ${obstacle})` : 'student: data-parallel with a helper thread (--parallel-student)');
    }
    const { student: model, report } = await runCake({
      synthesizer,
      teacher: loaded.teacher,
      teacherModel: loaded.model,
      config,
      student: built.model,
      studentArch: built.arch,
      logitsFrom: info.logitsFrom,
      onProgress: quiet ? undefined : (p) => line.update(p),
      dataParallelStudent: parallelStudent,
    });
    line.done();

    // What the student is worth deployed: its tfjs variants against the teacher, on one fresh CAKE set.
    if (!quiet) line.log('measuring the student\'s variants: a fresh synthetic set, agreement, inference time');
    const labelled =
      args.values.has('images') || args.values.has('data')
        ? await labelledData(
            { data: args.values.get('data'), images: args.values.get('images'), labels: args.values.get('labels') },
            info,
          )
        : undefined;
    const samples = await freshSamples(loaded.teacher, config);
    const labelledX = labelled && tf.tensor(labelled.x, [labelled.labels.length, ...info.inputShape]);
    try {
      report.deploy = await measureDeployment({
        teacher: loaded.teacher,
        teacherParams: info.params,
        student: model,
        samples,
        labelled: labelledX && labelled ? { x: labelledX, labels: labelled.labels } : undefined,
        timing: { clock: cpuClock },
        clock: 'cpu',
      });
    } finally {
      tf.dispose([samples, ...(labelledX ? [labelledX] : [])]);
    }
    if (!quiet) for (const l of deploySummary(report.deploy)) line.log(l);

    const { modelJson, weights } = await exportStudent(model);
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, 'model.json'), JSON.stringify(modelJson));
    await writeFile(path.join(out, 'weights.bin'), new Uint8Array(weights));
    // The student keeps the teacher's input name, so an ONNX teacher's student drops into the same code.
    const written = [];
    for (const format of formats)
      written.push(await writeFormat(format, await exportFiles(model, format, { inputName: info.inputName, classNames: info.classNames }), out, true));
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
    for (const w of written) if (w.dir) await writeFile(path.join(w.dir, 'metadata.json'), JSON.stringify(metadata, null, 2));
    process.stdout.write(
      JSON.stringify({
        out,
        preset,
        student: report.student,
        samples: report.samples.total,
        agreement: report.studentTraining.agreement,
        timings: report.timings,
        backend: report.backend,
        deploy: report.deploy,
        formats: written.map(({ format, files, bytes }) => ({ format, files, bytes })),
      }) + '\n',
    );
    model.dispose();
  } finally {
    await synthesizer?.dispose();
    loaded.dispose();
  }
}
