import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { heapOffset, simdKernels } from './wasm-simd';

/*
 * 3x3 stride-1 convolutions of a frozen filter by Winograd's F(2x2, 3x3) on wasm (simd/winograd.c): 16 instead of 36
 * multiply-adds per 2x2 outputs and channel pair, with bias, a residual and a clamp (relu, relu6) fused into the last
 * pass. The same kernel computes such a convolution's input gradient: for stride 1 it is the correlation of dy with
 * the filter flipped in space and with its channel axes swapped. The filter is transformed once (U = G g Gt); the
 * caller keeps U. Sums are taken in a different order than XNNPACK's, so results differ by float rounding
 * (relative ~1e-6).
 */

const KERNEL = 'CakeWinogradConv2D';
const BACKEND = 'wasm';
/** Floats of scratch per channel count: STRIDE(ch) in simd/winograd.c, for each of the 16 positions. */
const stride = (channels: number) => 64 * channels + 32;

interface Attrs {
  padTop: number;
  padLeft: number;
  outHeight: number;
  outWidth: number;
  lo: number;
  hi: number;
}

interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  disposeData(dataId: object): boolean;
}

/** Whether this conv can take the Winograd kernel on the active backend. */
export function winogradApplies(filterShape: readonly number[], strides: readonly number[], dilations: readonly number[]): boolean {
  const [kh, kw, ci, co] = filterShape;
  return (
    kh === 3 &&
    kw === 3 &&
    ci % 4 === 0 &&
    co % 4 === 0 &&
    strides.every((s) => s === 1) &&
    dilations.every((d) => d === 1) &&
    tf.getKernel(KERNEL, tf.getBackend()) != null &&
    simdKernels(tf.backend()) != null
  );
}

const G = [
  [1, 0, 0],
  [0.5, 0.5, 0.5],
  [0.5, -0.5, 0.5],
  [0, 0, 1],
];

/**
 * U = G g Gt of a [3, 3, ci, co] filter, laid out [16, ci, co]; with `flip`, of the filter that gives the input
 * gradient instead (g'[i, j, o, c] = g[2 - i, 2 - j, c, o], laid out [16, co, ci]).
 */
export function winogradFilter(filter: Float32Array, ci: number, co: number, flip = false): Float32Array {
  const inC = flip ? co : ci;
  const outC = flip ? ci : co;
  const g = (i: number, j: number, c: number, o: number) =>
    flip ? filter[(((2 - i) * 3 + (2 - j)) * ci + o) * co + c] : filter[((i * 3 + j) * ci + c) * co + o];
  const u = new Float32Array(16 * inC * outC);
  for (let a = 0; a < 4; a++) {
    for (let b = 0; b < 4; b++) {
      const base = (a * 4 + b) * inC * outC;
      for (let c = 0; c < inC; c++) {
        for (let o = 0; o < outC; o++) {
          let s = 0;
          for (let i = 0; i < 3; i++) {
            if (G[a][i] === 0) continue;
            for (let j = 0; j < 3; j++) if (G[b][j] !== 0) s += G[a][i] * g(i, j, c, o) * G[b][j];
          }
          u[base + c * outC + o] = s;
        }
      }
    }
  }
  return u;
}

/**
 * clamp(conv(x, g) + bias + residual, lo, hi) for the transformed filter u ([16, ci, co]); x is read with `padTop`
 * rows and `padLeft` columns of zeros before it and the output is [n, outHeight, outWidth, co].
 */
export function winogradConv(
  x: tf.Tensor4D,
  u: tf.Tensor,
  args: Attrs & { bias?: tf.Tensor1D | null; residual?: tf.Tensor | null },
): tf.Tensor4D {
  const { bias, residual, ...attrs } = args;
  const inputs: Record<string, tf.Tensor> = { x, u };
  if (bias) inputs.bias = bias;
  if (residual) inputs.residual = residual;
  return tf.engine().runKernel(KERNEL, inputs, attrs as never) as tf.Tensor4D;
}

const winogradKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, u, bias, residual } = inputs as { x: TensorInfo; u: TensorInfo; bias?: TensorInfo; residual?: TensorInfo };
  const { padTop, padLeft, outHeight, outWidth, lo, hi } = attrs as unknown as Attrs;
  const [n, h, w, ci] = x.shape;
  const co = u.shape[u.shape.length - 1];
  if (u.shape[0] !== 16 || u.shape[1] !== ci || ci % 4 !== 0 || co % 4 !== 0) {
    throw new Error(`${KERNEL}: filter [${u.shape}] does not fit input [${x.shape}]`);
  }
  const b = backend as unknown as WasmBackend;
  const out = b.makeOutput([n, outHeight, outWidth, co], 'float32');
  const scratch = b.makeOutput([16 * (stride(ci) + stride(co))], 'float32');
  try {
    const at = (t: TensorInfo | undefined) => (t ? heapOffset(backend, t) : 0);
    simdKernels(backend)!.winograd_f2k3(
      at(x),
      at(u),
      at(bias),
      at(residual),
      at(out),
      at(scratch),
      n,
      h,
      w,
      ci,
      co,
      outHeight,
      outWidth,
      padTop,
      padLeft,
      lo,
      hi,
    );
  } finally {
    b.disposeData(scratch.dataId);
  }
  return out;
};

const config: KernelConfig = { kernelName: KERNEL, backendName: BACKEND, kernelFunc: winogradKernel };

/** Registers the wasm kernel. Idempotent. */
export function registerWinogradKernel(): void {
  if (tf.getKernel(KERNEL, BACKEND) == null) tf.registerKernel(config);
}
