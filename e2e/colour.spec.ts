import { expect, test } from '@playwright/test';
import { colourResidualTeacherFiles, dropTeacher, fixtureHash, openStudio, waitForRunEnd } from './fixtures';

// Teachers people hold are colour, residual and BatchNormed. The fixture is one in miniature: it must load, show its
// cost, distil into a smaller student copied from its own graph, and a run that cannot fit memory must be refused
// before it starts, with the batch that would fit.

test('a colour residual teacher distils end to end into a smaller student', async ({ page }) => {
  await openStudio(page, fixtureHash(), 'wasm');
  await dropTeacher(page, await colourResidualTeacherFiles());
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[32 × 32 × 3]');
  await expect(page.getByTestId('teacher-flops')).toHaveText(/[\d.]+ MFLOPs per image/);
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page)).toContain('Finished');
  const params = page.getByRole('row', { name: /^Parameters/ }).getByRole('cell');
  const [teacher, student] = (await params.allTextContents()).map((t) => Number(t.replace(/,/g, '')));
  expect(student).toBeGreaterThan(0);
  expect(student).toBeLessThan(teacher);
  // And fewer FLOPs per image.
  const flops = (await page.getByRole('row', { name: /^Compute per image/ }).getByRole('cell').allTextContents()).map((t) => {
    const m = /([\d.]+) (k|M|G)?FLOPs/.exec(t)!;
    return Number(m[1]) * { k: 1e3, M: 1e6, G: 1e9 }[m[2] as 'k' | 'M' | 'G'];
  });
  expect(flops[1]).toBeLessThan(flops[0]);
});

test('a run whose batch cannot fit the backend’s memory is refused before it starts, naming a batch that fits', async ({ page }) => {
  await openStudio(page, fixtureHash({ 'synthesis.batchSize': 8190 }), 'wasm');
  await dropTeacher(page, await colourResidualTeacherFiles());
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[32 × 32 × 3]');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'batch 8190' })).toContainText(/needs about [\d,]+ MiB of the backend's memory, more than the [\d,]+ MiB a run may use; \d+ fits/);
  await expect(page.getByTestId('run-status')).toHaveText(/Failed|Stopped|Ready|Idle/);
  // Nothing is lost: the same teacher runs at the batch the preset gives.
  await page.goto(`/${fixtureHash()}`);
  await page.reload();
  await dropTeacher(page, await colourResidualTeacherFiles());
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[32 × 32 × 3]');
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page)).toContain('Finished');
});
