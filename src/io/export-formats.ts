import type * as tf from '@tensorflow/tfjs';
import { WEIGHTS_FILE } from './export';
import { exportKeras } from './export-keras';
import { exportOnnx } from './export-onnx';
import { exportQuantized } from './quantize';

// The formats a student can leave in besides the float32 tfjs LayersModel, and the files each is written as, so the
// CLI (files on disk) and the studio (a download) write the same thing.

export const EXPORT_FORMATS = ['onnx', 'keras', 'tfjs-float16', 'tfjs-uint8'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const FORMAT_ABOUT: Record<ExportFormat, string> = {
  onnx: 'ONNX (opset 13) for ONNX Runtime, PyTorch and other runtimes',
  keras: 'Keras .h5 for Keras 2 (tf.keras) and Keras 3',
  'tfjs-float16': 'TensorFlow.js with float16 weights (half the bytes)',
  'tfjs-uint8': 'TensorFlow.js with 8-bit weights (a quarter of the bytes)',
};

export interface FormatOptions {
  /** The ONNX graph input's name: the teacher's, when the teacher was ONNX. */
  inputName?: string;
  /** Stored in the ONNX file's metadata (classNames, as JSON). */
  classNames?: string[];
}

/** Parses a list like "onnx,keras" (or the name of one format); names the unknown entry otherwise. */
export function parseFormats(text: string): ExportFormat[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names)
    if (!(EXPORT_FORMATS as readonly string[]).includes(n)) throw new Error(`unknown format "${n}"; choose from ${EXPORT_FORMATS.join(', ')}`);
  return [...new Set(names)] as ExportFormat[];
}

/** A format's files: the ONNX or Keras file alone, or a tfjs model.json with its weights. */
export async function exportFiles(model: tf.LayersModel, format: ExportFormat, opts: FormatOptions = {}): Promise<Record<string, Uint8Array>> {
  switch (format) {
    case 'onnx':
      return {
        'student.onnx': exportOnnx(model, {
          inputName: opts.inputName,
          metadata: opts.classNames ? { classNames: JSON.stringify(opts.classNames) } : undefined,
          doc: 'A student distilled with CAKE Studio: raw logits, no softmax.',
        }),
      };
    case 'keras':
      return { 'student.h5': await exportKeras(model) };
    case 'tfjs-float16':
    case 'tfjs-uint8': {
      const q = await exportQuantized(model, format === 'tfjs-float16' ? 'float16' : 'uint8');
      return { 'model.json': new TextEncoder().encode(JSON.stringify(q.modelJson)), [WEIGHTS_FILE]: new Uint8Array(q.weights) };
    }
  }
}
