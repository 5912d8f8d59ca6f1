import { expect, test, type Page } from '@playwright/test';
import { keras2Lenet } from '../src/io/keras-fixtures';
import { dropTeacher, loadFixtureTeacher, openStudio, state, waitForRunEnd, type FixtureFile } from './fixtures';

// A damaged teacher file can send a reader into a loop inside one synchronous call, where the worker hears nothing
// more. The page gives every read a deadline and a Cancel, and replaces the worker when either ends it. These tests
// make the worker's reader spin on purpose (the stallTeacherReads hook: a synchronous endless loop, as such a reader
// does) with a short deadline, so they need no particular damaged file.

type Hooks = { stallTeacherReads(): void; setTeacherDeadline(ms: number | undefined): void };
const studio = () => (window as unknown as { cakeStudio: Hooks }).cakeStudio;
/** The worker's teacher reads spin from now on (a new worker reads normally again). */
const stallReads = (page: Page) => page.evaluate(`(${studio})().stallTeacherReads()`);
const setDeadline = (page: Page, ms: number) => page.evaluate(`(${studio})().setTeacherDeadline(${ms})`);

/** The shape of the worker's teacher's answer to one blank fixture-sized input: it holds the teacher. */
const teacherAnswers = async (page: Page) =>
  (
    await page.evaluate(() =>
      (window as unknown as { cakeStudio: { predict(m: string, d: number[], s: number[]): Promise<{ shape: number[] }> } }).cakeStudio.predict(
        'teacher',
        new Array(256).fill(0),
        [1, 16, 16, 1],
      ),
    )
  ).shape;

/** Any bytes do: with the hook set, the reader spins before it looks at them. HDF5's signature makes it look the part. */
const flipH5: FixtureFile[] = [
  { name: 'flip.h5', mimeType: 'application/octet-stream', buffer: Buffer.concat([Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(4096, 0x5a)]) },
];

test('a read that never returns ends at its deadline or on Cancel; the studio stays usable and runs smoke on the demo teacher', async ({ page }) => {
  test.setTimeout(180_000);
  await openStudio(page, '#preset=smoke', 'wasm');
  await loadFixtureTeacher(page);

  // The deadline: the worker is replaced, the card says why, and the previous teacher comes back.
  await setDeadline(page, 2000);
  await stallReads(page);
  await dropTeacher(page, flipH5);
  await expect(page.getByText(/Reading the model · flip\.h5/)).toBeVisible();
  // A pending read locks nothing.
  await expect(page.getByRole('button', { name: 'Use demo teacher' })).toBeEnabled();
  await expect(page.getByLabel('Teacher model files')).toBeEnabled();
  await expect(page.getByLabel('Teacher model folder')).toBeEnabled();
  const notice = page.getByTestId('teacher-notice');
  await expect(notice).toContainText('flip.h5 could not be read within 2 s: the file may be damaged');
  await expect(notice).toContainText('the previous teacher (model.json + 2 files) is back');
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[16 × 16 × 1]');
  // The fresh worker holds the teacher again: it answers a prediction.
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled({ timeout: 60_000 });
  expect(await teacherAnswers(page)).toEqual([1, 10]);

  // Cancel: the same, at the user's word.
  await setDeadline(page, 600_000);
  await stallReads(page);
  await dropTeacher(page, flipH5);
  await expect(page.getByText(/Reading the model · flip\.h5/)).toBeVisible();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(notice).toContainText('Reading flip.h5 was cancelled; the previous teacher (model.json + 2 files) is back');
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[16 × 16 × 1]');

  // Another teacher asked for mid-read replaces the stuck one: the demo teacher, which then runs smoke to the end.
  await expect(page.getByText(/Backend: wasm/)).toBeVisible();
  await stallReads(page);
  await dropTeacher(page, flipH5);
  await expect(page.getByText(/Reading the model · flip\.h5/)).toBeVisible();
  await page.getByRole('button', { name: 'Use demo teacher' }).click();
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[32 × 32 × 1]', { timeout: 60_000 });
  await expect(notice).toHaveCount(0);
  expect(await state<string>(page, 's.teacher.source')).toBe('demo teacher (LeNet-5, MNIST)');
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page)).toContain('Finished');
});

test('a damaged .h5 that the HDF5 library fails on gets its message and a fresh worker; the previous teacher stays', async ({ page }) => {
  const workers: string[] = [];
  page.on('worker', (w) => workers.push(w.url()));
  await openStudio(page, '#preset=smoke', 'wasm');
  await loadFixtureTeacher(page);
  const before = workers.length;
  // The library may be left in a bad state by a file it failed on (it is C in WebAssembly), so the worker is replaced.
  const lenet = await keras2Lenet('cut.h5', 16);
  lenet.reference.dispose();
  const cut = Buffer.from(new Uint8Array(lenet.file.data).subarray(0, Math.floor(lenet.file.data.byteLength * 0.6)));
  await dropTeacher(page, [{ name: 'cut.h5', mimeType: 'application/octet-stream', buffer: cut }]);
  await expect(page.getByRole('alert').filter({ hasText: 'cut.h5' })).toContainText(/is not a readable HDF5 file \(truncated file/);
  await expect.poll(() => workers.length).toBe(before + 1);
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[16 × 16 × 1]');
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled({ timeout: 60_000 });
  expect(await teacherAnswers(page)).toEqual([1, 10]);
});
