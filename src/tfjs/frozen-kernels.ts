import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { heapOffset, simdKernels } from './wasm-simd';

/*
 * The element-wise pieces of the frozen teacher's fused ops (frozen-teacher.ts). On wasm each is one pass of the SIMD
 * module (simd/frozen.c); elsewhere (webgpu, webgl, cpu) they are written with tfjs ops. With tfjs ops on wasm the
 * relu gradient alone is three passes over the activation (Greater, ZerosLike, Select), each ~3-8 ms at
 * [500, 32, 32, 16]. They are called inside custom gradients and custom forward functions, where the tape is off.
 */

export type Activation = 'linear' | 'relu' | 'relu6';

const ACT_GRAD = 'CakeActivationGrad';
const ADD_ACT = 'CakeAddActivation';
const SPREAD_MEAN = 'CakeSpreadMean';
const BACKEND = 'wasm';

const bounds = (act: Activation): [number, number] =>
  act === 'relu' ? [0, Infinity] : act === 'relu6' ? [0, 6] : [-Infinity, Infinity];

interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
}

/** The kernel for the active backend, or null (then the tfjs ops below run). */
function wasmKernel(name: string, ...ts: tf.Tensor[]): boolean {
  return ts.every((t) => t.dtype === 'float32') && tf.getKernel(name, tf.getBackend()) != null && simdKernels(tf.backend()) != null;
}

/** The gradient through an activation, from its output y: dy where the activation passes its input on, else 0. */
export function activationGrad(dy: tf.Tensor, y: tf.Tensor, act: Activation): tf.Tensor {
  if (act === 'linear') return dy.clone();
  if (wasmKernel(ACT_GRAD, dy, y)) return tf.engine().runKernel(ACT_GRAD, { y, dy }, { act } as never) as tf.Tensor;
  return tf.tidy(() => {
    const open = act === 'relu' ? tf.greater(y, 0) : tf.logicalAnd(tf.greater(y, 0), tf.less(y, 6));
    return tf.where(open, dy, tf.zerosLike(dy));
  });
}

/** act(z + r): a residual connection's sum and the activation after it. */
export function addActivation(z: tf.Tensor, r: tf.Tensor, act: Activation): tf.Tensor {
  if (wasmKernel(ADD_ACT, z, r) && tf.util.arraysEqual(z.shape, r.shape)) {
    return tf.engine().runKernel(ADD_ACT, { a: z, b: r }, { act } as never) as tf.Tensor;
  }
  return tf.tidy(() => {
    const s = tf.add(z, r);
    return act === 'relu' ? tf.relu(s) : act === 'relu6' ? tf.relu6(s) : s;
  });
}

/** The gradient of a global average pool: dy [N, C] spread evenly over [N, H, W, C]. */
export function spreadMean(dy: tf.Tensor2D, shape: [number, number, number, number]): tf.Tensor4D {
  if (wasmKernel(SPREAD_MEAN, dy)) return tf.engine().runKernel(SPREAD_MEAN, { dy }, { shape } as never) as tf.Tensor4D;
  const [n, h, w, c] = shape;
  return tf.tidy(() => tf.broadcastTo(tf.reshape(tf.div(dy, h * w), [n, 1, 1, c]), shape));
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

const actGradKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { y, dy } = inputs as { y: TensorInfo; dy: TensorInfo };
  const out = (backend as unknown as WasmBackend).makeOutput([...dy.shape], 'float32');
  const [lo, hi] = bounds((attrs as unknown as { act: Activation }).act);
  simdKernels(backend)!.act_grad(heapOffset(backend, y), heapOffset(backend, dy), heapOffset(backend, out), size(dy.shape), lo, hi);
  return out;
};

const addActKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const out = (backend as unknown as WasmBackend).makeOutput([...a.shape], 'float32');
  const [lo, hi] = bounds((attrs as unknown as { act: Activation }).act);
  simdKernels(backend)!.add_act(heapOffset(backend, a), heapOffset(backend, b), heapOffset(backend, out), size(a.shape), lo, hi);
  return out;
};

const spreadMeanKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy } = inputs as { dy: TensorInfo };
  const { shape } = attrs as unknown as { shape: [number, number, number, number] };
  const [n, h, w, c] = shape;
  const out = (backend as unknown as WasmBackend).makeOutput([...shape], 'float32');
  simdKernels(backend)!.spread_mean(heapOffset(backend, dy), heapOffset(backend, out), n, h * w, c, 1 / (h * w));
  return out;
};

const configs: KernelConfig[] = [
  { kernelName: ACT_GRAD, backendName: BACKEND, kernelFunc: actGradKernel },
  { kernelName: ADD_ACT, backendName: BACKEND, kernelFunc: addActKernel },
  { kernelName: SPREAD_MEAN, backendName: BACKEND, kernelFunc: spreadMeanKernel },
];

/** Registers the wasm kernels above. Idempotent. */
export function registerFrozenKernels(): void {
  for (const c of configs) if (tf.getKernel(c.kernelName, c.backendName) == null) tf.registerKernel(c);
}
