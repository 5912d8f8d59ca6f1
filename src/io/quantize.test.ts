import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadIdxPair } from '../cli/datasets';
import { initNodeBackend } from '../tfjs/node-backend';
import { compareOutputs } from './agreement';
import { exportStudent, type ExportedModel } from './export';
import { demoTeacherModel, STUDENT_CASES, studentOf, syntheticSamples } from './export-fixtures';
import { affineRange, exportQuantized, floatToHalf, QUANTIZATIONS, type Quantization } from './quantize';

beforeAll(async () => {
  await initNodeBackend();
});

/** What plain tfjs makes of an export: tf.loadLayersModel from the model.json text and weights.bin bytes. */
async function loadPlain(exported: ExportedModel): Promise<tf.LayersModel> {
  const json = JSON.parse(JSON.stringify(exported.modelJson));
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: exported.weights.slice(0) }));
}

/** The issue's byte budgets, as a share of the float32 weights. */
const BUDGET: Record<Quantization, number> = { float16: 0.55, uint8: 0.3 };

describe('floatToHalf', () => {
  it('rounds to nearest, ties to even, with subnormals, overflow, signed zero and NaN', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00], // rounds up past the largest half: infinity
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // a tie between 0 and 2^-24: even (0)
      [3 * 2 ** -25, 0x0002], // a tie between 1 and 2 ulps: even (2)
      [1 + 2 ** -11, 0x3c00], // a tie between 1 and 1 + 2^-10: even
      [1 + 3 * 2 ** -11, 0x3c02],
      [-0, 0x8000],
      [Infinity, 0x7c00],
    ];
    for (const [v, bits] of cases) expect(floatToHalf(v), String(v)).toBe(bits);
    expect(floatToHalf(NaN) & 0x7c00).toBe(0x7c00);
    expect(floatToHalf(NaN) & 0x3ff).not.toBe(0);
  });

  it("agrees with numpy's astype(float16) bit for bit, where Debian's python3-numpy is installed", (ctx) => {
    const values = Float32Array.from({ length: 4000 }, (_, i) => Math.sinh((i - 2000) / 90) * Math.cos(i * 7.3));
    const py = '/usr/bin/python3';
    const script = 'import sys, numpy as np; a = np.array(sys.stdin.read().split(), dtype=np.float32); print(" ".join(str(int(v)) for v in a.astype(np.float16).view(np.uint16)))';
    const run = existsSync(py) ? spawnSync(py, ['-c', script], { input: Array.from(values, (v) => (Object.is(v, -0) ? '-0.0' : v.toPrecision(9))).join(' '), encoding: 'utf8' }) : undefined;
    if (!run || run.status !== 0) return ctx.skip(`numpy not available (${run?.stderr?.split('\n').at(-2) ?? `${py} is not installed`})`);
    const numpy = run.stdout.trim().split(' ').map(Number);
    // The values went to Python as decimal strings that parse back to the same float32.
    expect(Array.from(values, floatToHalf)).toEqual(numpy);
  });
});

describe('affineRange', () => {
  it('keeps 0 exact when the range spans it, and handles a constant weight', () => {
    const { min, scale } = affineRange(-0.3, 1.1);
    expect(scale).toBeCloseTo(1.4 / 255, 12);
    const zero = -min / scale;
    expect(Math.abs(zero - Math.round(zero))).toBeLessThan(1e-9);
    expect(affineRange(0.2, 0.9)).toEqual({ min: 0.2, scale: 0.7 / 255 });
    expect(affineRange(0.5, 0.5)).toEqual({ min: 0.5, scale: 1 });
  });
});

describe('exportQuantized', () => {
  for (const c of STUDENT_CASES)
    it(`${c.label}: plain tf.loadLayersModel reads both variants, within the byte budgets, every weight within its rounding step`, async () => {
      const model = studentOf(c);
      const float = await exportStudent(model);
      for (const dtype of QUANTIZATIONS) {
        const q = await exportQuantized(model, dtype);
        expect(q.weights.byteLength / float.weights.byteLength).toBeLessThanOrEqual(BUDGET[dtype]);
        const specs = q.modelJson.weightsManifest[0].weights;
        expect(specs.every((s) => s.dtype === 'float32' && s.quantization?.dtype === dtype)).toBe(true);
        const loaded = await loadPlain(q);
        loaded.weights.forEach((w, i) => {
          const a = model.weights[i].read().dataSync();
          const b = w.read().dataSync();
          const step = dtype === 'uint8' ? specs[i].quantization!.scale! / 2 : 0;
          let worst = 0;
          for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k] - b[k]) - (dtype === 'float16' ? Math.abs(a[k]) * 2 ** -11 : step));
          // float16 keeps 11 significant bits (relative error ≤ 2^-11 above 2^-14); uint8 is off by at most half a step.
          expect(worst, `${w.originalName} ${dtype}`).toBeLessThanOrEqual(dtype === 'float16' ? 2 ** -25 : 1e-7);
        });
        loaded.dispose();
      }
      model.dispose();
    });

  it("a trained LeNet-5 agrees with itself quantized on ≥ 99 % of CAKE's synthetic samples (uint8) and all but a few (float16)", async () => {
    const model = await demoTeacherModel();
    const x = await syntheticSamples(model, 300);
    const reference = (model.predict(x) as tf.Tensor).dataSync();
    const float = await exportStudent(model);
    for (const dtype of QUANTIZATIONS) {
      const q = await exportQuantized(model, dtype);
      const loaded = await loadPlain(q);
      const result = compareOutputs(reference, (loaded.predict(x) as tf.Tensor).dataSync(), 10);
      expect(result.top1, dtype).toBeGreaterThanOrEqual(dtype === 'uint8' ? 0.99 : 0.998);
      expect(q.weights.byteLength / float.weights.byteLength).toBeLessThanOrEqual(BUDGET[dtype]);
      loaded.dispose();
    }
    x.dispose();
    model.dispose();
  });

  it('and on the MNIST test set, where ../shared/data/mnist holds it', async (ctx) => {
    const dir = '../shared/data/mnist';
    if (!existsSync(`${dir}/t10k-images-idx3-ubyte.gz`)) return ctx.skip(`${dir} is not here: the labelled check needs the MNIST test set`);
    const data = await loadIdxPair(`${dir}/t10k-images-idx3-ubyte.gz`, `${dir}/t10k-labels-idx1-ubyte.gz`, { pad: 2, scale: 1 / 255, mean: 0.1307, std: 0.3081 });
    const model = await demoTeacherModel();
    const x = tf.tensor(data.x, [data.labels.length, 32, 32, 1]);
    const reference = (model.predict(x) as tf.Tensor).dataSync();
    for (const dtype of QUANTIZATIONS) {
      const loaded = await loadPlain(await exportQuantized(model, dtype));
      const result = compareOutputs(reference, (loaded.predict(x) as tf.Tensor).dataSync(), 10);
      expect(result.top1, dtype).toBeGreaterThanOrEqual(0.99);
      loaded.dispose();
    }
    x.dispose();
    model.dispose();
  });
});
