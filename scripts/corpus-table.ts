/**
 * `node --import tsx scripts/corpus-table.ts [corpus_dir]`: every model of the import corpus (built by
 * `npm run corpus`) through load, inspect, gradient check and a smoke distillation; prints the README's
 * "Teacher formats" table (one row per model and toolchain, variants with the same outcome together) and writes
 * <corpus>/results.json.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { initNodeBackend } from '../src/tfjs/node-backend';
import { checkEntry, readManifest, type CorpusResult } from './corpus-check';

const DIR = process.argv[2] ?? 'corpus';
await initNodeBackend();
const results: CorpusResult[] = [];
for (const entry of await readManifest(DIR)) {
  const r = await checkEntry(DIR, entry);
  results.push(r);
  process.stderr.write(`${r.works ? 'works' : 'FAILS'} ${entry.file} (${r.seconds.toFixed(1)} s)${r.reason ? `: ${r.reason}` : ''}\n`);
}
await writeFile(path.join(DIR, 'results.json'), JSON.stringify(results, null, 1));

// One row per model and toolchain; variants with the same outcome share it.
const rows = new Map<string, { model: string; toolchain: string; versions: string[]; outcome: string }>();
for (const r of results) {
  const outcome = r.works ? 'works' : `no: ${r.reason}`;
  const key = `${r.entry.model}\u0000${r.entry.toolchain}\u0000${outcome}`;
  const row = rows.get(key) ?? { model: r.entry.model, toolchain: r.entry.toolchain, versions: [], outcome };
  row.versions.push(r.entry.version);
  rows.set(key, row);
}
/** "opset 11, dynamic batch; opset 13, static batch; …" → "opsets 11, 13 (dynamic batch); 13 (batch 1)". */
function versionsText(versions: string[]): string {
  const parsed = versions.map((v) => /^opset (\d+), (\w+) batch$/.exec(v));
  if (parsed.some((m) => !m)) return versions.join('; ');
  const byBatch = new Map<string, number[]>();
  for (const m of parsed) byBatch.set(m![2], [...(byBatch.get(m![2]) ?? []), Number(m![1])]);
  return [...byBatch]
    .map(([batch, opsets]) => `opset${opsets.length > 1 ? 's' : ''} ${opsets.sort((a, b) => a - b).join(', ')} (${batch === 'static' ? 'batch fixed to 1' : 'dynamic batch'})`)
    .join('; ');
}

const exported = results.filter((r) => !r.entry.exportError);
const lines = [
  '| model | toolchain | opset / version | result |',
  '| --- | --- | --- | --- |',
  ...[...rows.values()].map((r) => `| ${r.model} | ${r.toolchain} | ${versionsText(r.versions)} | ${r.outcome.replace(/\|/g, '\\|')} |`),
  '',
  `${exported.filter((r) => r.works).length} of ${exported.length} variants work (load, inspect with the right classes, input shape, layout and output kind, pass the gradient check, distil on smoke); ${results.length - exported.length} more could not be exported by their toolchain.`,
];
process.stdout.write(lines.join('\n') + '\n');
