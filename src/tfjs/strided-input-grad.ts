import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { heapOffset, simdKernels } from './wasm-simd';

/*
 * The input gradient of a strided convolution with a frozen filter (wasm), by phases: the dx pixels i with
 * i + top ≡ ρ (mod s) meet only the filter taps k ≡ ρ (mod s), so each of the s×s phases is a stride-1 correlation of
 * dy with a small sub-filter (for a 3×3 filter at stride 2: 2×2, 2×1, 1×2 and 1×1; for 1×1 at stride 2 one phase is
 * a matrix product and three are zero). Each phase runs as one XNNPACK convolution on its own grid and is scattered
 * into dx (simd/frozen.c scatter_phase). That is exactly the useful multiply-adds; the general Conv2DBackpropInput
 * of wasm-conv-grad.ts pads every sub-filter to the largest one (16 taps instead of 9 for 3×3 at stride 2) because it
 * builds the sub-filters per call. Here they are built once per teacher.
 */

const KERNEL = 'CakeStridedInputGrad';
const BACKEND = 'wasm';

interface Phase {
  /** Index of the phase's sub-filter among the kernel's inputs. */
  filter: number;
  /** Explicit padding of dy for the phase's correlation: [top, bottom, left, right]. */
  pads: [number, number, number, number];
  /** Where the phase grid's first pixel lands in dx, and its size. */
  r0: number;
  c0: number;
  qh: number;
  qw: number;
}

interface Attrs {
  inputShape: [number, number, number, number];
  stride: [number, number];
  phases: Phase[];
  /** Whether some dx pixels get no phase (taps missing), so dx starts zeroed. */
  zero: boolean;
}

export interface StridedInputGradPlan {
  filters: tf.Tensor4D[];
  attrs: Attrs;
}

interface Axis {
  rho: number;
  taps: number;
  q0: number;
  nq: number;
  before: number;
  after: number;
  start: number;
}

/** The phases along one axis: dx index i = q·s + ρ − top, for the q whose i lands in [0, size). */
function axisPhases(size: number, outSize: number, k: number, s: number, top: number): Axis[] {
  const out: Axis[] = [];
  for (let rho = 0; rho < s; rho++) {
    const taps = rho < k ? Math.ceil((k - rho) / s) : 0;
    const q0 = Math.ceil((top - rho) / s);
    const q1 = Math.floor((size - 1 + top - rho) / s);
    const nq = q1 - q0 + 1;
    const before = taps - 1 - q0;
    out.push({ rho, taps, q0, nq, before, after: nq + taps - 1 - outSize - before, start: q0 * s + rho - top });
  }
  return out;
}

/**
 * The plan for dx of a conv whose filter ([kh, kw, ci, co]) `read` gives at stride > 1, or null where it does not apply
 * (dilation, a geometry that would need dy cropped, no wasm kernel).
 */
export function stridedInputGradPlan(
  read: () => Float32Array,
  filterShape: [number, number, number, number],
  info: tf.backend_util.Conv2DInfo,
): StridedInputGradPlan | null {
  const { strideHeight: sh, strideWidth: sw, dilationHeight, dilationWidth } = info;
  if ((sh === 1 && sw === 1) || dilationHeight !== 1 || dilationWidth !== 1) return null;
  if (tf.getKernel(KERNEL, tf.getBackend()) == null || simdKernels(tf.backend()) == null) return null;
  const [kh, kw, ci, co] = filterShape;
  const rows = axisPhases(info.inHeight, info.outHeight, kh, sh, info.padInfo.top);
  const cols = axisPhases(info.inWidth, info.outWidth, kw, sw, info.padInfo.left);
  if ([...rows, ...cols].some((a) => a.taps > 0 && a.nq > 0 && (a.before < 0 || a.after < 0))) return null;
  const values = read();
  const filters: tf.Tensor4D[] = [];
  const phases: Phase[] = [];
  let zero = false;
  for (const r of rows) {
    for (const c of cols) {
      if (r.nq <= 0 || c.nq <= 0) continue;
      if (r.taps === 0 || c.taps === 0) {
        zero = true;
        continue;
      }
      // F[m, m', o, i] = W[ρh + sh·(Mh − 1 − m), ρw + sw·(Mw − 1 − m'), i, o]: the taps of this phase, reversed, with
      // the channel axes swapped.
      const f = new Float32Array(r.taps * c.taps * co * ci);
      for (let m = 0; m < r.taps; m++) {
        const u = r.rho + sh * (r.taps - 1 - m);
        for (let m2 = 0; m2 < c.taps; m2++) {
          const v = c.rho + sw * (c.taps - 1 - m2);
          for (let o = 0; o < co; o++) {
            for (let i = 0; i < ci; i++) f[((m * c.taps + m2) * co + o) * ci + i] = values[((u * kw + v) * ci + i) * co + o];
          }
        }
      }
      phases.push({ filter: filters.length, pads: [r.before, r.after, c.before, c.after], r0: r.start, c0: c.start, qh: r.nq, qw: c.nq });
      filters.push(tf.tensor4d(f, [r.taps, c.taps, co, ci]));
    }
  }
  return { filters, attrs: { inputShape: [info.batchSize, info.inHeight, info.inWidth, ci], stride: [sh, sw], phases, zero } };
}

/** dx for dy under the plan (the plan's batch size is ignored: dy's is used). */
export function stridedInputGrad(dy: tf.Tensor, plan: StridedInputGradPlan): tf.Tensor4D {
  const inputs: Record<string, tf.Tensor> = { dy };
  plan.filters.forEach((f, i) => (inputs[`f${i}`] = f));
  return tf.engine().runKernel(KERNEL, inputs, plan.attrs as never) as tf.Tensor4D;
}

interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  disposeData(dataId: object): boolean;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

const kernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy } = inputs as { dy: TensorInfo };
  const { inputShape, stride, phases, zero } = attrs as unknown as Attrs;
  const [, h, w, ci] = inputShape;
  const n = dy.shape[0];
  const b = backend as unknown as WasmBackend;
  const conv = tf.getKernel('Conv2D', BACKEND);
  if (conv == null) throw new Error(`${KERNEL}: the wasm Conv2D kernel is missing`);
  const out = b.makeOutput([n, h, w, ci], 'float32');
  if (zero) b.typedArrayFromHeap(out).fill(0);
  const simd = simdKernels(backend)!;
  for (const p of phases) {
    const filter = (inputs as Record<string, TensorInfo>)[`f${p.filter}`];
    const pad = [[0, 0], [p.pads[0], p.pads[1]], [p.pads[2], p.pads[3]], [0, 0]];
    const part = conv.kernelFunc({
      inputs: { x: dy, filter },
      backend,
      attrs: { strides: [1, 1], dilations: [1, 1], pad, dataFormat: 'NHWC' } as never,
    }) as TensorInfo;
    try {
      if (part.shape[1] !== p.qh || part.shape[2] !== p.qw) throw new Error(`${KERNEL}: phase grid [${part.shape}] is not ${p.qh}x${p.qw}`);
      simd.scatter_phase(heapOffset(backend, part), heapOffset(backend, out), n, p.qh, p.qw, ci, h, w, p.r0, p.c0, stride[0], stride[1]);
    } finally {
      b.disposeData(part.dataId);
    }
  }
  return out;
};

const config: KernelConfig = { kernelName: KERNEL, backendName: BACKEND, kernelFunc: kernel };

/** Registers the wasm kernel. Idempotent. */
export function registerStridedInputGradKernel(): void {
  if (tf.getKernel(KERNEL, BACKEND) == null) tf.registerKernel(config);
}
