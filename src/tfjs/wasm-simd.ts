import type { TensorInfo } from '@tensorflow/tfjs';
import { KERNELS_WASM_BASE64 } from './simd/kernels-wasm';

/*
 * Our own WebAssembly kernels (src/tfjs/simd/kernels.ll, compiled with LLVM to ~3 kB of wasm SIMD), instantiated
 * on the tfjs-backend-wasm heap itself, so they read and write tensors in place. JS loops over the same data are
 * 3-10x slower. Everything here degrades to null (callers keep their JS loops or the stock kernels) where the module
 * cannot be used: no wasm SIMD or bulk memory, or a backend that does not expose its memory.
 */

export interface SimdKernels {
  /** See kernels.ll. Pointers are byte offsets into the heap. */
  max_pool_grad_2x2(x: number, dy: number, dx: number, rows: number, ow: number, c: number): void;
  sum_abs_diff(x: number, outer: number, n: number, stride: number): number;
  add_abs_diff_grad(x: number, dx: number, outer: number, n: number, stride: number, c: number): void;
  swap_middle(src: number, dst: number, a: number, b: number, c: number, d: number): void;
  transpose_pad_rows(src: number, dst: number, rows: number, ow: number, co: number, wpad: number): void;
  filter_grad_1ch(
    x: number,
    dyt: number,
    dw: number,
    n: number,
    h: number,
    w: number,
    kh: number,
    kw: number,
    oh: number,
    ow: number,
    co: number,
  ): void;
  act_grad(y: number, dy: number, dx: number, n: number, lo: number, hi: number): void;
  add_act(a: number, b: number, out: number, n: number, lo: number, hi: number): void;
  spread_mean(dy: number, dx: number, batch: number, hw: number, c: number, scale: number): void;
  conv_1ch(x: number, f: number, bias: number, y: number, row: number, n: number, h: number, w: number, kh: number, kw: number, co: number, lo: number, hi: number): void;
  col2im(cols: number, dx: number, n: number, oh: number, ow: number, kh: number, kw: number, c: number, h: number, w: number, sh: number, sw: number, top: number, left: number): void;
  scatter_phase(src: number, dst: number, n: number, qh: number, qw: number, c: number, h: number, w: number, r0: number, c0: number, sh: number, sw: number): void;
  winograd_f2k3(
    x: number,
    u: number,
    bias: number,
    res: number,
    y: number,
    scratch: number,
    n: number,
    h: number,
    w: number,
    ci: number,
    co: number,
    oh: number,
    ow: number,
    padT: number,
    padL: number,
    lo: number,
    hi: number,
  ): void;
}

interface WasmBackendLike {
  wasm?: { asm?: { memory?: unknown } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
}

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<object, SimdKernels | null>();
let disabled = false;

/** Turns the SIMD kernels off (or on again), for tests and comparisons; callers then use their JS loops. */
export function setSimdKernelsEnabled(on: boolean): void {
  disabled = !on;
}

function decode(b64: string): Uint8Array<ArrayBuffer> {
  if (typeof atob === 'function') {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  return Uint8Array.from(Buffer.from(b64, 'base64'));
}

function compile(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    compiled = new WebAssembly.Module(decode(KERNELS_WASM_BASE64));
  } catch {
    compiled = null; // no SIMD or bulk-memory support (or no WebAssembly): JS loops instead
  }
  return compiled;
}

/** The kernels bound to this wasm backend's heap, or null where they cannot run. */
export function simdKernels(backend: unknown): SimdKernels | null {
  if (disabled) return null;
  const b = backend as WasmBackendLike;
  const wasm = b?.wasm;
  if (wasm == null) return null;
  let inst = instances.get(wasm);
  if (inst === undefined) {
    inst = null;
    const memory = wasm.asm?.memory;
    const module = compile();
    if (module != null && memory instanceof WebAssembly.Memory) {
      try {
        const instance = new WebAssembly.Instance(module, { env: { __linear_memory: memory } });
        inst = instance.exports as unknown as SimdKernels;
      } catch {
        inst = null;
      }
    }
    instances.set(wasm, inst);
  }
  return inst;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function heapOffset(backend: unknown, t: TensorInfo): number {
  const data = (backend as WasmBackendLike).dataIdMap.get(t.dataId);
  if (data == null) throw new Error('simd: tensor data is not on the wasm backend');
  return data.memoryOffset;
}
