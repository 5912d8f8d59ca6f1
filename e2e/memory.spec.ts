import { expect, test } from '@playwright/test';
import { fixtureHash, loadFixtureTeacher, openStudio, state, waitForRunEnd } from './fixtures';

type Sample = { stage: 'synthesis' | 'student'; at: number; numTensors: number; numBytes: number; numBytesInGPU?: number };

function flat(samples: Sample[], key: 'numTensors' | 'numBytes' | 'numBytesInGPU'): void {
  const values = samples.map((s) => s[key]);
  expect(new Set(values).size, `${key} across ${samples.map((s) => `${s.stage} ${s.at}`).join(', ')}: ${values.join(', ')}`).toBe(1);
}

test('memory stays flat over several hundred steps: tensors after every set and every epoch; chart history bounded', async ({ page }) => {
  test.setTimeout(240_000);
  // 12 sets × 30 steps of synthesis and 6 epochs × 27 steps of student training. One worker (`?workers=1`): with
  // synthesis helpers the sets would be made elsewhere and this worker's tensor count could not show their leaks.
  await openStudio(page, '?workers=1' + fixtureHash({ seed: 15, 'synthesis.sets': 12, 'synthesis.steps': 30, 'student.epochs': 6, 'student.batchSize': 16 }), 'wasm');
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page, 200_000)).toContain('Finished');

  const samples = await state<Sample[]>(page, 's.run.memory');
  const synth = samples.filter((s) => s.stage === 'synthesis');
  const student = samples.filter((s) => s.stage === 'student');
  expect(synth.map((s) => s.at)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  expect(student.map((s) => s.at)).toEqual([1, 2, 3, 4, 5, 6]);
  flat(synth, 'numTensors');
  flat(synth, 'numBytes');
  flat(student, 'numTensors');
  flat(student, 'numBytes');

  // What the page keeps is bounded whatever the run's length.
  const sizes = await state<Record<string, number>>(page, '({ synth: s.history.synth.points.length, student: s.history.student.points.length, gallery: s.gallery.length })');
  expect(sizes.synth).toBeLessThanOrEqual(2000);
  expect(sizes.student).toBeLessThanOrEqual(2000);
  expect(sizes.gallery).toBeLessThanOrEqual(24);
  expect(sizes.synth).toBeGreaterThan(0);
});

test('on WebGPU, tensors and GPU bytes stay flat across sets and epochs', async ({ page }) => {
  test.setTimeout(240_000);
  const hash = fixtureHash({
    seed: 16,
    'synthesis.sets': 5,
    'synthesis.steps': 3,
    'synthesis.batchSize': 10,
    'student.epochs': 3,
    'student.batchSize': 10,
    'student.valFraction': 0.1,
  });
  await openStudio(page, hash, 'webgpu');
  await expect(page.getByText('Backend: webgpu')).toBeVisible();
  await loadFixtureTeacher(page);
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page, 200_000)).toContain('Finished');
  const samples = await state<Sample[]>(page, 's.run.memory');
  const synth = samples.filter((s) => s.stage === 'synthesis');
  const student = samples.filter((s) => s.stage === 'student');
  expect(synth).toHaveLength(5);
  expect(student).toHaveLength(3);
  expect(synth[0].numBytesInGPU).toBeDefined();
  for (const group of [synth, student]) {
    flat(group, 'numTensors');
    flat(group, 'numBytesInGPU');
  }
});
