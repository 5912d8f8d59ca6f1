/**
 * `npm run fuzz:import -- [--cases 2000] [--seed 1] [--deadline 20] [--out report.json]`
 *
 * The import sweep: the structured damaged files and `--cases` random ones from `--seed` (src/io/damaged-corpus.ts)
 * go through the importer on a load thread, each under a deadline of `--deadline` seconds
 * (src/cli/import-fuzz.ts). Prints progress on stderr, then the summary (cases tried, loaded, refused with a
 * message, hung, crashed), the verdicts per fixture, and every case that hung or crashed with its damage. Exits 1
 * when any case hung or crashed. `--out` writes every case's verdict and message as JSON.
 */
import { writeFile } from 'node:fs/promises';
import { corpusFixtures, randomCases, structuredCases } from '../src/io/damaged-corpus';
import { parseArgs, numberOpt } from '../src/cli/args';
import { useBackend } from '../src/cli/backend';
import { runCorpus, type Verdict } from '../src/cli/import-fuzz';
import { failInOneLine } from '../src/cli/one-line-failures';

failInOneLine('fuzz:import');
const args = parseArgs(process.argv.slice(2), { values: ['cases', 'seed', 'deadline', 'out'] });
const count = numberOpt(args, 'cases', 2000);
const seed = numberOpt(args, 'seed', 1);
const deadlineMs = numberOpt(args, 'deadline', 20) * 1000;

await useBackend();
const fixtures = await corpusFixtures();
const cases = [...(await structuredCases(fixtures)), ...randomCases(fixtures, count, seed)];
const started = Date.now();
const summary = await runCorpus(cases, {
  deadlineMs,
  warmup: fixtures[0].files,
  onResult: (r, done) => {
    if (r.verdict === 'hung' || r.verdict === 'crashed') process.stderr.write(`${r.verdict}: ${r.id} (${r.damage}): ${r.detail}\n`);
    if (done % 100 === 0 || done === cases.length) process.stderr.write(`${done}/${cases.length} cases, ${Math.round((Date.now() - started) / 1000)} s\n`);
  },
});

const { counts } = summary;
const slowest = summary.results.reduce((a, b) => (b.ms > a.ms ? b : a));
console.log(
  `cases tried ${summary.tried} (structured ${cases.length - count}, random ${count}, seed ${seed}), loaded ${counts.loaded}, refused with a message ${counts.refused}, hung ${counts.hung}, crashed ${counts.crashed}; ${Math.round((Date.now() - started) / 1000)} s, slowest case ${slowest.ms} ms`,
);
const verdicts: Verdict[] = ['loaded', 'refused', 'hung', 'crashed'];
console.log(`\n| fixture | ${verdicts.join(' | ')} |\n| --- | ${verdicts.map(() => '---').join(' | ')} |`);
for (const f of fixtures) {
  const mine = summary.results.filter((r) => r.fixture === f.name);
  console.log(`| ${f.name} | ${verdicts.map((v) => mine.filter((r) => r.verdict === v).length).join(' | ')} |`);
}
for (const r of summary.results.filter((x) => x.verdict === 'hung' || x.verdict === 'crashed')) console.log(`${r.verdict}: ${r.id} ${r.damage}: ${r.detail}`);
const out = args.values.get('out');
if (out) await writeFile(out, JSON.stringify(summary, null, 1));
process.exitCode = counts.hung + counts.crashed > 0 ? 1 : 0;
