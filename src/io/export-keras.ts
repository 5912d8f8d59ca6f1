import * as tf from '@tensorflow/tfjs';
import { hdf5 } from './keras-h5';

// The student as a Keras legacy HDF5 file (`model.save("student.h5")`'s layout), which Keras 2 (tf.keras) and
// Keras 3 open with `keras.models.load_model("student.h5")`. The layout is the one Keras' hdf5_format /
// legacy_h5_format save_model_to_hdf5 writes:
//   attributes  keras_version, backend, model_config (the model's JSON config: class_name + config)
//   model_weights/                 attributes layer_names, backend, keras_version
//     <layer>/                     attribute weight_names, e.g. ["conv2d/kernel:0", "conv2d/bias:0"]
//       <layer>/kernel:0           one float32 dataset per weight, in the layer's weight order
// Keras loads the weights by order (layers that have weights, each layer's weight_names in order), so names only
// label them. The config is what tfjs' own serialiser writes, which is tf.keras 2's format (tensorflowjs_converter
// feeds it to keras.models.model_from_json); Keras 3 reads that format in its legacy loader (batch_input_shape
// becomes batch_shape, etc.).

/**
 * The Keras release whose h5 layout and config format the file follows. Keras reads the attribute only to convert
 * files from Keras 1 ("1") and the Theano backend, so it does not change how the file loads.
 */
const KERAS_VERSION = '2.15.0';
const BACKEND = 'tensorflow';

type H5 = Awaited<ReturnType<typeof hdf5>>;
type H5Group = InstanceType<H5['Group']>;

let fileCounter = 0;

/** A group at a slash-separated path under `root`, created as needed (Keras' weight names hold slashes). */
function groupAt(root: H5Group, path: string): H5Group {
  let g = root;
  for (const part of path.split('/').filter(Boolean)) g = (g.get(part) as H5Group | null) ?? g.create_group(part);
  return g;
}

/** A list-of-strings attribute; an empty list as Keras writes it through numpy (an empty float64 array). */
function stringList(g: H5Group, name: string, values: string[]): void {
  if (values.length === 0) g.create_attribute(name, new Float64Array(0), [0], '<d');
  else g.create_attribute(name, values);
}

/** The model's Keras config, as model_config holds it: `{class_name, config}`. */
export function kerasModelConfig(model: tf.LayersModel): { class_name: string; config: unknown } {
  const json = model.toJSON(null, false) as { class_name: string; config: unknown };
  return { class_name: json.class_name, config: json.config };
}

/** The model as the bytes of a Keras .h5 file. */
export async function exportKeras(model: tf.LayersModel): Promise<Uint8Array> {
  if (model.layers.some((l) => l instanceof tf.LayersModel))
    throw new Error('the model holds a nested model; Keras export writes flat models only');
  const config = kerasModelConfig(model);
  // Keras lists a Sequential model's layers without its InputLayer, a functional model's with it.
  const layers = model.layers.filter((l) => config.class_name !== 'Sequential' || l.getClassName() !== 'InputLayer');
  const h5 = await hdf5();
  const path = `/cake-export-${++fileCounter}.h5`;
  const file = new h5.File(path, 'w');
  try {
    file.create_attribute('keras_version', KERAS_VERSION);
    file.create_attribute('backend', BACKEND);
    file.create_attribute('model_config', JSON.stringify(config));
    const weights = file.create_group('model_weights');
    stringList(weights, 'layer_names', layers.map((l) => l.name));
    weights.create_attribute('backend', BACKEND);
    weights.create_attribute('keras_version', KERAS_VERSION);
    for (const layer of layers) {
      const g = weights.create_group(layer.name);
      // Keras 2 names a weight "<layer>/<weight>:0"; tfjs' originalName is "<layer>/<weight>".
      const names = layer.weights.map((w) => `${layer.name}/${w.originalName.split('/').pop()}:0`);
      stringList(g, 'weight_names', names);
      layer.weights.forEach((w, i) => {
        const parts = names[i].split('/');
        const leaf = parts.pop()!;
        groupAt(g, parts.join('/')).create_dataset({ name: leaf, data: w.read().dataSync() as Float32Array, shape: w.shape as number[], dtype: '<f' });
      });
    }
  } finally {
    file.close();
  }
  const bytes = (h5.FS.readFile(path) as Uint8Array).slice();
  h5.FS.unlink(path);
  return bytes;
}
