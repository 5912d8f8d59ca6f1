/**
 * `npm run -s pool:mix -- --out <file> --eta0 <η> --decades <d> <pool file> <pool file> …`
 *
 * One synthetic pool from the sets of several `bench:repro --pool-cache` files (the files keep their `.seedN`
 * suffix), to measure a student on a mix of sets made with different step sizes and step counts (issue 4's "mixing
 * sets of different η"). The engine makes a pool from one η schedule, so the mix is made here and handed back to
 * `bench:repro --pool-cache` as a complete pool of a run with `--set synthesis.sets=<total>` and the given η0 and
 * decades: for that the sets are renumbered and each set's stored η is replaced by that schedule's (the engine
 * refuses a cache whose η differ from the run's). The student then reads no η (its band must stay open, the
 * default), so the replacement changes nothing it learns; the sets' own η are printed, in order, with the summary.
 */
import { writeFile } from 'node:fs/promises';
import { encodePool, SyntheticPool } from '../src/cake/pool';
import { etaForSet } from '../src/cake/schedule';
import { parseArgs, required } from '../src/cli/args';
import { failInOneLine } from '../src/cli/one-line-failures';
import { readPoolFile } from '../src/cli/node-files';

failInOneLine('pool:mix');

const args = parseArgs(process.argv.slice(2), { values: ['out', 'eta0', 'decades'] });
const out = required(args, 'out');
const eta0 = Number(required(args, 'eta0'));
const decades = Number(required(args, 'decades'));
if (!(eta0 > 0) || !(decades >= 0)) throw new Error('--eta0 must be positive and --decades at least 0');
if (args.positionals.length < 2) throw new Error('give at least two pool files to mix');

const pools = await Promise.all(args.positionals.map(readPoolFile));
const [first] = pools;
pools.forEach((p, i) => {
  if (p.sampleSize !== first.sampleSize || p.numClasses !== first.numClasses || p.chunkSize !== first.chunkSize)
    throw new Error(`${args.positionals[i]}: its samples, classes or set size differ from ${args.positionals[0]}'s`);
});
const chunks = pools.flatMap((p) => p.chunks);
const mixed = new SyntheticPool(first.sampleSize, first.numClasses, first.chunkSize);
chunks.forEach((c, m) => mixed.add({ ...c, set: m, eta: etaForSet(m, chunks.length, eta0, decades, 'linear') }));
await writeFile(out, encodePool(mixed));
const round = (v: number) => Number(v.toPrecision(3));
process.stdout.write(
  JSON.stringify({ out, sets: chunks.length, from: args.positionals, etaOfTheSets: chunks.map((c) => round(c.eta)) }) + '\n',
);
