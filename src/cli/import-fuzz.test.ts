import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { corpusFixtures, randomCases, structuredCases, type CorpusFixture, type DamagedCase } from '../io/damaged-corpus';
import { initNodeBackend } from '../tfjs/node-backend';
import { judge, runCorpus, type CaseResult, type CorpusSummary } from './import-fuzz';
import { TeacherThread } from './teacher-thread';

// The fast part of the damaged-file sweep (`npm run fuzz:import` runs thousands): every structured case and a seeded
// sample of random ones, each on a load thread under a short deadline.

let fixtures: CorpusFixture[];
let structured: DamagedCase[];
let summary: CorpusSummary;

beforeAll(async () => {
  await initNodeBackend();
  fixtures = await corpusFixtures();
  structured = await structuredCases(fixtures);
  summary = await runCorpus([...structured, ...randomCases(fixtures, 24, 7)], { deadlineMs: 10_000, warmup: fixtures[0].files });
}, 120_000);

/** The result of the structured case whose damage label contains `label` (in `fixture`, when given). */
function result(label: string, fixture?: string): CaseResult {
  const found = summary.results.filter((r) => r.damage.includes(label) && (!fixture || r.fixture === fixture));
  expect(found, label).toHaveLength(1);
  return found[0];
}

describe('damaged teacher files', () => {
  it('every case ends in a teacher or one specific message: none hangs, none crashes', () => {
    const bad = summary.results.filter((r) => r.verdict === 'hung' || r.verdict === 'crashed');
    expect(bad.map((r) => `${r.id} ${r.damage}: ${r.detail}`)).toEqual([]);
    expect(summary.counts.refused).toBeGreaterThan(structured.length);
    // Damage to weights' values (not NaN or Inf) leaves a model that loads, as it should.
    expect(summary.counts.loaded).toBeGreaterThan(0);
  });

  it('covers every format and layout, each with random and structured damage', () => {
    expect(fixtures.map((f) => f.name)).toEqual([
      'tfjs-layers',
      'tfjs-layers-functional',
      'tfjs-layers-zip',
      'tfjs-graph',
      'keras2-h5',
      'keras2-nested-h5',
      'keras3-h5',
      'keras3-zip',
      'keras3-folder',
      'onnx-conv',
      'onnx-mlp',
    ]);
    for (const f of fixtures) expect(summary.results.some((r) => r.fixture === f.name && r.id.startsWith('random')), f.name).toBe(true);
    const formats = new Set(structured.map((c) => c.fixture.split('-')[0]));
    expect([...formats].sort()).toEqual(['keras2', 'keras3', 'onnx', 'tfjs']);
  });

  it('a weight promising 100000×100000×3×3 values is refused with its numbers, in every format', () => {
    const promised = /declares the shape \[100000,100000,3,3\] \(9\.0e\+10 values, 335\.3 GiB as float32\), beyond the 1\.0 GiB a teacher may hold/;
    expect(result('a weight promising 100000×100000×3×3 values', 'tfjs-layers').detail).toMatch(promised);
    expect(result('a weight promising 100000×100000×3×3 values', 'tfjs-graph').detail).toMatch(promised);
    expect(result('a kernel dataset resized to 100000×100000×3×3').detail).toMatch(promised);
    expect(result('.keras with a weights file promising 100000×100000×3×3').detail).toMatch(promised);
    expect(result('an initializer whose dims promise 100000×100000×3×3').detail).toMatch(promised);
    expect(result('Dense units 100000000').detail).toMatch(/layer "logits" would make a weight "kernel" of shape \[27,100000000\] \(10\.1 GiB\), far more than its weights hold/);
    expect(result('an input of 1×100000×100000').detail).toMatch(/input \[100000,100000\] holds 37\.3 GiB per sample/);
  });

  it('layer and node graphs that would loop or dangle are named', () => {
    expect(result('a layer renamed (its callers').detail).toBe(
      'model.json: layer "sum" takes its input from "b", which is not a layer of the model; the model config is damaged',
    );
    expect(result('two layers feeding each other (a cycle)', 'tfjs-layers-functional').detail).toMatch(/layers "\w+" and "\w+" wait for each other's output \(a cycle\)/);
    expect(result('a layer calling itself').detail).toMatch(/layer "b" takes its input from its own output \(a cycle\)/);
    expect(result('an inbound node index past the calls made').detail).toMatch(/takes its input from call 7 of "a", which is never made/);
    expect(result('config.json with a layer renamed').detail).toMatch(/takes its input from "batch_normalization", which is not a layer of the model/);
    expect(result('two nodes reading each other (a cycle)', 'tfjs-graph').detail).toMatch(/the graph has a cycle through node/);
    expect(result('a node reading a node that does not exist').detail).toMatch(/reads "nowhere", which no node of the graph produces/);
    expect(result('two nodes reading each other (a cycle)', 'onnx-mlp').detail).toMatch(/the graph has a cycle through node/);
    expect(result("the global heap's first record zeroed").detail).toMatch(/the global heap at byte \d+ holds an empty record the HDF5 library would read forever/);
    expect(result('the weights group linked into itself').detail).toMatch(/nests its groups deeper than 32 levels \(or they link in a circle\)/);
  });

  it('zip bombs and nesting are refused before anything is inflated or walked', () => {
    expect(result('a zip whose entries declare 4 GiB each', 'keras3-zip').detail).toMatch(/would unpack to more than 1\.0 GiB \("metadata.json" alone declares 4\.0 GiB/);
    expect(result('a zip of 5000 entries').detail).toMatch(/lists more than 4096 entries/);
    expect(result('Sequential models nested 3000 deep').detail).toMatch(/nests deeper than 100 levels/);
    expect(result('graphs nested 20000 deep').verdict).toBe('refused');
  });

  it('tells a generic failure from a message', () => {
    expect(judge({ kind: 'refused', name: 'TeacherError', message: 'model.json: layer "a" is damaged' }).verdict).toBe('refused');
    expect(judge({ kind: 'refused', name: 'TypeError', message: 'x is not a function' }).verdict).toBe('crashed');
    expect(judge({ kind: 'refused', name: 'TeacherError', message: 'could not be run: Aborted(). Build with -sASSERTIONS' }).verdict).toBe('crashed');
    expect(judge({ kind: 'refused', name: 'TeacherError', message: 'it failed: Cannot read properties of undefined (reading "x")' }).verdict).toBe('crashed');
    expect(judge({ kind: 'refused', name: 'TeacherError', message: 'two\nlines' }).verdict).toBe('crashed');
    expect(judge({ kind: 'timeout', ms: 10 }).verdict).toBe('hung');
    expect(judge({ kind: 'crashed', message: 'exit 1' }).verdict).toBe('crashed');
  });
});

describe('the load thread', () => {
  afterEach(() => {
    delete process.env.CAKE_TEST_STALL_TEACHER_READS;
  });

  it('ends a read that never returns at its deadline, and the next read runs on a fresh thread', async () => {
    const thread = new TeacherThread();
    try {
      // The thread spins as a reader stuck on a damaged file does; a new thread reads the variable afresh.
      process.env.CAKE_TEST_STALL_TEACHER_READS = '1';
      const started = Date.now();
      expect(await thread.load(fixtures[0].files, 1000)).toEqual({ kind: 'timeout', ms: 1000 });
      expect(Date.now() - started).toBeLessThan(5000);
      delete process.env.CAKE_TEST_STALL_TEACHER_READS;
      expect((await thread.load(fixtures[0].files, 30_000)).kind).toBe('loaded');
    } finally {
      await thread.dispose();
    }
  });
});
