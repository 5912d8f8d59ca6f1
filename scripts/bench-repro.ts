/**
 * `npm run bench:repro -- --data <dir or file> --dataset mnist|fashion-mnist|cifar10 --teacher <model> --preset <p>
 *   [--seeds 3] [--student lenet5-half] [--set key=value …] [--label text] [--workers N] [--pool-cache <file>]
 *   [--scale S] [--mean M[,M,M]] [--std S[,S,S]] [--no-record]`
 * `npm run bench:repro -- --panel <panel dir> --preset <p> …`: every teacher of a panel (scripts/bench-panel.ts).
 *
 * Distils the teacher with the engine (exactly what `cake distill` runs), evaluates each student on the data set's
 * test split (t10k IDX files; CIFAR-10's test_batch.bin[.gz], the file or its folder), prints JSON, and appends a row
 * to BENCHMARKS.md. --scale/--mean/--std give the evaluation's preprocessing where the teacher declares none (as in
 * `cake eval`). CAKE never sees the data: it is used for the score only.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodePool, encodePool, SyntheticPool } from '../src/cake/pool';
import { applySettings, inputChannels, presetConfig, runCake, validateConfig, PRESET_NAMES, type CakeConfig, type PresetName } from '../src/cake';
import { buildRunStudent } from '../src/models/students';
import { numberOpt, parseArgs, required } from '../src/cli/args';
import { synthesisWorkers } from '../src/cli/backend';
import { ProgressLine } from '../src/cli/progress-line';
import { failInOneLine } from '../src/cli/one-line-failures';
import { benchTeacherAndTest } from './bench-setup';
import { teacherTraits } from '../src/io/teacher-info';

failInOneLine('bench:repro');

// --panel <dir>: the same run on every teacher of a panel, with each teacher's result and the panel's minimum.
if (process.argv.includes('--panel')) {
  const { runPanel } = await import('./bench-panel');
  await runPanel(process.argv.slice(2));
  process.exit(0);
}

const args = parseArgs(process.argv.slice(2), {
  values: ['data', 'dataset', 'teacher', 'preset', 'seeds', 'student', 'label', 'first-seed', 'pool-cache', 'workers', 'scale', 'mean', 'std', 'pad'],
  repeated: ['set'],
  flags: ['no-record', 'quiet'],
});
const preset = (args.values.get('preset') ?? 'quick') as PresetName;
if (!PRESET_NAMES.includes(preset)) throw new Error(`--preset must be one of ${PRESET_NAMES.join(', ')}`);
const seeds = numberOpt(args, 'seeds', 1);
const firstSeed = numberOpt(args, 'first-seed', 0);
const { dataset, backend, teacherFiles, loaded, info, score } = await benchTeacherAndTest(args);
const teacherAcc = (await score(loaded.model)).accuracy;

const runs: { seed: number; accuracy: number; synthesisSec: number; studentSec: number; agreement: number }[] = [];
/** The samples the student trained and validated on: fewer than the pool's when its η band keeps only some sets. */
let samplesUsed = 0;
let config: CakeConfig | undefined;
let usedCache = false;
/** Whether the students started from the teacher's weights (`student.inherit`), and so trained at `inheritLr`. */
let fromTeacher = false;
/** The peak learning rate the last run's student trained at (capped by its sharpness: student.sharpnessCap). */
let peakLr = NaN;
/** Whether the students learned the teacher's activations too (`student.hint`, used only from the teacher's weights). */
let hinted = false;
let workersUsed = 1;
for (let k = 0; k < seeds; k++) {
  const seed = firstSeed + k;
  config = presetConfig(preset, teacherTraits(info), seed);
  if (args.values.get('student')) config = { ...config, student: { ...config.student, arch: args.values.get('student')! } };
  // The paper's grey student for grey LeNet-size teachers (the earlier rounds' numbers); the preset's (`auto`) otherwise.
  else if (inputChannels(info.inputShape) === 1 && info.inputShape[0] <= 64) config = { ...config, student: { ...config.student, arch: 'lenet5-half' } };
  config = applySettings(config, args.repeated.get('set') ?? []);
  const issues = validateConfig(config, info);
  if (issues.length) throw new Error(issues.map((i) => `${i.key} ${i.message}`).join('; '));
  const built = buildRunStudent(config, info.inputShape, info.numClasses, loaded.model, info.params);
  const line = new ProgressLine();
  // --pool-cache: reuse the synthetic pool of an earlier run with the same synthesis settings (to vary the student
  // side alone); the file name gets the seed appended. A complete cached pool skips synthesis; a partial one (a run
  // that was stopped: the cache is written every 10 minutes of synthesis) continues after its last set, as sets are
  // seeded by index. The synthesis time reported is that of the sets made in this run.
  const cache = args.values.get('pool-cache') ? `${args.values.get('pool-cache')}.seed${seed}` : undefined;
  const cached = cache ? await readFile(cache).then((b) => decodePool(new Uint8Array(b)), () => undefined) : undefined;
  const pool = cached ?? new SyntheticPool(info.inputShape.reduce((a, b) => a * b, 1), info.numClasses, config.synthesis.batchSize);
  const setsCached = pool.chunks.length;
  let savedAt = Date.now();
  // Saves run one after another: a stop during a periodic save must not write the same .part file at once.
  let saving: Promise<void> = Promise.resolve();
  let setsSaved = setsCached;
  const savePool = () =>
    (saving = saving.catch(() => undefined).then(async () => {
      const sets = pool.chunks.length;
      await writeFile(`${cache}.part`, encodePool(pool));
      await rename(`${cache}.part`, cache!);
      setsSaved = sets;
    }));
  // Stopping a long run (Ctrl-C, kill) keeps the sets made since the last save: they took minutes each.
  const saveAndExit = () => {
    if (!cache || pool.chunks.length <= setsSaved) process.exit(130);
    process.stderr.write(`\nsaving ${pool.chunks.length} sets to the pool cache before stopping\n`);
    savePool().then(
      () => process.exit(130),
      (e: Error) => (process.stderr.write(`could not save the pool cache: ${e.message}\n`), process.exit(1)),
    );
  };
  process.once('SIGINT', saveAndExit);
  process.once('SIGTERM', saveAndExit);
  // Helpers even for a complete cached pool: they label the student's augmented batches.
  const synthesizer = await synthesisWorkers(args, teacherFiles, backend);
  if (synthesizer) workersUsed = synthesizer.concurrency;
  const { student, report } = await runCake({
    synthesizer,
    pool,
    teacher: loaded.teacher,
    teacherModel: loaded.model,
    config,
    student: built.model,
    studentArch: built.arch,
    onProgress: args.flags.has('quiet') ? undefined : (p) => line.update(p),
    onSet: (s) => {
      // Saved every 10 minutes of synthesis, and as soon as the last set is made: a complete cache can serve other
      // students while this one trains.
      if (!cache || (s.set + 1 < config!.synthesis.sets && Date.now() - savedAt < 600_000)) return;
      savedAt = Date.now();
      savePool().catch((e: Error) => process.stderr.write(`could not save the pool cache: ${e.message}\n`));
    },
  });
  line.done();
  process.off('SIGINT', saveAndExit);
  process.off('SIGTERM', saveAndExit);
  await synthesizer?.dispose();
  // A save that failed (reported when it did) is tried once more here, and then fails the run.
  await saving.catch(() => undefined);
  if (cache && pool.chunks.length > setsSaved) await savePool();
  const scored = await score(student);
  const acc = scored.accuracy;
  if (setsCached > 0) usedCache = true;
  samplesUsed = report.samples.train + report.samples.validation;
  runs.push({ seed, accuracy: acc, synthesisSec: report.timings.synthesisSec, studentSec: report.timings.studentSec, agreement: report.studentTraining.agreement });
  fromTeacher = report.student.init === 'teacher';
  peakLr = report.studentTraining.peakLr;
  hinted = (report.student.hinted?.length ?? 0) > 0;
  process.stderr.write(`seed ${seed}: student ${(100 * acc).toFixed(2)} %, agreement on held-out synthetic samples ${(100 * report.studentTraining.agreement).toFixed(1)} % (synthesis ${report.timings.synthesisSec.toFixed(0)} s, student ${report.timings.studentSec.toFixed(0)} s); per class ${scored.perClass.map((p) => (p == null ? '–' : (100 * p).toFixed(0))).join(' ')}; most often taken for ${mostConfused(scored.confusion)}\n`);
  student.dispose();
}
loaded.dispose();

/** For each true class, the wrong class it is most often predicted as and that share of its samples ("1→3 40%"). */
function mostConfused(confusion: number[][]): string {
  return confusion
    .map((row, t) => {
      const total = row.reduce((a, b) => a + b, 0);
      let worst = -1;
      row.forEach((v, p) => {
        if (p !== t && (worst < 0 || v > row[worst])) worst = p;
      });
      return total && worst >= 0 ? `${t}→${worst} ${((100 * row[worst]) / total).toFixed(0)}%` : `${t}: –`;
    })
    .join(', ');
}

const accs = runs.map((r) => r.accuracy);
const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
const std = Math.sqrt(accs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, accs.length - 1));
const s = config!.synthesis;
const st = config!.student;
const avg = (f: (r: (typeof runs)[number]) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
const command = `npm run bench:repro -- ${process.argv.slice(2).map((a) => (a.includes('/') ? `<${path.basename(a)}>` : a)).join(' ')}`;
const result = {
  dataset,
  preset,
  label: [args.values.get('label'), usedCache ? 'synthesis from a cached pool: its time is not (all) this run' : ''].filter(Boolean).join('; '),
  budget: { sets: s.sets, steps: s.steps, batch: s.batchSize, samples: s.sets * s.batchSize, samplesUsed, studentEpochs: st.epochs, studentLr: Number(peakLr.toPrecision(3)), studentInit: fromTeacher ? 'teacher' : 'random', studentHint: hinted ? st.hint : 0 },
  overrides: args.repeated.get('set') ?? [],
  student: st.arch,
  teacherAccuracy: teacherAcc,
  studentAccuracy: { mean, std, runs: accs },
  wallSec: { synthesis: avg((r) => r.synthesisSec), student: avg((r) => r.studentSec) },
  synthesisWorkers: workersUsed,
  backend,
  machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`,
  date: new Date().toISOString().slice(0, 10),
  command,
};
process.stdout.write(JSON.stringify(result) + '\n');

if (!args.flags.has('no-record')) {
  const file = path.join(import.meta.dirname, '..', 'BENCHMARKS.md');
  const marker = '<!-- repro-rows -->';
  const text = await readFile(file, 'utf8');
  const pct = (v: number) => (100 * v).toFixed(2);
  const band = st.etaMin > 0 ? (st.etaMax < 1e9 ? `${st.etaMin}–${st.etaMax}` : `≥ ${st.etaMin}`) : `≤ ${st.etaMax}`;
  const samplesCell = samplesUsed < result.budget.samples ? `${samplesUsed} of ${result.budget.samples} (η ${band})` : `${result.budget.samples}`;
  const row =
    `| ${result.date} | ${dataset} | ${preset}${result.label ? ` (${result.label})` : ''} | ${s.sets}×${s.steps}×${s.batchSize} | ${samplesCell} | ` +
    `${st.epochs} @ lr ${result.budget.studentLr}${fromTeacher ? ' from the teacher' : ''}${hinted ? `, hints ${st.hint}` : ''} | ${result.wallSec.synthesis.toFixed(0)} s${workersUsed > 1 ? ` (${workersUsed} workers)` : ''} / ${result.wallSec.student.toFixed(0)} s | ${pct(teacherAcc)} | ` +
    `${pct(mean)}${runs.length > 1 ? ` ± ${pct(std)} (${runs.length} seeds)` : ''} | \`${command}\` |`;
  if (text.includes(marker)) await writeFile(file, text.replace(marker, `${row}\n${marker}`));
  else process.stderr.write(`BENCHMARKS.md has no ${marker} marker; row not recorded\n`);
}
