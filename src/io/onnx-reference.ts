import * as ort from 'onnxruntime-web';
import type { NamedFile } from './files';

// Test-only: ONNX Runtime (onnxruntime-web on its WASM backend, in Node) as an independent reference for what an
// ONNX graph computes. Unit tests of the importer's ops compare against it instead of against our own reading of
// the spec.

ort.env.wasm.numThreads = 1;

/** Run the model's single input through ONNX Runtime; returns its single output. */
export async function ortRun(file: NamedFile, x: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: number[] }> {
  const session = await ort.InferenceSession.create(new Uint8Array(file.data));
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, dims) });
    const t = out[session.outputNames[0]];
    return { data: Float32Array.from(t.data as ArrayLike<number>), dims: [...t.dims] };
  } finally {
    await session.release();
  }
}
