import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presetConfig, withOverrides } from '../cake/config';
import { runSetsInOrder, type SetSynthesizer } from '../cake/parallel';
import { STREAM } from '../cake/pipeline';
import { CancelledError, RunControl } from '../cake/progress';
import { Rng } from '../cake/rng';
import { synthesizeSet, type SetOutcome } from '../cake/synthesis';
import { randomConvTeacher } from '../cake/testing';
import { modelFiles } from '../io/test-fixtures';
import { loadTeacher, type LoadedTeacher } from '../io/teacher-load';
import { initNodeBackend } from '../tfjs/node-backend';
import { computeStudentGrads } from '../cake/data-parallel';
import { buildStudent } from '../models/students';
import { createNodeSetSynthesizer } from './parallel-synth';

let synth: SetSynthesizer;
let local: LoadedTeacher;
const seed = 11;

beforeAll(async () => {
  await initNodeBackend();
  const model = randomConvTeacher(3, [28, 28, 1]);
  const files = await modelFiles(model);
  model.dispose();
  local = await loadTeacher(files);
  synth = await createNodeSetSynthesizer(files, 2);
}, 60_000);

afterAll(async () => {
  await synth?.dispose();
  local?.dispose();
});

const cfg = withOverrides(presetConfig('smoke', { inputShape: [28, 28, 1], numClasses: 10 }), {
  synthesis: { batchSize: 20, groupSize: 10, steps: 3 },
}).synthesis;

describe('Node worker-thread synthesis', () => {
  it('makes the same sets as synthesizeSet in-process, delivered in set order', async () => {
    const seen: number[] = [];
    const steps: number[] = [];
    const got = new Map<number, SetOutcome>();
    await runSetsInOrder(
      synth,
      0,
      3,
      (set) => ({ cfg, seed, set, eta: 0.05, reportEvery: 2, onStep: (step, m) => m && steps.push(step) }),
      (set, outcome) => {
        seen.push(set);
        got.set(set, outcome);
      },
    );
    expect(seen).toEqual([0, 1, 2]);
    expect(steps.filter((s) => s === 3)).toHaveLength(3); // the last step of every set reports metrics
    for (const set of [0, 2]) {
      const ref = await synthesizeSet({
        teacher: local.teacher,
        cfg,
        set,
        eta: 0.05,
        rng: Rng.derive(seed, STREAM.synthesis, set),
      });
      const mine = got.get(set)!;
      expect(Array.from(mine.targets)).toEqual(Array.from(ref.targets));
      expect(Array.from(mine.x)).toEqual(Array.from(ref.x));
      expect(Array.from(mine.labels)).toEqual(Array.from(ref.labels));
      expect(mine.losses.total).toBe(ref.losses.total);
    }
  }, 60_000);

  it('passes pause, resume and cancel on to a set in flight', async () => {
    const control = new RunControl();
    let steps = 0;
    const long = { ...cfg, steps: 100_000 };
    const job = synth.run({ cfg: long, seed, set: 0, eta: 0.05, control, onStep: () => steps++ });
    const settled = job.then(
      () => 'resolved',
      (e: Error) => e,
    );
    while (steps < 3) await new Promise((r) => setTimeout(r, 20));
    control.pause();
    await new Promise((r) => setTimeout(r, 300)); // messages in flight land
    const paused = steps;
    await new Promise((r) => setTimeout(r, 500));
    expect(steps - paused).toBeLessThanOrEqual(1);
    control.resume();
    while (steps < paused + 3) await new Promise((r) => setTimeout(r, 20));
    control.cancel();
    const outcome = await settled;
    expect(outcome).toBeInstanceOf(CancelledError);
    // The helper is free again: the next job runs.
    const next = await synth.run({ cfg, seed, set: 1, eta: 0.05 });
    expect(next.x.length).toBe(20 * 28 * 28);
  }, 60_000);

  it('labels batches with the teacher’s logits, the same numbers as in-process, several in flight', async () => {
    const rng = new Rng(5);
    const batches = [3, 7, 1].map((n) => {
      const x = new Float32Array(n * 28 * 28);
      for (let i = 0; i < x.length; i++) x[i] = rng.normal();
      return { n, x };
    });
    const got = await Promise.all(batches.map(({ x, n }) => synth.relabel!(x, n)));
    for (const [k, { x, n }] of batches.entries()) {
      const ref = tf.tidy(() => local.teacher.logits(tf.tensor(x, [n, 28, 28, 1])));
      expect(got[k].length).toBe(n * 10);
      expect(Array.from(got[k])).toEqual(Array.from(await ref.data()));
      ref.dispose();
    }
    // A batch of the wrong size is refused with the teacher's own error, and the helper goes on serving.
    await expect(synth.relabel!(new Float32Array(5), 1)).rejects.toThrow();
    expect((await synth.relabel!(batches[2].x, 1)).length).toBe(10);
  }, 60_000);

  it('computes the teacher’s activations of hinted channels, the same numbers as in-process', async () => {
    const weighted = local.model!.layers.filter((l) => ['Conv2D', 'Dense'].includes(l.getClassName()));
    // Two hinted layers: one keeping channels 4 and 1 of 6 (out of order, to catch a sorted pick), one keeping all.
    const spec = [
      { teacher: weighted[0].name, channels: [4, 1], of: 6 },
      { teacher: weighted[1].name, channels: null, of: 16 },
    ];
    const rng = new Rng(6);
    const x = new Float32Array(2 * 28 * 28);
    for (let i = 0; i < x.length; i++) x[i] = rng.normal();
    const got = await synth.features!(x, 2, spec);
    const full = tf.tidy(() => {
      const m = tf.model({ inputs: local.model!.inputs, outputs: spec.map((h) => local.model!.getLayer(h.teacher).output as tf.SymbolicTensor) });
      return m.predict(tf.tensor(x, [2, 28, 28, 1])) as tf.Tensor[];
    });
    const [a, b] = (await Promise.all(full.map((t) => t.array()))) as number[][][][][];
    tf.dispose(full);
    expect(got).toHaveLength(2);
    const picked = a.flatMap((img) => img.flatMap((row) => row.flatMap((px) => [px[4], px[1]])));
    expect(Array.from(got[0])).toEqual(picked);
    expect(Array.from(got[1])).toEqual(b.flat(3));
    // A spec naming no layer of the teacher is refused, and the helper goes on serving.
    await expect(synth.features!(x, 2, [{ teacher: 'nope', channels: null, of: 1 }])).rejects.toThrow();
    expect((await synth.features!(x, 2, spec))[0].length).toBe(picked.length);
  }, 60_000);

  it('computes a student’s half-batch gradients (data-parallel steps) as this thread does, bit for bit', async () => {
    const student = buildStudent('cnn', [28, 28, 1], 10, undefined, { seed: 4 }).model;
    const rng = new Rng(8);
    const x = rng.fillNormal(new Float32Array(3 * 28 * 28));
    const weights = (await Promise.all(student.trainableWeights.map((w) => w.read().data()))) as Float32Array[];
    for (const labels of [null, new Float32Array(30).fill(0.1)]) {
      const req = { weights, x, n: 3, labels, temperature: 1 };
      const there = await synth.studentGrads!(student, req);
      const here = await computeStudentGrads(student, req, (t) => local.teacher.logits(t));
      expect(there.loss).toBe(here.loss);
      expect(there.grads.map((g) => Array.from(g))).toEqual(here.grads.map((g) => Array.from(g)));
    }
    student.dispose();
  }, 60_000);

  it('passes a non-finite loss back as NonFiniteLossError', async () => {
    const bad = { ...cfg, weights: { ...cfg.weights, cls: 1e38, tv: 1e38 } };
    await expect(synth.run({ cfg: bad, seed, set: 0, eta: 1e30 })).rejects.toMatchObject({ name: 'NonFiniteLossError' });
  }, 60_000);
});
