// The formats a student can be exported to besides its float32 tfjs LayersModel: names and one-line descriptions,
// with no imports, so the studio page can list them without loading tfjs (the files are written in export-formats.ts).

export const EXPORT_FORMATS = ['onnx', 'keras', 'tfjs-float16', 'tfjs-uint8'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const FORMAT_ABOUT: Record<ExportFormat, string> = {
  onnx: 'ONNX (opset 13) for ONNX Runtime, PyTorch and other runtimes',
  keras: 'Keras .h5 for Keras 2 (tf.keras) and Keras 3',
  'tfjs-float16': 'TensorFlow.js with float16 weights (half the bytes)',
  'tfjs-uint8': 'TensorFlow.js with 8-bit weights (a quarter of the bytes)',
};

/** Parses a list like "onnx,keras" (or the name of one format); names the unknown entry otherwise. */
export function parseFormats(text: string): ExportFormat[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names)
    if (!(EXPORT_FORMATS as readonly string[]).includes(n)) throw new Error(`unknown format "${n}"; choose from ${EXPORT_FORMATS.join(', ')}`);
  return [...new Set(names)] as ExportFormat[];
}
