import { expect, test } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { decodePool } from '../src/cake/pool';
import { FIXTURE_CLASSES, loadFixtureTeacher, openStudio, SMOKE_HASH, state, unzip, waitForRunEnd } from './fixtures';

test('the file input accepts every teacher format; the card names the format; augmentation settings are shown', async ({ page }) => {
  await openStudio(page, SMOKE_HASH, 'wasm');
  const accept = (await page.getByLabel('Teacher model files').getAttribute('accept')) ?? '';
  for (const ext of ['.h5', '.hdf5', '.keras', '.onnx', '.data', '.zip', '.json', '.bin']) expect(accept.split(',')).toContain(ext);
  // Weight shards often have no extension (group1-shard1of1): a generic binary type lets the dialog show them.
  expect(accept).toContain('application/octet-stream');

  await loadFixtureTeacher(page);
  await expect(page.getByTestId('teacher-format')).toHaveText('TensorFlow.js layers model');

  await page.locator('summary', { hasText: 'Student training' }).click();
  await expect(page.getByLabel('Augment: shift (px)')).toHaveValue('0');
  await expect(page.getByLabel('Augment: mixup share')).toHaveValue('0');
  await page.getByLabel('Augment: mixup share').fill('2');
  await expect(page.getByText('must be in [0, 1], got 2')).toBeVisible();
  await page.getByLabel('Augment: mixup share').fill('0.25');
  await page.getByLabel('Augment: shift (px)').fill('2');
  expect(await state<string>(page, 's.settings.overrides["student.augShift"]')).toBe('2');
});

test('the download can include the synthetic pool as pool.bin, with its size shown', async ({ page }) => {
  await openStudio(page, SMOKE_HASH, 'wasm');
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page)).toContain('Finished');

  const sets = await state<number>(page, 's.result.report.config.synthesis.sets');
  const batch = await state<number>(page, 's.result.report.config.synthesis.batchSize');
  const expected = 24 + sets * (16 + 4 * batch * (16 * 16 + FIXTURE_CLASSES));
  expect(await state<number>(page, 's.result.summary.poolBytes')).toBe(expected);
  await expect(page.getByTestId('pool-size')).toContainText(`${(expected / 1024).toFixed(1)} KiB`);

  // Off by default: the plain zip has no pool.
  const [plain] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download student' }).click()]);
  expect(Object.keys(unzip(await readFile(await plain.path())))).not.toContain('pool.bin');

  await page.getByLabel('Include synthetic pool').check();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download student' }).click()]);
  const zip = unzip(await readFile(await download.path()));
  expect(Object.keys(zip).sort()).toEqual(['model.json', 'pool.bin', 'report.json', 'settings.json', 'weights.bin']);
  expect(zip['pool.bin'].byteLength).toBe(expected);
  const pool = decodePool(zip['pool.bin']);
  expect(pool.chunks.length).toBe(sets);
  expect(pool.size).toBe(sets * batch);
  expect(pool.numClasses).toBe(FIXTURE_CLASSES);
  for (const c of pool.chunks) expect(c.x.every(Number.isFinite)).toBe(true);
});
