/**
 * The step-time measurement of `cake bench` inside the studio's browser worker, so Node and browser numbers sit side
 * by side.
 *
 *   npx tsx scripts/bench-browser.ts [--backend wasm|webgpu|webgl|cpu] [--steps 10] [--warmup 3] [--rounds 1]
 *     [--batch 500] [--student-batch 256] [--student lenet5-half] [--teacher public/demo-teacher] [--workers N]
 *
 * Serves the production build with `vite preview` on 127.0.0.1 (a free port; builds dist/ first when it is missing,
 * or into node_modules/.cache/bench-browser-dist when dist/ is older than the sources, so a server others may be using
 * is left alone), opens Debian's Chromium headless with --enable-unsafe-webgpu through Playwright, starts the
 * studio's worker (the built cake.worker chunk) on a same-origin page with the chosen backend, hands it the teacher's
 * files, sends the worker's `bench` command (src/cake/bench.ts, the loop `cake bench` runs in Node) `rounds` times
 * and prints JSON: each round's medians and the minimum over rounds. Stops the browser and the server.
 *
 * `openBrowserBench` is also used by scripts/bench-speed.ts (--browser).
 */
import { chromium, type Browser } from '@playwright/test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NamedFile } from '../src/io/files';
import type { BackendInfo, BenchResult } from '../src/worker/protocol';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface BenchRequest {
  synthBatch?: number;
  studentBatch?: number;
  steps?: number;
  warmup?: number;
  /** Synthesis helpers to time making one set each at once (wasm). */
  workers?: number;
  student?: string;
}

export interface BrowserBench {
  backend: BackendInfo;
  chromium: string;
  outDir: string;
  run(req: BenchRequest): Promise<BenchResult>;
  close(): Promise<void>;
}

function newestMtime(p: string): number {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = st.mtimeMs;
  for (const e of readdirSync(p)) t = Math.max(t, newestMtime(join(p, e)));
  return t;
}

/** dist/ when it is there and newer than the sources; otherwise a fresh build (into dist/ only when it is missing). */
function ensureBuild(log: (s: string) => void): string {
  const dist = join(root, 'dist');
  const cache = join(root, 'node_modules', '.cache', 'bench-browser-dist');
  const builtAt = (dir: string) => (existsSync(join(dir, 'index.html')) ? statSync(join(dir, 'index.html')).mtimeMs : 0);
  const sources = Math.max(...['src', 'public', 'index.html', 'vite.config.ts', 'package.json'].map((p) => newestMtime(join(root, p))));
  const built = builtAt(dist);
  if (built && built >= sources) return dist;
  if (built && builtAt(cache) >= sources) return cache;
  const outDir = built ? cache : dist;
  log(`building the studio into ${outDir} (${built ? 'dist/ is older than the sources' : 'dist/ is missing'})…`);
  const r = spawnSync('npx', ['vite', 'build', '--outDir', outDir, '--emptyOutDir'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error('vite build failed');
  return outDir;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

async function waitForServer(url: string, ms: number, server: ChildProcess): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (server.exitCode !== null) throw new Error(`vite preview exited (${server.exitCode})`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the preview server did not answer at ${url}`);
}

function stopServer(server: ChildProcess): void {
  if (server.pid && server.exitCode === null) {
    try {
      process.kill(-server.pid, 'SIGTERM'); // the process group this script started (npx and vite under it)
    } catch {
      // already gone
    }
  }
}

// Page-side code, as a string: functions handed to page.evaluate would carry the TypeScript transpiler's helpers.
const PAGE_SETUP = `async ({ workerUrl, backend, files }) => {
  const w = new Worker(workerUrl, { type: 'module', name: 'cake-bench' });
  const listeners = new Set();
  const dispatch = (e) => { for (const l of [...listeners]) l(e); };
  w.onmessage = (ev) => dispatch(ev.data);
  w.onerror = (ev) => dispatch({ type: '__error', message: ev.message || 'the worker failed' });
  const next = (pred) => new Promise((res, rej) => {
    const l = (e) => {
      if (e.type === '__error') { listeners.delete(l); rej(new Error(e.message)); }
      else if (pred(e)) { listeners.delete(l); res(e); }
    };
    listeners.add(l);
  });
  let seq = 1;
  window.__cakeBench = {
    run: async (req) => {
      const requestId = seq++;
      const answer = next((e) => (e.type === 'reply' || e.type === 'reply-error') && e.requestId === requestId);
      w.postMessage({ type: 'bench', requestId, ...req });
      const e = await answer;
      if (e.type === 'reply-error') throw new Error(e.message);
      return e.value;
    },
  };
  const ready = next((e) => e.type === 'ready' || e.type === 'backend-error');
  w.postMessage({ type: 'init', backend });
  const r = await ready;
  if (r.type === 'backend-error') throw new Error(r.message);
  const wire = files.map((f) => ({ name: f.name, data: Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0)).buffer }));
  const requestId = seq++;
  const loaded = next((e) => (e.type === 'reply' || e.type === 'reply-error') && e.requestId === requestId);
  w.postMessage({ type: 'load-teacher', requestId, files: wire }, wire.map((f) => f.data));
  const t = await loaded;
  if (t.type === 'reply-error') throw new Error(t.message);
  return { backend: r.backend, teacher: t.value };
}`;

/** Serve the build, open Chromium, start the worker on `backend` and load the teacher's files into it. */
export async function openBrowserBench(opts: { backend: string; files: NamedFile[]; log?: (s: string) => void }): Promise<BrowserBench> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const outDir = ensureBuild(log);
  const assets = readdirSync(join(outDir, 'assets'));
  const chunk = assets.find((f) => /^cake\.worker-.*\.js$/.test(f));
  if (!chunk) throw new Error(`no cake.worker-*.js in ${outDir}/assets`);
  const port = await freePort();
  const server = spawn('npx', ['vite', 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort', '--outDir', outDir], {
    cwd: root,
    stdio: 'ignore',
    detached: true,
  });
  const onExit = () => stopServer(server);
  process.once('exit', onExit);
  let browser: Browser | null = null;
  try {
    const base = `http://127.0.0.1:${port}/`;
    await waitForServer(`${base}demo-teacher/metadata.json`, 60_000, server);
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--enable-unsafe-webgpu'],
    });
    const page = await browser.newPage();
    page.on('console', (m) => {
      if ((m.type() === 'error' || m.type() === 'warning') && !m.text().startsWith('Failed to load resource')) log(`[browser ${m.type()}] ${m.text()}`);
    });
    // A same-origin page that is not the studio, so the studio's own worker does not compete for the CPU.
    await page.goto(`${base}demo-teacher/metadata.json`);
    const files = opts.files.map((f) => ({ name: f.name, b64: Buffer.from(f.data).toString('base64') }));
    const setup = (await page.evaluate(`(${PAGE_SETUP})(${JSON.stringify({ workerUrl: `${base}assets/${chunk}`, backend: opts.backend, files })})`)) as {
      backend: BackendInfo;
    };
    const b = browser;
    return {
      backend: setup.backend,
      chromium: b.version(),
      outDir,
      run: async (req) => (await page.evaluate(`window.__cakeBench.run(${JSON.stringify(req)})`)) as BenchResult,
      close: async () => {
        await b.close().catch(() => undefined);
        stopServer(server);
        process.removeListener('exit', onExit);
      },
    };
  } catch (e) {
    await browser?.close().catch(() => undefined);
    stopServer(server);
    process.removeListener('exit', onExit);
    throw e;
  }
}

async function main(): Promise<void> {
  const { parseArgs, numberOpt } = await import('../src/cli/args');
  const { readTeacherFiles } = await import('../src/cli/node-files');
  const args = parseArgs(process.argv.slice(2), {
    values: ['backend', 'steps', 'warmup', 'rounds', 'batch', 'student-batch', 'student', 'teacher', 'workers'],
    flags: [],
  });
  const backend = args.values.get('backend') ?? 'wasm';
  const rounds = numberOpt(args, 'rounds', 1);
  const req: BenchRequest = {
    steps: numberOpt(args, 'steps', 10),
    warmup: numberOpt(args, 'warmup', 3),
    synthBatch: numberOpt(args, 'batch', 500),
    studentBatch: numberOpt(args, 'student-batch', 256),
    student: args.values.get('student') ?? 'lenet5-half',
    workers: numberOpt(args, 'workers', 1),
  };
  const teacherPath = args.values.get('teacher') ?? join(root, 'public', 'demo-teacher');
  const files = await readTeacherFiles([teacherPath]);
  const loadBefore = os.loadavg();
  const started = Date.now();
  const bench = await openBrowserBench({ backend, files });
  const results: BenchResult[] = [];
  try {
    for (let r = 0; r < rounds; r++) results.push(await bench.run(req));
  } finally {
    await bench.close();
  }
  const r2 = (v: number) => Math.round(v * 100) / 100;
  const last = results[results.length - 1];
  const out = {
    date: new Date().toISOString(),
    where: 'browser worker',
    chromium: bench.chromium,
    backend: bench.backend,
    teacher: { path: teacherPath, ...last.teacher },
    student: last.student,
    synth_batch: last.synth_batch,
    student_batch: last.student_batch,
    group: last.group,
    method: `min over ${rounds} round(s) of the median of ${last.steps} steps after ${last.warmup} warm-up steps${last.device_sync ? ', each step awaiting a read of its result' : ''}`,
    synth_ms: r2(Math.min(...results.map((r) => r.synth_ms))),
    student_ms: r2(Math.min(...results.map((r) => r.student_ms))),
    ...(last.workers ? { workers: last.workers, synth_ms_parallel_effective: r2(Math.min(...results.map((r) => r.synth_ms_parallel_effective ?? Infinity))) } : {}),
    rounds: { synth: results.map((r) => r2(r.synth_ms)), student: results.map((r) => r2(r.student_ms)) },
    crossOriginIsolated: last.crossOriginIsolated,
    machine: { cpus: os.cpus().length, loadavg_before: loadBefore.map(r2), loadavg_after: os.loadavg().map(r2) },
    wall_sec: Math.round((Date.now() - started) / 1000),
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
