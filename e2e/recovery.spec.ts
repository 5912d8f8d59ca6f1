import { expect, test } from '@playwright/test';
import { fixtureHash, loadFixtureTeacher, openStudio, state, waitForRunEnd } from './fixtures';

// Long enough that the crash lands mid-synthesis: on an idle machine the fixture makes a set in under 0.1 s.
const LONG = fixtureHash({ seed: 13, 'synthesis.sets': 48, 'synthesis.steps': 30, 'student.epochs': 2, 'student.batchSize': 16 });

test('a worker crash says what happened and the run resumes from its checkpoint', async ({ page }) => {
  test.setTimeout(180_000);
  await openStudio(page, LONG, 'wasm');
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByTestId('checkpoint-status')).toHaveText(/Checkpoint saved: set ([2-9]|1\d) of 48/, { timeout: 60_000 });

  await page.evaluate(() => (window as unknown as { cakeStudio: { crashWorker(r?: string): void } }).cakeStudio.crashWorker());
  const alert = page.getByRole('alert').filter({ hasText: 'stopped unexpectedly' });
  await expect(alert).toBeVisible();
  await expect(alert).toContainText('deliberate worker crash');
  await expect(alert).toContainText('Resume from checkpoint');
  await expect(page.getByTestId('run-status')).toContainText('Failed');

  const item = page.getByTestId('run-item').first();
  await expect(item.getByTestId('run-item-status')).toHaveText('interrupted');
  await item.getByRole('button', { name: 'Resume from checkpoint' }).click();
  expect(await waitForRunEnd(page)).toContain('Finished');
  expect(await state<number>(page, 's.run.resumedFrom.setsDone')).toBeGreaterThanOrEqual(2);
});

test('a crash for memory suggests a smaller batch', async ({ page }) => {
  await openStudio(page, LONG, 'wasm');
  await loadFixtureTeacher(page);
  await page.evaluate(() =>
    (window as unknown as { cakeStudio: { crashWorker(r?: string): void } }).cakeStudio.crashWorker('RangeError: Array buffer allocation failed'),
  );
  const alert = page.getByRole('alert').filter({ hasText: 'stopped unexpectedly' });
  await expect(alert).toContainText('ran out of memory');
  await expect(alert).toContainText('smaller batch');
  // The restarted worker reloads the teacher; the studio stays usable.
  await expect(page.getByText(/Backend: wasm/)).toBeVisible();
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled({ timeout: 60_000 });
});

test('a lost WebGPU device is reported, and the run moves to WASM and resumes from its checkpoint', async ({ page }) => {
  test.setTimeout(240_000);
  const hash = fixtureHash({
    seed: 14,
    'synthesis.sets': 6,
    'synthesis.steps': 2,
    'synthesis.batchSize': 10,
    'student.epochs': 1,
    'student.batchSize': 10,
    'student.valFraction': 0.1,
  });
  await openStudio(page, hash, 'webgpu');
  await expect(page.getByText('Backend: webgpu')).toBeVisible();
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByTestId('checkpoint-status')).toHaveText(/Checkpoint saved: set [1-5] of 6/, { timeout: 120_000 });

  await page.evaluate(() => (window as unknown as { cakeStudio: { loseDevice(): void } }).cakeStudio.loseDevice());
  await expect(page.getByRole('alert').filter({ hasText: 'WebGPU device was lost' })).toContainText('moved to the WASM backend');
  await expect(page.getByText('Backend: wasm')).toBeVisible({ timeout: 60_000 });
  expect(await waitForRunEnd(page, 120_000)).toContain('Finished');
  expect(await state<string>(page, 's.result.report.backend')).toBe('wasm');
  expect(await state<number>(page, 's.run.resumedFrom.setsDone')).toBeGreaterThanOrEqual(1);
  const losses = await state<Record<string, number>>(page, 's.result.report.studentTraining');
  expect(Number.isFinite(losses.finalTrainLoss)).toBe(true);
});
