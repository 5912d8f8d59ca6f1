/**
 * `npm run bench:eta -- --teacher <model.json> [--etas 0.1,0.01,0.001] [--set key=value …]`
 *
 * What one synthesis set looks like at each step size η: the share of samples that reach their target class, the
 * samples' spread and range, the teacher's confidence and label entropy, and the class histogram of its top-1
 * answers. This is how the η range lever was chosen (BENCHMARKS.md): below some η the set barely leaves the noise
 * and the teacher labels most of it with one class; far above it the samples leave the input range. Prints one
 * JSON line per η. Everything else comes from the `quick` preset and --set overrides.
 */
import { applySettings, presetConfig } from '../src/cake/config';
import { Rng, STREAM } from '../src/cake/rng';
import { synthesizeSet } from '../src/cake/synthesis';
import { loadTeacher } from '../src/io/teacher-load';
import { parseArgs, required } from '../src/cli/args';
import { useBackend } from '../src/cli/backend';
import { readTeacherFiles } from '../src/cli/node-files';

const args = parseArgs(process.argv.slice(2), { values: ['teacher', 'etas', 'seed'], repeated: ['set'] });
await useBackend();
const loaded = await loadTeacher(await readTeacherFiles([required(args, 'teacher')]));
const teacher = loaded.teacher;
const seed = Number(args.values.get('seed') ?? 0);
let config = presetConfig('quick', teacher, seed);
config = applySettings(config, args.repeated.get('set') ?? []);
const etas = (args.values.get('etas') ?? '0.1,0.03,0.01,0.003,0.001,0.0001').split(',').map(Number);
const C = teacher.numClasses;
const round = (v: number, d = 3) => Number(v.toFixed(d));

for (const eta of etas) {
  const start = Date.now();
  const o = await synthesizeSet({ teacher, cfg: config.synthesis, set: 0, eta, rng: Rng.derive(seed, STREAM.synthesis, 0) });
  let sum = 0;
  let sq = 0;
  let min = Infinity;
  let max = -Infinity;
  let outside = 0;
  const [lo, hi] = config.synthesis.clampRange;
  for (const v of o.x) {
    sum += v;
    sq += v * v;
    min = Math.min(min, v);
    max = Math.max(max, v);
    if (v < lo || v > hi) outside++;
  }
  const n = o.x.length;
  const B = o.targets.length;
  const top = new Array(C).fill(0);
  let entropy = 0;
  let confidence = 0;
  for (let i = 0; i < B; i++) {
    let best = 0;
    for (let c = 0; c < C; c++) {
      const p = o.probs[i * C + c];
      if (p > o.probs[i * C + best]) best = c;
      if (p > 0) entropy -= p * Math.log(p);
    }
    top[best]++;
    confidence += o.probs[i * C + best];
  }
  const mean = sum / n;
  process.stdout.write(
    JSON.stringify({
      eta,
      steps: config.synthesis.steps,
      hitRate: round(o.hitRate),
      std: round(Math.sqrt(sq / n - mean * mean)),
      range: [round(min, 2), round(max, 2)],
      outsideRange: round(outside / n),
      meanConfidence: round(confidence / B),
      meanEntropyNats: round(entropy / B),
      topClassHistogram: top,
      seconds: round((Date.now() - start) / 1000, 1),
    }) + '\n',
  );
}
loaded.dispose();
