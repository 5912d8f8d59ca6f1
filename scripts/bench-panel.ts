/**
 * `npm run bench:repro -- --panel <panel dir> [--data ../shared/data] [--only name,name] [--out results.json] <bench:repro options>`
 *
 * Runs `bench:repro` (the same engine as `cake distill`) on every teacher of a panel (scripts/panel.ts; built by
 * `npm run panel:build`), one after another, each in its own process, and reports each teacher's student accuracy
 * and, per data set and over the whole panel, the mean and the **minimum**: presets are chosen on the minimum.
 * Every other option (--preset, --seeds, --set, --workers, --student, --pool-cache …) goes to each run unchanged; a
 * --pool-cache path gets the member's name appended.
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PanelFile } from './panel';

interface ReproResult {
  dataset: string;
  teacherAccuracy: number;
  studentAccuracy: { mean: number; std: number; runs: number[] };
  wallSec: { synthesis: number; student: number };
  budget: Record<string, unknown>;
  command: string;
}

export async function runPanel(argv: string[]): Promise<void> {
  const take = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    argv.splice(i, 2);
    return v;
  };
  const dir = take('--panel')!;
  const dataRoot = take('--data') ?? path.join('..', 'shared', 'data');
  const only = take('--only')?.split(',');
  const outFile = take('--out');
  const cache = take('--pool-cache');
  const panel = JSON.parse(await readFile(path.join(dir, 'panel.json'), 'utf8').catch(() => {
    throw new Error(`${dir} has no panel.json: build the panel with npm run panel:build -- --data <dir> --out ${dir}`);
  })) as PanelFile;
  const script = path.join(import.meta.dirname, 'bench-repro.ts');
  const rows: { name: string; dataset: string; teacher: number; student: number; std: number; runs: number[]; sec: number }[] = [];
  const startedAt = new Date().toISOString();
  for (const m of panel.members) {
    if (only && !only.includes(m.name)) continue;
    const args = [
      '--import', 'tsx', script,
      '--teacher', path.join(dir, m.teacher),
      '--dataset', m.dataset,
      '--data', path.join(dataRoot, m.dataset),
      '--no-record', '--quiet',
      ...(cache ? ['--pool-cache', `${cache}.${m.name}`] : []),
      ...argv,
    ];
    const t0 = Date.now();
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !line.startsWith('{')) {
      process.stderr.write(`${m.name}: bench:repro failed (exit ${r.status})\n`);
      rows.push({ name: m.name, dataset: m.dataset, teacher: NaN, student: NaN, std: NaN, runs: [], sec: (Date.now() - t0) / 1000 });
      continue;
    }
    const res = JSON.parse(line) as ReproResult;
    rows.push({
      name: m.name,
      dataset: m.dataset,
      teacher: res.teacherAccuracy,
      student: res.studentAccuracy.mean,
      std: res.studentAccuracy.std,
      runs: res.studentAccuracy.runs,
      sec: (Date.now() - t0) / 1000 / Math.max(1, res.studentAccuracy.runs.length),
    });
    process.stderr.write(`${m.name}: teacher ${pct(res.teacherAccuracy)} %, student ${pct(res.studentAccuracy.mean)} % (${res.studentAccuracy.runs.map(pct).join(', ')}), ${rows.at(-1)!.sec.toFixed(0)} s a seed\n`);
  }
  const summarise = (sel: typeof rows) => {
    const accs = sel.map((r) => r.student);
    return { mean: accs.reduce((a, b) => a + b, 0) / Math.max(1, accs.length), min: Math.min(...accs), worst: sel[accs.indexOf(Math.min(...accs))]?.name };
  };
  const datasets = [...new Set(rows.map((r) => r.dataset))];
  const summary = {
    panel: path.basename(path.resolve(dir)),
    options: argv.join(' '),
    startedAt,
    members: rows,
    byDataset: Object.fromEntries(datasets.map((d) => [d, summarise(rows.filter((r) => r.dataset === d))])),
  };
  process.stderr.write('\n| teacher | teacher acc. | student | s a seed |\n| --- | --- | --- | --- |\n');
  for (const r of rows) process.stderr.write(`| ${r.name} | ${pct(r.teacher)} % | ${pct(r.student)} %${r.runs.length > 1 ? ` ± ${pct(r.std)}` : ''} | ${r.sec.toFixed(0)} |\n`);
  for (const d of datasets) process.stderr.write(`${d}: mean ${pct(summary.byDataset[d].mean)} %, minimum ${pct(summary.byDataset[d].min)} % (${summary.byDataset[d].worst})\n`);
  process.stdout.write(JSON.stringify(summary) + '\n');
  if (outFile) await writeFile(outFile, JSON.stringify(summary, null, 2));
}

function pct(v: number): string {
  return (100 * v).toFixed(2);
}
