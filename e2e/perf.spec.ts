import { expect, test } from '@playwright/test';
import { fixtureHash, loadFixtureTeacher, openStudio, waitForRunEnd } from './fixtures';
import { mainThreadTasks, type TraceTask } from './trace';

// Timing is the point here: no Playwright trace recording (its screenshots cost the page main-thread time).
test.use({ trace: 'off' });

/**
 * The page's main thread may spend at most this long in one task: a task that computes longer shows as a stutter on
 * any machine.
 */
const TASK_CPU_MS = 50;

// What is measured, and why. A run keeps its worker and two synthesis helpers busy, so on a 2-core machine the page's
// main thread waits for a core. Here, with nothing else running, the page gave wall-clock "long tasks" of 50-70 ms
// whose traced CPU time (Chromium trace, `tdur`) was at most 15-18 ms, and CI on 2026-11-22 saw 97-225 ms for the
// same kind of run. Wall-clock task length measures the scheduler there, not the page; the CPU time of each task is
// what the page controls, so that is what this test enforces. Wall-clock long tasks are reported.
test('a whole run makes no request outside the origin and no main-thread task that computes over 50 ms', async ({ page, context, browser, baseURL }) => {
  const origin = new URL(baseURL!).origin;
  const requests: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  context.on('serviceworker', () => requests.push('service-worker'));
  await page.addInitScript(() => {
    const w = window as unknown as { __longTasks: { start: number; duration: number }[] };
    w.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });

  await openStudio(page, fixtureHash({ seed: 5, 'synthesis.sets': 8, 'synthesis.steps': 40, 'student.epochs': 3 }), 'wasm');
  await loadFixtureTeacher(page);
  await expect(page.getByTestId('estimate')).toContainText('≈');

  await browser.startTracing(page, { categories: ['toplevel', 'blink.user_timing'] });
  // The instrument checks itself: a task that computes for 300 ms (wall clock) before the run must show with well
  // over 50 ms of CPU, even when other processes take most of the cores (two busy loops on 2 cores left it 35% here).
  await page.evaluate(() => {
    performance.mark('perf-probe');
    const t = performance.now();
    while (performance.now() - t < 300);
  });
  const t0 = await page.evaluate(() => (performance.mark('perf-run-start'), performance.now()));
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByTestId('synthesis-progress')).toBeVisible();
  expect(await waitForRunEnd(page)).toContain('Finished');
  await page.waitForTimeout(1500); // the last chart redraws
  const t1 = await page.evaluate(() => (performance.mark('perf-run-end'), performance.now()));
  const { tasks, marks } = mainThreadTasks(JSON.parse((await browser.stopTracing()).toString('utf8')));

  for (const m of ['perf-probe', 'perf-run-start', 'perf-run-end']) expect(marks[m], `the trace has the mark ${m}`).toBeDefined();
  const within = (a: number, b: number) => tasks.filter((t) => t.start >= a && t.start <= b);
  const probe = tasks.find((t) => t.start <= marks['perf-probe'] && marks['perf-probe'] <= t.start + t.wallMs * 1000);
  expect(probe, 'the trace has the probe task').toBeDefined();
  expect(probe!.cpuMs, `the probe task's CPU time (wall ${probe!.wallMs.toFixed(0)} ms)`).toBeGreaterThan(TASK_CPU_MS + 10);

  const all = within(marks['perf-run-start'], marks['perf-run-end']);
  const run = all.filter((t) => Number.isFinite(t.cpuMs));
  expect(all.length, 'main-thread tasks seen during the run').toBeGreaterThan(20);
  expect(run.length, 'tasks with their CPU time').toBeGreaterThan(0.95 * all.length);
  const heavy = run.filter((t) => t.cpuMs > TASK_CPU_MS).map(describe);
  const longest = [...run].sort((a, b) => b.cpuMs - a.cpuMs).slice(0, 3).map(describe);
  const wall = await page.evaluate(
    ([a, b]) => (window as unknown as { __longTasks: { start: number; duration: number }[] }).__longTasks.filter((t) => t.start >= a && t.start <= b),
    [t0, t1],
  );
  test.info().annotations.push({
    type: 'main thread during the run',
    description: `${run.length} tasks; most CPU: ${longest.join(', ')}; wall-clock long tasks: ${JSON.stringify(wall.map((t) => Math.round(t.duration)))}`,
  });
  expect(heavy, `tasks over ${TASK_CPU_MS} ms of CPU during the run`).toEqual([]);

  // The worker's own requests (its script, the wasm binary) are seen too, so the check covers the worker.
  expect(requests.some((u) => /\.wasm$/.test(u))).toBe(true);
  const outside = requests.filter((u) => !(u.startsWith(`${origin}/`) || u.startsWith('blob:') || u.startsWith('data:')));
  expect(outside).toEqual([]);
});

function describe(t: TraceTask): string {
  return `${t.cpuMs.toFixed(0)} ms CPU (${t.wallMs.toFixed(0)} ms wall)`;
}
