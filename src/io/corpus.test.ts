import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkEntry, readManifest, type CorpusEntry } from '../../scripts/corpus-check';
import { initNodeBackend } from '../tfjs/node-backend';

// The import corpus (models as PyTorch, Keras 2, Keras 3 and tensorflowjs_converter export them; built outside git by
// `npm run corpus`): each must load, inspect with the right classes, input shape, layout and output kind, pass the
// gradient check and distil on (a reduced) smoke preset. Skipped where corpus/ has not been built.

const DIR = 'corpus';
const built = existsSync(`${DIR}/manifest.json`);
if (!built) console.warn('skipping the corpus tests: corpus/ has not been built (npm run corpus builds it, with Debian python3-torch)');

beforeAll(async () => {
  await initNodeBackend();
});

describe.skipIf(!built)('the import corpus', () => {
  const entries: CorpusEntry[] = [];
  beforeAll(async () => {
    entries.push(...(await readManifest(DIR)));
  });

  it('every exported model works; a variant its toolchain could not export is reported as such', async () => {
    expect(entries.length).toBeGreaterThanOrEqual(25);
    const failures: string[] = [];
    for (const entry of entries) {
      const r = await checkEntry(DIR, entry);
      if (entry.exportError) expect(r.reason).toMatch(/cannot export it/);
      else if (!r.works) failures.push(`${entry.file}: ${r.reason}`);
    }
    expect(failures).toEqual([]);
  }, 900_000);
});
