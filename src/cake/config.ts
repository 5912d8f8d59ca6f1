import { etaForSet } from './schedule';

/**
 * Every knob of a CAKE run, its defaults, the presets, and validation.
 *
 * Names follow the reference code (`conf/config.yaml`, `sampling.*`, `student.*`) where one exists; the comment on each
 * field gives the reference key so a reader can check a default against the method spec.
 */

export type EtaSchedule = 'linear' | 'cosine' | 'constant';
export type InputOptimizer = 'sgd' | 'adam';
export type StudentOptimizer = 'sgd' | 'adam' | 'adamw';
export type LrSchedule = 'onecycle' | 'constant';
export type InitKind = 'normal' | 'uniform';

export interface LossWeights {
  /** `weight.cls`: cross-entropy towards each member's target class. */
  cls: number;
  /** `weight.contr`: pairwise squared logit distance inside a group. */
  contr: number;
  /** `weight.tv`: anisotropic total variation of the input (the image prior). */
  tv: number;
  /** `weight.entropy`: class-balance term on the batch-mean softmax; off by default. */
  entropy: number;
}

export interface SynthesisConfig {
  /** M, `num_batches`: independent sets, each from fresh noise. */
  sets: number;
  /** T, `num_steps`: optimisation steps on the inputs per set. */
  steps: number;
  /** B, `batch_size`: samples per set; a multiple of groupSize. */
  batchSize: number;
  /** K, `num_groups`: members per contrastive group, each with a different target class. */
  groupSize: number;
  /** η0, `noise`: step size (and noise scale) of the first set. */
  eta0: number;
  /** `noise_decay_magnitude`: decades η falls over the run (η_last ≈ η0·10^-decades). */
  decades: number;
  /** `noise_decay_schedule` in log10 space; 'constant' is `noise_decay=false`. */
  etaSchedule: EtaSchedule;
  /** `optim.type`: plain SGD on the inputs (the method), or Adam. */
  optimizer: InputOptimizer;
  /** `langevin`: add sqrt(2η)·N(0, I) after every step (the explicit "LAKE" variant). */
  langevin: boolean;
  /** Initial inputs: N(0, initStd²) (the method uses std 1), or uniform over initRange. */
  init: InitKind;
  initStd: number;
  initRange: [number, number];
  /**
   * Keep the inputs inside `clampRange` (projected SGD: clip after every step and at the start). Off in the method;
   * a prior beyond it for teachers whose input range is known (e.g. [-1, 1] for images scaled that way).
   */
  clamp: boolean;
  clampRange: [number, number];
  weights: LossWeights;
  /** `smooth_labels`: label samples with the teacher's softmax (true) or its argmax (false). */
  softLabels: boolean;
}

export interface StudentConfig {
  /** A name from the student zoo (see src/models/students.ts). */
  arch: string;
  epochs: number;
  batchSize: number;
  /** Peak learning rate (one-cycle max_lr). */
  lr: number;
  weightDecay: number;
  momentum: number;
  optimizer: StudentOptimizer;
  schedule: LrSchedule;
  /** Softmax temperature applied to teacher probabilities and student logits alike; 1 is the method. */
  temperature: number;
  /** Held-out share of the synthetic pool, used to report teacher–student agreement (the method's 99/1 split). */
  valFraction: number;
  /**
   * Largest random shift, in pixels, applied to synthetic samples in each student batch; 0 (the method) is off.
   * Augmented batches are relabelled by the teacher (see src/cake/augment.ts).
   */
  augShift: number;
  /** Share of each student batch blended with another sample (mixup), relabelled by the teacher; 0 is off. */
  augMixup: number;
  /**
   * Share of each student batch given a random contrast and brightness, clipped to `synthesis.clampRange`, and
   * relabelled by the teacher; 0 is off. Puts training points where inputs saturate at the range's ends, as real
   * images' backgrounds do and synthetic samples never do.
   */
  augContrast: number;
  /** Share of each student batch smoothed by a small binomial filter (before contrast), relabelled by the teacher; 0 is off. */
  augBlur: number;
  /**
   * Share of each student batch cut to a random central ellipse on a background at the low end of
   * `synthesis.clampRange` (a dark-background prior for digit- and garment-like data), relabelled; 0 is off.
   */
  augBackground: number;
  /**
   * Share of each student batch with one random rectangle set to the low end of `synthesis.clampRange` (random
   * erasing: gaps and missing parts), relabelled; 0 is off.
   */
  augErase: number;
  /**
   * Weight the samples of each relabelled student batch so the teacher's classes count equally (see
   * `logitDistillationLoss`); off in the method. Only affects runs whose batches the teacher relabels.
   */
  classBalance: boolean;
  /**
   * `data.eps_min` / `data.eps_max`: the student trains only on the sets whose step size η lies in [etaMin, etaMax]
   * (the reference's `filter_samples_by_eps`); the defaults, 0 and 1e10, keep every set. The pool still holds every
   * set, so one pool can teach students on different η bands.
   */
  etaMin: number;
  etaMax: number;
  /**
   * Start the student from the teacher's strongest channels instead of random weights (see src/cake/inherit.ts):
   * `on` requires it (the run stops with the reason when the student is not a narrower copy of the teacher's layer
   * chain, or the teacher has no layers to copy: graph models, ONNX); `auto` does it where it can and starts from
   * random weights otherwise, saying so in the report; `off` is the method, whose students start from scratch.
   */
  inherit: StudentInherit;
  /** Peak learning rate (one-cycle max_lr) of a student that starts from the teacher's weights, in place of `lr`. */
  inheritLr: number;
  /**
   * Weight of the feature hints (see src/cake/hints.ts) for a student that started from the teacher's weights: its
   * hidden layers also learn the teacher's activations of the channels they kept; 0 (the method) is off.
   */
  hint: number;
}

export type StudentInherit = 'off' | 'auto' | 'on';

/** Whether the student trains on a set made with step size η (its η band, inclusive, with rounding slack). */
export function studentUsesEta(st: StudentConfig, eta: number): boolean {
  return eta >= st.etaMin * (1 - 1e-9) && eta <= st.etaMax * (1 + 1e-9);
}

/** The indices of the sets the student trains on, in order. */
export function studentSets(config: CakeConfig): number[] {
  const s = config.synthesis;
  const kept: number[] = [];
  for (let m = 0; m < s.sets; m++)
    if (studentUsesEta(config.student, etaForSet(m, s.sets, s.eta0, s.decades, s.etaSchedule))) kept.push(m);
  return kept;
}

/** Whether the student stage augments its batches (and so has the teacher label every batch afresh). */
export function studentAugments(st: StudentConfig): boolean {
  return st.augShift > 0 || st.augMixup > 0 || st.augContrast > 0 || st.augBlur > 0 || st.augBackground > 0 || st.augErase > 0;
}

export interface CakeConfig {
  /** One seed drives every random draw: noise, target classes, shuffles, student initialisation. */
  seed: number;
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
      classBalance: false,
      etaMin: 0,
      etaMax: 1e10,
      inherit: 'off',
      inheritLr: 0.05,
      hint: 0,
    },
  };
  // The budget presets buy accuracy with less compute (BENCHMARKS.md, "Buying accuracy with less compute"):
  // - η from 0.03 down one decade, not 0.1 down four: measured per set (`npm run bench:eta`), sets below η ≈ 0.003
  //   barely leave the noise and the teacher labels most of them with one class, and sets above 0.03 leave the
  //   input range; 32 steps reach the target classes in this band as 64 do. Measured on 1-channel teachers with
  //   the MNIST row's loss weights only, so other teachers keep the method's schedule.
  // - the student starts from the teacher's own strongest channels when it is a narrower copy of the teacher
  //   (`inherit: 'auto'`), at peak rate 0.05 instead of 0.5; in `standard` for teachers other than 1-channel ones
  //   it also learns the teacher's activations of those channels (`hint`);
  // - the student sees each batch shifted, blurred and, when the teacher declares its input range, contrast-changed,
  //   cut onto a dark background and holed by an erased rectangle (the last two for 1-channel teachers, where they
  //   were measured), every augmented batch relabelled by the teacher.
  const oneChannel = inputChannels(traits.inputShape) === 1;
  const lever = (sets: number, epochs: number, hint = 0): DeepPartial<CakeConfig> => ({
    synthesis: oneChannel ? { sets, steps: 32, eta0: 0.03, decades: 1 } : { sets, steps: 64 },
    student: {
      epochs,
      // Start from the teacher's strongest channels where the student is a narrower copy of it (LeNet-5 →
      // LeNet-5-half, `auto`), at `inheritLr`, gentler than a student from scratch (BENCHMARKS.md, fifth round).
      inherit: 'auto',
      hint,
      augShift: 2,
      augBlur: 0.5,
      augContrast: traits.inputRange ? 0.5 : 0,
      augBackground: traits.inputRange && oneChannel ? 0.5 : 0,
      augErase: traits.inputRange && oneChannel ? 0.5 : 0,
    },
  });
  switch (name) {
    case 'paper':
      return base;
    case 'standard':
      // About 10 minutes on 2 CPU cores for a LeNet-5-size teacher (9.5-13.5 measured with another run beside it):
      // `quick`'s recipe on four times its pool. On the teachers `cake train-teacher` makes, over three seeds, it
      // gives MNIST 98.73 % and Fashion-MNIST 83.71 % against `quick`'s 98.79 % and 83.37 %; feature hints on
      // `quick`'s pool (98.64 %, 83.10 %) and 90 epochs on this pool (Fashion-MNIST 83.48 %, one seed) did worse
      // (BENCHMARKS.md, ninth and tenth rounds).
      // That was measured on 1-channel teachers only; others keep the earlier 96-set recipe with hints.
      return withOverrides(base, oneChannel ? lever(128, 45) : lever(96, 80, 1));
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

/**
 * Settings that were removed because every measurement found them useless (BENCHMARKS.md keeps their rows). They
 * were off in every preset, and saved settings, shared links and exported settings files may still name them: the
 * studio drops them when it loads settings, so such a link still opens, while a key that never existed is still
 * reported as unknown.
 */
export const RETIRED_SETTINGS: readonly string[] = ['synthesis.jitter', 'synthesis.augViews', 'student.augStrokes'];

/** One problem with a setting: the dotted key (as `--set` and the settings form name it) and why. */
export interface ConfigIssue {
  key: string;
  message: string;
}

const ENUMS: Record<string, readonly string[]> = {
  'synthesis.etaSchedule': ['linear', 'cosine', 'constant'],
  'synthesis.optimizer': ['sgd', 'adam'],
  'synthesis.init': ['normal', 'uniform'],
  'student.optimizer': ['sgd', 'adam', 'adamw'],
  'student.schedule': ['onecycle', 'constant'],
  'student.inherit': ['off', 'auto', 'on'],
};

/** Every problem with a config against a teacher, most specific first; empty when the run can start. */
export function validateConfig(config: CakeConfig, traits?: TeacherTraits): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const s = config.synthesis;
  const st = config.student;
  const int = (key: string, v: number, min: number, max = 1e9) => {
    if (!Number.isInteger(v) || v < min || v > max)
      issues.push({ key, message: `must be a whole number from ${min} to ${max}, got ${v}` });
  };
  const pos = (key: string, v: number, max = Infinity) => {
    if (!Number.isFinite(v) || v <= 0 || v > max)
      issues.push({ key, message: `must be a positive number${max < Infinity ? ` up to ${max}` : ''}, got ${v}` });
  };
  const nonneg = (key: string, v: number) => {
    if (!Number.isFinite(v) || v < 0) issues.push({ key, message: `must be a number ≥ 0, got ${v}` });
  };
  int('seed', config.seed, 0, 2 ** 32 - 1);
  int('synthesis.sets', s.sets, 1, 1e6);
  int('synthesis.steps', s.steps, 0, 1e6);
  int('synthesis.batchSize', s.batchSize, 1, 8192);
  int('synthesis.groupSize', s.groupSize, 1, 1e4);
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
  pos('synthesis.eta0', s.eta0, 1e3);
  nonneg('synthesis.decades', s.decades);
  if (s.decades > 20) issues.push({ key: 'synthesis.decades', message: `must be at most 20, got ${s.decades}` });
  pos('synthesis.initStd', s.initStd, 1e3);
  if (!(s.initRange[0] < s.initRange[1]) || !s.initRange.every(Number.isFinite))
    issues.push({ key: 'synthesis.initRange', message: `must be [low, high] with low < high, got [${s.initRange}]` });
  if (!(s.clampRange[0] < s.clampRange[1]) || !s.clampRange.every(Number.isFinite))
    issues.push({ key: 'synthesis.clampRange', message: `must be [low, high] with low < high, got [${s.clampRange}]` });
  for (const k of ['cls', 'contr', 'tv', 'entropy'] as const) nonneg(`synthesis.weights.${k}`, s.weights[k]);
  if (s.weights.cls + s.weights.contr + s.weights.tv + s.weights.entropy === 0)
    issues.push({ key: 'synthesis.weights', message: 'at least one loss weight must be above 0' });
  int('student.epochs', st.epochs, 0, 10_000);
  int('student.batchSize', st.batchSize, 1, 8192);
  pos('student.lr', st.lr, 100);
  pos('student.inheritLr', st.inheritLr, 100);
  nonneg('student.hint', st.hint);
  nonneg('student.weightDecay', st.weightDecay);
  if (!(st.momentum >= 0 && st.momentum < 1)) issues.push({ key: 'student.momentum', message: `must be in [0, 1), got ${st.momentum}` });
  pos('student.temperature', st.temperature, 1e3);
  if (!(st.valFraction >= 0 && st.valFraction < 0.5))
    issues.push({ key: 'student.valFraction', message: `must be in [0, 0.5), got ${st.valFraction}` });
  int('student.augShift', st.augShift, 0, 16);
  if (!(st.augMixup >= 0 && st.augMixup <= 1)) issues.push({ key: 'student.augMixup', message: `must be in [0, 1], got ${st.augMixup}` });
  if (!(st.augContrast >= 0 && st.augContrast <= 1))
    issues.push({ key: 'student.augContrast', message: `must be in [0, 1], got ${st.augContrast}` });
  if (!(st.augBlur >= 0 && st.augBlur <= 1)) issues.push({ key: 'student.augBlur', message: `must be in [0, 1], got ${st.augBlur}` });
  if (!(st.augBackground >= 0 && st.augBackground <= 1))
    issues.push({ key: 'student.augBackground', message: `must be in [0, 1], got ${st.augBackground}` });
  if (!(st.augErase >= 0 && st.augErase <= 1))
    issues.push({ key: 'student.augErase', message: `must be in [0, 1], got ${st.augErase}` });
  nonneg('student.etaMin', st.etaMin);
  pos('student.etaMax', st.etaMax);
  if (st.etaMin > st.etaMax)
    issues.push({ key: 'student.etaMin', message: `must be at most student.etaMax (${st.etaMax}), got ${st.etaMin}` });
  else if (issues.length === 0 && studentSets(config).length === 0) {
    const etas = [0, s.sets - 1].map((m) => etaForSet(m, s.sets, s.eta0, s.decades, s.etaSchedule).toExponential(2));
    issues.push({
      key: 'student.etaMin',
      message: `the η band [${st.etaMin}, ${st.etaMax}] keeps none of the ${s.sets} sets (their η runs from ${etas[0]} to ${etas[1]})`,
    });
  }
  if (typeof st.arch !== 'string' || st.arch.length === 0) issues.push({ key: 'student.arch', message: 'must name a student architecture' });
  const cfg = config as unknown as Record<string, Record<string, unknown>>;
  for (const [key, allowed] of Object.entries(ENUMS)) {
    const [a, b] = key.split('.');
    const v = cfg[a][b];
    if (!allowed.includes(v as string)) issues.push({ key, message: `must be one of ${allowed.join(', ')}, got ${String(v)}` });
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

/** Apply `key=value` overrides as the CLI's `--set` and a shared URL give them. Throws with the key on a bad one. */
export function applySetting(config: CakeConfig, key: string, raw: string): CakeConfig {
  const path = key.split('.');
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  let node = copy;
  for (const p of path.slice(0, -1)) {
    const next = node[p];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) throw new Error(`unknown setting "${key}"`);
    node = next as Record<string, unknown>;
  }
  const leaf = path[path.length - 1];
  if (!(leaf in node))
    throw new Error(`unknown setting "${key}"${RETIRED_SETTINGS.includes(key) ? ' (it was removed: every measurement found it useless)' : ''}`);
  const current = node[leaf];
  let value: unknown;
  if (typeof current === 'number') {
    value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value)) throw new Error(`setting "${key}" needs a number, got "${raw}"`);
  } else if (typeof current === 'boolean') {
    if (raw !== 'true' && raw !== 'false') throw new Error(`setting "${key}" needs true or false, got "${raw}"`);
    value = raw === 'true';
  } else if (Array.isArray(current)) {
    value = raw.split(',').map(Number);
    if ((value as number[]).length !== current.length || (value as number[]).some((v) => !Number.isFinite(v)))
      throw new Error(`setting "${key}" needs ${current.length} comma-separated numbers, got "${raw}"`);
  } else if (typeof current === 'string') {
    value = raw;
  } else {
    throw new Error(`setting "${key}" is a group; name one of its fields`);
  }
  node[leaf] = value;
  return copy as unknown as CakeConfig;
}
