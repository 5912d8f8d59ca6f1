import { strToU8, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import type { NamedFile } from './files';
import { bytesFile, loadError } from './test-fixtures';

// Model formats CAKE Studio recognises but cannot read: each is named from its bytes (or, for Core ML, its
// extension) and refused with one sentence on how to convert it.


const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const zip = (name: string, entries: Record<string, Uint8Array>): NamedFile => ({ name, data: zipSync(entries).slice().buffer as ArrayBuffer });

function safetensors(name: string): NamedFile {
  const header = strToU8(JSON.stringify({ 'fc.weight': { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } }));
  const bytes = new Uint8Array(8 + header.length + 16);
  new DataView(bytes.buffer).setUint32(0, header.length, true);
  bytes.set(header, 8);
  return { name, data: bytes.buffer };
}

const cases: [string, NamedFile, string][] = [
  [
    'TensorFlow Lite',
    bytesFile('model.tflite', [0x1c, 0, 0, 0, ...ascii('TFL3')], 64),
    '"model.tflite" is a TensorFlow Lite model; TensorFlow Lite cannot be imported (its kernels have no gradients): drop the model it was converted from instead (a Keras .h5 or .keras file, a TensorFlow.js export, or an ONNX export)',
  ],
  [
    'PyTorch .pt (torch.save zip)',
    zip('model.pt', { 'archive/data.pkl': strToU8('\x80\x02}q\x00.'), 'archive/version': strToU8('3\n'), 'archive/data/0': new Uint8Array(16) }),
    '"model.pt" is a PyTorch checkpoint; PyTorch files hold Python objects that cannot be loaded here: export the model with torch.onnx.export(model, example_input, "model.onnx") and drop the .onnx file',
  ],
  [
    'PyTorch .pth (legacy pickle)',
    bytesFile('weights.pth', [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8], 64),
    '"weights.pth" is a PyTorch checkpoint; PyTorch files hold Python objects that cannot be loaded here: export the model with torch.onnx.export(model, example_input, "model.onnx") and drop the .onnx file',
  ],
  [
    'TensorFlow SavedModel (.pb)',
    bytesFile('saved_model.pb', [0x08, 0x01, 0x12, 0x0a], 64),
    '"saved_model.pb" is a TensorFlow SavedModel graph; SavedModels cannot be read directly: convert the folder with tensorflowjs_converter --input_format tf_saved_model <saved_model_dir> out/ and drop out/model.json with its weight files, or export it to ONNX with tf2onnx',
  ],
  [
    'Core ML (.mlmodel)',
    bytesFile('Classifier.mlmodel', [0x08, 0x05, 0x12, 0x20, 0x0a], 64),
    '"Classifier.mlmodel" is a Core ML model; Core ML models cannot be imported (Core ML cannot export back to a trainable format): drop the model it was converted from instead (Keras, TensorFlow.js or ONNX)',
  ],
  [
    'safetensors',
    safetensors('model.safetensors'),
    '"model.safetensors" is a safetensors weights file; it holds weights without the architecture, so it cannot be loaded: load the weights into the model in PyTorch or Keras and export it to ONNX (torch.onnx.export) or save it as .keras',
  ],
];

describe('formats CAKE Studio recognises but does not read', () => {
  it.each(cases)('%s', async (_, file, message) => {
    const e = await loadError([file]);
    expect(e.code).toBe('foreign-format');
    expect(e.message).toBe(message);
  });

  it('a SavedModel folder (saved_model.pb with its variables) is named too', async () => {
    const e = await loadError([bytesFile('m/saved_model.pb', [0x08, 0x01, 0x12], 64), bytesFile('m/variables/variables.index', [0, 1], 16), bytesFile('m/variables/variables.data-00000-of-00001', [0, 1], 16)]);
    expect(e.code).toBe('foreign-format');
    expect(e.message).toMatch(/^"saved_model\.pb" is a TensorFlow SavedModel graph/);
  });

  it('a zipped .mlpackage is named by its model.mlmodel', async () => {
    const pkg = zip('Classifier.mlpackage.zip', {
      'Classifier.mlpackage/Manifest.json': strToU8('{"fileFormatVersion": "1.0.0"}'),
      'Classifier.mlpackage/Data/com.apple.CoreML/model.mlmodel': new Uint8Array([0x08, 0x07, 0x12, 0x10, 0x0a]),
    });
    const e = await loadError([pkg]);
    expect(e.code).toBe('foreign-format');
    expect(e.message).toMatch(/^"model\.mlmodel" is a Core ML model/);
  });
});
