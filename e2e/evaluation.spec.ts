import * as tf from '@tensorflow/tfjs';
import { expect, test, type Locator, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'fflate';
import { idxImagesToTensorData, readIdx } from '../src/io/idx';
import { evaluateAccuracy } from '../src/models/evaluate';
import { openStudio, state, waitForRunEnd, type FixtureFile } from './fixtures';

// Labelled evaluation: IDX files built here (simple rendered shapes standing for 0, 1 and 7), measured in the studio
// on the demo teacher (LeNet-5, MNIST, 32×32×1, metadata pad 2, mean 0.1307, std 0.3081) and checked against the same
// teacher run in Node on the same preprocessing.

const DEMO = new URL('../public/demo-teacher/', import.meta.url);
const N = 20;
const CLASSES = [0, 1, 7];
const LABELS = Array.from({ length: N }, (_, i) => CLASSES[i % CLASSES.length]);

/** An unsigned-byte IDX file. */
function idx(dims: number[], data: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(4 + 4 * dims.length + data.length);
  out.set([0, 0, 0x08, dims.length]);
  dims.forEach((d, i) => out.writeUInt32BE(d, 4 + 4 * i));
  out.set(Array.from(data), 4 + 4 * dims.length);
  return out;
}

/** n images of size×size: a ring (0), a vertical stroke (1) or a 7, shifted a little from image to image. */
function render(labels: number[], size = 28): Uint8Array {
  const px = new Uint8Array(labels.length * size * size);
  labels.forEach((label, i) => {
    const dx = (i % 3) - 1;
    const dy = (i % 2) - 0.5;
    const cx = size / 2 + dx;
    const cy = size / 2 + dy;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        let v = 0;
        if (label === 0) {
          const r = Math.hypot((x - cx) / 0.75, y - cy);
          v = Math.max(0, 1 - Math.abs(r - 8) / 2);
        } else if (label === 1) {
          v = Math.abs(x - cx) < 1.6 && Math.abs(y - cy) < 9 ? 1 : 0;
        } else {
          const top = Math.abs(y - (cy - 8)) < 1.6 && x > cx - 7 && x < cx + 7 ? 1 : 0;
          // The diagonal from the top right down to the bottom middle.
          const t = (y - (cy - 8)) / 17;
          const diag = t >= 0 && t <= 1 && Math.abs(x - (cx + 6 - 7 * t)) < 1.7 ? 1 : 0;
          v = Math.max(top, diag);
        }
        px[(i * size + y) * size + x] = Math.round(255 * Math.min(1, v));
      }
  });
  return px;
}

function idxPair(images: Uint8Array, labels: number[], size = 28): FixtureFile[] {
  return [
    { name: 't10k-images-idx3-ubyte.gz', mimeType: 'application/gzip', buffer: Buffer.from(gzipSync(idx([images.length / size / size, size, size], images))) },
    { name: 't10k-labels-idx1-ubyte', mimeType: 'application/octet-stream', buffer: idx([labels.length], labels) },
  ];
}

/** The demo teacher in Node (cpu), on the studio's preprocessing: the confusion matrix the studio must show. */
async function expectedConfusion(images: Uint8Array): Promise<{ confusion: number[][]; correct: number }> {
  await tf.setBackend('cpu');
  const modelJson = JSON.parse(readFileSync(new URL('model.json', DEMO), 'utf8'));
  const meta = JSON.parse(readFileSync(new URL('metadata.json', DEMO), 'utf8'));
  const weights = readFileSync(new URL('weights.bin', DEMO));
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
    }),
  );
  const x = idxImagesToTensorData(readIdx(idx([N, 28, 28], images)), meta.preprocessing);
  const acc = await evaluateAccuracy(model, x, [32, 32, 1], LABELS, 10);
  model.dispose();
  return { confusion: acc.confusion, correct: acc.correct };
}

async function confusionOf(table: Locator): Promise<number[][]> {
  const rows = table.locator('tbody tr');
  const out: number[][] = [];
  for (let r = 0; r < (await rows.count()); r++) {
    const cells = await rows.nth(r).locator('td').allTextContents();
    out.push(cells.map((t) => (t.trim() === '' ? 0 : Number(t))));
  }
  return out;
}

async function loadDemo(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Use demo teacher' }).click();
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[32 × 32 × 1]', { timeout: 60_000 });
}

test('labelled IDX data: teacher accuracy, per-class and confusion, then the student after a smoke run', async ({ page }) => {
  const images = render(LABELS);
  const expected = await expectedConfusion(images);

  await openStudio(page, '#preset=smoke&seed=7', 'wasm');
  const panel = page.getByRole('region', { name: 'Labelled evaluation' });
  await expect(panel).toBeVisible();
  // Without data: the panel points at the agreement on fresh synthetic samples.
  await expect(panel.getByTestId('evaluation-empty')).toContainText('agreement with the teacher on fresh synthetic samples');

  await loadDemo(page);
  await panel.getByLabel('Labelled data files').setInputFiles(idxPair(images, LABELS));

  await expect(panel.getByTestId('eval-teacher-accuracy')).toContainText(`(${expected.correct} / ${N})`);
  await expect(panel.getByTestId('eval-teacher-accuracy')).toContainText(`${((100 * expected.correct) / N).toFixed(1)} %`);
  await expect(panel.getByTestId('eval-student-accuracy')).toHaveText('after a run');
  await expect(panel.getByTestId('evaluation-source')).toContainText('20 labelled images from t10k-images-idx3-ubyte.gz + t10k-labels-idx1-ubyte');
  await expect(panel.getByTestId('evaluation-source')).toContainText('28×28, padded by 2');

  // Per-class rows: the image count of every class, "—" for classes with no images.
  const perClass = panel.getByRole('table', { name: 'Per-class accuracy' });
  await expect(perClass.locator('tbody tr')).toHaveCount(10);
  for (let c = 0; c < 10; c++) {
    const count = LABELS.filter((l) => l === c).length;
    const cells = await panel.getByTestId(`per-class-${c}`).locator('td').allTextContents();
    expect(cells[0]).toBe(String(count));
    if (count === 0) expect(cells[1]).toBe('—');
    else expect(cells[1]).toBe(`${((100 * expected.confusion[c][c]) / count).toFixed(1)} %`);
  }

  // The confusion matrix: class names on both axes, each true row summing to that class's image count, and exactly
  // what the same teacher predicts in Node.
  const teacherTable = panel.getByRole('table', { name: 'Teacher confusion matrix' });
  await expect(teacherTable.locator('thead th')).toHaveCount(11);
  await expect(teacherTable.locator('tbody th')).toHaveText(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const shown = await confusionOf(teacherTable);
  for (let c = 0; c < 10; c++) expect(shown[c].reduce((a, b) => a + b, 0)).toBe(LABELS.filter((l) => l === c).length);
  expect(shown).toEqual(expected.confusion);

  // A smoke distillation: once the student exists, the panel measures it on the same data.
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page, 110_000)).toContain('Finished');
  await expect(panel.getByTestId('eval-student-accuracy')).toHaveText(/^\d+\.\d % \(\d+ \/ 20\)$/, { timeout: 60_000 });
  const studentTable = panel.getByRole('table', { name: 'Student confusion matrix' });
  await expect(studentTable).toBeVisible();
  const student = await confusionOf(studentTable);
  for (let c = 0; c < 10; c++) expect(student[c].reduce((a, b) => a + b, 0)).toBe(LABELS.filter((l) => l === c).length);
  const studentCorrect = student.reduce((n, row, i) => n + row[i], 0);
  await expect(panel.getByTestId('eval-student-accuracy')).toContainText(`(${studentCorrect} / 20)`);
  // The teacher's numbers are unchanged.
  expect(await confusionOf(teacherTable)).toEqual(expected.confusion);
});

test('labelled data errors: count mismatch (dropped on the panel), wrong magic, an image size that cannot fit', async ({ page }) => {
  await openStudio(page, '', 'wasm');
  await loadDemo(page);
  const panel = page.getByRole('region', { name: 'Labelled evaluation' });
  const images = render(LABELS);

  // Dropped onto the panel (not the page): 20 images, 19 labels.
  const files = idxPair(images, LABELS.slice(0, 19)).map((f) => ({ name: f.name, bytes: Array.from(f.buffer) }));
  const dt = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([new Uint8Array(f.bytes)], f.name));
    return dt;
  }, files);
  await panel.getByTestId('evaluation-dropzone').dispatchEvent('drop', { dataTransfer: dt });
  await expect(panel.getByRole('alert')).toHaveText(/t10k-images-idx3-ubyte\.gz holds 20 images but t10k-labels-idx1-ubyte holds 19 labels; they must match/);
  // The drop went to the evaluation, not to the teacher loader.
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[32 × 32 × 1]');
  expect(await state<string>(page, 's.teacher.source')).toBe('demo teacher (LeNet-5, MNIST)');
  expect(await state<number>(page, 's.alerts.length')).toBe(0);

  // Wrong magic: the labels file is an images file.
  const [im] = idxPair(images, LABELS);
  await panel.getByLabel('Labelled data files').setInputFiles([im, { name: 't10k-labels-idx1-ubyte', mimeType: 'application/octet-stream', buffer: idx([N, 1, 1], LABELS) }]);
  await expect(panel.getByRole('alert')).toHaveText(/t10k-labels-idx1-ubyte has magic 2051 \(3 dimensions\); IDX labels have magic 2049/);

  // Not an IDX file at all.
  await panel.getByLabel('Labelled data files').setInputFiles([im, { name: 't10k-labels-idx1-ubyte', mimeType: 'text/plain', buffer: Buffer.from('hello, world') }]);
  await expect(panel.getByRole('alert')).toHaveText(/t10k-labels-idx1-ubyte is not an IDX file/);

  // 29×29 images cannot fit the teacher's 32×32 input: not with its declared padding of 2, nor by equal padding.
  await panel.getByLabel('Labelled data files').setInputFiles(idxPair(render(LABELS, 29), LABELS, 29));
  await expect(panel.getByRole('alert')).toHaveText(/images are 29×29 and cannot be fitted to the teacher's 32×32 input .*declared padding of 2 would make them 33×33/);
  // Larger than the input: no padding helps.
  await panel.getByLabel('Labelled data files').setInputFiles(idxPair(render(LABELS, 36), LABELS, 36));
  await expect(panel.getByRole('alert')).toHaveText(/images are 36×36, larger than the teacher's 32×32 input/);
  await expect(panel.getByRole('table', { name: 'Teacher confusion matrix' })).toHaveCount(0);
});

test('a CIFAR binary file: read in the worker, converted to the teacher\'s one channel, scored', async ({ page }) => {
  await openStudio(page, '', 'wasm');
  await loadDemo(page);
  const panel = page.getByRole('region', { name: 'Labelled evaluation' });
  // Four 32×32 colour records (label byte, then the red, green and blue planes), labels 0, 1, 7, 1.
  const labels = [0, 1, 7, 1];
  const bytes = Buffer.alloc(labels.length * 3073);
  labels.forEach((l, i) => {
    bytes[i * 3073] = l;
    for (let p = 0; p < 3072; p++) bytes[i * 3073 + 1 + p] = (p * 7 + i * 31) % 256;
  });
  await panel.getByLabel('Labelled data files').setInputFiles([{ name: 'test_batch.bin', mimeType: 'application/octet-stream', buffer: bytes }]);
  await expect(panel.getByTestId('evaluation-source')).toContainText('4 labelled images from test_batch.bin (CIFAR-10)');
  await expect(panel.getByTestId('eval-teacher-accuracy')).toHaveText(/^\d+\.\d % \(\d \/ 4\)$/);
});
