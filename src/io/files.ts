import { unzipSync } from 'fflate';
import { guardZipEntries } from './limits';
import { TeacherError } from './teacher-error';

// Everything the importers see is an in-memory file: the worker gets File objects turned into ArrayBuffers, the
// CLI reads from disk. Keeping the DOM and Node's fs out of src/io lets both share the same code.

/** One dropped or unpacked file. `name` may carry a relative folder path ("teacher/model.json"); match by basename. */
export interface NamedFile {
  name: string;
  data: ArrayBuffer;
}

/** The last path segment, with "./" prefixes, backslashes and URL escapes (weight paths may hold %20) dealt with. */
export function basename(path: string): string {
  const seg = path.replace(/\\/g, '/').split('/').filter((s) => s !== '' && s !== '.').pop() ?? '';
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
}

/** The folder part of a path ('' for a bare name), normalised to forward slashes. */
export function dirname(path: string): string {
  const parts = path.replace(/\\/g, '/').split('/');
  parts.pop();
  return parts.filter((s) => s !== '' && s !== '.').join('/');
}

export type FileKind =
  | 'zip'
  | 'gzip'
  | 'png'
  | 'jpeg'
  | 'gif'
  | 'webp'
  | 'hdf5'
  | 'onnx'
  | 'tflite'
  | 'pytorch'
  | 'keras3'
  | 'safetensors'
  | 'savedmodel'
  | 'coreml'
  | 'json'
  | 'empty'
  | 'unknown';

const bytesOf = (data: ArrayBuffer, n: number) => new Uint8Array(data, 0, Math.min(n, data.byteLength));
const startsWith = (b: Uint8Array, sig: readonly number[], at = 0) =>
  b.length >= at + sig.length && sig.every((v, i) => b[at + i] === v);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

/** Names inside a zip, read from its directory only (the filter declines every entry, so nothing is inflated). */
export function zipEntryNames(data: ArrayBuffer, zipName = 'the zip'): string[] {
  const names: string[] = [];
  unzipSync(new Uint8Array(data), {
    filter: guardZipEntries(zipName, (f) => {
      names.push(f.name);
      return false;
    }),
  });
  return names;
}

/** Each file is sniffed (and, when text, decoded) once, however many readers ask about it. */
const kinds = new WeakMap<NamedFile, FileKind>();
const texts = new WeakMap<NamedFile, string>();

/**
 * What a file is, from its bytes first and its name second: users rename files, and a wrong extension should not
 * turn a clear "this is an ONNX file" into a confusing parse error.
 */
export function detectKind(file: NamedFile): FileKind {
  let kind = kinds.get(file);
  if (kind === undefined) {
    kind = sniffKind(file);
    kinds.set(file, kind);
  }
  return kind;
}

function sniffKind(file: NamedFile): FileKind {
  const b = bytesOf(file.data, 64);
  const lower = basename(file.name).toLowerCase();
  if (file.data.byteLength === 0) return 'empty';
  if (startsWith(b, [0x50, 0x4b, 0x03, 0x04]) || startsWith(b, [0x50, 0x4b, 0x05, 0x06])) {
    // PyTorch (torch.save since 1.6) and Keras 3 (.keras) are zips too; tell them apart by their members.
    try {
      const names = zipEntryNames(file.data, lower).map((n) => basename(n));
      if (names.includes('data.pkl')) return 'pytorch';
      if (names.includes('model.weights.h5') || (lower.endsWith('.keras') && names.includes('config.json'))) return 'keras3';
    } catch {
      // A damaged zip is still a zip; unzipping it later gives the precise error.
    }
    return 'zip';
  }
  if (startsWith(b, [0x1f, 0x8b])) return 'gzip';
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47])) return 'png';
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(b, ascii('GIF8'))) return 'gif';
  if (startsWith(b, ascii('RIFF')) && startsWith(b, ascii('WEBP'), 8)) return 'webp';
  if (startsWith(b, [0x89, 0x48, 0x44, 0x46])) return 'hdf5';
  if (startsWith(b, ascii('TFL3'), 4)) return 'tflite';
  // Legacy torch.save (before 1.6) is a raw pickle: protocol marker 0x80 then the protocol number.
  if (startsWith(b, [0x80]) && b.length > 1 && b[1] >= 2 && b[1] <= 5 && /\.(pt|pth|ckpt|bin)$/.test(lower)) return 'pytorch';
  if (isSafetensors(file.data)) return 'safetensors';
  // Core ML's .mlmodel is a protobuf without a magic number (and would pass for ONNX): go by the name.
  if (lower.endsWith('.mlmodel')) return 'coreml';
  if (lower === 'saved_model.pb' || lower === 'saved_model.pbtxt') return 'savedmodel';
  if (lower.endsWith('.onnx') || looksLikeOnnx(b)) return 'onnx';
  if (lower.endsWith('.pb')) return 'savedmodel';
  if (lower.endsWith('.h5') || lower.endsWith('.hdf5')) return 'hdf5';
  const first = b.find((c) => c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09 && c !== 0xef && c !== 0xbb && c !== 0xbf);
  if (first === 0x7b /* { */ || first === 0x5b /* [ */) return 'json';
  return 'unknown';
}

/** safetensors: an 8-byte little-endian header length, then a JSON header that starts with '{'. */
function isSafetensors(data: ArrayBuffer): boolean {
  if (data.byteLength < 10) return false;
  const view = new DataView(data);
  const len = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  return len > 1 && len + 8 <= data.byteLength && new Uint8Array(data)[8] === 0x7b;
}

/**
 * ONNX ModelProto starts with field 1 (ir_version, a small varint) and then producer_name, domain, graph or
 * opset_import. Protobuf has no magic number, so this is a heuristic on the first bytes only.
 */
function looksLikeOnnx(b: Uint8Array): boolean {
  return b.length > 3 && b[0] === 0x08 && b[1] >= 3 && b[1] <= 12 && [0x12, 0x1a, 0x22, 0x2a, 0x3a, 0x42].includes(b[2]);
}

const KIND_WORDS: Partial<Record<FileKind, string>> = {
  png: 'a PNG image',
  jpeg: 'a JPEG image',
  gif: 'a GIF image',
  webp: 'a WebP image',
  zip: 'a zip archive',
  gzip: 'a gzip-compressed file',
  hdf5: 'a Keras HDF5 file',
  onnx: 'an ONNX model',
  tflite: 'a TensorFlow Lite model',
  pytorch: 'a PyTorch checkpoint',
  keras3: 'a Keras 3 .keras archive',
  safetensors: 'a safetensors weights file',
  savedmodel: 'a TensorFlow SavedModel graph (.pb)',
  coreml: 'a Core ML model',
  json: 'a JSON file',
  empty: 'empty',
  unknown: 'not a format CAKE Studio recognises',
};

/** A few words for "it is …" messages, e.g. "a PNG image". */
export function describeKind(kind: FileKind): string {
  return KIND_WORDS[kind] ?? kind;
}

/**
 * One sentence refusing a model format we cannot load, with the conversion that would make it loadable;
 * undefined for kinds that are not models (images, json, …) and for the model formats CAKE Studio reads
 * (Keras .h5 and .keras, ONNX: those have their own readers and their own messages).
 */
export function foreignFormatMessage(kind: FileKind, name: string): string | undefined {
  const n = basename(name);
  switch (kind) {
    case 'tflite':
      return `"${n}" is a TensorFlow Lite model; TensorFlow Lite cannot be imported (its kernels have no gradients): drop the model it was converted from instead (a Keras .h5 or .keras file, a TensorFlow.js export, or an ONNX export)`;
    case 'pytorch':
      return `"${n}" is a PyTorch checkpoint; PyTorch files hold Python objects that cannot be loaded here: export the model with torch.onnx.export(model, example_input, "model.onnx") and drop the .onnx file`;
    case 'safetensors':
      return `"${n}" is a safetensors weights file; it holds weights without the architecture, so it cannot be loaded: load the weights into the model in PyTorch or Keras and export it to ONNX (torch.onnx.export) or save it as .keras`;
    case 'savedmodel':
      return `"${n}" is a TensorFlow SavedModel graph; SavedModels cannot be read directly: convert the folder with tensorflowjs_converter --input_format tf_saved_model <saved_model_dir> out/ and drop out/model.json with its weight files, or export it to ONNX with tf2onnx`;
    case 'coreml':
      return `"${n}" is a Core ML model; Core ML models cannot be imported (Core ML cannot export back to a trainable format): drop the model it was converted from instead (Keras, TensorFlow.js or ONNX)`;
    default:
      return undefined;
  }
}

/** Zip members that are not content: folders, macOS resource forks and Finder litter. */
function isJunkEntry(name: string): boolean {
  if (name.endsWith('/')) return true;
  const parts = name.split('/');
  return parts.includes('__MACOSX') || parts[parts.length - 1] === '.DS_Store' || parts[parts.length - 1].startsWith('._');
}

/** Unpack a zip into files, keeping each member's relative path as its name. Throws with the zip's name on damage. */
export function unzipFiles(zip: NamedFile): NamedFile[] {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(new Uint8Array(zip.data), { filter: guardZipEntries(basename(zip.name), (f) => !isJunkEntry(f.name)) });
  } catch (e) {
    if (e instanceof TeacherError) throw e;
    throw new Error(`"${basename(zip.name)}" is not a readable zip archive (${(e as Error).message})`);
  }
  return Object.entries(entries).map(([name, bytes]) => ({
    name,
    // Copy into a fresh, exactly-sized ArrayBuffer: fflate's views may share a larger buffer.
    data: bytes.slice().buffer as ArrayBuffer,
  }));
}

/**
 * Replace every plain zip among the files with its contents (one level; a zip inside a zip is left as it is).
 * PyTorch and Keras 3 archives are zips too, but they stay whole so that they can be named and refused.
 */
export function expandZips(files: readonly NamedFile[]): NamedFile[] {
  return files.flatMap((f) => (detectKind(f) === 'zip' ? unzipFiles(f) : [f]));
}

/** The bytes of a file as UTF-8 text, without a byte-order mark. */
export function fileText(file: NamedFile): string {
  let text = texts.get(file);
  if (text === undefined) {
    text = new TextDecoder('utf-8').decode(file.data).replace(/^\uFEFF/, '');
    texts.set(file, text);
  }
  return text;
}
