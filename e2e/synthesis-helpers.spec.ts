import { expect, test, type Browser } from '@playwright/test';
import { fixtureHash, loadFixtureTeacher, openStudio, probeBatch, waitForRunEnd, type Studio } from './fixtures';

// Enough sets that two helpers each make several, out of order; shifted student batches, which the helpers label.
const HASH = fixtureHash({ seed: 21, 'synthesis.sets': 6, 'synthesis.steps': 12, 'student.epochs': 2, 'student.batchSize': 8, 'student.augShift': 1 });

/** A whole run with `?workers=N`; returns the student's predictions on a fixed probe and what the run panel said. */
async function runWith(browser: Browser, workers: number, hash = HASH): Promise<{ out: number[]; label: string | null }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openStudio(page, `?workers=${workers}${hash}`, 'wasm');
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByTestId('synthesis-progress')).toBeVisible({ timeout: 60_000 });
  const label = workers > 1 ? await page.getByTestId('synthesis-workers').textContent() : null;
  if (workers === 1) await expect(page.getByTestId('synthesis-workers')).toHaveCount(0);
  expect(await waitForRunEnd(page)).toContain('Finished');
  const probe = probeBatch(8);
  const out = await page.evaluate(
    ({ data, shape }) => (window as unknown as { cakeStudio: Studio }).cakeStudio.predict('student', data, shape),
    probe,
  );
  await context.close();
  return { out: out.data, label };
}

test('synthesis helpers (two workers making sets at once, then labelling student batches) give the same student as the worker alone', async ({ browser }) => {
  test.setTimeout(240_000);
  const alone = await runWith(browser, 1);
  const helped = await runWith(browser, 2);
  expect(helped.label).toContain('2 sets at once');
  expect(helped.out.length).toBe(alone.out.length);
  expect(Math.max(...helped.out.map((v, i) => Math.abs(v - alone.out[i])))).toBe(0);
});

// The helpers' activations themselves are checked against the teacher's in src/cli/parallel-synth.test.ts (Node
// threads, the same helper code); here only that a hinted run with helpers finishes with the student of a run without.
test('with feature hints, two helpers give the same student as the worker alone', async ({ browser }) => {
  test.setTimeout(240_000);
  const hinted = fixtureHash({ seed: 22, 'synthesis.sets': 2, 'synthesis.steps': 4, 'student.epochs': 2, 'student.batchSize': 8, 'student.augShift': 1, 'student.inherit': 'on', 'student.hint': '1' });
  const alone = await runWith(browser, 1, hinted);
  const helped = await runWith(browser, 2, hinted);
  expect(helped.out.length).toBe(alone.out.length);
  expect(Math.max(...helped.out.map((v, i) => Math.abs(v - alone.out[i])))).toBe(0);
});

test('Stop reaches the sets the helpers are making', async ({ page }) => {
  test.setTimeout(120_000);
  // Long sets: a stop that waited for them to finish would take minutes.
  await openStudio(page, `?workers=2${fixtureHash({ 'synthesis.sets': 4, 'synthesis.steps': 100000 })}`, 'wasm');
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByTestId('synthesis-workers')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('synthesis-progress')).toContainText(/step \d{2,}/, { timeout: 60_000 });
  await page.getByRole('button', { name: 'Pause' }).click();
  const paused = await page.getByTestId('synthesis-progress').textContent();
  await page.waitForTimeout(1500);
  // Progress may land from steps already under way, then stands still.
  const later = await page.getByTestId('synthesis-progress').textContent();
  await page.waitForTimeout(1500);
  expect(await page.getByTestId('synthesis-progress').textContent()).toBe(later);
  expect(paused).toBeTruthy();
  await page.getByRole('button', { name: 'Stop' }).click();
  expect(await waitForRunEnd(page, 20_000)).toContain('Stopped');
});
