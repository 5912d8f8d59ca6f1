import { chromium } from '@playwright/test';
import { goodTeacherFiles, fixtureHash } from '../e2e/fixtures';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-first-run','--disable-background-networking','--disable-component-update','--disable-sync','--disable-quic','--enable-unsafe-webgpu'] });
const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
await page.addInitScript(() => {
  localStorage.setItem('cake-studio.backend.v1', 'wasm');
  const w = window as any; w.__longTasks = [];
  new PerformanceObserver((list) => { for (const e of list.getEntries()) w.__longTasks.push({ start: e.startTime, duration: e.duration }); }).observe({ type: 'longtask', buffered: true });
});
await page.goto('http://127.0.0.1:4173/' + fixtureHash({ seed: 5, 'synthesis.sets': 8, 'synthesis.steps': 40, 'student.epochs': 3 }));
await page.getByText(/Backend: \w+/).waitFor();
await page.getByLabel('Teacher model files').setInputFiles(await goodTeacherFiles());
await page.getByTestId('estimate').filter({ hasText: '≈' }).waitFor();
await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] });
const t0 = await page.evaluate(() => performance.now());
await page.getByRole('button', { name: 'Start' }).click();
await page.getByTestId('run-status').filter({ hasText: /Finished|Failed|Stopped/ }).waitFor({ timeout: 100000 });
const buf = await browser.stopTracing();
const long = await page.evaluate((a) => (window as any).__longTasks.filter((t: any) => t.start >= a), t0);
console.log('long tasks', long.length, 'total', long.reduce((s: number, t: any) => s + t.duration, 0));
const trace = JSON.parse(buf.toString());
const events = trace.traceEvents ?? trace;
// main thread of the renderer: find thread name CrRendererMain
const mains = new Set(events.filter((e: any) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e: any) => `${e.pid}:${e.tid}`));
const agg = new Map<string, number>();
const tasks: any[] = [];
for (const e of events) {
  if (!mains.has(`${e.pid}:${e.tid}`) || e.ph !== 'X' || !e.dur) continue;
  agg.set(e.name, (agg.get(e.name) ?? 0) + e.dur / 1000);
  if (e.name === 'RunTask' && e.dur > 50000) tasks.push(e);
}
console.log([...agg.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, v]) => `${v.toFixed(0).padStart(7)} ms  ${k}`).join('\n'));
// for the long tasks, what children dominate
const kids = new Map<string, number>();
for (const t of tasks) {
  for (const e of events) {
    if (e.pid !== t.pid || e.tid !== t.tid || e.ph !== 'X' || e.name === 'RunTask') continue;
    if (e.ts >= t.ts && e.ts + (e.dur ?? 0) <= t.ts + t.dur) kids.set(e.name, (kids.get(e.name) ?? 0) + (e.dur ?? 0) / 1000);
  }
}
console.log('--- inside long tasks (' + tasks.length + ')');
console.log([...kids.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, v]) => `${v.toFixed(0).padStart(7)} ms  ${k}`).join('\n'));
const prof = await page.evaluate((a) => (window as any).__prof.filter((p: any) => p[3] >= a), t0);
const sum = new Map<string, [number, number, number]>();
for (const [id, , d] of prof) { const v = sum.get(id) ?? [0, 0, 0]; v[0] += d; v[1]++; v[2] = Math.max(v[2], d); sum.set(id, v); }
for (const [id, [tot, n, mx]] of sum) console.log(id, 'renders', n, 'total', tot.toFixed(0), 'max', mx.toFixed(0));
await browser.close();
