/**
 * `npm run panel:build -- --data <dir with mnist/ and fashion-mnist/> --out <panel dir> [--only name,name]`
 *
 * Trains the teacher panel's members (scripts/panel.ts) that <panel dir> lacks, one after another, and writes
 * <panel dir>/panel.json. PyTorch members need Debian's python3-torch (/usr/bin/python3); `cake` members are trained
 * by `cake train-teacher` (30 epochs, about 6 minutes each on an idle 2-core machine).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, required } from '../src/cli/args';
import { failInOneLine } from '../src/cli/one-line-failures';
import { PANEL, type PanelFile, type PanelMember } from './panel';

failInOneLine('panel:build');

const args = parseArgs(process.argv.slice(2), { values: ['data', 'out', 'only'] });
const dataRoot = required(args, 'data');
const out = required(args, 'out');
const only = args.values.get('only')?.split(',');
const root = path.join(import.meta.dirname, '..');

/** Epochs and peak rate of the PyTorch members: 8 epochs of one-cycle reach 99.3-99.5 % (MNIST), 90-91 % (Fashion-MNIST). */
const TORCH = { epochs: 8, lr: 0.05 };

function train(m: PanelMember, dir: string): void {
  const data = path.join(dataRoot, m.dataset);
  const cmd =
    m.maker === 'torch'
      ? ['/usr/bin/python3', [path.join(root, 'scripts/train-teacher-torch.py'), '--data', data, '--dataset', m.dataset, '--out', dir,
          '--aug', m.aug ?? 'none', '--head', m.head ?? 'logits', '--seed', String(m.seed), '--epochs', String(TORCH.epochs),
          '--lr', String(TORCH.lr), ...(m.metadata ? ['--metadata'] : [])]]
      : [process.execPath, [path.join(root, 'bin/cake.mjs'), 'train-teacher', '--data', data, '--dataset', m.dataset, '--seed', String(m.seed), '--out', dir]];
  process.stderr.write(`training ${m.name}\n`);
  const r = spawnSync(cmd[0] as string, cmd[1] as string[], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, THREADS: '1' } });
  if (r.status !== 0) throw new Error(`training ${m.name} failed (exit ${r.status})`);
}

async function testAccuracy(dir: string): Promise<number | undefined> {
  const meta = await readFile(path.join(dir, 'metadata.json'), 'utf8').then(JSON.parse, () => undefined);
  return typeof meta?.testAccuracy === 'number' ? meta.testAccuracy : undefined;
}

const file: PanelFile = { members: [] };
for (const m of PANEL) {
  const dir = path.join(out, m.name);
  if (!existsSync(path.join(dir, 'model.json'))) {
    if (only && !only.includes(m.name)) continue;
    train(m, dir);
  }
  file.members.push({ ...m, teacher: `${m.name}/model.json`, testAccuracy: await testAccuracy(dir) });
}
await writeFile(path.join(out, 'panel.json'), JSON.stringify(file, null, 2));
process.stdout.write(JSON.stringify({ out, members: file.members.map((m) => m.name) }) + '\n');
