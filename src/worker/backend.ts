/**
 * Backend choice inside the worker.
 *
 * Auto: WebGPU only when `navigator.gpu.requestAdapter()` gives a real (non-fallback) adapter (retried once when it
 * answers null) and a short timed probe (`timeProbeStep`: a small convolutional forward and input gradient, the shape
 * of a synthesis step) runs faster on it than on WASM: an integrated or power-saving GPU can lose to the CPU's SIMD.
 * Else WASM (single-threaded SIMD, our conv-gradient kernels registered), then WebGL, then CPU.
 * The user can force one; when a forced backend cannot start, the chain continues and the note says why.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { tryWasm } from './wasm-backend';
import type { BackendChoice, BackendInfo, BackendName } from './protocol';

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<AdapterLike | null>;
}

export interface AdapterProbe {
  adapter: AdapterLike | null;
  fallback: boolean;
  description: string;
}

/** Ask for a WebGPU adapter (retrying once on null, which headless Chromium sometimes answers first). */
export async function probeWebGpu(): Promise<AdapterProbe | null> {
  const gpu = (self.navigator as unknown as { gpu?: GpuLike }).gpu;
  if (!gpu) return null;
  let adapter: AdapterLike | null = null;
  for (let attempt = 0; attempt < 2 && !adapter; attempt++) {
    try {
      adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    } catch {
      adapter = null;
    }
  }
  if (!adapter) return null;
  const info = adapter.info ?? {};
  const fallback = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter);
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((p) => p && p.length > 0);
  const description = `${parts.length ? parts.join(' ') : 'unknown adapter'}${fallback ? ' (software fallback adapter)' : ''}`;
  return { adapter, fallback, description };
}

let deviceLost: string | null = null;
const lostListeners: ((message: string) => void)[] = [];

/** Why the WebGPU device was lost, once it has been; every later GPU call fails with a vaguer error. */
export function webGpuDeviceLost(): string | null {
  return deviceLost;
}

export function onWebGpuDeviceLost(listener: (message: string) => void): void {
  lostListeners.push(listener);
}

function watchDeviceLoss(): void {
  const device = (tf.backend() as unknown as { device?: { lost?: Promise<{ reason?: string; message?: string }> } }).device;
  void device?.lost?.then((info) => {
    deviceLost = `the WebGPU device was lost (${info.reason ?? 'unknown reason'}${info.message ? `: ${info.message}` : ''})`;
    console.error(`cake worker: ${deviceLost}`);
    for (const l of lostListeners) l(deviceLost);
  });
}

function webglRenderer(): string {
  try {
    const canvas = new OffscreenCanvas(1, 1);
    const gl = canvas.getContext('webgl2') as WebGL2RenderingContext | null;
    if (!gl) return 'WebGL 2';
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    return `WebGL 2: ${String(renderer)}`;
  } catch {
    return 'WebGL 2';
  }
}

async function tryBackend(name: BackendName, gpu: AdapterProbe | null): Promise<string | null> {
  try {
    switch (name) {
      case 'webgpu':
        if (!gpu) return null;
        if (!(await tf.setBackend('webgpu'))) return null;
        await tf.ready();
        watchDeviceLoss();
        return gpu.description;
      case 'wasm':
        return await tryWasm();
      case 'webgl':
        if (!(await tf.setBackend('webgl'))) return null;
        await tf.ready();
        return webglRenderer();
      case 'cpu':
        if (!(await tf.setBackend('cpu'))) return null;
        await tf.ready();
        return 'JavaScript (no acceleration)';
    }
  } catch {
    return null;
  }
}

/**
 * Median wall ms of a small synthesis-shaped step on the active backend: two 3x3 convolutions with ReLU over
 * [32, 32, 32, 16] and the gradient to the input, read back each time (so a GPU's queue is included). Two untimed
 * steps first compile the GPU's shaders.
 */
export async function timeProbeStep(reps = 3): Promise<number> {
  const x = tf.randomNormal([32, 32, 32, 16], 0, 1, 'float32', 1);
  const w1 = tf.randomNormal([3, 3, 16, 16], 0, 0.1, 'float32', 2) as tf.Tensor4D;
  const w2 = tf.randomNormal([3, 3, 16, 16], 0, 0.1, 'float32', 3) as tf.Tensor4D;
  const step = (t: tf.Tensor) => tf.sum(tf.relu(tf.conv2d(tf.relu(tf.conv2d(t as tf.Tensor4D, w1, 1, 'same')), w2, 1, 'same')));
  const times: number[] = [];
  try {
    for (let i = 0; i < reps + 2; i++) {
      const t0 = performance.now();
      const g = tf.grad(step)(x);
      await g.data();
      g.dispose();
      if (i >= 2) times.push(performance.now() - t0);
    }
  } finally {
    tf.dispose([x, w1, w2]);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** WebGPU only where the probe measured it faster than WASM (by any margin: both were timed the same way). */
export function webGpuWins(probe: { webgpuMs: number; wasmMs: number }): boolean {
  return Number.isFinite(probe.webgpuMs) && (!Number.isFinite(probe.wasmMs) || probe.webgpuMs < probe.wasmMs);
}

/** The probe on both backends; leaves the backend as it found it switched to neither (the caller sets one). */
async function probeBoth(gpu: AdapterProbe): Promise<{ webgpuMs: number; wasmMs: number }> {
  const timeOn = async (name: BackendName) => ((await tryBackend(name, gpu)) !== null ? timeProbeStep().catch(() => NaN) : NaN);
  const webgpuMs = await timeOn('webgpu');
  const wasmMs = await timeOn('wasm');
  return { webgpuMs, wasmMs };
}

/** Pick and initialise a backend; throws only when none at all can start. */
export async function chooseBackend(requested: BackendChoice): Promise<BackendInfo> {
  const gpu = await probeWebGpu();
  const notes: string[] = [];
  let order: BackendName[];
  if (requested === 'auto') {
    order = ['wasm', 'webgl', 'cpu'];
    if (gpu && !gpu.fallback) {
      const probe = await probeBoth(gpu);
      const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : 'failed');
      const measured = `probe step: WebGPU ${ms(probe.webgpuMs)}, WASM ${ms(probe.wasmMs)}`;
      if (webGpuWins(probe)) {
        order.unshift('webgpu');
        notes.push(measured);
      } else notes.push(`${measured}; WASM is faster on this machine`);
    } else if (gpu) notes.push(`WebGPU adapter is a software fallback (${gpu.description}); using a faster backend`);
    else notes.push('no WebGPU adapter');
  } else {
    order = [requested, ...(['wasm', 'webgl', 'cpu'] as BackendName[]).filter((b) => b !== requested)];
    if (requested === 'webgpu' && !gpu) notes.push('WebGPU was requested but no adapter is available');
  }
  for (const name of order) {
    const adapter = await tryBackend(name, gpu);
    if (adapter !== null) {
      if (requested !== 'auto' && name !== requested) notes.push(`${requested} could not start; fell back to ${name}`);
      return {
        name,
        requested,
        adapter,
        fallbackAdapter: name === 'webgpu' ? gpu?.fallback : undefined,
        note: notes.length ? notes.join('; ') : undefined,
      };
    }
  }
  throw new Error('no TensorFlow.js backend could start in this browser (tried webgpu, wasm, webgl, cpu)');
}
