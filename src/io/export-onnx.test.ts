import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { buildStudent, STUDENT_ARCHS } from '../models/students';
import { compareOutputs } from './agreement';
import { chainTeacher, layerZoo, onnxChecker, runInOnnxRuntime, STUDENT_CASES, studentOf } from './export-fixtures';
import { exportOnnx, ONNX_OPSET, OnnxExportError } from './export-onnx';
import { decodeOnnx } from './onnx';
import { loadTeacher } from './teacher-load';

beforeAll(async () => {
  await initNodeBackend();
});

/** The tfjs model and ONNX Runtime on the same seeded inputs. */
async function compareInRuntime(model: tf.LayersModel, bytes: Uint8Array, rows: number, inputName?: string) {
  const shape = model.inputs[0].shape.slice(1) as number[];
  const x = tf.randomNormal([rows, ...shape], 0, 1, 'float32', 17);
  const y = model.predict(x) as tf.Tensor;
  const reference = y.dataSync() as Float32Array;
  const onnx = await runInOnnxRuntime(bytes, x, inputName);
  expect(onnx.dims).toEqual(y.shape);
  const result = compareOutputs(reference, onnx.data, y.shape[y.shape.length - 1]);
  tf.dispose([x, y]);
  return result;
}

describe('exportOnnx: every student architecture, run in ONNX Runtime', () => {
  it('has a case for every architecture of the zoo (a new student architecture needs one here)', () => {
    const covered = new Set(STUDENT_CASES.map((c) => c.arch));
    expect(STUDENT_ARCHS.map((a) => a.name).filter((n) => n !== 'auto' && !covered.has(n))).toEqual([]);
  });

  // The bar: the tfjs student's top-1 on ≥ 99.8 % of inputs and logits within 1e-3.
  for (const c of STUDENT_CASES)
    it(c.label, async () => {
      const model = studentOf(c);
      const bytes = exportOnnx(model);
      const result = await compareInRuntime(model, bytes, 512);
      expect(result.top1).toBeGreaterThanOrEqual(0.998);
      expect(result.maxAbsDiff).toBeLessThan(1e-3);
      model.dispose();
    });

  it("the 'auto' student (the teacher's chain at half width, with BatchNorm and Dropout)", async () => {
    const teacher = chainTeacher();
    const built = buildStudent('auto', [28, 28, 1], 10, teacher, { seed: 2 });
    expect(built.arch).toBe('auto');
    const result = await compareInRuntime(built.model, exportOnnx(built.model), 256);
    expect(result.top1).toBeGreaterThanOrEqual(0.998);
    expect(result.maxAbsDiff).toBeLessThan(1e-3);
    built.model.dispose();
    teacher.dispose();
  });

  it('a model using every mapped layer class (ResNet- and MobileNet-style blocks), checked after each block', async () => {
    const { model, taps } = layerZoo();
    for (const m of [...taps, model]) {
      const result = await compareInRuntime(m, exportOnnx(m), 32);
      expect(result.maxAbsDiff, m.name).toBeLessThan(1e-4);
      expect(result.top1, m.name).toBe(1);
    }
    model.dispose();
  });
});

describe('exportOnnx: the graph', () => {
  it("an NCHW (PyTorch) teacher's student takes the teacher's input name and [N, C, H, W] shape, with no Transpose before the first conv", async () => {
    const model = studentOf({ label: '', arch: 'lenet5-half', inputShape: [1, 28, 28] });
    const bytes = exportOnnx(model, { inputName: 'input.1', metadata: { classNames: '["zero","one"]' } });
    const proto = decodeOnnx(bytes.slice().buffer, 'student.onnx');
    expect(proto.opset_import!.map((o) => [o.domain ?? '', o.version])).toEqual([['', ONNX_OPSET]]);
    const graph = proto.graph!;
    expect(graph.input!.map((i) => i.name)).toEqual(['input.1']);
    expect(graph.input![0].type!.tensor_type!.shape!.dim).toEqual([{ dim_param: 'batch' }, { dim_value: 1 }, { dim_value: 28 }, { dim_value: 28 }]);
    expect(graph.output![0].name).toBe('logits');
    expect(graph.node![0].op_type).toBe('Conv');
    expect(graph.node![0].input![0]).toBe('input.1');
    // One Transpose only: back to Keras' NHWC order before Flatten.
    expect(graph.node!.filter((n) => n.op_type === 'Transpose')).toHaveLength(1);
    expect((proto as { metadata_props?: unknown }).metadata_props).toEqual([{ key: 'classNames', value: '["zero","one"]' }]);

    // Our own ONNX importer reads it back as an NCHW teacher with the same logits.
    const loaded = await loadTeacher([{ name: 'student.onnx', data: bytes.slice().buffer }]);
    expect(loaded.info.inputName).toBe('input.1');
    expect(loaded.info.inputShape).toEqual([1, 28, 28]);
    expect(loaded.info.layout).toBe('NCHW');
    tf.tidy(() => {
      const x = tf.randomNormal([4, 1, 28, 28], 0, 1, 'float32', 3);
      const diff = tf.max(tf.abs(tf.sub(loaded.teacher.logits(x), model.predict(x) as tf.Tensor))).dataSync()[0];
      expect(diff).toBeLessThan(1e-4);
    });
    loaded.dispose();
    model.dispose();
  });

  it('passes onnx.checker (full check) for every student and the layer zoo, where python3-onnx is installed', async (ctx) => {
    const models = [...STUDENT_CASES.map((c) => studentOf(c)), layerZoo().model];
    const first = onnxChecker(exportOnnx(models[0]));
    if ('missing' in first) {
      models.forEach((m) => m.dispose());
      ctx.skip(`onnx.checker not run: ${first.missing}`);
      return;
    }
    for (const m of models) {
      const result = onnxChecker(exportOnnx(m));
      expect(result, m.name).toEqual({ ok: true, message: expect.stringMatching(/^onnx [\d.]+ ok$/) });
      m.dispose();
    }
  });

  it('refuses a layer it cannot map, naming the layer and its class', () => {
    const model = tf.sequential({ layers: [tf.layers.conv1d({ inputShape: [16, 2], filters: 3, kernelSize: 3, name: 'wave' }), tf.layers.flatten(), tf.layers.dense({ units: 4 })] });
    expect(() => exportOnnx(model)).toThrowError(OnnxExportError);
    expect(() => exportOnnx(model)).toThrowError(/layer "wave" \(Conv1D\) has no ONNX mapping; layers that can be exported are Conv2D, /);
    model.dispose();
  });

  it('refuses an activation it cannot map and a nested model, by name', () => {
    const input = tf.input({ shape: [4] });
    const odd = tf.model({ inputs: input, outputs: tf.layers.activation({ activation: 'gelu_new', name: 'odd' }).apply(input) as tf.SymbolicTensor });
    expect(() => exportOnnx(odd)).toThrowError('layer "odd" (Activation) cannot be exported to ONNX: unsupported activation "gelu_new"');
    const inner = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 })], name: 'inner' });
    const outer = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: [4] }), inner] });
    expect(() => exportOnnx(outer)).toThrowError('layer "inner" is a nested model (Sequential); ONNX export needs a flat model: rebuild it without nesting');
    odd.dispose();
    outer.dispose();
  });
});
