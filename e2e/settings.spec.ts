import { expect, test } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { loadFixtureTeacher, openStudio } from './fixtures';

test('the Preset control offers the preset names; settings persist across reloads and travel in the URL hash', async ({ page }) => {
  await openStudio(page);
  const preset = page.getByLabel('Preset');
  await expect(preset.locator('option')).toHaveText(['smoke', 'quick', 'standard', 'paper']);

  await preset.selectOption('smoke');
  await page.locator('summary', { hasText: 'Synthesis' }).click();
  await page.getByLabel('Sets (M)').fill('3');
  await page.getByLabel('Seed').fill('42');
  await expect(page).toHaveURL(/#preset=smoke/);
  expect(decodeURIComponent(page.url())).toContain('synthesis.sets=3');

  // A plain reload (the hash stays) and a visit without the hash (localStorage) both restore the settings.
  await page.reload();
  await expect(page.getByLabel('Preset')).toHaveValue('smoke');
  await page.locator('summary', { hasText: 'Synthesis' }).click();
  await expect(page.getByLabel('Sets (M)')).toHaveValue('3');
  await page.goto('/');
  await expect(page.getByLabel('Preset')).toHaveValue('smoke');
  await expect(page.getByLabel('Seed')).toHaveValue('42');
  await page.locator('summary', { hasText: 'Synthesis' }).click();
  await expect(page.getByLabel('Sets (M)')).toHaveValue('3');

  // A shared link wins over what was stored.
  await page.goto('/#preset=paper&seed=9&student.epochs=5');
  await expect(page.getByLabel('Preset')).toHaveValue('paper');
  await expect(page.getByLabel('Seed')).toHaveValue('9');
  await page.locator('summary', { hasText: 'Student training' }).click();
  await expect(page.getByLabel('Epochs')).toHaveValue('5');
});

test('invalid values are refused inline with the reason, and Start waits until they are fixed', async ({ page }) => {
  await openStudio(page, '#preset=smoke');
  await loadFixtureTeacher(page);
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  await page.locator('summary', { hasText: 'Synthesis' }).click();

  const sets = page.getByLabel('Sets (M)');
  await sets.fill('0');
  await expect(sets).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByText('must be a whole number from 1 to 1000000, got 0')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Start' })).toBeDisabled();

  await sets.fill('abc');
  await expect(page.getByText('needs a number, got "abc"')).toBeVisible();

  await sets.fill('2');
  await expect(sets).toHaveAttribute('aria-invalid', 'false');
  const batch = page.getByLabel('Samples per set (B)');
  await batch.fill('45');
  await expect(page.getByText('must be a multiple of the group size 10, got 45')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Start' })).toBeDisabled();

  // The group size cannot exceed the teacher's classes.
  await batch.fill('40');
  await page.getByLabel('Group size (K)').fill('20');
  await expect(page.getByText(/group size can be at most 10/)).toBeVisible();
  await page.getByLabel('Group size (K)').fill('10');
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
});

test('settings export to JSON and import back', async ({ page }) => {
  await openStudio(page, '#preset=standard&seed=5&student.lr=0.25');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
  const exported = JSON.parse(await readFile(await download.path(), 'utf8'));
  expect(exported).toMatchObject({ format: 'cake-studio-settings', preset: 'standard', overrides: { seed: '5', 'student.lr': '0.25' } });
  expect(exported.config.student.lr).toBe(0.25);

  await page.getByLabel('Preset').selectOption('quick');
  await expect(page.getByLabel('Preset')).toHaveValue('quick');
  await page.getByLabel('Import settings').setInputFiles({ name: 'cake-settings.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(exported)) });
  await expect(page.getByLabel('Preset')).toHaveValue('standard');
  await expect(page.getByLabel('Seed')).toHaveValue('5');

  // A broken file is refused with a message; the settings stay.
  await page.getByLabel('Import settings').setInputFiles({ name: 'x.json', mimeType: 'application/json', buffer: Buffer.from('{ nope') });
  await expect(page.getByRole('alert')).toContainText('not valid JSON');
  await expect(page.getByLabel('Preset')).toHaveValue('standard');
});
