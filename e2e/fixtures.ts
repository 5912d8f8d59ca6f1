/**
 * Test fixtures built in Node with @tensorflow/tfjs (pure-JS cpu backend): a tiny seeded CNN teacher saved to
 * in-memory model.json + weight shard buffers, the bad variants the studio must refuse, and helpers to drive the
 * page (load a teacher, read the store, wait for a run's end).
 */
import * as tf from '@tensorflow/tfjs';
import { artifactsOf } from '../src/io/test-fixtures';
import { expect, type Page } from '@playwright/test';
import { unzipSync } from 'fflate';

export interface FixtureFile {
  name: string;
  mimeType: string;
  buffer: Buffer;
}

export const FIXTURE_SHAPE = [16, 16, 1];
export const FIXTURE_CLASSES = 10;
export const FIXTURE_NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

let cached: Promise<{ modelJson: Buffer; weights: Buffer }> | null = null;

/** A 16×16×1 → 10-class CNN ending in softmax, with seeded weights. */
export function fixtureTeacher(): Promise<{ modelJson: Buffer; weights: Buffer }> {
  cached ??= (async () => {
    await tf.setBackend('cpu');
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: FIXTURE_SHAPE,
          filters: 4,
          kernelSize: 3,
          activation: 'relu',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
        }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: FIXTURE_CLASSES, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
    const saved = await savedModel(model);
    model.dispose();
    return saved;
  })();
  return cached;
}

/** A LayersModel as tfjs saves it: model.json (one weight shard) and the shard's bytes. */
async function savedModel(model: tf.LayersModel): Promise<{ modelJson: Buffer; weights: Buffer }> {
  const a = await artifactsOf(model);
  const json = {
    modelTopology: a.modelTopology,
    format: 'layers-model',
    generatedBy: 'cake-studio e2e fixture',
    convertedBy: null,
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: a.weightSpecs }],
  };
  return { modelJson: Buffer.from(JSON.stringify(json)), weights: Buffer.from(tf.io.CompositeArrayBuffer.join(a.weightData!)) };
}

export async function goodTeacherFiles(): Promise<FixtureFile[]> {
  const t = await fixtureTeacher();
  return [
    { name: 'model.json', mimeType: 'application/json', buffer: t.modelJson },
    { name: 'group1-shard1of1.bin', mimeType: 'application/octet-stream', buffer: t.weights },
    { name: 'class_names.txt', mimeType: 'text/plain', buffer: Buffer.from(FIXTURE_NAMES.join('\n')) },
  ];
}

export async function truncatedWeightsFiles(): Promise<FixtureFile[]> {
  const t = await fixtureTeacher();
  return [
    { name: 'model.json', mimeType: 'application/json', buffer: t.modelJson },
    { name: 'group1-shard1of1.bin', mimeType: 'application/octet-stream', buffer: t.weights.subarray(0, Math.floor(t.weights.length / 2)) },
  ];
}

export async function missingShardFiles(): Promise<FixtureFile[]> {
  const t = await fixtureTeacher();
  return [{ name: 'model.json', mimeType: 'application/json', buffer: t.modelJson }];
}

export function notAModelFiles(): FixtureFile[] {
  return [{ name: 'model.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ hello: 'world', items: [1, 2, 3] })) }];
}

/** Probe inputs for comparing predictions: a fixed, seeded batch. */
export function probeBatch(n = 8, shape = FIXTURE_SHAPE): { data: number[]; shape: number[] } {
  const size = shape.reduce((a, b) => a * b, 1);
  const data: number[] = [];
  let s = 12345;
  for (let i = 0; i < n * size; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    data.push((s / 2 ** 31) * 2 - 1);
  }
  return { data, shape: [n, ...shape] };
}

// --- page helpers ---------------------------------------------------------------------------------------------------

export type Studio = { store: { getState(): any }; predict(model: string, data: number[], shape: number[]): Promise<{ data: number[]; shape: number[] }> };

export async function state<T>(page: Page, pick: string): Promise<T> {
  return page.evaluate((expr) => {
    const s = (window as unknown as { cakeStudio: Studio }).cakeStudio.store.getState();
    return new Function('s', `return (${expr});`)(s);
  }, pick) as Promise<T>;
}

/** Open the studio with settings in the hash and wait for the worker's backend line. */
export async function openStudio(page: Page, hash = '', backend?: string): Promise<void> {
  if (backend) {
    await page.addInitScript((b) => localStorage.setItem('cake-studio.backend.v1', b), backend);
  }
  await page.goto(`/${hash}`);
  await expect(page.getByText(/Backend: \w+/)).toBeVisible({ timeout: 60_000 });
}

export async function dropTeacher(page: Page, files: FixtureFile[]): Promise<void> {
  await page.getByLabel('Teacher model files').setInputFiles(files);
}

export async function loadFixtureTeacher(page: Page): Promise<void> {
  await dropTeacher(page, await goodTeacherFiles());
  await expect(page.getByTestId('teacher-input-shape')).toHaveText('[16 × 16 × 1]');
}

/**
 * Settings for runs on the untrained fixture teacher: the smoke preset with a lighter image prior. (The MNIST row's
 * total-variation weight, 1e7, drives an untrained teacher's samples to ±500 at η0 = 0.1, and a student trained on
 * those diverges; a trained teacher does not need this.)
 */
export function fixtureHash(extra: Record<string, string | number> = {}): string {
  const p = new URLSearchParams({ preset: 'smoke', seed: '7', 'synthesis.weights.tv': '1000' });
  for (const [k, v] of Object.entries(extra)) p.set(k, String(v));
  return `#${p.toString()}`;
}

export const SMOKE_HASH = fixtureHash();

export async function waitForRunEnd(page: Page, timeout = 100_000): Promise<string> {
  await expect(page.getByTestId('run-status')).toHaveText(/Finished|Stopped|Failed/, { timeout });
  return (await page.getByTestId('run-status').textContent()) ?? '';
}

export function unzip(buffer: Buffer): Record<string, Uint8Array> {
  return unzipSync(new Uint8Array(buffer));
}

let colourCached: Promise<FixtureFile[]> | null = null;

/**
 * A small colour residual teacher as Keras-style functional code exports it: 32×32×3 → conv, BatchNorm, ReLU, a
 * residual block (two convs and an Add), a strided conv, global average pooling, 10-class softmax; seeded weights.
 */
export function colourResidualTeacherFiles(): Promise<FixtureFile[]> {
  colourCached ??= (async () => {
    await tf.setBackend('cpu');
    const init = (seed: number) => tf.initializers.heNormal({ seed });
    const input = tf.input({ shape: [32, 32, 3] });
    let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: init(1) }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
    let y = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }).apply(x) as tf.SymbolicTensor;
    y = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: init(3) }).apply(y) as tf.SymbolicTensor;
    x = tf.layers.add().apply([x, y]) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(4) }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: FIXTURE_CLASSES, activation: 'softmax', kernelInitializer: init(5) }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const saved = await savedModel(model);
    model.dispose();
    return [
      { name: 'model.json', mimeType: 'application/json', buffer: saved.modelJson },
      { name: 'group1-shard1of1.bin', mimeType: 'application/octet-stream', buffer: saved.weights },
    ];
  })();
  return colourCached;
}
