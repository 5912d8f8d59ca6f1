import * as tf from '@tensorflow/tfjs';
import { expect, test, type Page } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { compareOutputs } from '../src/io/agreement';
import { runInOnnxRuntime } from '../src/io/export-fixtures';
import { decodeOnnx } from '../src/io/onnx';
import { onnxConvNet } from '../src/io/onnx-fixtures';
import { loadTeacher } from '../src/io/teacher-load';
import { dropTeacher, fixtureHash, openStudio, probeBatch, state, unzip, waitForRunEnd, type Studio } from './fixtures';

/** Clicks a download button and returns the file's name and bytes. */
async function download(page: Page, button: string): Promise<{ name: string; bytes: Buffer }> {
  const [d] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: button, exact: true }).click()]);
  return { name: d.suggestedFilename(), bytes: await readFile(await d.path()) };
}

/** A tfjs model from a downloaded zip, loaded by plain tfjs in Node (cpu). */
async function zipModel(zip: Record<string, Uint8Array>): Promise<tf.LayersModel> {
  const json = JSON.parse(new TextDecoder().decode(zip['model.json']));
  const w = zip['weights.bin'];
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) as ArrayBuffer }));
}

test("an ONNX teacher's student downloads as ONNX, Keras and quantized tfjs, each checked outside the studio; the result shows the speed-up", async ({ page }) => {
  test.setTimeout(240_000);
  await tf.setBackend('cpu');
  // A PyTorch-style NCHW teacher (input "input.1", [N, 1, 16, 16]): its student is the compact CNN behind a Permute.
  const fx = onnxConvNet({ size: 16, name: 'teacher.onnx' });
  fx.dispose();
  await openStudio(page, fixtureHash(), 'wasm');
  await dropTeacher(page, [{ name: 'teacher.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from(fx.file.data) }]);
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[1 × 16 × 16]');
  await page.getByRole('button', { name: 'Start' }).click();
  expect(await waitForRunEnd(page)).toContain('Finished');

  // The worker measures the variants after the run: sizes, agreement, time per image and speed-up over the teacher.
  const variants = page.getByRole('table', { name: 'Student variants' });
  await expect(variants).toBeVisible({ timeout: 60_000 });
  for (const f of ['tfjs-float32', 'tfjs-float16', 'tfjs-uint8']) await expect(page.getByTestId(`speedup-${f}`)).toHaveText(/^\d+\.\d× \/ \d+\.\d×$/);
  const deploy = await state<{ backend: string; variants: { format: string; bytes: number; speedup: { batch1: number; batch32: number } }[] }>(page, 's.result.report.deploy');
  expect(deploy.backend).toBe('wasm');
  for (const v of deploy.variants) expect(v.speedup.batch32).toBeGreaterThan(0);

  // The studio's student on a fixed probe batch: the reference every download is checked against.
  const probe = probeBatch(256, [1, 16, 16]);
  const studio = await page.evaluate(({ data, shape }) => (window as unknown as { cakeStudio: Studio }).cakeStudio.predict('student', data, shape), probe);
  const classes = studio.shape[1];
  const x = tf.tensor(probe.data, probe.shape);

  // ONNX: the teacher's input signature, and ONNX Runtime gives the studio's logits.
  const onnx = await download(page, 'Download ONNX');
  expect(onnx.name).toMatch(/^cake-student-[\w.-]+\.onnx$/);
  const graph = decodeOnnx(onnx.bytes.buffer.slice(onnx.bytes.byteOffset, onnx.bytes.byteOffset + onnx.bytes.byteLength) as ArrayBuffer, onnx.name).graph!;
  expect(graph.input![0].name).toBe('input.1');
  expect(graph.input![0].type!.tensor_type!.shape!.dim!.slice(1)).toEqual([{ dim_value: 1 }, { dim_value: 16 }, { dim_value: 16 }]);
  const ort = await runInOnnxRuntime(new Uint8Array(onnx.bytes), x, 'input.1');
  const onnxVsStudio = compareOutputs(studio.data, ort.data, classes);
  expect(onnxVsStudio.top1).toBeGreaterThanOrEqual(0.998);
  expect(onnxVsStudio.maxAbsDiff).toBeLessThan(1e-3);

  // Keras .h5: read back through the project's Keras importer, the studio's logits.
  const keras = await download(page, 'Download Keras .h5');
  expect(keras.name).toMatch(/\.h5$/);
  const kerasModel = await loadTeacher([{ name: keras.name, data: keras.bytes.buffer.slice(keras.bytes.byteOffset, keras.bytes.byteOffset + keras.bytes.byteLength) as ArrayBuffer }]);
  const kerasVsStudio = compareOutputs(studio.data, (kerasModel.model.predict(x) as tf.Tensor).dataSync(), classes);
  expect(kerasVsStudio.maxAbsDiff).toBeLessThan(1e-4);
  kerasModel.dispose();

  // Quantized tfjs: plain tf.loadLayersModel reads each zip; ≤ 55 % / ≤ 30 % of the float weights; ≥ 99 % agreement.
  const float = unzip((await download(page, 'Download student')).bytes);
  for (const [label, format, budget] of [['Download tfjs float16', 'tfjs-float16', 0.55], ['Download tfjs uint8', 'tfjs-uint8', 0.3]] as const) {
    const file = await download(page, label);
    expect(file.name).toMatch(new RegExp(`-${format}\\.zip$`));
    const zip = unzip(file.bytes);
    expect(Object.keys(zip).sort()).toEqual(['model.json', 'report.json', 'settings.json', 'weights.bin']);
    expect(zip['weights.bin'].byteLength / float['weights.bin'].byteLength).toBeLessThanOrEqual(budget);
    expect(deploy.variants.find((v) => v.format === format)!.bytes).toBe(zip['weights.bin'].byteLength);
    const model = await zipModel(zip);
    const agreement = compareOutputs(studio.data, (model.predict(x) as tf.Tensor).dataSync(), classes);
    expect(agreement.top1, format).toBeGreaterThanOrEqual(0.99);
    model.dispose();
  }
  x.dispose();
});
