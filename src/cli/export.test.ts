import * as tf from '@tensorflow/tfjs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareOutputs } from '../io/agreement';
import { runInOnnxRuntime } from '../io/export-fixtures';
import { decodeOnnx } from '../io/onnx';
import { onnxConvNet } from '../io/onnx-fixtures';
import { loadTeacher } from '../io/teacher-load';
import { initNodeBackend } from '../tfjs/node-backend';
import { cake } from './testing';

let dir: string;
let out: string;
let teacherInput: string;

beforeAll(async () => {
  await initNodeBackend();
  dir = await mkdtemp(path.join(tmpdir(), 'cake-export-'));
  out = path.join(dir, 'student');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A tfjs model from a model.json and weights.bin on disk, as plain tf.loadLayersModel reads it. */
async function loadTfjs(folder: string): Promise<{ model: tf.LayersModel; weightBytes: number }> {
  const json = JSON.parse(await readFile(path.join(folder, 'model.json'), 'utf8'));
  const w = await readFile(path.join(folder, 'weights.bin'));
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) }));
  return { model, weightBytes: w.byteLength };
}

const bytesOf = async (file: string) => new Uint8Array(await readFile(file));

describe('cake distill --format', () => {
  it("writes every format beside the float student, with the deploy report; an ONNX teacher's student keeps its input", async () => {
    // A PyTorch-style NCHW teacher: the student (cnn, after a Permute) must come back as ONNX with the same input.
    const fx = onnxConvNet({ size: 16, name: 'teacher.onnx' });
    await mkdir(path.join(dir, 'onnx-teacher'), { recursive: true });
    const teacherFile = path.join(dir, 'onnx-teacher', 'teacher.onnx');
    await writeFile(teacherFile, new Uint8Array(fx.file.data));
    fx.dispose();
    teacherInput = 'input.1';

    const r = await cake('distill', '--teacher', teacherFile, '--preset', 'smoke', '--student', 'cnn', '--workers', '1', '--format', 'onnx,keras', '--format', 'tfjs-float16,tfjs-uint8', '--out', out, '--quiet');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary.formats.map((f: { format: string }) => f.format)).toEqual(['onnx', 'keras', 'tfjs-float16', 'tfjs-uint8']);
    expect(summary.formats[0].files).toEqual([path.join(out, 'student.onnx')]);
    expect(summary.formats[3].files).toEqual([path.join(out, 'tfjs-uint8', 'model.json'), path.join(out, 'tfjs-uint8', 'weights.bin')]);
    const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8'));
    expect(report.deploy).toEqual(summary.deploy);
    expect(report.deploy.samples).toBe(report.config.synthesis.batchSize);
    expect(report.deploy.clock).toBe('cpu');
    expect(report.deploy.variants.map((v: { format: string }) => v.format)).toEqual(['tfjs-float32', 'tfjs-float16', 'tfjs-uint8']);

    const float = await loadTfjs(out);
    const inputShape = float.model.inputs[0].shape.slice(1) as number[];
    expect(inputShape).toEqual([1, 16, 16]);
    expect(float.model.layers[1].getClassName()).toBe('Permute');

    // ONNX: the teacher's input name and NCHW shape; ONNX Runtime agrees with the tfjs student.
    const onnx = await bytesOf(path.join(out, 'student.onnx'));
    const graph = decodeOnnx(onnx.slice().buffer, 'student.onnx').graph!;
    expect(graph.input![0].name).toBe(teacherInput);
    expect(graph.input![0].type!.tensor_type!.shape!.dim!.slice(1)).toEqual([{ dim_value: 1 }, { dim_value: 16 }, { dim_value: 16 }]);
    const x = tf.randomNormal([512, ...inputShape], 0, 1, 'float32', 31);
    const reference = (float.model.predict(x) as tf.Tensor).dataSync();
    const inOrt = await runInOnnxRuntime(onnx, x, teacherInput);
    const onnxAgreement = compareOutputs(reference, inOrt.data, 4);
    expect(onnxAgreement.top1).toBeGreaterThanOrEqual(0.998);
    expect(onnxAgreement.maxAbsDiff).toBeLessThan(1e-3);

    // Keras: read back through our importer, the same logits.
    const keras = await loadTeacher([{ name: 'student.h5', data: (await bytesOf(path.join(out, 'student.h5'))).slice().buffer }]);
    expect(compareOutputs(reference, (keras.model.predict(x) as tf.Tensor).dataSync(), 4).maxAbsDiff).toBe(0);
    keras.dispose();

    // The quantized variants load in plain tfjs, within their byte budgets, and their report says what they weigh.
    for (const [i, format, budget] of [[1, 'tfjs-float16', 0.55], [2, 'tfjs-uint8', 0.3]] as const) {
      const q = await loadTfjs(path.join(out, format));
      expect(q.weightBytes / float.weightBytes).toBeLessThanOrEqual(budget);
      expect(report.deploy.variants[i].bytes).toBe(q.weightBytes);
      expect(await stat(path.join(out, format, 'metadata.json')).then((s) => s.isFile())).toBe(true);
      expect(compareOutputs(reference, (q.model.predict(x) as tf.Tensor).dataSync(), 4).rows).toBe(512);
      q.model.dispose();
    }
    x.dispose();
    float.model.dispose();
  });

  it('refuses an unknown format by name', async () => {
    const r = await cake('distill', '--teacher', path.join(dir, 'onnx-teacher', 'teacher.onnx'), '--format', 'onnx,tflite', '--out', path.join(dir, 'x'), '--quiet');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--format: unknown format "tflite"; choose from onnx, keras, tfjs-float16, tfjs-uint8/);
  });
});

describe('cake export', () => {
  it("writes one format from a student folder; ONNX takes the teacher's input name from report.json", async () => {
    const exported = path.join(dir, 'exported');
    const r = await cake('export', '--model', path.join(out, 'model.json'), '--to', 'onnx', '--out', `${exported}/`);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary).toMatchObject({ format: 'onnx', files: [path.join(exported, 'student.onnx')], inputName: teacherInput });
    // The same model, the same bytes as distill's.
    expect(Buffer.compare(await readFile(path.join(exported, 'student.onnx')), await readFile(path.join(out, 'student.onnx')))).toBe(0);

    const named = path.join(dir, 'renamed.onnx');
    const r2 = await cake('export', '--model', path.join(out, 'model.json'), '--to', 'onnx', '--input-name', 'pixels', '--out', named);
    expect(r2.code).toBe(0);
    expect(decodeOnnx((await bytesOf(named)).slice().buffer, 'renamed.onnx').graph!.input![0].name).toBe('pixels');

    const u8 = path.join(dir, 'u8');
    const r3 = await cake('export', '--model', path.join(out, 'model.json'), '--to', 'tfjs-uint8', '--out', u8);
    expect(r3.code).toBe(0);
    expect(Buffer.compare(await readFile(path.join(u8, 'weights.bin')), await readFile(path.join(out, 'tfjs-uint8', 'weights.bin')))).toBe(0);
  });

  it('refuses a missing or unknown --to, and a model that is not there', async () => {
    const none = await cake('export', '--model', path.join(out, 'model.json'), '--out', dir);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/missing --to/);
    const bad = await cake('export', '--model', path.join(out, 'model.json'), '--to', 'tflite', '--out', dir);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--to: unknown format "tflite"/);
    const two = await cake('export', '--model', path.join(out, 'model.json'), '--to', 'onnx,keras', '--out', dir);
    expect(two.err).toMatch(/--to: name one format/);
    const gone = await cake('export', '--model', path.join(dir, 'nowhere', 'model.json'), '--to', 'onnx', '--out', dir);
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/no such file/);
  });
});
