/**
 * Reads a Chromium trace (Playwright's `browser.startTracing` with the `toplevel` and `blink.user_timing`
 * categories): the top-level tasks of the renderers' main threads, with wall-clock and thread CPU time, and the
 * `performance.mark`s the page set, on the trace's clock (microseconds).
 */
export interface TraceTask {
  /** Start, trace clock (µs). */
  start: number;
  wallMs: number;
  /**
   * The thread's CPU time in the task: what the page computed, without the time it waited for a core. NaN for the
   * few tasks Chromium records without it (2 of about 500 here).
   */
  cpuMs: number;
}

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  tdur?: number;
  args?: { name?: string };
}

const TOP_LEVEL = new Set(['ThreadControllerImpl::RunTask', 'RunTask']);

export function mainThreadTasks(trace: { traceEvents: TraceEvent[] } | TraceEvent[]): { tasks: TraceTask[]; marks: Record<string, number> } {
  const events = Array.isArray(trace) ? trace : trace.traceEvents;
  const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const tasks: TraceTask[] = [];
  const marks: Record<string, number> = {};
  for (const e of events) {
    if (!mains.has(`${e.pid}:${e.tid}`)) continue;
    if (e.ph === 'X' && TOP_LEVEL.has(e.name) && e.dur !== undefined) {
      tasks.push({ start: e.ts, wallMs: e.dur / 1000, cpuMs: e.tdur === undefined ? NaN : e.tdur / 1000 });
    } else if ((e.ph === 'R' || e.ph === 'I' || e.ph === 'i' || e.ph === 'b') && !(e.name in marks)) {
      marks[e.name] = e.ts;
    }
  }
  return { tasks, marks };
}
