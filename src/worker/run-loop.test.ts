import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Progress, SetResult } from '../cake';
import type { WorkerEvent } from './protocol';
import { Outbox, wireSet } from './run-loop';

const progress = (step: number) => ({ stage: 'synthesis', step }) as unknown as Progress;

function set(i: number): SetResult {
  const x = new Float32Array(40 * 4).fill(i);
  return {
    set: i,
    eta: 0.1,
    x,
    inputShape: [2, 2],
    batchSize: 40,
    groupSize: 10,
    targets: new Int32Array(40),
    probs: new Float32Array(40 * 3),
    labels: new Float32Array(40 * 3),
    numClasses: 3,
    hitRate: 1,
    losses: { cls: 1, contr: 1, tv: 1, entropy: 0, total: 3 },
  };
}

describe('Outbox', () => {
  afterEach(() => vi.useRealTimers());

  it('sends at most one message per interval, keeping the latest progress and every epoch', () => {
    vi.useFakeTimers();
    const sent: { event: WorkerEvent; transfer?: Transferable[] }[] = [];
    const box = new Outbox(1, (event, transfer) => sent.push({ event, transfer }), 100);
    box.progress(progress(1)); // first one goes at once
    for (let s = 2; s <= 50; s++) box.progress(progress(s));
    box.epoch({ epoch: 0, epochs: 2, trainLoss: 1, valAgreement: 0.5, valLoss: 1 });
    expect(sent.length).toBe(1);
    vi.advanceTimersByTime(100);
    expect(sent.length).toBe(2);
    const ev = sent[1].event;
    expect(ev.type).toBe('run-events');
    if (ev.type !== 'run-events') return;
    expect(ev.events.map((e) => e.kind)).toEqual(['progress', 'epoch']);
    expect((ev.events[0] as { progress: { step: number } }).progress.step).toBe(50);
  });

  it('keeps the last progress of each stage when both arrive within one interval', () => {
    vi.useFakeTimers();
    const sent: WorkerEvent[] = [];
    const box = new Outbox(1, (event) => sent.push(event), 100);
    box.progress(progress(1));
    box.progress(progress(2));
    box.progress({ stage: 'student', step: 1 } as unknown as Progress);
    box.flush();
    const ev = sent[1];
    if (ev.type !== 'run-events') throw new Error('expected run-events');
    expect(ev.events.map((e) => (e.kind === 'progress' ? e.progress.stage : e.kind))).toEqual(['synthesis', 'student']);
  });

  it('supersedes a pending live set but keeps gallery sets, and transfers their buffers', () => {
    vi.useFakeTimers();
    const sent: { event: WorkerEvent; transfer?: Transferable[] }[] = [];
    const box = new Outbox(1, (event, transfer) => sent.push({ event, transfer }), 100);
    box.progress(progress(1));
    box.set(wireSet(set(0), 5, 8), true);
    box.set(wireSet(set(1), 5, 8), false);
    box.set(wireSet(set(2), 5, 8), false);
    box.flush();
    const ev = sent[1].event;
    if (ev.type !== 'run-events') throw new Error('expected run-events');
    const sets = ev.events.filter((e) => e.kind === 'set') as { set: { set: number }; live: boolean; gallery: boolean }[];
    expect(sets.map((s) => [s.set.set, s.live, s.gallery])).toEqual([
      [0, false, true],
      [2, true, false],
    ]);
    expect(sent[1].transfer?.length).toBe(6);
  });

  it('copies only the shown groups of a set', () => {
    const w = wireSet(set(3), 5, 2);
    expect(w.count).toBe(20);
    expect(new Float32Array(w.x).length).toBe(20 * 4);
    expect(new Float32Array(w.probs).length).toBe(20 * 3);
  });
});
