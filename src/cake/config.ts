import { setEtas } from './schedule';
import { findKnob, KNOBS, knobProblem, parseKnob, RETIRED_SETTINGS, valueAt, withValueAt, type KnobFields, type KnobValue } from './knobs';

/**
 * A CAKE run's config: its shape (the knob table in knobs.ts says what each knob does, its reference name and its
 * range), the presets, the checks that involve several knobs, and `--set`.
 */

export type EtaSchedule = KnobValue<'synthesis.etaSchedule'>;
export type InputOptimizer = KnobValue<'synthesis.optimizer'>;
export type StudentOptimizer = KnobValue<'student.optimizer'>;
export type LrSchedule = KnobValue<'student.schedule'>;
export type InitKind = KnobValue<'synthesis.init'>;
export type StudentInherit = KnobValue<'student.inherit'>;

export type LossWeights = KnobFields<'synthesis.weights'>;
export type SynthesisConfig = KnobFields<'synthesis'> & { weights: LossWeights };
export type StudentConfig = KnobFields<'student'>;

/** Whether the student trains on a set made with step size η (its η band, inclusive, with rounding slack). */
export function studentUsesEta(st: StudentConfig, eta: number): boolean {
  return eta >= st.etaMin * (1 - 1e-9) && eta <= st.etaMax * (1 + 1e-9);
}

/** The indices of the sets the student trains on, in order. */
export function studentSets(config: CakeConfig): number[] {
  return setEtas(config.synthesis).flatMap((eta, m) => (studentUsesEta(config.student, eta) ? [m] : []));
}

/** The student's augmentation knobs (knobs.ts marks them), by field name. */
const AUGMENTATIONS = KNOBS.filter((k) => 'augmentation' in k).map((k) => k.key.slice('student.'.length) as keyof StudentConfig);

/** Whether the student stage augments its batches (and so has the teacher label every batch afresh). */
export function studentAugments(st: StudentConfig): boolean {
  return AUGMENTATIONS.some((f) => (st[f] as number) > 0);
}

export interface CakeConfig {
  seed: KnobValue<'seed'>;
  synthesis: SynthesisConfig;
  student: StudentConfig;
}

export const PRESET_NAMES = ['smoke', 'quick', 'standard', 'paper'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** What a preset needs to know about the teacher to pick its row of the reference table. */
export interface TeacherTraits {
  inputShape: readonly number[];
  numClasses: number;
  /** The range the teacher's inputs span, when its metadata declares it (e.g. [-1, 1]). */
  inputRange?: readonly [number, number];
  /** Floating-point operations of one forward pass per image (src/cake/flops.ts): colour presets are sized by it. */
  flopsPerImage?: number;
}

/** Channels of an image input: the last axis when it is small, else 1 (rank-3 inputs have no channel axis). */
export function inputChannels(shape: readonly number[]): number {
  if (shape.length < 3) return 1;
  const last = shape[shape.length - 1];
  const first = shape[0];
  if (last <= 4) return last;
  if (first <= 4) return first; // NCHW
  return 1;
}

/** The reference row for the teacher's input: 1 channel → MNIST/Fashion-MNIST, otherwise → CIFAR-10 (spec §3). */
function referenceRow(traits: TeacherTraits): { weights: LossWeights; sets: number } {
  return inputChannels(traits.inputShape) === 1
    ? { weights: { cls: 1e3, contr: 1e-3, tv: 1e7, entropy: 0 }, sets: 512 }
    : { weights: { cls: 1e3, contr: 1e1, tv: 1e5, entropy: 0 }, sets: 500 };
}

export function presetConfig(name: PresetName, traits: TeacherTraits, seed = 0): CakeConfig {
  const row = referenceRow(traits);
  const groupSize = Math.min(10, traits.numClasses);
  const batchFor = (b: number) => Math.max(groupSize, Math.floor(b / groupSize) * groupSize);
  // The method as published: every knob's default. The presets below change values only.
  const base: CakeConfig = {
    seed,
    synthesis: {
      sets: row.sets,
      steps: 256,
      batchSize: batchFor(500),
      groupSize,
      eta0: 0.1,
      decades: 4,
      etaSchedule: 'linear',
      optimizer: 'sgd',
      langevin: false,
      init: 'normal',
      initStd: 1,
      initRange: [0, 1],
      clamp: false,
      clampRange: traits.inputRange ? [traits.inputRange[0], traits.inputRange[1]] : [-1, 1],
      weights: row.weights,
      softLabels: true,
    },
    student: {
      arch: 'auto',
      size: 0.25,
      epochs: 30,
      batchSize: 256,
      lr: 0.5,
      weightDecay: 5e-4,
      momentum: 0.9,
      optimizer: 'sgd',
      schedule: 'onecycle',
      temperature: 1,
      valFraction: 0.01,
      augShift: 0,
      augMixup: 0,
      augContrast: 0,
      augBlur: 0,
      augBackground: 0,
      augErase: 0,
      augLevel: 0,
      classBalance: false,
      etaMin: 0,
      etaMax: 1e10,
      inherit: 'off',
      inheritLr: 0.05,
      hint: 0,
      sharpnessCap: 1,
    },
  };
  // The budget presets buy accuracy with less compute (BENCHMARKS.md, "Buying accuracy with less compute"):
  // - η from 0.03 down one decade, not 0.1 down four: measured per set (`npm run bench:eta`), sets below η ≈ 0.003
  //   barely leave the noise and the teacher labels most of them with one class, and sets above 0.03 leave the
  //   input range; 32 steps reach the target classes in this band as 64 do. Measured on 1-channel teachers with
  //   the MNIST row's loss weights only, so other teachers keep the method's schedule.
  // - the student starts from the teacher's own strongest channels when it is a narrower copy of the teacher
  //   (`inherit: 'auto'`), at peak rate 0.05 instead of 0.5;
  // - the student sees each batch shifted, blurred and, for 1-channel teachers, contrast-changed, cut onto a dark
  //   background and holed by an erased rectangle within the input range (declared, else [-1, 1]), every augmented
  //   batch relabelled by the teacher.
  const oneChannel = inputChannels(traits.inputShape) === 1;
  const lever = (sets: number, epochs: number): DeepPartial<CakeConfig> => ({
    synthesis: oneChannel ? { sets, steps: 32, eta0: 0.03, decades: 1 } : { sets, steps: 32 },
    student: {
      epochs,
      // Start from the teacher's strongest channels where the student is a narrower copy of it (LeNet-5 →
      // LeNet-5-half, `auto`), at `inheritLr`, gentler than a student from scratch (BENCHMARKS.md, fifth round).
      inherit: 'auto',
      augShift: 2,
      augBlur: 0.5,
      // Contrast, background and erasing work within `clampRange`: the declared input range, else [-1, 1]. On the
      // panel's 1-channel teachers that declare none (PyTorch LeNets, inputs standardised to [-0.42, 2.82]), [-1, 1]
      // still helps: quick 94.07 → 95.10 % (crop-trained, MNIST), 96.09 → 96.94 % (shift, MNIST), 79.17 → 84.20 %
      // (shift, Fashion-MNIST; BENCHMARKS.md, "Where we stand"). Colour teachers get contrast only, and only with a
      // declared range (unmeasured otherwise).
      augContrast: oneChannel || traits.inputRange ? 0.5 : 0,
      augBackground: oneChannel ? 0.5 : 0,
      augErase: oneChannel ? 0.5 : 0,
    },
  });
  // Teachers beyond LeNet size (colour, or more than a few MFLOPs per image) get presets sized to a compute budget
  // instead, so that their time follows the teacher's cost rather than its input's name.
  const sized = !oneChannel || (traits.flopsPerImage ?? 0) > LENET_SCALE_FLOPS;
  if (sized && (name === 'quick' || name === 'standard')) return withOverrides(base, budgetPreset(name, traits, lever));
  switch (name) {
    case 'paper':
      return base;
    case 'standard':
      // About 10 minutes on 2 CPU cores for a LeNet-5-size teacher (9.5-13.5 measured with another run beside it):
      // `quick`'s recipe on four times its pool. On the teachers `cake train-teacher` makes, over three seeds, it
      // gives MNIST 98.73 % and Fashion-MNIST 83.71 % against `quick`'s 98.79 % and 83.37 %; feature hints on
      // `quick`'s pool (98.64 %, 83.10 %) and 90 epochs on this pool (Fashion-MNIST 83.48 %, one seed) did worse
      // (BENCHMARKS.md, ninth and tenth rounds). Larger and colour teachers are sized by budgetPreset (below).
      return withOverrides(base, lever(128, 45));
    case 'quick':
      // About 5 minutes: the same recipe on a smaller pool (45 epochs: 3 seeds each, BENCHMARKS.md).
      return withOverrides(base, lever(32, 45));
    case 'smoke':
      return withOverrides(base, {
        synthesis: { sets: 2, steps: 4, batchSize: batchFor(40) },
        student: { epochs: 1, batchSize: 16, lr: 0.05, valFraction: 0.1 },
      });
  }
}

/** LeNet-5 on 32×32 takes 0.83 MFLOPs per image; the grey presets above were tuned up to about this size. */
const LENET_SCALE_FLOPS = 4e6;

/**
 * Floating-point operations a preset may spend, counted as teacher forwards × its FLOPs: what one WASM thread here
 * does in about 4 minutes for `quick` and 25 for `standard` (a ResNet-8's synthesis step runs at about 40-50
 * direct-convolution GFLOP/s with the frozen teacher's Winograd kernels, BENCHMARKS.md). Half goes to synthesis,
 * half to the student.
 */
export const PRESET_FLOPS = { quick: 40e9 * 240, standard: 40e9 * 1500 } as const;

/** A MLPerf-size CIFAR ResNet-8: the cost assumed for a teacher whose FLOPs were not counted. */
const DEFAULT_TEACHER_FLOPS = 25e6;

/**
 * `quick` and `standard` for teachers the grey presets do not fit, sized by the teacher's FLOPs per image:
 * - batches shrink with the input's area and the teacher's FLOPs (a 224-pixel teacher's synthesis batch of 500 needs
 *   about 9 GiB) so that the memory plan admits them: 250 at 32×32 for a ResNet-8, 40 for a ResNet-32, 30 at
 *   224×224; the student's batch likewise, 256 down to 32;
 * - synthesis: 32 steps per set (each a forward and a backward pass, ≈ 3 forwards), as many sets as half the budget
 *   buys (at least 2);
 * - the student: as many epochs over the pool as the other half buys (each sample costs the student's forward and
 *   backward, ≈ 3 × size × the teacher's forward, plus the teacher's labels for its augmented copy; 20× that above
 *   64×64 pixels, where training runs that much slower), 3 to 60.
 */
function budgetPreset(
  name: 'quick' | 'standard',
  traits: TeacherTraits,
  lever: (sets: number, epochs: number) => DeepPartial<CakeConfig>,
): DeepPartial<CakeConfig> {
  const flops = traits.flopsPerImage && traits.flopsPerImage > 0 ? traits.flopsPerImage : DEFAULT_TEACHER_FLOPS;
  const K = Math.min(10, traits.numClasses);
  const shape = traits.inputShape;
  const area = shape.length >= 3 ? (shape[shape.length - 1] <= 4 ? shape[0] * shape[1] : shape[1] * shape[2]) : shape.length === 2 ? shape[0] * shape[1] : 1024;
  const shrink = Math.min(1, Math.sqrt(1024 / area));
  // A step's memory grows with the teacher's activations, which grow with its FLOPs: measured 0.07-0.22 bytes per
  // FLOP per sample (ResNet-32 2.4 GiB at batch 250, ResNet-8 2 GiB at 500, MobileNet-224 9 GiB at 500), so batches
  // are kept to 1.5 GiB at 0.25 bytes per FLOP, under the memory plan's 2 GiB (src/cake/memory.ts).
  const fits = (1.5 * 1024 ** 3) / (0.25 * flops);
  const batchSize = Math.max(K, Math.floor(Math.min(250 * shrink, fits) / K) * K);
  const studentBatch = Math.max(16, Math.min(256, 2 ** Math.floor(Math.log2(Math.min(256 * shrink * 1.2, fits)))));
  const steps = 32; // as lever's
  const budget = PRESET_FLOPS[name] / 2;
  const sets = Math.max(2, Math.round(budget / (3 * flops * steps * batchSize)));
  const pool = sets * batchSize;
  const studentSize = 0.25;
  // Training large inputs runs far below the synthesis rate on WASM: a MobileNet-224 student (depthwise gradients)
  // trained at 8 samples/s here against a ResNet-8 student's 530, about 20× fewer FLOPs per second.
  const slowTraining = area > 64 * 64 ? 20 : 1;
  const epochs = Math.max(3, Math.min(60, Math.round(budget / (pool * flops * (3 * studentSize + 1) * slowTraining))));
  const base = lever(sets, epochs);
  return {
    ...base,
    synthesis: { ...base.synthesis, batchSize },
    // The rate scales with the batch (0.5 at 256, as the method's): the zoo's ResNet from random weights at 0.5 and
    // batch 32 went to NaN in the 13th epoch on ResNet-32's pool.
    student: { ...base.student, batchSize: studentBatch, lr: (0.5 * studentBatch) / 256 },
  };
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

export function withOverrides(config: CakeConfig, over: DeepPartial<CakeConfig>): CakeConfig {
  return {
    seed: over.seed ?? config.seed,
    synthesis: {
      ...config.synthesis,
      ...(over.synthesis as Partial<SynthesisConfig>),
      weights: { ...config.synthesis.weights, ...(over.synthesis?.weights as Partial<LossWeights>) },
    },
    student: { ...config.student, ...(over.student as Partial<StudentConfig>) },
  };
}

/** One problem with a setting: the dotted key (as `--set` and the settings form name it) and why. */
export interface ConfigIssue {
  key: string;
  message: string;
}

/**
 * Every problem with a config against a teacher, most specific first; empty when the run can start. Each knob's own
 * range or options come from the knob table; what involves several knobs, or the teacher, is checked here.
 */
export function validateConfig(config: CakeConfig, traits?: TeacherTraits): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const knob of KNOBS) {
    const message = knobProblem(knob, valueAt(config, knob.key));
    if (message) issues.push({ key: knob.key, message });
  }
  const s = config.synthesis;
  const st = config.student;
  if (Number.isInteger(s.batchSize) && Number.isInteger(s.groupSize) && s.groupSize > 0 && s.batchSize % s.groupSize !== 0)
    issues.push({
      key: 'synthesis.batchSize',
      message: `must be a multiple of the group size ${s.groupSize}, got ${s.batchSize}`,
    });
  if (traits && s.groupSize > traits.numClasses)
    issues.push({
      key: 'synthesis.groupSize',
      message: `members of a group need distinct classes, so the group size can be at most ${traits.numClasses} (the teacher's classes), got ${s.groupSize}`,
    });
  if (s.weights.cls + s.weights.contr + s.weights.tv + s.weights.entropy === 0)
    issues.push({ key: 'synthesis.weights', message: 'at least one loss weight must be above 0' });
  if (st.etaMin > st.etaMax)
    issues.push({ key: 'student.etaMin', message: `must be at most student.etaMax (${st.etaMax}), got ${st.etaMin}` });
  else if (issues.length === 0 && studentSets(config).length === 0) {
    const etas = setEtas(s);
    const [first, last] = [etas[0], etas[s.sets - 1]].map((eta) => eta.toExponential(2));
    issues.push({
      key: 'student.etaMin',
      message: `the η band [${st.etaMin}, ${st.etaMax}] keeps none of the ${s.sets} sets (their η runs from ${first} to ${last})`,
    });
  }
  if (traits && traits.numClasses < 2)
    issues.push({ key: 'teacher', message: `a classifier needs at least 2 classes; this teacher has ${traits.numClasses}` });
  return issues;
}

/** Apply `key=value` pairs in order (the CLI's and the benchmarks' repeated `--set`). Throws on a pair without a key. */
export function applySettings(config: CakeConfig, pairs: readonly string[]): CakeConfig {
  for (const kv of pairs) {
    const eq = kv.indexOf('=');
    if (eq < 1) throw new Error(`a setting needs key=value, got "${kv}"`);
    config = applySetting(config, kv.slice(0, eq), kv.slice(eq + 1));
  }
  return config;
}

/** Apply one `key=value` override as the CLI's `--set`, the settings form and a shared link give it. Throws with the key on a bad one. */
export function applySetting(config: CakeConfig, key: string, raw: string): CakeConfig {
  const knob = findKnob(key);
  if (!knob) {
    if (KNOBS.some((k) => k.key.startsWith(`${key}.`))) throw new Error(`setting "${key}" is a group; name one of its fields`);
    throw new Error(`unknown setting "${key}"${RETIRED_SETTINGS.includes(key) ? ' (it was removed: every measurement found it useless)' : ''}`);
  }
  return withValueAt(config, key, parseKnob(knob, raw));
}
