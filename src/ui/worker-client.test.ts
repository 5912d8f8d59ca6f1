import { describe, expect, it, vi } from 'vitest';
import type { Command, ProbeTiming, TeacherCard } from '../worker/protocol';
import { DeadlinePassed, RequestCancelled, RequestError, Requests, SUPERSEDED, WorkerRestarted } from './worker-client';

function book() {
  const sent: Command[] = [];
  const requests = new Requests((cmd) => sent.push(cmd));
  const idOf = (i: number) => (sent[i] as Command & { requestId: number }).requestId;
  return { sent, requests, idOf };
}

const probe = (key: string): ProbeTiming => ({ synthesisMsPerStep: 1, studentMsPerStep: 2, key, backend: 'wasm' });

describe('requests and their one answer', () => {
  it('each reply settles the request with its id, in whatever order they come', async () => {
    const { sent, requests, idOf } = book();
    const a = requests.request('estimate', { config: {} as never }).reply;
    const b = requests.request('estimate', { config: {} as never }).reply;
    expect(sent.map((c) => c.type)).toEqual(['estimate', 'estimate']);
    expect(idOf(0)).not.toBe(idOf(1));
    requests.answer({ type: 'reply', requestId: idOf(1), value: probe('b') });
    requests.answer({ type: 'reply', requestId: idOf(0), value: probe('a') });
    expect((await a).key).toBe('a');
    expect((await b).key).toBe('b');
  });

  it('a reply-error rejects with the worker’s message, and says when the request was only cancelled', async () => {
    const { requests, idOf } = book();
    const failed = requests.request('download-run', { id: 'x' }).reply;
    const cancelled = requests.request('estimate', { config: {} as never }).reply;
    requests.answer({ type: 'reply-error', requestId: idOf(0), message: 'this run has no finished student' });
    requests.answer({ type: 'reply-error', requestId: idOf(1), message: 'cancelled', cancelled: true });
    await expect(failed).rejects.toThrow('this run has no finished student');
    await expect(failed).rejects.toBeInstanceOf(RequestError);
    await expect(cancelled).rejects.toMatchObject({ cancelled: true });
  });

  it('only the newest request of a kind counts: the one before resolves as superseded and its late answer is dropped', async () => {
    const { requests, idOf } = book();
    const card = { numClasses: 10 } as TeacherCard;
    const first = requests.latest('teacher', 'load-teacher', { files: [] });
    const estimate = requests.latest('estimate', 'estimate', { config: {} as never });
    const second = requests.latest('teacher', 'load-teacher', { files: [] });
    expect(await first).toBe(SUPERSEDED);
    expect(requests.isLatest('teacher', idOf(0))).toBe(false);
    expect(requests.isLatest('teacher', idOf(2))).toBe(true);
    expect(requests.isLatest('estimate', idOf(1))).toBe(true);
    requests.answer({ type: 'reply-error', requestId: idOf(0), message: 'late' });
    requests.answer({ type: 'reply', requestId: idOf(2), value: card });
    requests.answer({ type: 'reply', requestId: idOf(1), value: probe('e') });
    expect(await second).toBe(card);
    expect(await estimate).toMatchObject({ key: 'e' });
  });

  it('a worker restart fails the requests still waiting; for a newest-only kind it counts as superseded', async () => {
    const { requests } = book();
    const download = requests.request('download-run', { id: 'x' }).reply;
    const teacher = requests.latest('teacher', 'load-teacher', { files: [] });
    requests.abandonAll();
    await expect(download).rejects.toBeInstanceOf(WorkerRestarted);
    expect(await teacher).toBe(SUPERSEDED);
  });

  /** A teacher load with a 1 s deadline, on fake timers; `expired` lists the requests whose deadline passed. */
  async function withDeadline(test: (t: { requests: Requests; load: Promise<unknown>; id: number; expired: number[] }) => Promise<void>) {
    vi.useFakeTimers();
    try {
      const expired: number[] = [];
      const sent: Command[] = [];
      const requests = new Requests((cmd) => sent.push(cmd), (id) => expired.push(id));
      const load = requests.latest('teacher', 'load-teacher', { files: [] }, [], 1000);
      await test({ requests, load, id: (sent[0] as Command & { requestId: number }).requestId, expired });
    } finally {
      vi.useRealTimers();
    }
  }

  it('a deadline counts from the first progress report; when it passes the request fails and the worker is to go', () =>
    withDeadline(async ({ requests, load, id, expired }) => {
      // Queued behind other work, the worker has not begun: no clock yet.
      vi.advanceTimersByTime(5000);
      expect(expired).toEqual([]);
      requests.progressed(id);
      vi.advanceTimersByTime(600);
      requests.progressed(id); // later reports do not restart the clock
      vi.advanceTimersByTime(400);
      expect(expired).toEqual([id]);
      await expect(load).rejects.toBeInstanceOf(DeadlinePassed);
      await expect(load).rejects.toMatchObject({ ms: 1000 });
      // A late answer from the old worker is dropped.
      requests.answer({ type: 'reply', requestId: id, value: {} as TeacherCard });
    }));

  it('an answer in time clears the deadline', () =>
    withDeadline(async ({ requests, load, id, expired }) => {
      const card = { numClasses: 3 } as TeacherCard;
      requests.progressed(id);
      requests.answer({ type: 'reply', requestId: id, value: card });
      vi.advanceTimersByTime(5000);
      expect(expired).toEqual([]);
      expect(await load).toBe(card);
    }));

  it('endLatest ends the newest request of a kind still waiting: cancelled with an error, replaced without one', async () => {
    const { requests, idOf } = book();
    const first = requests.latest('teacher', 'load-teacher', { files: [] }, [], 1000);
    expect(requests.endLatest('teacher', new RequestCancelled('cancelled'))).toBe(true);
    await expect(first).rejects.toBeInstanceOf(RequestCancelled);
    expect(requests.endLatest('teacher')).toBe(false);
    const second = requests.latest('teacher', 'load-teacher', { files: [] });
    expect(requests.endLatest('teacher')).toBe(true);
    expect(await second).toBe(SUPERSEDED);
    const third = requests.latest('teacher', 'load-teacher', { files: [] });
    requests.answer({ type: 'reply', requestId: idOf(2), value: { numClasses: 2 } as TeacherCard });
    await third;
    expect(requests.endLatest('teacher')).toBe(false);
  });
});
