import { describe, expect, it } from 'vitest';
import type { Command, ProbeTiming, TeacherCard } from '../worker/protocol';
import { RequestError, Requests, SUPERSEDED, WorkerRestarted } from './worker-client';

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
});
