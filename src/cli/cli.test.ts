import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomConvTeacher } from '../cake/testing';
import { initNodeBackend } from '../tfjs/node-backend';
import { rgbPng } from '../io/png-fixtures';
import { modelFiles } from '../io/test-fixtures';
import { cake } from './testing';

let dir: string;

async function writeModel(sub: string, model: tf.LayersModel, edit?: (files: { name: string; data: ArrayBuffer }[]) => void) {
  const files = await modelFiles(model);
  edit?.(files);
  const d = path.join(dir, sub);
  await import('node:fs/promises').then((fs) => fs.mkdir(d, { recursive: true }));
  for (const f of files) await writeFile(path.join(d, f.name), new Uint8Array(f.data));
  return path.join(d, 'model.json');
}

beforeAll(async () => {
  await initNodeBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'cake-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cake distill', () => {
  it('turns a LeNet-size teacher into a student that plain tfjs loads and that predicts as the engine’s student', async () => {
    const teacher = await writeModel('good', randomConvTeacher(3));
    const out = path.join(dir, 'student');
    const r = await cake('distill', '--teacher', teacher, '--preset', 'smoke', '--student', 'lenet5-half', '--seed', '5', '--set', 'student.augShift=1', '--workers', '2', '--scale', '1/255', '--mean', '0.5', '--std', '0.25', '--out', out, '--quiet');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary.student.arch).toBe('lenet5-half');
    const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8'));
    expect(report.seed).toBe(5);
    expect(report.config.synthesis.sets).toBe(2);
    // --scale/--mean/--std give the run its input range: (0/255 − 0.5)/0.25 to (255/255 − 0.5)/0.25.
    expect(report.config.synthesis.clampRange).toEqual([-2, 2]);
    expect(report.teacherInfo.preprocessingFrom).toMatch(/command line/);
    expect(report.backend).toBe('wasm');
    expect(report.timings.synthesisSec).toBeGreaterThan(0);
    expect(report.synthesis.finalLosses.total).toBeGreaterThan(0);
    expect(report.studentTraining.agreement).toBeGreaterThanOrEqual(0);

    // Plain tfjs reads the written files.
    const json = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8'));
    const weights = await readFile(path.join(out, 'weights.bin'));
    expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);
    const student = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) }),
    );
    const probe = tf.randomNormal([4, 32, 32, 1], 0, 1, 'float32', 9);
    expect((student.predict(probe) as tf.Tensor).shape).toEqual([4, 10]);

    // The same seed run again with synthesis and the labelling of shifted student batches in-process (the first ran
    // them on two worker threads) gives the same student, byte for byte (determinism end to end).
    const again = path.join(dir, 'student2');
    await cake('distill', '--teacher', teacher, '--preset', 'smoke', '--student', 'lenet5-half', '--seed', '5', '--set', 'student.augShift=1', '--workers', '1', '--scale', '1/255', '--mean', '0.5', '--std', '0.25', '--out', again, '--quiet');
    const w2 = await readFile(path.join(again, 'weights.bin'));
    expect(Buffer.compare(weights, w2)).toBe(0);
    tf.dispose([probe]);
    student.dispose();
  });

  it('refuses bad input with one specific line and a non-zero exit', async () => {
    const good = randomConvTeacher(4);
    const notJson = path.join(dir, 'notjson', 'model.json');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(notJson), { recursive: true }));
    await writeFile(notJson, '{"modelTopology": oops');
    const missing = await writeModel('missing', good, (files) => files.splice(files.findIndex((f) => f.name !== 'model.json'), 1));
    const short = await writeModel('short', good, (files) => {
      const w = files.find((f) => f.name !== 'model.json')!;
      w.data = w.data.slice(0, 1000);
    });
    const notClassifier = await writeModel(
      'dense3d',
      tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3 })] }),
    );
    const cases: [string, RegExp][] = [
      [notJson, /not valid JSON/],
      [missing, /missing/],
      [short, /1000 bytes/],
      [notClassifier, /classifier/],
    ];
    for (const [file, message] of cases) {
      const r = await cake('distill', '--teacher', file, '--preset', 'smoke', '--out', path.join(dir, 'x'), '--quiet');
      expect(r.code, file).toBe(1);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(message);
    }
    const usage = await cake('distill', '--teacher', notJson, '--bogus', '1');
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/unknown option --bogus/);
    const badSetting = await cake('distill', '--teacher', await writeModel('ok2', good), '--set', 'synthesis.batchSize=45', '--out', path.join(dir, 'y'), '--quiet');
    expect(badSetting.code).toBe(2);
    expect(badSetting.err).toMatch(/synthesis.batchSize must be a multiple of the group size 10, got 45/);
    const unknownSetting = await cake('distill', '--teacher', await writeModel('ok4', good), '--set', 'student.bogus=1', '--out', path.join(dir, 'w'), '--quiet');
    expect(unknownSetting.code).toBe(2);
    expect(unknownSetting.err).toMatch(/--set: unknown setting "student.bogus"/);
    const badWorkers = await cake('distill', '--teacher', await writeModel('ok3', good), '--workers', '0', '--out', path.join(dir, 'z'), '--quiet');
    expect(badWorkers.code).toBe(2);
    expect(badWorkers.err).toMatch(/--workers must be a whole number from 1 to 64, got 0/);
  });
});

describe('cake inspect', () => {
  it('prints the teacher facts as JSON', async () => {
    const file = await writeModel('inspect', randomConvTeacher(5));
    const r = await cake('inspect', file);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.out);
    expect(info).toMatchObject({ format: 'tfjs-layers', inputShape: [32, 32, 1], numClasses: 10, outputKind: 'logits', inputGradientsFlow: true });
    expect(info.params).toBe(randomConvTeacher(5).countParams());
  });
});

describe('cake eval', () => {
  it('scores a colour model on a CIFAR binary file and on a folder of PNG images per class, with per-channel mean and std', async () => {
    const teacher = randomConvTeacher(7, [32, 32, 3], 4);
    const file = await writeModel('colour', teacher);
    // Six 32×32 RGB images (planar in the CIFAR file, interleaved in the PNGs) labelled 0–3.
    const n = 6;
    const labels = Array.from({ length: n }, (_, i) => i % 4);
    const rgb = Uint8Array.from({ length: n * 32 * 32 * 3 }, (_, i) => (i * 97 + (i >> 7) * 13) % 256);
    const record = new Uint8Array(n * 3073);
    for (let i = 0; i < n; i++) {
      record[i * 3073] = labels[i];
      for (let p = 0; p < 1024; p++) for (let k = 0; k < 3; k++) record[i * 3073 + 1 + k * 1024 + p] = rgb[(i * 1024 + p) * 3 + k];
    }
    await writeFile(path.join(dir, 'test_batch.bin'), record);
    const pngDir = path.join(dir, 'pngs');
    for (let i = 0; i < n; i++) {
      await import('node:fs/promises').then((fs) => fs.mkdir(path.join(pngDir, String(labels[i])), { recursive: true }));
      await writeFile(path.join(pngDir, String(labels[i]), `${i}.png`), rgbPng(32, 32, rgb.subarray(i * 3072, (i + 1) * 3072)));
    }
    const mean = [0.4, 0.5, 0.6];
    const std = [0.2, 0.25, 0.3];
    const expected = tf.tidy(() => {
      const x = tf.div(tf.sub(tf.div(tf.tensor4d(rgb, [n, 32, 32, 3], 'float32'), 255), mean), std);
      const pred = (teacher.predict(x) as tf.Tensor).argMax(-1).dataSync();
      return labels.filter((l, i) => pred[i] === l).length;
    });
    for (const data of [path.join(dir, 'test_batch.bin'), pngDir]) {
      const r = await cake('eval', '--model', file, '--data', data, '--scale', '1/255', '--mean', mean.join(','), '--std', std.join(','));
      expect(r.err).toBe('');
      const out = JSON.parse(r.out);
      expect(out).toMatchObject({ correct: expected, total: n, preprocessing: { pad: 0, mean, std } });
    }
    const jpeg = path.join(dir, 'jpegs', '0');
    await import('node:fs/promises').then((fs) => fs.mkdir(jpeg, { recursive: true }));
    await writeFile(path.join(jpeg, 'a.jpg'), Uint8Array.from([0xff, 0xd8, 0xff, 0xe0]));
    const refused = await cake('eval', '--model', file, '--data', path.dirname(jpeg), '--scale', '1/255');
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/a\.jpg is not a PNG image; outside the browser only PNG images can be read/);
    const badMean = await cake('eval', '--model', file, '--data', pngDir, '--mean', '0.4,x');
    expect(badMean.code).toBe(2);
    expect(badMean.err).toMatch(/--mean needs a number \(or a fraction such as 1\/255\), got "x"/);
  });
});

describe('a teacher read that never ends', () => {
  it('stops every command that reads a model at --timeout, with one line and exit 1', async () => {
    const teacher = await writeModel('stalled', randomConvTeacher(6));
    const commands: string[][] = [
      ['inspect', teacher],
      ['distill', '--teacher', teacher, '--preset', 'smoke', '--out', path.join(dir, 'never'), '--quiet'],
      ['eval', '--model', teacher, '--images', 'x', '--labels', 'y'],
      ['bench', '--teacher', teacher],
      ['export', '--model', teacher, '--to', 'onnx', '--out', path.join(dir, 'never.onnx')],
    ];
    // The load thread spins as a reader stuck on a damaged file does (a synchronous loop nothing interrupts).
    process.env.CAKE_TEST_STALL_TEACHER_READS = '1';
    try {
      for (const argv of commands) {
        const started = Date.now();
        const r = await cake(...argv, '--timeout', '1');
        expect(r.code, argv[0]).toBe(1);
        expect(r.err.trim().split('\n'), argv[0]).toHaveLength(1);
        expect(r.err).toContain(`cake ${argv[0]}: error: ${teacher} could not be read within 1 s: the file may be damaged`);
        expect(Date.now() - started).toBeLessThan(20_000);
      }
    } finally {
      delete process.env.CAKE_TEST_STALL_TEACHER_READS;
    }
    const r = await cake('inspect', teacher, '--timeout', '0');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--timeout needs a number of seconds above 0, got 0/);
  });
});
