import { zipSync, strToU8 } from 'fflate';
import { describe, expect, it } from 'vitest';
import { basename, detectKind, dirname, expandZips, foreignFormatMessage, unzipFiles, type NamedFile } from './files';
import { bytesFile, textFile } from './test-fixtures';

const zipFile = (name: string, entries: Record<string, Uint8Array>): NamedFile => ({ name, data: zipSync(entries).slice().buffer as ArrayBuffer });
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

describe('basename and dirname', () => {
  it('handle folders, ./, backslashes and URL escapes', () => {
    expect(basename('./group1-shard1of1.bin')).toBe('group1-shard1of1.bin');
    expect(basename('teacher/sub/model.json')).toBe('model.json');
    expect(basename('teacher\\model.json')).toBe('model.json');
    expect(basename('my%20weights.bin')).toBe('my weights.bin');
    expect(dirname('teacher/sub/model.json')).toBe('teacher/sub');
    expect(dirname('model.json')).toBe('');
  });
});

describe('detectKind', () => {
  const cases: [string, NamedFile, string][] = [
    ['zip', zipFile('x.zip', { 'a.txt': strToU8('a') }), 'zip'],
    ['PyTorch zip', zipFile('model.pt', { 'archive/data.pkl': strToU8('x'), 'archive/version': strToU8('3') }), 'pytorch'],
    ['legacy PyTorch pickle', bytesFile('model.pth', [0x80, 0x02, 0x8a, 0x0a], 32), 'pytorch'],
    ['Keras 3', zipFile('model.keras', { 'config.json': strToU8('{}'), 'model.weights.h5': strToU8('x') }), 'keras3'],
    ['gzip', bytesFile('t10k.gz', [0x1f, 0x8b, 8, 0], 20), 'gzip'],
    ['PNG', bytesFile('a.png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 32), 'png'],
    ['JPEG', bytesFile('a.jpg', [0xff, 0xd8, 0xff, 0xe0], 32), 'jpeg'],
    ['HDF5', bytesFile('renamed.bin', [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a], 64), 'hdf5'],
    ['TFLite', bytesFile('m.bin', [0x1c, 0, 0, 0, ...ascii('TFL3')], 64), 'tflite'],
    ['ONNX by bytes', bytesFile('model', [0x08, 0x07, 0x12, 0x07, ...ascii('pytorch')], 64), 'onnx'],
    ['ONNX by name', bytesFile('model.onnx', [0x01], 8), 'onnx'],
    ['SavedModel', bytesFile('saved_model.pb', [0x08, 0x01, 0x12], 64), 'savedmodel'],
    ['Core ML', bytesFile('Classifier.mlmodel', [0x08, 0x05, 0x12, 0x10], 64), 'coreml'],
    ['JSON', textFile('model.json', '  {"a": 1}'), 'json'],
    ['empty', bytesFile('model.json', []), 'empty'],
  ];
  it.each(cases)('%s', (_, file, kind) => {
    expect(detectKind(file)).toBe(kind);
  });

  it('safetensors: 8-byte header length then a JSON header', () => {
    const header = strToU8('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    const bytes = new Uint8Array(8 + header.length + 4);
    new DataView(bytes.buffer).setUint32(0, header.length, true);
    bytes.set(header, 8);
    expect(detectKind({ name: 'model.safetensors', data: bytes.buffer })).toBe('safetensors');
  });
});

describe('foreignFormatMessage', () => {
  it('explains how to convert each model format we cannot read', () => {
    expect(foreignFormatMessage('pytorch', 'x/model.pt')).toBe(
      '"model.pt" is a PyTorch checkpoint; PyTorch files hold Python objects that cannot be loaded here: export the model with torch.onnx.export(model, example_input, "model.onnx") and drop the .onnx file',
    );
    expect(foreignFormatMessage('savedmodel', 'saved_model.pb')).toContain('tensorflowjs_converter --input_format tf_saved_model');
    for (const kind of ['tflite', 'pytorch', 'safetensors', 'savedmodel', 'coreml'] as const) expect(foreignFormatMessage(kind, 'f')).toMatch(/^"f" is a /);
    // Formats with their own readers are not foreign any more.
    for (const kind of ['hdf5', 'keras3', 'onnx', 'png'] as const) expect(foreignFormatMessage(kind, 'f')).toBeUndefined();
  });
});

describe('unzip', () => {
  it('keeps relative paths and drops folders, __MACOSX and Finder files', () => {
    const zip = zipFile('t.zip', {
      'teacher/': new Uint8Array(0),
      'teacher/model.json': strToU8('{}'),
      'teacher/group1-shard1of1.bin': new Uint8Array([1, 2, 3, 4]),
      '__MACOSX/teacher/._model.json': new Uint8Array([9]),
      'teacher/.DS_Store': new Uint8Array([9]),
    });
    const files = unzipFiles(zip);
    expect(files.map((f) => f.name).sort()).toEqual(['teacher/group1-shard1of1.bin', 'teacher/model.json']);
    expect(new Uint8Array(files.find((f) => f.name.endsWith('.bin'))!.data)).toEqual(new Uint8Array([1, 2, 3, 4]));
  });

  it('expandZips leaves other files and PyTorch archives alone', () => {
    const pt = zipFile('model.pt', { 'archive/data.pkl': strToU8('x') });
    const out = expandZips([textFile('labels.txt', 'a'), zipFile('m.zip', { 'model.json': strToU8('{}') }), pt]);
    expect(out.map((f) => f.name)).toEqual(['labels.txt', 'model.json', 'model.pt']);
  });

  it('names a damaged zip', () => {
    expect(() => unzipFiles(bytesFile('bad.zip', [0x50, 0x4b, 0x03, 0x04], 30))).toThrow(/"bad\.zip" is not a readable zip archive/);
  });
});
