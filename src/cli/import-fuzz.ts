import type { NamedFile } from '../io/files';
import type { DamagedCase } from '../io/damaged-corpus';
import { TeacherThread, type ThreadOutcome } from './teacher-thread';

// Runs damaged teacher files (src/io/damaged-corpus.ts) through the importer, each on a load thread under a short
// deadline, and judges how each ended. Shared by the unit test (a fast sample) and `npm run fuzz:import` (the sweep).

/**
 * loaded: a teacher came out (damage in weights' values often leaves a loadable model). refused: one specific
 * sentence, a TeacherError. hung: the deadline passed. crashed: anything else: another error class, a stack trace,
 * a generic JavaScript or WebAssembly failure passed on as the message, or the thread dying.
 */
export type Verdict = 'loaded' | 'refused' | 'hung' | 'crashed';

export interface CaseResult {
  id: string;
  fixture: string;
  damage: string;
  verdict: Verdict;
  /** The message, or what went wrong. */
  detail: string;
  ms: number;
}

/** Texts of failures nobody wrote for a user: a TeacherError quoting one of these is a crash passed on. */
const GENERIC =
  /Cannot read propert|Cannot set propert|Cannot use 'in' operator|is not a function|is not iterable|is not defined|undefined is not|null is not|Maximum call stack|Aborted\(|RuntimeError|out of memory|memory access out of bounds|Invalid (typed )?array length|Array buffer allocation failed|unreachable|Assertion failed/i;

export function judge(o: ThreadOutcome): { verdict: Verdict; detail: string } {
  switch (o.kind) {
    case 'loaded':
      return { verdict: 'loaded', detail: `${o.info.format} ${JSON.stringify(o.info.inputShape)} → ${o.info.numClasses}` };
    case 'timeout':
      return { verdict: 'hung', detail: `no answer within ${o.ms} ms` };
    case 'crashed':
      return { verdict: 'crashed', detail: `the load thread died: ${o.message}` };
    case 'refused': {
      const oneLine = !o.message.includes('\n');
      if (o.name !== 'TeacherError') return { verdict: 'crashed', detail: `${o.name}: ${o.message.split('\n')[0]}` };
      if (!oneLine || GENERIC.test(o.message)) return { verdict: 'crashed', detail: `generic text: ${o.message.split('\n')[0]}` };
      return { verdict: 'refused', detail: o.message };
    }
  }
}

export interface CorpusSummary {
  tried: number;
  counts: Record<Verdict, number>;
  results: CaseResult[];
}

/**
 * Run every case on one load thread (replaced after a case that hung or killed it) with `deadlineMs` each. `warmup`
 * files are loaded first, outside the count, so the thread's start-up is not charged to the first case.
 */
export async function runCorpus(
  cases: DamagedCase[],
  opts: { deadlineMs: number; warmup: NamedFile[]; onResult?: (r: CaseResult, done: number) => void },
): Promise<CorpusSummary> {
  const thread = new TeacherThread();
  const counts: Record<Verdict, number> = { loaded: 0, refused: 0, hung: 0, crashed: 0 };
  const results: CaseResult[] = [];
  try {
    await thread.load(opts.warmup, 120_000);
    for (const c of cases) {
      const started = Date.now();
      const { verdict, detail } = judge(await thread.load(c.files, opts.deadlineMs));
      const r: CaseResult = { id: c.id, fixture: c.fixture, damage: c.damage, verdict, detail, ms: Date.now() - started };
      if (verdict === 'hung' || verdict === 'crashed') await thread.load(opts.warmup, 120_000);
      counts[verdict]++;
      results.push(r);
      opts.onResult?.(r, results.length);
    }
  } finally {
    await thread.dispose();
  }
  return { tried: cases.length, counts, results };
}
