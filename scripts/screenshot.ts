/**
 * Screenshot of the studio mid-run, for the README.
 *
 *   npx tsx scripts/screenshot.ts [out.png] [--teacher <dir>] [--hash '#preset=quick&...'] [--backend wasm]
 *
 * Serves the production build with `vite preview` (building it first when dist/ is missing), opens it in Debian's
 * Chromium through Playwright, loads the demo teacher (or the model files in --teacher <dir>), starts a short run
 * and waits until the charts and the sample grid show and the student is training, then saves the page.
 */
import { chromium } from '@playwright/test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const args = process.argv.slice(2);
function option(name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}
const teacherDir = option('--teacher');
const hash = option('--hash') ?? '#preset=quick&synthesis.sets=8&synthesis.steps=40&student.epochs=10&seed=1';
const backend = option('--backend') ?? 'wasm';
const out = resolve(args[0] ?? 'docs/studio.png');
const port = Number(process.env.PORT ?? 4175);
const root = resolve(dirname(new URL(import.meta.url).pathname), '..');

async function waitForServer(url: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the preview server did not answer at ${url}`);
}

async function main(): Promise<void> {
  if (!existsSync(join(root, 'dist', 'index.html'))) {
    console.error('building the studio (dist/ is missing)…');
    const build = spawnSync('npx', ['vite', 'build'], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('vite build failed');
  }
  let server: ChildProcess | null = spawn('npx', ['vite', 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], {
    cwd: root,
    stdio: 'ignore',
    detached: true,
  });
  const base = `http://127.0.0.1:${port}/`;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--enable-unsafe-webgpu'],
  });
  try {
    await waitForServer(base, 30_000);
    // Tall enough for the whole page: the charts and sample grids do not redraw while they are off screen.
    const page = await browser.newPage({ viewport: { width: 1440, height: 2600 }, deviceScaleFactor: 1 });
    await page.addInitScript((b) => localStorage.setItem('cake-studio.backend.v1', b), backend);
    await page.goto(`${base}${hash}`);
    await page.getByText(/Backend: \w+/).waitFor({ timeout: 60_000 });

    if (teacherDir) {
      const files = readdirSync(teacherDir).map((f) => join(teacherDir, f));
      await page.getByLabel('Teacher model files').setInputFiles(files);
    } else {
      await page.getByRole('button', { name: 'Use demo teacher' }).click();
    }
    await page.getByTestId('teacher-input-shape').waitFor({ timeout: 60_000 });
    await page.getByTestId('estimate').filter({ hasText: '≈' }).waitFor({ timeout: 60_000 }).catch(() => undefined);

    await page.getByRole('button', { name: 'Start' }).click();
    await page.getByRole('region', { name: 'Synthetic samples' }).locator('canvas').first().waitFor({ timeout: 120_000 });
    // Mid-run: the student has trained a few epochs, so every chart has a curve.
    await page.waitForFunction(
      () => {
        const s = (window as unknown as { cakeStudio: { store: { getState(): any } } }).cakeStudio.store.getState();
        return (s.run.lastEpoch?.epoch ?? -1) >= 2 || s.run.status === 'done';
      },
      undefined,
      { timeout: 300_000, polling: 250 },
    );
    await page.waitForTimeout(700); // let the throttled charts catch up
    mkdirSync(dirname(out), { recursive: true });
    await page.screenshot({ path: out, fullPage: true });
    console.log(`saved ${out}`);
  } finally {
    await browser.close();
    if (server?.pid) {
      try {
        process.kill(-server.pid, 'SIGTERM');
      } catch {
        server.kill('SIGTERM');
      }
    }
    server = null;
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
