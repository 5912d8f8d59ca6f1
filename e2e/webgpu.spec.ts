import { expect, test, type Page } from '@playwright/test';
import { fixtureHash, loadFixtureTeacher, openStudio, state, waitForRunEnd } from './fixtures';

// One set of one step on ten samples, one student epoch: SwiftShader's WebGPU takes seconds per step even for this.
const TINY = fixtureHash({
  seed: 21,
  'synthesis.sets': 1,
  'synthesis.steps': 1,
  'synthesis.batchSize': 10,
  'student.epochs': 1,
  'student.batchSize': 10,
  'student.valFraction': 0.1,
});

/** Relative agreement we accept between backends: float32 kernels differ in summation order. */
const TOLERANCE = 1e-3;

async function tinyRun(page: Page, backend: string): Promise<Record<string, number>> {
  await openStudio(page, TINY, backend);
  await expect(page.getByText(`Backend: ${backend}`)).toBeVisible();
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page, 110_000)).toContain('Finished');
  return state<Record<string, number>>(page, 's.result.report.synthesis.finalLosses');
}

test('forcing WebGPU runs on the SwiftShader adapter, and its losses match wasm', async ({ browser }) => {
  test.setTimeout(180_000);
  const wasmPage = await browser.newPage();
  const wasm = await tinyRun(wasmPage, 'wasm');
  await wasmPage.close();

  const page = await browser.newPage();
  const gpu = await tinyRun(page, 'webgpu');
  await expect(page.locator('.backend-adapter')).toContainText(/swiftshader|fallback/i);
  expect(await state<string>(page, 's.result.report.backend')).toBe('webgpu');

  for (const [term, value] of Object.entries(gpu)) {
    expect(Number.isFinite(value), `${term} is finite`).toBe(true);
    const ref = wasm[term];
    expect(Math.abs(value - ref) / Math.max(1e-6, Math.abs(ref)), `${term}: webgpu ${value} vs wasm ${ref}`).toBeLessThan(
      term === 'entropy' && ref === 0 ? Infinity : TOLERANCE,
    );
  }
  await page.close();
});
