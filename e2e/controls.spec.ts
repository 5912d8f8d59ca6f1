import { expect, test } from '@playwright/test';
import { fixtureHash, loadFixtureTeacher, openStudio, state, waitForRunEnd } from './fixtures';

/** Global synthesis step of the latest progress the page has, or -1. */
const stepNow = (page: import('@playwright/test').Page) =>
  state<number>(page, 's.run.synthesis ? s.run.synthesis.set * s.run.synthesis.steps + s.run.synthesis.step : -1');

test('Pause holds the step count, Resume continues, Stop ends the run and the studio can start again', async ({ page }) => {
  await openStudio(page, fixtureHash({ seed: 3, 'synthesis.sets': 4, 'synthesis.steps': 2000 }), 'wasm');
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect.poll(() => stepNow(page)).toBeGreaterThan(5);

  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByRole('button', { name: 'Resume' })).toBeVisible();
  await expect(page.getByTestId('run-status')).toHaveText('Paused');
  await page.waitForTimeout(400); // the last events sent before the pause land
  const held = await stepNow(page);
  await page.waitForTimeout(1500);
  expect(await stepNow(page)).toBe(held);

  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(page.getByRole('button', { name: 'Pause' })).toBeVisible();
  await expect.poll(() => stepNow(page)).toBeGreaterThan(held);

  await page.getByRole('button', { name: 'Stop' }).click();
  expect(await waitForRunEnd(page)).toContain('Stopped');
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  await expect(page.getByRole('button', { name: 'Download student' })).toHaveCount(0);

  // Stop from the paused state works too.
  await page.getByRole('button', { name: 'Start' }).click();
  await expect.poll(() => stepNow(page)).toBeGreaterThan(0);
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByRole('button', { name: 'Resume' })).toBeVisible();
  await page.getByRole('button', { name: 'Stop' }).click();
  expect(await waitForRunEnd(page)).toContain('Stopped');
});
