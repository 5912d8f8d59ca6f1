import * as tf from '@tensorflow/tfjs';
import { strToU8, zipSync } from 'fflate';

// Saving the distilled student as a standard tfjs LayersModel (model.json + weights.bin) that plain
// tf.loadLayersModel reads, and packing it with side files into one zip for download. The save handler collects
// the artifacts in memory, so this works in a worker (no `downloads://`, which needs a document) and in Node.

export interface ExportedModel {
  /** model.json's content, ready to JSON.stringify. */
  modelJson: {
    modelTopology: unknown;
    format: string;
    generatedBy: string;
    convertedBy: null;
    weightsManifest: tf.io.WeightsManifestConfig;
  };
  /** weights.bin's content, the file modelJson's manifest names. */
  weights: ArrayBuffer;
}

export const WEIGHTS_FILE = 'weights.bin';

export async function exportStudent(model: tf.LayersModel): Promise<ExportedModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  if (!artifacts || artifacts.modelTopology === undefined) throw new Error('saving the student produced no model topology');
  const weights = artifacts.weightData ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : new ArrayBuffer(0);
  return {
    // tf.io.getModelJSONForModelArtifacts is not exported in tfjs 4.22, so model.json is assembled here.
    modelJson: {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
      convertedBy: null,
      weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: artifacts.weightSpecs ?? [] }],
    },
    weights,
  };
}

/**
 * A zip of the given entries: ArrayBuffers and typed arrays as bytes, strings as UTF-8, anything else as
 * pretty-printed JSON. Names may contain folders ("student/model.json").
 */
export function studentZip(entries: Record<string, ArrayBuffer | ArrayBufferView | string | object>): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [name, value] of Object.entries(entries)) {
    if (value instanceof ArrayBuffer) files[name] = new Uint8Array(value);
    else if (ArrayBuffer.isView(value)) files[name] = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    else if (typeof value === 'string') files[name] = strToU8(value);
    else files[name] = strToU8(`${JSON.stringify(value, null, 2)}\n`);
  }
  // Weights barely compress; level 6 is fflate's default and keeps JSON small.
  return zipSync(files, { level: 6 });
}
