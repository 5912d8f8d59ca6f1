import { expect, test } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { fixtureHash, loadFixtureTeacher, openStudio, SMOKE_HASH, unzip, waitForRunEnd } from './fixtures';

type Hooks = { cakeStudio: { setFreeStorage(bytes: number | undefined): void } };

test('storage is checked before a run: too little turns checkpoints off with a message, and the run still finishes', async ({ page }) => {
  await openStudio(page, SMOKE_HASH, 'wasm');
  await loadFixtureTeacher(page);
  await page.evaluate(() => (window as unknown as Hooks).cakeStudio.setFreeStorage(1000));
  await page.getByRole('button', { name: 'Start' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'Checkpoints are off for this run' });
  await expect(alert).toBeVisible();
  await expect(alert).toContainText(/need about [\d.]+ KiB of browser storage and only 1\.0 KiB is free/);
  expect(await waitForRunEnd(page)).toContain('Finished');
  await expect(page.getByTestId('checkpoint-status')).toHaveText('Checkpoints: off for this run');

  // With room (the browser's own estimate), the line shows what the run needs.
  await page.evaluate(() => (window as unknown as Hooks).cakeStudio.setFreeStorage(undefined));
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page)).toContain('Finished');
  await expect(page.getByTestId('checkpoint-status')).toContainText(/Checkpoint saved: epoch 1 of 1 · needs [\d.]+ KiB of [\d.]+ (KiB|MiB) free/);
  await expect(page.getByRole('alert').filter({ hasText: 'Checkpoints are off' })).toHaveCount(0);
});

test('run history lists past runs with settings and metrics; a student can be re-downloaded and a run deleted', async ({ page }) => {
  await openStudio(page, SMOKE_HASH, 'wasm');
  await loadFixtureTeacher(page);
  for (let i = 0; i < 2; i++) {
    await page.getByRole('button', { name: 'Start' }).click();
    expect(await waitForRunEnd(page)).toContain('Finished');
  }
  const items = page.getByTestId('run-item');
  await expect(items).toHaveCount(2);
  await expect(items.first()).toContainText('seed 7');
  await expect(items.first()).toContainText(/agreement \d/);
  await expect(items.first().getByTestId('run-item-status')).toHaveText('finished');

  // Still there after a reload, and the student comes back as the same zip the result panel gives.
  await page.reload();
  await expect(page.getByTestId('run-item')).toHaveCount(2);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('run-item').first().getByRole('button', { name: 'Download' }).click()]);
  const zip = unzip(await readFile(await download.path()));
  expect(Object.keys(zip).sort()).toEqual(['model.json', 'report.json', 'settings.json', 'weights.bin']);
  expect(JSON.parse(new TextDecoder().decode(zip['settings.json'])).config.seed).toBe(7);

  await page.getByTestId('run-item').first().getByRole('button', { name: /^Delete run/ }).click();
  await expect(page.getByTestId('run-item')).toHaveCount(1);
  await page.reload();
  await expect(page.getByTestId('run-item')).toHaveCount(1);
});

test('when storage fills up mid-run, checkpoints stop with a message and the run still finishes', async ({ page }) => {
  await openStudio(page, fixtureHash({ seed: 17, 'synthesis.sets': 10, 'synthesis.steps': 30 }), 'wasm');
  await loadFixtureTeacher(page);
  // The quota runs out at the fourth set: armed before Start, so the failure lands mid-run however fast the run is.
  await page.evaluate(() => (window as unknown as { cakeStudio: { failCheckpoints(fromSet: number): void } }).cakeStudio.failCheckpoints(3));
  await page.getByRole('button', { name: 'Start' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'checkpoints stopped' });
  await expect(alert).toContainText('quota has been exceeded');
  await expect(alert).toContainText('the run goes on');
  expect(await waitForRunEnd(page)).toContain('Finished');
  await expect(page.getByTestId('checkpoint-status')).toHaveText('Checkpoints: off for this run');
  // The run is still in the history, finished and re-downloadable.
  await expect(page.getByTestId('run-item').first().getByTestId('run-item-status')).toHaveText('finished');
});
