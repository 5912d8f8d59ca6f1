import * as tf from '@tensorflow/tfjs';
import { expect, test } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { fixtureHash, loadFixtureTeacher, openStudio, probeBatch, SMOKE_HASH, state, unzip, waitForRunEnd, type Studio } from './fixtures';

test('a smoke run on wasm: progress, charts, samples, and a downloaded student that predicts what the studio predicts', async ({ page }) => {
  await openStudio(page, SMOKE_HASH, 'wasm');
  await expect(page.getByText('Backend: wasm')).toBeVisible();
  await loadFixtureTeacher(page);

  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByTestId('synthesis-progress')).toBeVisible();
  expect(await waitForRunEnd(page)).toContain('Finished');

  // Charts drew lines. The live grid is one painted canvas with a button over each shown sample (8 groups of the
  // fixture's 10 classes at most), the gallery one more.
  const charts = page.getByRole('region', { name: 'Loss curves' });
  await expect(charts.locator('path.recharts-curve').first()).toBeVisible();
  expect(await charts.locator('path.recharts-curve').count()).toBeGreaterThan(3);
  const samples = page.getByRole('region', { name: 'Synthetic samples' });
  await samples.scrollIntoViewIfNeeded();
  const live = samples.getByRole('group', { name: /^Set \d+: \d+ groups of 10$/ });
  const shown = await live.getAttribute('aria-label').then((l) => Number(/: (\d+) groups/.exec(l ?? '')?.[1]) * 10);
  await expect(live.locator('button.sample')).toHaveCount(shown);
  await expect(live.locator('button.sample').first()).toHaveAttribute('aria-label', /^Set \d+, sample 1: target \w+, teacher says \w+ at \d+ %$/);
  await expect(samples.locator('canvas')).toHaveCount(2);
  // The live sheet is painted: its black sample boxes, with the samples in them, cover much of it.
  await expect
    .poll(() =>
      live.locator('canvas').evaluate((c: HTMLCanvasElement) => {
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let opaque = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] === 255) opaque++;
        return opaque / (c.width * c.height);
      }),
    )
    .toBeGreaterThan(0.3);

  // A click enlarges a sample with the teacher's probabilities.
  await samples.locator('button.sample').first().click();
  await expect(page.getByRole('dialog')).toBeVisible();
  await expect(page.getByRole('dialog').locator('.prob-row')).toHaveCount(10);
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);

  const losses = await state<Record<string, number>>(page, 's.result.report.synthesis.finalLosses');
  for (const v of Object.values(losses)) expect(Number.isFinite(v)).toBe(true);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download student' }).click()]);
  expect(download.suggestedFilename()).toMatch(/\.zip$/);
  const zip = unzip(await readFile(await download.path()));
  expect(Object.keys(zip).sort()).toEqual(['model.json', 'report.json', 'settings.json', 'weights.bin']);
  const modelJson = JSON.parse(new TextDecoder().decode(zip['model.json']));
  const report = JSON.parse(new TextDecoder().decode(zip['report.json']));
  const settings = JSON.parse(new TextDecoder().decode(zip['settings.json']));
  expect(report.backend).toBe('wasm');
  expect(settings.preset).toBe('smoke');
  expect(settings.config.seed).toBe(7);

  // The zip's model, loaded by plain tfjs in Node (cpu), predicts what the studio's student predicts (wasm).
  const probe = probeBatch(8);
  const studio = await page.evaluate(
    ({ data, shape }) => (window as unknown as { cakeStudio: Studio }).cakeStudio.predict('student', data, shape),
    probe,
  );
  await tf.setBackend('cpu');
  const weights = zip['weights.bin'];
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest[0].weights,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
    }),
  );
  const out = model.predict(tf.tensor(probe.data, probe.shape)) as tf.Tensor;
  const node = Array.from(await out.data());
  expect(out.shape).toEqual(studio.shape);
  // Same weights, different backends (cpu here, wasm there): equal up to float32 rounding.
  const maxRelDiff = Math.max(...node.map((v, i) => Math.abs(v - studio.data[i]) / Math.max(1, Math.abs(v))));
  expect(maxRelDiff).toBeLessThan(1e-4);
  const argmax = (d: number[], row: number, c: number) => d.slice(row * c, row * c + c).reduce((b, v, i, a) => (v > a[b] ? i : b), 0);
  const C = studio.shape[1];
  for (let r = 0; r < probe.shape[0]; r++) expect(argmax(node, r, C)).toBe(argmax(studio.data, r, C));
  model.dispose();
});

test('a student that starts from the teacher’s weights, with feature hints, says so in the result and in its report', async ({ page }) => {
  await openStudio(page, fixtureHash({ 'student.inherit': 'on', 'student.hint': '1' }), 'wasm');
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page)).toContain('Finished');
  await expect(page.getByText('started from the teacher’s strongest channels')).toBeVisible();
  expect(await state<string>(page, 's.result.report.student.init')).toBe('teacher');
  const hinted = await state<string[]>(page, 's.result.report.student.hinted');
  expect(hinted.length).toBeGreaterThan(0);
  await expect(page.getByText(`learned the teacher’s activations in ${hinted.length} hidden layer`)).toBeVisible();
});
