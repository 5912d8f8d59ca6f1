import * as tf from '@tensorflow/tfjs';

/*
 * WebGPU in Node through Dawn (the `webgpu` npm package, which ships dawn.node for linux-x64 among others), so that
 * `cake bench --backend webgpu` and `cake distill --backend webgpu` run the engine on a GPU outside a browser.
 *
 * Adapters are tried in order: Dawn's default (Vulkan on Linux: a real GPU, or Mesa's lavapipe where its Vulkan is
 * complete enough), then the same in WebGPU's compatibility mode, then Dawn's OpenGL ES backend in compatibility
 * mode over EGL without a display (Mesa's llvmpipe on a machine without a GPU: Debian 12's lavapipe lacks the
 * dynamic indexing Dawn's Vulkan backend requires). `adapterDescription` says which one was taken, so timings can be
 * attributed. Software adapters are for checking that the path works, not for speed.
 */

export interface NodeWebGpu {
  /** Vendor, architecture and description of the adapter, e.g. "nvidia … (vulkan)" or "mesa llvmpipe … (opengles)". */
  adapterDescription: string;
  /** Whether the adapter is a software rasteriser (llvmpipe, lavapipe, SwiftShader). */
  software: boolean;
}

let ready: Promise<NodeWebGpu> | undefined;

type Adapter = { info?: { vendor?: string; architecture?: string; description?: string; device?: string } };
type Gpu = { requestAdapter(options?: Record<string, unknown>): Promise<Adapter | null> };

function describe(adapter: Adapter, backend: string): NodeWebGpu {
  const info = adapter.info ?? {};
  const text = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && String(s).trim()).join(' ').trim();
  return { adapterDescription: `${text || 'unknown adapter'} (${backend})`, software: /llvmpipe|lavapipe|swiftshader/i.test(text) };
}

/**
 * Selects tfjs' webgpu backend on a Dawn adapter; rejects with a sentence saying why when there is none (no `webgpu`
 * package for this platform, or no adapter). Idempotent.
 */
export function initNodeWebGpu(): Promise<NodeWebGpu> {
  ready ??= (async () => {
    let dawn: { create(flags: string[]): Gpu; globals: object };
    try {
      dawn = (await import('webgpu')) as unknown as typeof dawn;
    } catch (e) {
      throw new Error(`WebGPU in Node needs the \`webgpu\` package (Dawn) for ${process.platform}-${process.arch}: ${(e as Error).message}`);
    }
    // The GL backend opens EGL without a window system.
    process.env.EGL_PLATFORM ??= 'surfaceless';
    const tries: [string, string[], Record<string, unknown>][] = [
      ['default', [], {}],
      ['default, compatibility mode', [], { featureLevel: 'compatibility' }],
      ['opengles, compatibility mode', ['backend=opengles'], { featureLevel: 'compatibility' }],
    ];
    for (const [backend, flags, options] of tries) {
      const gpu = dawn.create(flags);
      const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance', ...options });
      if (!adapter) continue;
      // tfjs asks navigator.gpu for the adapter itself: hand it this one (with the options that found it).
      const request = gpu.requestAdapter.bind(gpu);
      gpu.requestAdapter = (o?: Record<string, unknown>) => request({ ...o, ...options });
      Object.assign(globalThis, dawn.globals);
      const nav = (globalThis as { navigator?: object }).navigator;
      if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
      else Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: `node ${process.version}` }, configurable: true });
      await import('@tensorflow/tfjs-backend-webgpu');
      if (!(await tf.setBackend('webgpu'))) throw new Error(`tfjs: the webgpu backend failed to initialise on ${describe(adapter, backend).adapterDescription}`);
      await tf.ready();
      return describe(adapter, backend);
    }
    throw new Error(
      'no WebGPU adapter found (Dawn tried Vulkan, and OpenGL ES over EGL): this machine needs a GPU with a Vulkan driver, or Mesa (apt-get install mesa-vulkan-drivers libegl-mesa0)',
    );
  })().catch((e: unknown) => {
    ready = undefined;
    throw e;
  });
  return ready;
}
