/**
 * Hostile inputs, table-driven: each bad teacher or bad setting gets its own message in a role="alert" element, the
 * page stays usable, and a good teacher still loads and runs afterwards.
 */
import * as tf from '@tensorflow/tfjs';
import { expect, test, type Page } from '@playwright/test';
import { artifactsOf } from '../src/io/test-fixtures';
import { dropTeacher, fixtureTeacher, goodTeacherFiles, openStudio, SMOKE_HASH, waitForRunEnd, type FixtureFile } from './fixtures';

/** Save a Node-built model as model.json + one shard. */
async function modelFiles(model: tf.LayersModel): Promise<FixtureFile[]> {
  const a = await artifactsOf(model);
  model.dispose();
  const json = {
    modelTopology: a.modelTopology,
    format: 'layers-model',
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: a.weightSpecs }],
  };
  return [
    { name: 'model.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(json)) },
    { name: 'group1-shard1of1.bin', mimeType: 'application/octet-stream', buffer: Buffer.from(tf.io.CompositeArrayBuffer.join(a.weightData!)) },
  ];
}

async function withWeights(edit: (w: Float32Array) => void): Promise<FixtureFile[]> {
  const t = await fixtureTeacher();
  const w = new Float32Array(new Uint8Array(t.weights).slice().buffer);
  edit(w);
  return [
    { name: 'model.json', mimeType: 'application/json', buffer: t.modelJson },
    { name: 'group1-shard1of1.bin', mimeType: 'application/octet-stream', buffer: Buffer.from(w.buffer) },
  ];
}

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);

interface TeacherCase {
  name: string;
  files: () => Promise<FixtureFile[]> | FixtureFile[];
  message: RegExp;
}

const TEACHER_CASES: TeacherCase[] = [
  { name: 'an empty file', files: () => [{ name: 'model.json', mimeType: 'application/json', buffer: Buffer.alloc(0) }], message: /model\.json is empty \(0 bytes\)/i },
  {
    name: 'truncated weights',
    files: async () => {
      const t = await fixtureTeacher();
      return [
        { name: 'model.json', mimeType: 'application/json', buffer: t.modelJson },
        { name: 'group1-shard1of1.bin', mimeType: 'application/octet-stream', buffer: t.weights.subarray(0, 100) },
      ];
    },
    message: /hold 100 bytes but model\.json declares \d+/i,
  },
  {
    name: 'oversized weights',
    files: async () => {
      const t = await fixtureTeacher();
      return [
        { name: 'model.json', mimeType: 'application/json', buffer: t.modelJson },
        { name: 'group1-shard1of1.bin', mimeType: 'application/octet-stream', buffer: Buffer.concat([t.weights, Buffer.alloc(4096)]) },
      ];
    },
    message: /hold \d+ bytes but model\.json declares \d+/i,
  },
  {
    name: 'JSON that is not a model',
    files: () => [{ name: 'model.json', mimeType: 'application/json', buffer: Buffer.from('{"hello":"world"}') }],
    message: /not a TensorFlow\.js model/i,
  },
  { name: 'a PNG named model.json', files: () => [{ name: 'model.json', mimeType: 'application/json', buffer: PNG }], message: /model\.json is not a model: it is a PNG image/i },
  { name: 'NaN weights', files: () => withWeights((w) => (w[3] = NaN)), message: /holds 1 NaN or infinite value \(of 36\); the model is broken/i },
  { name: 'infinite weights', files: () => withWeights((w) => (w[5] = Infinity)), message: /holds 1 NaN or infinite value \(of 36\); the model is broken/i },
  {
    name: 'a multi-input model',
    files: () => {
      const a = tf.input({ shape: [8] });
      const b = tf.input({ shape: [8] });
      const out = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(tf.layers.concatenate().apply([a, b]) as tf.SymbolicTensor) as tf.SymbolicTensor;
      return modelFiles(tf.model({ inputs: [a, b], outputs: out }));
    },
    message: /this model has 2 inputs; CAKE needs a single image input/i,
  },
  {
    name: 'a multi-output model',
    files: () => {
      const x = tf.input({ shape: [8] });
      const o1 = tf.layers.dense({ units: 3 }).apply(x) as tf.SymbolicTensor;
      const o2 = tf.layers.dense({ units: 4 }).apply(x) as tf.SymbolicTensor;
      return modelFiles(tf.model({ inputs: x, outputs: [o1, o2] }));
    },
    message: /this model has 2 outputs; CAKE needs a single classifier output/i,
  },
  {
    name: 'a one-class model',
    files: () => modelFiles(tf.sequential({ layers: [tf.layers.dense({ inputShape: [8], units: 1, activation: 'sigmoid' })] })),
    message: /1 output class; a classifier needs at least 2/i,
  },
  {
    name: 'a zero-class model',
    files: () => modelFiles(tf.sequential({ layers: [tf.layers.dense({ inputShape: [8], units: 4 }), tf.layers.reshape({ targetShape: [4, 1, 1] }), tf.layers.cropping2D({ cropping: [[2, 2], [0, 0]] }), tf.layers.flatten()] })),
    message: /0 output classes; a classifier needs at least 2/i,
  },
];

interface SettingCase {
  name: string;
  group: string;
  label: string;
  value: string;
  message: string;
}

const SETTING_CASES: SettingCase[] = [
  { name: 'a batch not divisible by the group size', group: 'Synthesis', label: 'Samples per set (B)', value: '45', message: 'must be a multiple of the group size 10, got 45' },
  { name: 'a negative step size', group: 'Schedule', label: 'Initial step size (η₀)', value: '-0.1', message: 'must be a positive number up to 1000, got -0.1' },
  { name: 'an absurd step size', group: 'Schedule', label: 'Initial step size (η₀)', value: '1e9', message: 'must be a positive number up to 1000, got 1000000000' },
  { name: 'a negative learning rate', group: 'Student training', label: 'Peak learning rate', value: '-1', message: 'must be a positive number up to 100, got -1' },
  { name: 'an absurd learning rate', group: 'Student training', label: 'Peak learning rate', value: '1e6', message: 'must be a positive number up to 100, got 1000000' },
];

async function goodTeacherStillWorks(page: Page): Promise<void> {
  await dropTeacher(page, await goodTeacherFiles());
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[16 × 16 × 1]');
}

test('hostile teacher files: each gets its message in an alert, and a good teacher still loads and runs', async ({ page }) => {
  test.setTimeout(180_000);
  await tf.setBackend('cpu');
  await openStudio(page, SMOKE_HASH, 'wasm');
  for (const c of TEACHER_CASES) {
    await dropTeacher(page, await c.files());
    const alert = page.getByRole('alert').filter({ hasText: c.message });
    await expect(alert, c.name).toBeVisible();
    await expect(page.getByLabel('Teacher card'), c.name).toHaveCount(0);
    // Usable: the file input still takes files.
    await expect(page.getByLabel('Teacher model files')).toBeEnabled();
  }
  await goodTeacherStillWorks(page);
  await expect(page.getByRole('alert')).toHaveCount(0);
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page)).toContain('Finished');
});

test('hostile settings: each gets its message in an alert and blocks Start until fixed', async ({ page }) => {
  await openStudio(page, SMOKE_HASH, 'wasm');
  await goodTeacherStillWorks(page);
  const start = page.getByRole('button', { name: 'Start' });
  for (const c of SETTING_CASES) {
    const group = page.locator('details.group', { has: page.locator('summary', { hasText: c.group }) });
    if (!(await group.evaluate((d) => (d as HTMLDetailsElement).open))) await group.locator('summary').click();
    const field = page.getByLabel(c.label, { exact: true });
    const before = await field.inputValue();
    await field.fill(c.value);
    await expect(page.getByRole('alert').filter({ hasText: c.message }), c.name).toBeVisible();
    await expect(start, c.name).toBeDisabled();
    await field.fill(before);
    await expect(page.getByRole('alert').filter({ hasText: c.message }), c.name).toHaveCount(0);
    await expect(start, c.name).toBeEnabled();
  }
  await start.click();
  expect(await waitForRunEnd(page)).toContain('Finished');
});
