/** Diagnostics: time synthesis and student steps on the loaded teacher with this backend (scripts/bench-browser.ts). */
import { measureParallelSynthesis, measureSteps } from '../cake/bench';
import { buildStudent } from '../models/students';
import { webGpuDeviceLost } from './backend';
import type { BenchResult, CommandOf } from './protocol';
import { asLayersModel, errorText, type Session } from './session';
import { createBrowserSetSynthesizer } from './synth-pool';

export async function benchCommand(session: Session, cmd: CommandOf<'bench'>): Promise<BenchResult> {
  try {
    return await measure(session, cmd);
  } catch (e) {
    throw new Error(webGpuDeviceLost() ?? errorText(e));
  }
}

async function measure(session: Session, cmd: CommandOf<'bench'>): Promise<BenchResult> {
  const teacher = session.teacher;
  if (!teacher) throw new Error('load a teacher first');
  if (session.run) throw new Error('a run is in progress');
  const b = await session.backend();
  const { loaded, card } = teacher;
  const arch = cmd.student ?? 'lenet5-half';
  const { model } = buildStudent(arch, card.inputShape, card.numClasses, asLayersModel(loaded.model));
  try {
    const t = await measureSteps({
      teacher: loaded.teacher,
      studentModel: model,
      inputShape: card.inputShape,
      numClasses: card.numClasses,
      synthBatch: cmd.synthBatch,
      studentBatch: cmd.studentBatch,
      steps: cmd.steps,
      warmup: cmd.warmup,
    });
    let parallel: { workers: number; synth_ms_parallel_effective: number } | undefined;
    if ((cmd.workers ?? 1) > 1 && b.name === 'wasm') {
      const helpers = await createBrowserSetSynthesizer(teacher.files, cmd.workers!);
      try {
        const ms = await measureParallelSynthesis(
          helpers,
          { inputShape: card.inputShape, numClasses: card.numClasses },
          { synthBatch: cmd.synthBatch, steps: cmd.steps, warmup: cmd.warmup },
        );
        parallel = { workers: helpers.concurrency, synth_ms_parallel_effective: ms };
      } finally {
        await helpers.dispose();
      }
    }
    return {
      backend: b.name,
      adapter: b.adapter,
      fallbackAdapter: b.fallbackAdapter,
      synth_ms: t.synth_ms,
      student_ms: t.student_ms,
      synth_steps: t.synth_steps,
      student_steps: t.student_steps,
      synth_batch: t.synth_batch,
      student_batch: t.student_batch,
      group: t.group,
      steps: t.steps,
      warmup: t.warmup,
      device_sync: t.device_sync,
      ...parallel,
      student: arch,
      teacher: { inputShape: card.inputShape, numClasses: card.numClasses, params: card.params },
      crossOriginIsolated: Boolean((self as { crossOriginIsolated?: boolean }).crossOriginIsolated),
      userAgent: self.navigator.userAgent,
    };
  } finally {
    model.dispose();
  }
}
