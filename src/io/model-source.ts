import { basename, detectKind, fileText, type NamedFile } from './files';
import { TeacherError } from './teacher-error';

// Which reader a set of dropped files needs. A TensorFlow.js model.json wins when there is one (a folder holding
// the converted model next to its original .h5 is common); otherwise a Keras file (.h5, .keras, or the unpacked
// .keras folder: config.json + model.weights.h5) or an ONNX model. Everything else is left to findModelJson,
// which explains what it found instead.

export type KerasSource =
  /** A Keras 2/3 HDF5 file with model_config (model.save("m.h5")). */
  | { kind: 'keras'; layout: 'h5'; file: NamedFile }
  /** A Keras 3 .keras zip (config.json, metadata.json, model.weights.h5). */
  | { kind: 'keras'; layout: 'keras-zip'; file: NamedFile }
  /** The unpacked members of a .keras archive; `file` is config.json. */
  | { kind: 'keras'; layout: 'keras-folder'; file: NamedFile; weights: NamedFile };

export type ModelSource = KerasSource | { kind: 'onnx'; file: NamedFile } | { kind: 'json' };

/** A JSON file that looks like a TensorFlow.js model, judged without a full parse of every JSON file. */
function isTfjsJson(f: NamedFile): boolean {
  if (!basename(f.name).toLowerCase().endsWith('.json')) return false;
  return f.data.byteLength > 0 && fileText(f).includes('"modelTopology"');
}

/** Shard names a converter writes; their float bytes can look like anything, ONNX's loose signature included. */
const isShardName = (name: string) => /^group\d+-shard\d+of\d+(\.bin)?$/i.test(name) || name.toLowerCase().endsWith('.bin');

export function findModelSource(files: readonly NamedFile[]): ModelSource {
  if (files.some(isTfjsJson)) return { kind: 'json' };
  const found: (KerasSource | { kind: 'onnx'; file: NamedFile })[] = [];
  const config = files.find((f) => basename(f.name) === 'config.json');
  for (const f of files) {
    const kind = detectKind(f);
    const name = basename(f.name);
    if (kind === 'keras3') found.push({ kind: 'keras', layout: 'keras-zip', file: f });
    else if (kind === 'hdf5' && name === 'model.weights.h5' && config) found.push({ kind: 'keras', layout: 'keras-folder', file: config, weights: f });
    else if (kind === 'hdf5') found.push({ kind: 'keras', layout: 'h5', file: f });
    else if (kind === 'onnx' && (name.toLowerCase().endsWith('.onnx') || !isShardName(name))) found.push({ kind: 'onnx', file: f });
  }
  if (found.length > 1)
    throw new TeacherError(
      'many-models',
      `found ${found.length} model files (${found.map((s) => basename('layout' in s && s.layout === 'keras-folder' ? s.weights.name : s.file.name)).join(', ')}); drop one model at a time`,
    );
  return found[0] ?? { kind: 'json' };
}
