import * as tf from '@tensorflow/tfjs';
import type { CakeConfig } from '../cake/config';
import type { DeployReport, InferenceTime, VariantReport } from '../cake/report';
import { Rng, STREAM } from '../cake/rng';
import { setEtas } from '../cake/schedule';
import { synthesizeSet } from '../cake/synthesis';
import type { Teacher } from '../cake/teacher';
import { compareOutputs } from '../io/agreement';
import { exportStudent, type ExportedModel } from '../io/export';
import { exportQuantized } from '../io/quantize';
import { timeInferences, type TimingOptions } from './speed';

// What the student is worth once deployed, measured after a run: each tfjs variant (float32, float16, uint8
// weights) loaded as a user would load it, its weights' bytes, its top-1 agreement with the float student on fresh
// synthetic samples (and on labelled data when there is some), and its time per image against the teacher's on
// the same backend, all timed in turns (speed.ts).

/**
 * One more CAKE set, past the run's last (index `sets`, from the run's synthesis stream, at the middle of its η band):
 * samples like the ones the student learned from, but none of them, to compare the variants on.
 */
export async function freshSamples(teacher: Teacher, config: CakeConfig): Promise<tf.Tensor> {
  const s = config.synthesis;
  const set = await synthesizeSet({
    teacher,
    cfg: s,
    set: s.sets,
    eta: setEtas(s)[Math.floor(s.sets / 2)],
    rng: Rng.derive(config.seed, STREAM.synthesis, s.sets),
  });
  return tf.tensor(set.x, [s.batchSize, ...teacher.inputShape]);
}

/** `run` over `x` in batches, read asynchronously (a synchronous read loses the WebGPU device in a worker). */
async function outputs(run: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, batch = 256): Promise<Float32Array> {
  const n = x.shape[0];
  const parts: Float32Array[] = [];
  for (let start = 0; start < n; start += batch) {
    const y = tf.tidy(() => run(x.slice(start, Math.min(batch, n - start))));
    parts.push((await y.data()) as Float32Array);
    y.dispose();
  }
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function accuracy(logits: Float32Array, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let r = 0; r < labels.length; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
    if (best === labels[r]) correct++;
  }
  return labels.length ? correct / labels.length : NaN;
}

async function load(exported: ExportedModel): Promise<tf.LayersModel> {
  const json = JSON.parse(JSON.stringify(exported.modelJson));
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: exported.weights }));
}

export interface DeployInputs {
  teacher: Teacher;
  teacherParams: number;
  student: tf.LayersModel;
  /** Inputs to compare the variants on (see freshSamples). */
  samples: tf.Tensor;
  labelled?: { x: tf.Tensor; labels: ArrayLike<number> };
  /** Timing options; a `clock` other than the default must be named 'cpu' here (see DeployReport.clock). */
  timing?: TimingOptions;
  clock?: DeployReport['clock'];
}

const ratio = (a: InferenceTime, b: InferenceTime): InferenceTime => ({ batch1: a.batch1 / b.batch1, batch32: a.batch32 / b.batch32 });

const VARIANTS = ['tfjs-float32', 'tfjs-float16', 'tfjs-uint8'] as const;

/** Measures the teacher and every tfjs variant of the student (see the file comment). */
export async function measureDeployment(inputs: DeployInputs): Promise<DeployReport> {
  const { teacher, student, samples, labelled } = inputs;
  const classes = teacher.numClasses;
  const teacherRun = (x: tf.Tensor) => teacher.logits(x);
  const teacherLabelled = labelled ? await outputs(teacherRun, labelled.x) : undefined;
  const float = await outputs((x) => student.predict(x) as tf.Tensor, samples);
  const floatLabelled = labelled ? await outputs((x) => student.predict(x) as tf.Tensor, labelled.x) : undefined;

  // Each variant as a user loads it: exported, then read by tf.loadLayersModel.
  const loaded: { format: VariantReport['format']; bytes: number; run: (x: tf.Tensor) => tf.Tensor; dispose(): void }[] = [];
  try {
    for (const format of VARIANTS) {
      const exported = format === 'tfjs-float32' ? await exportStudent(student) : await exportQuantized(student, format === 'tfjs-float16' ? 'float16' : 'uint8');
      const model = await load(exported);
      loaded.push({ format, bytes: exported.weights.byteLength, run: (x) => model.predict(x) as tf.Tensor, dispose: () => model.dispose() });
    }
    const runs = { teacher: teacherRun, ...Object.fromEntries(loaded.map((v) => [v.format, v.run])) } as Record<'teacher' | VariantReport['format'], (x: tf.Tensor) => tf.Tensor>;
    const times = await timeInferences(runs, teacher.inputShape, inputs.timing);
    const variants: VariantReport[] = [];
    for (const v of loaded) {
      const report: VariantReport = {
        format: v.format,
        bytes: v.bytes,
        agreement: compareOutputs(float, await outputs(v.run, samples), classes).top1,
        msPerImage: times[v.format],
        speedup: ratio(times.teacher, times[v.format]),
      };
      if (labelled && floatLabelled) {
        const y = await outputs(v.run, labelled.x);
        report.labelled = { agreement: compareOutputs(floatLabelled, y, classes).top1, accuracy: accuracy(y, labelled.labels, classes) };
      }
      variants.push(report);
    }
    return {
      backend: tf.getBackend(),
      clock: inputs.clock ?? 'wall',
      samples: samples.shape[0],
      ...(labelled ? { labelledSamples: labelled.labels.length } : {}),
      teacher: { params: inputs.teacherParams, msPerImage: times.teacher, ...(teacherLabelled && labelled ? { accuracy: accuracy(teacherLabelled, labelled.labels, classes) } : {}) },
      student: { params: student.countParams() },
      variants,
    };
  } finally {
    for (const v of loaded) v.dispose();
  }
}

/** One line per variant for a terminal or a log: bytes, agreement, ms per image and speed-up at batch 1 and 32. */
export function deploySummary(d: DeployReport): string[] {
  const ms = (t: InferenceTime) => `${t.batch1.toFixed(2)} / ${t.batch32.toFixed(3)} ms`;
  const lines = [`inference on ${d.backend} (${d.clock === 'cpu' ? 'CPU time' : 'elapsed time'}), per image at batch 1 / 32: teacher ${ms(d.teacher.msPerImage)}`];
  for (const v of d.variants)
    lines.push(
      `  ${v.format.padEnd(13)} ${(v.bytes / 1024).toFixed(1).padStart(8)} KiB  agrees ${(v.agreement * 100).toFixed(1)} % on ${d.samples} fresh samples` +
        `${v.labelled ? `, ${(v.labelled.accuracy * 100).toFixed(2)} % accurate` : ''}  ${ms(v.msPerImage)}  speed-up ×${v.speedup.batch1.toFixed(1)} / ×${v.speedup.batch32.toFixed(1)}`,
    );
  return lines;
}
