import { expect, test } from '@playwright/test';
import { zipSync } from 'fflate';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  dropTeacher,
  fixtureHash,
  fixtureTeacher,
  FIXTURE_NAMES,
  goodTeacherFiles,
  missingShardFiles,
  notAModelFiles,
  loadFixtureTeacher,
  openStudio,
  SMOKE_HASH,
  truncatedWeightsFiles,
  waitForRunEnd,
} from './fixtures';

const DEMO = new URL('../public/demo-teacher/', import.meta.url);
const demoPresent = existsSync(new URL('model.json', DEMO));

test('npm start opens /?demo, and the studio starts on the demo teacher', async ({ page }) => {
  test.skip(!demoPresent, 'the trained demo teacher is not under public/demo-teacher');
  await page.goto('/?demo');
  await expect(page.getByLabel('Teacher card')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[32 × 32 × 1]');
  await expect(page.getByLabel('Teacher card')).toContainText('mnist');
});

test('the page loads, shows its backend, and the demo teacher loads into a card', async ({ page }) => {
  if (!demoPresent) {
    // Until the trained demo teacher is committed under public/, serve the fixture teacher in its place.
    const t = await fixtureTeacher();
    await page.route('**/demo-teacher/**', (route) => {
      const name = new URL(route.request().url()).pathname.split('/').pop();
      if (name === 'model.json') return route.fulfill({ body: t.modelJson, contentType: 'application/json' });
      if (name === 'group1-shard1of1.bin') return route.fulfill({ body: t.weights, contentType: 'application/octet-stream' });
      if (name === 'metadata.json')
        return route.fulfill({
          contentType: 'application/json',
          body: JSON.stringify({ dataset: 'fixture', classNames: FIXTURE_NAMES, preprocessing: { pad: 0, scale: 1 / 255, mean: 0.5, std: 0.25 } }),
        });
      return route.fulfill({ status: 404, body: '' });
    });
  }
  await openStudio(page);
  await expect(page).toHaveTitle('CAKE Studio');
  await expect(page.getByText(/Backend: (wasm|webgpu|webgl|cpu)/)).toBeVisible();
  // Headless Chromium's WebGPU adapter is a software fallback, so the automatic choice is wasm.
  await expect(page.getByText('Backend: wasm')).toBeVisible();

  await page.getByRole('button', { name: 'Use demo teacher' }).click();
  const card = page.getByLabel('Teacher card');
  await expect(card).toBeVisible({ timeout: 60_000 });
  const meta = demoPresent ? JSON.parse(readFileSync(new URL('metadata.json', DEMO), 'utf8')) : null;
  await expect(page.getByTestId('teacher-input-shape')).toHaveText(demoPresent ? '[32 × 32 × 1]' : '[16 × 16 × 1]');
  await expect(page.getByTestId('teacher-classes')).toHaveText('10');
  const names: string[] = meta?.classNames ?? FIXTURE_NAMES;
  await expect(card.locator('.chip').first()).toHaveText(names[0]);
  await expect(card).toContainText('Gradients');
  await expect(card).toContainText(/✓/);
  // Preprocessing declared by the metadata fills the editor.
  await expect(card.getByTestId('preprocessing-source')).toHaveText('(from metadata.json)');
  await expect(page.getByTestId('estimate')).toContainText('≈', { timeout: 60_000 });
});

test('a dropped folder of files shows the right shape and class names', async ({ page }) => {
  await openStudio(page);
  await dropTeacher(page, await goodTeacherFiles());
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[16 × 16 × 1]');
  await expect(page.getByTestId('teacher-classes')).toHaveText('10');
  await expect(page.getByLabel('Teacher card').locator('.chip')).toHaveText(FIXTURE_NAMES);
  await expect(page.getByLabel('Teacher card')).toContainText('probabilities (softmax)');
});

test('bad files are refused with a specific message, and a good drop afterwards works', async ({ page }) => {
  await openStudio(page, SMOKE_HASH);
  const alert = page.getByRole('alert');

  await dropTeacher(page, await truncatedWeightsFiles());
  await expect(alert).toContainText(/weights "group1-shard1of1\.bin" hold \d+ bytes but model\.json declares \d+/i);
  await expect(page.getByLabel('Teacher card')).toHaveCount(0);

  await dropTeacher(page, notAModelFiles());
  await expect(alert).toContainText(/model\.json has no modelTopology, so it is not a TensorFlow\.js model/i);

  await dropTeacher(page, await missingShardFiles());
  await expect(alert).toContainText(/weights file "group1-shard1of1\.bin" is missing: drop it together with model\.json/i);

  // The page is still usable: a good teacher, as a zip this time, loads and clears the message.
  const t = await fixtureTeacher();
  const zip = zipSync({ 'teacher/model.json': new Uint8Array(t.modelJson), 'teacher/group1-shard1of1.bin': new Uint8Array(t.weights) });
  await dropTeacher(page, [{ name: 'teacher.zip', mimeType: 'application/zip', buffer: Buffer.from(zip) }]);
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[16 × 16 × 1]');
  await expect(alert).toHaveCount(0);

  // A bad drop now keeps the loaded teacher.
  await dropTeacher(page, notAModelFiles());
  await expect(alert).toBeVisible();
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[16 × 16 × 1]');
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
});

test('a worker crash shows an alert and keeps the settings and the teacher', async ({ page }) => {
  await openStudio(page, fixtureHash({ seed: 11, 'synthesis.sets': 4, 'synthesis.steps': 300 }), 'wasm');
  await dropTeacher(page, await goodTeacherFiles());
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[16 × 16 × 1]');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByTestId('synthesis-progress')).toBeVisible();

  await page.evaluate(() => (window as unknown as { cakeStudio: { crashWorker(): void } }).cakeStudio.crashWorker());
  await expect(page.getByRole('alert')).toContainText(/stopped unexpectedly/);
  await expect(page.getByTestId('run-status')).toContainText('Failed');
  // Settings and teacher survive; the restarted worker has the teacher again and a new run completes.
  await expect(page.getByLabel('Preset')).toHaveValue('smoke');
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[16 × 16 × 1]');
  await expect(page.getByText('Backend: wasm')).toBeVisible();
  await page.locator('summary', { hasText: 'Synthesis' }).click();
  await page.getByLabel('Steps per set (T)').fill('4');
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page)).toContain('Finished');
});

test('the teacher card offers the usual preprocessings; a choice drives the run’s input range and is remembered for that teacher', async ({ page }) => {
  await openStudio(page);
  await loadFixtureTeacher(page);
  const card = page.getByLabel('Teacher card');
  // The fixture declares no preprocessing: the editor is open and says so.
  await expect(card.getByTestId('preprocessing-source')).toHaveText('(not declared: pick one)');
  await card.getByLabel('Preprocessing', { exact: true }).selectOption('0-255');
  await expect(card.getByTestId('preprocessing-source')).toHaveText('(chosen by you)');
  await expect(card.getByLabel('Pixel scale')).toHaveValue('1');
  const exported = async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
    return JSON.parse(await readFile(await download.path(), 'utf8'));
  };
  expect((await exported()).config.synthesis.clampRange).toEqual([0, 255]);

  // The same teacher, after a reload, comes back with the user's choice.
  await page.reload();
  await loadFixtureTeacher(page);
  await expect(card.getByTestId('preprocessing-source')).toHaveText('(chosen by you)');
  await expect(card.getByLabel('Preprocessing', { exact: true })).toHaveValue('0-255');
  expect((await exported()).config.synthesis.clampRange).toEqual([0, 255]);
});
