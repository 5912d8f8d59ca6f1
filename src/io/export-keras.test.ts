import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildStudent } from '../models/students';
import { initNodeBackend } from '../tfjs/node-backend';
import { compareOutputs } from './agreement';
import { chainTeacher, layerZoo, STUDENT_CASES, studentOf } from './export-fixtures';
import { exportKeras } from './export-keras';
import { withH5File } from './keras-h5';
import { loadTeacher } from './teacher-load';

// No Python Keras is installed here (Debian has no python3-keras or python3-tensorflow), so the file is checked
// two ways: read back through our own Keras importer (keras-h5.ts, which follows Keras' loader), and its HDF5
// layout against what Keras' save_model_to_hdf5 writes and load_weights_from_hdf5_group reads.

beforeAll(async () => {
  await initNodeBackend();
});

/** The exported .h5 read back as a teacher: its logits against the model's on the same inputs. */
async function roundTrip(model: tf.LayersModel, rows: number) {
  const bytes = await exportKeras(model);
  const loaded = await loadTeacher([{ name: 'student.h5', data: bytes.slice().buffer }]);
  expect(loaded.info.format).toBe('keras-h5');
  const shape = model.inputs[0].shape.slice(1) as number[];
  expect(loaded.info.inputShape).toEqual(shape);
  const x = tf.randomNormal([rows, ...shape], 0, 1, 'float32', 23);
  const a = (model.predict(x) as tf.Tensor).dataSync();
  const b = (loaded.model!.predict(x) as tf.Tensor).dataSync();
  const classes = model.outputs[0].shape[1] as number;
  x.dispose();
  loaded.dispose();
  return compareOutputs(a, b, classes);
}

describe('exportKeras: read back through our Keras importer', () => {
  for (const c of STUDENT_CASES)
    it(c.label, async () => {
      const model = studentOf(c);
      const result = await roundTrip(model, 64);
      expect(result.maxAbsDiff).toBe(0);
      model.dispose();
    });

  it("the 'auto' student (BatchNorm statistics included) and the functional layer zoo", async () => {
    const teacher = chainTeacher();
    const auto = buildStudent('auto', [28, 28, 1], 10, teacher, { seed: 2 }).model;
    const { model: zoo } = layerZoo();
    for (const m of [auto, zoo]) expect((await roundTrip(m, 16)).maxAbsDiff, m.name).toBe(0);
    [teacher, auto, zoo].forEach((m) => m.dispose());
  });
});

/** A list-of-strings attribute as Keras' load_attributes_from_hdf5_group sees it. */
function strings(attrs: Record<string, { value: unknown }>, name: string): string[] {
  const v = attrs[name]?.value;
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') return [v];
  return [];
}

describe("exportKeras: the HDF5 layout Keras' save_model_to_hdf5 writes", () => {
  it('root attributes, model_weights/<layer>/<layer>/<weight>:0 datasets, and the order Keras loads weights in', async () => {
    const model = studentOf({ label: '', arch: 'lenet5-half', inputShape: [1, 28, 28] });
    const bytes = await exportKeras(model);
    await withH5File(bytes.slice().buffer, 'student.h5', (f) => {
      const attr = (name: string) => String(f.attrs[name]?.value);
      expect(attr('backend')).toBe('tensorflow');
      expect(attr('keras_version')).toMatch(/^2\.\d+\.\d+$/);
      const config = JSON.parse(attr('model_config'));
      expect(config.class_name).toBe('Sequential');
      const layerConfigs = config.config.layers as { class_name: string; config: Record<string, unknown> }[];
      expect(layerConfigs.map((l) => l.class_name)).toEqual(['InputLayer', 'Permute', 'Conv2D', 'MaxPooling2D', 'Conv2D', 'MaxPooling2D', 'Conv2D', 'Flatten', 'Dense', 'Dense']);
      // Keras 2 takes batch_input_shape as it is; Keras 3's legacy loader turns it into batch_shape.
      expect(layerConfigs[0].config.batch_input_shape).toEqual([null, 1, 28, 28]);

      const weights = f.get('model_weights') as InstanceType<typeof h5wasm.Group>;
      const layerNames = strings(weights.attrs, 'layer_names');
      // A Sequential model's layers, without its InputLayer, as Keras lists them.
      expect(layerNames).toEqual(model.layers.slice(1).map((l) => l.name));
      // load_weights_from_hdf5_group: the layers with weight_names, in order, pair with the model's layers that have weights.
      const saved = layerNames.filter((n) => strings((weights.get(n) as InstanceType<typeof h5wasm.Group>).attrs, 'weight_names').length > 0);
      const withWeights = model.layers.filter((l) => l.weights.length > 0);
      expect(saved).toEqual(withWeights.map((l) => l.name));
      withWeights.forEach((layer) => {
        const g = weights.get(layer.name) as InstanceType<typeof h5wasm.Group>;
        const names = strings(g.attrs, 'weight_names');
        expect(names).toEqual([`${layer.name}/kernel:0`, `${layer.name}/bias:0`]);
        names.forEach((n, i) => {
          const ds = g.get(n) as InstanceType<typeof h5wasm.Dataset>;
          expect(ds.shape).toEqual(layer.weights[i].shape);
          expect(ds.dtype).toBe('<f');
          expect(Array.from(ds.value as Float32Array)).toEqual(Array.from(layer.weights[i].read().dataSync()));
        });
      });
    });
    model.dispose();
  });

  it("lists a functional model's InputLayer too, with empty weight_names as numpy writes an empty list", async () => {
    const { model } = layerZoo();
    const bytes = await exportKeras(model);
    await withH5File(bytes.slice().buffer, 'zoo.h5', (f) => {
      const weights = f.get('model_weights') as InstanceType<typeof h5wasm.Group>;
      expect(strings(weights.attrs, 'layer_names')).toEqual(model.layers.map((l) => l.name));
      const input = weights.get('image') as InstanceType<typeof h5wasm.Group>;
      expect(strings(input.attrs, 'weight_names')).toEqual([]);
      const bn = model.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
      const names = strings((weights.get(bn.name) as InstanceType<typeof h5wasm.Group>).attrs, 'weight_names');
      expect(names.map((n) => n.split('/').pop())).toEqual(['gamma:0', 'beta:0', 'moving_mean:0', 'moving_variance:0']);
      const config = JSON.parse(String(f.attrs.model_config.value));
      // tfjs names a functional model "Model", as Keras up to 2.3 did; Keras 2 and 3 register Model for configs.
      expect(config.class_name).toBe('Model');
      expect(config.config.input_layers).toEqual([['image', 0, 0]]);
    });
    model.dispose();
  });
});
