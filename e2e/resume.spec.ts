import { expect, test, type Browser, type Page } from '@playwright/test';
import { fixtureHash, loadFixtureTeacher, openStudio, probeBatch, state, waitForRunEnd, type Studio } from './fixtures';

// Long enough (on wasm, even on a loaded machine) that a reload lands mid-stage, short enough for a test.
const MID_SYNTHESIS = fixtureHash({ seed: 11, 'synthesis.sets': 48, 'synthesis.steps': 30, 'student.epochs': 3, 'student.batchSize': 16 });
const MID_STUDENT = fixtureHash({ seed: 12, 'synthesis.sets': 3, 'synthesis.steps': 4, 'student.epochs': 30, 'student.batchSize': 4 });

async function predictions(page: Page): Promise<number[]> {
  const probe = probeBatch(8);
  const out = await page.evaluate(
    ({ data, shape }) => (window as unknown as { cakeStudio: Studio }).cakeStudio.predict('student', data, shape),
    probe,
  );
  return out.data;
}

/** The same settings run start to end without interruption, in a separate browser context (its own storage). */
async function uninterrupted(browser: Browser, hash: string): Promise<number[]> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openStudio(page, hash, 'wasm');
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page)).toContain('Finished');
  const out = await predictions(page);
  await context.close();
  return out;
}

async function reloadAndResume(page: Page, hash: string, checkpoint: RegExp): Promise<number[]> {
  await openStudio(page, hash, 'wasm');
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByTestId('checkpoint-status')).toHaveText(checkpoint, { timeout: 60_000 });
  await page.reload();
  await expect(page.getByText(/Backend: wasm/)).toBeVisible({ timeout: 60_000 });

  // After the reload the history offers the interrupted run.
  const item = page.getByTestId('run-item').first();
  await expect(item.getByTestId('run-item-status')).toHaveText('interrupted');
  await item.getByRole('button', { name: 'Resume from checkpoint' }).click();
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[16 × 16 × 1]');
  await expect(page.getByTestId('checkpoint-status')).toContainText('resumed from');
  expect(await waitForRunEnd(page)).toContain('Finished');
  // The finished run is in the history, with its metrics, and re-downloadable.
  await expect(page.getByTestId('run-item').first().getByTestId('run-item-status')).toHaveText('finished');
  return predictions(page);
}

function expectSame(a: number[], b: number[]): void {
  expect(a.length).toBe(b.length);
  const maxDiff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  // Same seed, same backend, same kernels: the resumed student is the uninterrupted one, bit for bit.
  expect(maxDiff).toBe(0);
}

test('a reload mid-synthesis resumes from the last saved set to the same student', async ({ page, browser }) => {
  test.setTimeout(240_000);
  const reference = await uninterrupted(browser, MID_SYNTHESIS);
  const resumed = await reloadAndResume(page, MID_SYNTHESIS, /Checkpoint saved: set ([2-9]|1\d) of 48/);
  expect(await state<number>(page, 's.run.resumedFrom.setsDone')).toBeGreaterThanOrEqual(2);
  expectSame(resumed, reference);
});

test('a reload mid-student-training resumes from the last saved epoch to the same student', async ({ page, browser }) => {
  test.setTimeout(240_000);
  const reference = await uninterrupted(browser, MID_STUDENT);
  const resumed = await reloadAndResume(page, MID_STUDENT, /Checkpoint saved: epoch ([2-9]|1\d) of 30/);
  expect(await state<number>(page, 's.run.resumedFrom.epochsDone')).toBeGreaterThanOrEqual(2);
  expectSame(resumed, reference);
});
