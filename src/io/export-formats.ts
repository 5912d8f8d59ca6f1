import type * as tf from '@tensorflow/tfjs';
import { WEIGHTS_FILE } from './export';
import { exportOnnx } from './export-onnx';
import type { ExportFormat } from './format-names';
import { exportQuantized } from './quantize';

// The files each export format is written as (format-names.ts lists the formats), so the CLI (files on disk) and
// the studio (a download) write the same thing.

export interface FormatOptions {
  /** The ONNX graph input's name: the teacher's, when the teacher was ONNX. */
  inputName?: string;
  /** Stored in the ONNX file's metadata (classNames, as JSON). */
  classNames?: string[];
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
    case 'keras': {
      // Loaded on demand, as for Keras teachers: the HDF5 writer is a few MB of WebAssembly.
      const { exportKeras } = await import('./export-keras');
      return { 'student.h5': await exportKeras(model) };
    }
    case 'tfjs-float16':
    case 'tfjs-uint8': {
      const q = await exportQuantized(model, format === 'tfjs-float16' ? 'float16' : 'uint8');
      return { 'model.json': new TextEncoder().encode(JSON.stringify(q.modelJson)), [WEIGHTS_FILE]: new Uint8Array(q.weights) };
    }
  }
}
