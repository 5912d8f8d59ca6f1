/**
 * One corpus model through what a user's teacher goes through: load, inspect (classes, input shape, layout, output
 * kind, the input-gradient check) and a smoke distillation. Shared by `npm run corpus` (which prints the README's
 * table) and src/io/corpus.test.ts (which fails on any model that stops working).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { presetConfig, runCake, withOverrides } from '../src/cake';
import { readTeacherFiles } from '../src/cli/node-files';
import { inspectTeacher, teacherTraits } from '../src/io/teacher-info';
import { loadTeacher } from '../src/io/teacher-load';
import { buildStudent } from '../src/models/students';

export interface CorpusEntry {
  /** Relative to the corpus folder: a model file, or a folder (a tfjs model). */
  file: string;
  model: string;
  toolchain: string;
  version: string;
  inputShape: number[];
  layout: string;
  classes: number;
  outputKind: 'logits' | 'probabilities';
  /** Set when the exporting toolchain itself could not write this variant. */
  exportError?: string;
}

export interface CorpusResult {
  entry: CorpusEntry;
  works: boolean;
  /** Why not, exactly as CAKE says it (or what did not match). */
  reason?: string;
  params?: number;
  seconds: number;
}

export async function readManifest(dir: string): Promise<CorpusEntry[]> {
  return JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as CorpusEntry[];
}

/** Smoke, made smaller still: one set of 2 steps, one epoch; enough to run every stage once. */
const SMOKE = { synthesis: { sets: 1, steps: 2, batchSize: 20 }, student: { epochs: 1, batchSize: 10, valFraction: 0.25 } };

export async function checkEntry(dir: string, entry: CorpusEntry, opts: { distill?: boolean } = {}): Promise<CorpusResult> {
  const started = Date.now();
  const done = (works: boolean, reason?: string, params?: number): CorpusResult => ({ entry, works, reason, params, seconds: (Date.now() - started) / 1000 });
  if (entry.exportError) return done(false, `${entry.toolchain.split(' ')[0]} cannot export it: ${entry.exportError}`);
  let loaded;
  try {
    loaded = await loadTeacher(await readTeacherFiles([path.join(dir, entry.file)]));
  } catch (e) {
    return done(false, (e as Error).message);
  }
  try {
    const info = await inspectTeacher(loaded);
    const mismatch = [
      String(info.inputShape) !== String(entry.inputShape) && `input shape [${info.inputShape}] instead of [${entry.inputShape}]`,
      info.layout !== entry.layout && `layout ${info.layout} instead of ${entry.layout}`,
      info.numClasses !== entry.classes && `${info.numClasses} classes instead of ${entry.classes}`,
      info.outputKind !== entry.outputKind && `output read as ${info.outputKind} instead of ${entry.outputKind}`,
      !info.gradientCheck?.ok && `gradient check failed: ${info.gradientCheck?.message}`,
    ].filter(Boolean);
    if (mismatch.length > 0) return done(false, mismatch.join('; '), info.params);
    if (opts.distill !== false) {
      const traits = teacherTraits(info);
      const config = withOverrides(presetConfig('smoke', traits, 1), SMOKE);
      const built = buildStudent(config.student.arch, info.inputShape, info.numClasses, loaded.model, { seed: 1 });
      try {
        const { student } = await runCake({ teacher: loaded.teacher, config, student: built.model, studentArch: built.arch, logitsFrom: info.logitsFrom, progressIntervalMs: 1e9 });
        student.dispose();
      } catch (e) {
        built.model.dispose();
        return done(false, `smoke distillation failed: ${(e as Error).message.split('\n')[0]}`, info.params);
      }
    }
    return done(true, undefined, info.params);
  } catch (e) {
    return done(false, (e as Error).message.split('\n')[0]);
  } finally {
    loaded.dispose();
  }
}
