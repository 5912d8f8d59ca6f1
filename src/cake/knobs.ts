/**
 * Every knob of a CAKE run, stated once: its dotted key (as `--set`, the settings form, links and settings files name
 * it), what it does and why, the reference code's name for it (`conf/config.yaml` of ml-research/CAKE) where the method
 * has it, its kind and allowed values, its label and hint in the studio's form, and the teachers it acts on where not
 * all. The config's types, validation, `--set`, the settings form and the settings' text all read this table; the
 * defaults are the values of the `paper` preset (config.ts). A new setting is one row here, one default there, and
 * its use.
 *
 * Plain data with no imports: the studio's page reads it (through the worker protocol) without loading tfjs.
 */

/** The form's collapsible groups; `seed` and `student.arch` have their own controls above them. */
export type KnobGroup = 'Synthesis' | 'Loss weights' | 'Schedule' | 'Student training';

interface KnobInfo {
  key: string;
  /** What it does and why. */
  doc: string;
  /** The reference code's name for it, where the method has this knob. */
  ref?: string;
  group?: KnobGroup;
  label: string;
  hint?: string;
  /**
   * The teachers it acts on, where not all: `images` (inputs with height and width; flat inputs skip it), `layers
   * models` (a TensorFlow.js layers model, Keras file or the demo teacher; graph models and ONNX have no layers to copy).
   */
  teachers?: 'images' | 'layers models';
  /** A student augmentation: the teacher relabels each batch once any of these is above 0. */
  augmentation?: true;
}

/** Numbers within [min, max]; `exclusiveMin`/`exclusiveMax` leave an end out. */
interface NumberKnob extends KnobInfo {
  kind: 'number';
  min: number;
  max: number;
  exclusiveMin?: true;
  exclusiveMax?: true;
}

export type Knob =
  | (KnobInfo & { kind: 'int'; min: number; max: number })
  | NumberKnob
  | (KnobInfo & { kind: 'bool' })
  | (KnobInfo & { kind: 'enum'; options: readonly string[] })
  /** [low, high] with low < high, written `low,high`. */
  | (KnobInfo & { kind: 'range' })
  /** A name from the student zoo (src/models/students.ts). */
  | (KnobInfo & { kind: 'arch' });

const SHARE = { kind: 'number', min: 0, max: 1 } as const;
const POSITIVE = { kind: 'number', min: 0, max: Infinity, exclusiveMin: true } as const;
const NON_NEGATIVE = { kind: 'number', min: 0, max: Infinity } as const;

export const KNOBS = [
  {
    key: 'seed',
    kind: 'int',
    min: 0,
    max: 2 ** 32 - 1,
    ref: 'env.seed',
    label: 'Seed',
    hint: 'one seed drives every random draw',
    doc: 'Drives every random draw: noise, target classes, Langevin noise, the split, shuffles, augmentations, the student’s initialisation. The same seed on the same backend gives the same student.',
  },
  {
    key: 'student.arch',
    kind: 'arch',
    ref: 'student.model.arch',
    label: 'Student architecture',
    doc: 'A name from the student zoo (src/models/students.ts): lenet5, lenet5-half, mlp, cnn, resnet, mobilenet, or `auto`, the teacher’s own graph (nested, residual and depthwise ones included) at the width that keeps about `student.size` of its parameters; where it cannot be copied, lenet5-half for 1-channel images up to 64 px, resnet for other images up to 64 px, mobilenet above.',
  },
  {
    key: 'student.size',
    kind: 'number',
    min: 0.01,
    max: 1,
    group: 'Student training',
    label: 'Student size',
    hint: 'the share of the teacher’s parameters auto (and resnet, mobilenet) may use; a student is never larger than its teacher',
    doc: 'The parameter budget of `auto`, `resnet` and `mobilenet` students, as a share of the teacher’s parameters: the widest simple fraction of the teacher’s width (or the zoo net’s) that stays within it (5 % slack) and below the teacher; 0.25 keeps LeNet-5 at half width.',
  },
  // --- Synthesis ---
  {
    key: 'synthesis.sets',
    kind: 'int',
    min: 1,
    max: 1e6,
    ref: 'sampling.num_batches',
    group: 'Synthesis',
    label: 'Sets (M)',
    hint: 'independent sets, each from fresh noise',
    doc: 'M: independent sets, each from fresh noise with fresh target classes; the step size η falls across them.',
  },
  {
    key: 'synthesis.steps',
    kind: 'int',
    min: 0,
    max: 1e6,
    ref: 'sampling.num_steps',
    group: 'Synthesis',
    label: 'Steps per set (T)',
    hint: 'optimisation steps on the inputs',
    doc: 'T: optimisation steps on the inputs per set (0 keeps the noise: a baseline).',
  },
  {
    key: 'synthesis.batchSize',
    kind: 'int',
    min: 1,
    max: 8192,
    ref: 'sampling.batch_size',
    group: 'Synthesis',
    label: 'Samples per set (B)',
    hint: 'a multiple of the group size',
    doc: 'B: samples per set, in groups of `groupSize`, so a multiple of it.',
  },
  {
    key: 'synthesis.groupSize',
    kind: 'int',
    min: 1,
    max: 1e4,
    ref: 'sampling.num_groups',
    group: 'Synthesis',
    label: 'Group size (K)',
    hint: 'members with distinct target classes',
    doc: 'K: members per contrastive group, each aiming at a different class, so at most the teacher’s classes.',
  },
  {
    key: 'synthesis.optimizer',
    kind: 'enum',
    options: ['sgd', 'adam'],
    ref: 'sampling.optim.type',
    group: 'Synthesis',
    label: 'Input optimiser',
    doc: 'The optimiser on the inputs: plain SGD at step size η (the method), or Adam; a fresh one per set.',
  },
  {
    key: 'synthesis.init',
    kind: 'enum',
    options: ['normal', 'uniform'],
    group: 'Synthesis',
    label: 'Initial noise',
    doc: 'The initial inputs: N(0, initStd²) (the method, with std 1) or uniform over `initRange`.',
  },
  {
    key: 'synthesis.initStd',
    ...POSITIVE,
    max: 1e3,
    group: 'Synthesis',
    label: 'Noise std',
    hint: 'for normal noise',
    doc: 'The standard deviation of normal initial noise.',
  },
  {
    key: 'synthesis.initRange',
    kind: 'range',
    group: 'Synthesis',
    label: 'Uniform range',
    hint: 'low,high for uniform noise',
    doc: 'The interval of uniform initial noise.',
  },
  {
    key: 'synthesis.clamp',
    kind: 'bool',
    group: 'Synthesis',
    label: 'Clamp to input range',
    hint: 'keep samples inside the range below',
    doc: 'Keep the inputs inside `clampRange` (projected SGD: clipped at the start and after every step). Off in the method; a prior for teachers whose input range is known.',
  },
  {
    key: 'synthesis.clampRange',
    kind: 'range',
    group: 'Synthesis',
    label: 'Input range',
    hint: "low,high of the teacher's inputs (clamp and contrast)",
    doc: 'The teacher’s input range, from its metadata when declared (else [-1, 1]): used by `clamp` and by the student’s contrast, background and erase augmentations.',
  },
  {
    key: 'synthesis.softLabels',
    kind: 'bool',
    ref: 'sampling.smooth_labels',
    group: 'Synthesis',
    label: 'Soft labels',
    hint: "label with the teacher's softmax",
    doc: 'Label each sample with the teacher’s softmax (true, the method) or its argmax.',
  },
  // --- Loss weights ---
  {
    key: 'synthesis.weights.cls',
    ...NON_NEGATIVE,
    ref: 'sampling.weight.cls',
    group: 'Loss weights',
    label: 'Classification',
    hint: 'cross-entropy to the target',
    doc: 'Weight of the cross-entropy towards each member’s target class.',
  },
  {
    key: 'synthesis.weights.contr',
    ...NON_NEGATIVE,
    ref: 'sampling.weight.contr',
    group: 'Loss weights',
    label: 'Contrastive',
    hint: 'logit distance inside a group',
    doc: 'Weight of the pairwise squared logit distance inside a group: it pulls a group onto the decision boundaries.',
  },
  {
    key: 'synthesis.weights.tv',
    ...NON_NEGATIVE,
    ref: 'sampling.weight.tv',
    group: 'Loss weights',
    label: 'Total variation',
    hint: 'image prior',
    teachers: 'images',
    doc: 'Weight of the anisotropic total variation of the inputs, the image prior.',
  },
  {
    key: 'synthesis.weights.entropy',
    ...NON_NEGATIVE,
    ref: 'sampling.weight.entropy',
    group: 'Loss weights',
    label: 'Class balance (entropy)',
    hint: 'off at 0',
    doc: 'Weight of the class-balance term on the batch-mean softmax; off (0) in the method.',
  },
  // --- Schedule ---
  {
    key: 'synthesis.eta0',
    ...POSITIVE,
    max: 1e3,
    ref: 'sampling.noise',
    group: 'Schedule',
    label: 'Initial step size (η₀)',
    doc: 'η₀: the step size (and noise scale) of the first set.',
  },
  {
    key: 'synthesis.decades',
    kind: 'number',
    min: 0,
    max: 20,
    ref: 'sampling.noise_decay_magnitude',
    group: 'Schedule',
    label: 'η decay (decades)',
    hint: 'η falls to η₀·10^−decades',
    doc: 'Decades η falls over the sets (the last set’s η ≈ η₀·10^−decades), which scatters samples at different distances from the boundaries.',
  },
  {
    key: 'synthesis.etaSchedule',
    kind: 'enum',
    options: ['linear', 'cosine', 'constant'],
    ref: 'sampling.noise_decay_schedule',
    group: 'Schedule',
    label: 'η schedule',
    doc: 'How η falls across the sets, in log10 space; `constant` is the reference’s `noise_decay=false`.',
  },
  {
    key: 'synthesis.langevin',
    kind: 'bool',
    ref: 'sampling.langevin',
    group: 'Schedule',
    label: 'Langevin noise',
    hint: 'add √(2η)·N(0, I) per step',
    doc: 'Add √(2η)·N(0, I) after every step: the explicit “LAKE” variant; off in CAKE.',
  },
  // --- Student training ---
  {
    key: 'student.epochs',
    kind: 'int',
    min: 0,
    max: 10_000,
    ref: 'student.epochs',
    group: 'Student training',
    label: 'Epochs',
    doc: 'Passes over the synthetic pool (full batches only).',
  },
  {
    key: 'student.batchSize',
    kind: 'int',
    min: 1,
    max: 8192,
    ref: 'student.bs',
    group: 'Student training',
    label: 'Batch size',
    doc: 'Samples per student step.',
  },
  {
    key: 'student.optimizer',
    kind: 'enum',
    options: ['sgd', 'adam', 'adamw'],
    ref: 'student.optim.type',
    group: 'Student training',
    label: 'Optimiser',
    doc: 'The student’s optimiser: SGD with momentum (the method), Adam or AdamW.',
  },
  {
    key: 'student.lr',
    ...POSITIVE,
    max: 100,
    ref: 'student.lr',
    group: 'Student training',
    label: 'Peak learning rate',
    doc: 'Peak learning rate (one-cycle max_lr) of a student from random weights.',
  },
  {
    key: 'student.schedule',
    kind: 'enum',
    options: ['onecycle', 'constant'],
    group: 'Student training',
    label: 'Learning-rate schedule',
    doc: 'One-cycle (the method: div 25, final div 1e4, momentum cycling 0.85-0.95) or a constant rate.',
  },
  {
    key: 'student.momentum',
    kind: 'number',
    min: 0,
    max: 1,
    exclusiveMax: true,
    group: 'Student training',
    label: 'Momentum',
    doc: 'SGD momentum (0.9 in the method; one-cycle cycles it around this).',
  },
  {
    key: 'student.weightDecay',
    ...NON_NEGATIVE,
    ref: 'student.weight_decay',
    group: 'Student training',
    label: 'Weight decay',
    doc: 'L2 weight decay of the student’s weights.',
  },
  {
    key: 'student.temperature',
    ...POSITIVE,
    max: 1e3,
    group: 'Student training',
    label: 'Temperature',
    doc: 'Softmax temperature applied to teacher probabilities and student logits alike; 1 is the method.',
  },
  {
    key: 'student.valFraction',
    kind: 'number',
    min: 0,
    max: 0.5,
    exclusiveMax: true,
    group: 'Student training',
    label: 'Held-out share',
    hint: 'of the synthetic pool, for agreement',
    doc: 'Held-out share of the synthetic pool, used only to report teacher–student agreement (the method’s 99/1 split).',
  },
  {
    key: 'student.etaMin',
    ...NON_NEGATIVE,
    ref: 'student.data.eps_min',
    group: 'Student training',
    label: 'Train on η from',
    hint: 'the student learns only from sets made with a step size in this band; 0 keeps them all',
    doc: 'The student trains only on the sets whose η lies in [etaMin, etaMax] (the reference’s `filter_samples_by_eps`); the pool still holds every set, so one pool can teach students on different bands.',
  },
  {
    key: 'student.etaMax',
    ...POSITIVE,
    ref: 'student.data.eps_max',
    group: 'Student training',
    label: 'Train on η up to',
    hint: 'upper end of that band; 1e10 keeps them all',
    doc: 'The upper end of that η band; the default 1e10 keeps every set.',
  },
  {
    key: 'student.augShift',
    kind: 'int',
    min: 0,
    max: 16,
    group: 'Student training',
    label: 'Augment: shift (px)',
    hint: 'largest random shift per batch, relabelled by the teacher; 0 is off',
    teachers: 'images',
    augmentation: true,
    doc: 'Largest random shift, in pixels, of the synthetic samples in each student batch; 0 (the method) is off. Augmented batches are relabelled by the teacher (src/cake/augment.ts).',
  },
  {
    key: 'student.augMixup',
    ...SHARE,
    group: 'Student training',
    label: 'Augment: mixup share',
    hint: 'share of each batch blended with another sample, relabelled by the teacher; 0 is off',
    augmentation: true,
    doc: 'Share of each student batch blended with another sample (mixup), relabelled by the teacher; 0 is off.',
  },
  {
    key: 'student.augContrast',
    ...SHARE,
    group: 'Student training',
    label: 'Augment: contrast share',
    hint: 'share of each batch given random contrast and brightness within the input range, relabelled by the teacher; 0 is off',
    augmentation: true,
    doc: 'Share of each student batch given a random contrast and brightness within `synthesis.clampRange`, relabelled; 0 is off. Puts training points where inputs saturate at the range’s ends, as real backgrounds do and synthetic samples never do.',
  },
  {
    key: 'student.augBlur',
    ...SHARE,
    group: 'Student training',
    label: 'Augment: blur share',
    hint: 'share of each batch smoothed by a small filter, relabelled by the teacher; 0 is off',
    teachers: 'images',
    augmentation: true,
    doc: 'Share of each student batch smoothed by a small binomial filter (before contrast), relabelled; 0 is off.',
  },
  {
    key: 'student.augBackground',
    ...SHARE,
    group: 'Student training',
    label: 'Augment: background share',
    hint: 'share of each batch cut to a central ellipse on a dark background, relabelled by the teacher; 0 is off',
    teachers: 'images',
    augmentation: true,
    doc: 'Share of each student batch cut to a random central ellipse on the low end of `synthesis.clampRange` (a dark-background prior for digit- and garment-like data), relabelled; 0 is off.',
  },
  {
    key: 'student.augErase',
    ...SHARE,
    group: 'Student training',
    label: 'Augment: erase share',
    hint: 'share of each batch with one random rectangle set to the dark end of the input range (gaps, missing parts), relabelled by the teacher; 0 is off',
    teachers: 'images',
    augmentation: true,
    doc: 'Share of each student batch with one random rectangle set to the low end of `synthesis.clampRange` (random erasing: gaps and missing parts), relabelled; 0 is off.',
  },
  {
    key: 'student.augLevel',
    ...SHARE,
    group: 'Student training',
    label: 'Augment: background level spread',
    hint: 'the background and erase augmentations use a level drawn per image up to this share of the input range above its low end; 0 is the low end',
    teachers: 'images',
    doc: 'The level the background and erase augmentations set pixels to, drawn per image between the low end of `synthesis.clampRange` and this share of the range above it; 0 is the low end. For teachers that declare no input range, whose background level is not known.',
  },
  {
    key: 'student.inherit',
    kind: 'enum',
    options: ['off', 'auto', 'on'],
    group: 'Student training',
    label: 'Start from the teacher’s weights',
    hint: 'when the student is a narrower copy of the teacher (LeNet-5 → LeNet-5-half, auto): it starts from the teacher’s strongest channels; auto falls back to random weights where it cannot, on stops with the reason',
    teachers: 'layers models',
    doc: 'Start the student from the teacher’s strongest channels instead of random weights (src/cake/inherit.ts): `on` requires it (the run stops with the reason when the student is not a narrower copy of the teacher’s layer chain), `auto` does it where it can and says in the report why not otherwise, `off` is the method.',
  },
  {
    key: 'student.inheritLr',
    ...POSITIVE,
    max: 100,
    group: 'Student training',
    label: 'Peak learning rate from the teacher’s weights',
    hint: 'used instead of the peak learning rate when the student starts from the teacher’s weights',
    teachers: 'layers models',
    doc: 'Peak learning rate of a student that starts from the teacher’s weights, in place of `lr`: gentler, so training keeps what it copied.',
  },
  {
    key: 'student.sharpnessCap',
    ...NON_NEGATIVE,
    group: 'Student training',
    label: 'Sharpness cap on the peak rate',
    hint: 'the peak learning rate is at most this over the sharpness of the student’s loss where it starts (its top Hessian eigenvalue); 0 is off',
    doc: 'Caps the student’s peak learning rate at this over |λ|, the top eigenvalue of its loss’s Hessian where it starts, measured on its first training samples (src/cake/sharpness.ts): a copy of a sharp teacher (a CIFAR ResNet, λ in the thousands) diverges at rates a LeNet-5 copy (λ ≈ 3) trains well at; 0 is off.',
  },
  {
    key: 'student.hint',
    ...NON_NEGATIVE,
    group: 'Student training',
    label: 'Feature hints weight',
    hint: 'for a student that starts from the teacher’s weights: its hidden layers also learn the teacher’s activations of the channels they kept (FitNets); 0 is off',
    teachers: 'layers models',
    doc: 'Weight of the feature hints (src/cake/hints.ts, FitNets) for a student that started from the teacher’s weights: its hidden layers also learn the teacher’s activations of the channels they kept; 0 (the method) is off.',
  },
  {
    key: 'student.classBalance',
    kind: 'bool',
    group: 'Student training',
    label: 'Balance classes',
    hint: 'weight each relabelled batch so the teacher’s classes count equally (augmentation skews them)',
    doc: 'Weight the samples of each relabelled student batch so the teacher’s classes count equally (augmentation skews them); only affects runs whose batches the teacher relabels.',
  },
] as const satisfies readonly Knob[];

/**
 * Settings that were removed because every measurement found them useless (BENCHMARKS.md keeps their rows). They
 * were off in every preset, and saved settings, shared links and exported settings files may still name them: the
 * studio drops them when it loads settings, so such a link still opens, while a key that never existed is still
 * reported as unknown.
 */
export const RETIRED_SETTINGS: readonly string[] = ['synthesis.jitter', 'synthesis.augViews', 'student.augStrokes'];

// --- the config's types, from the table --------------------------------------------------------------------------

type Row = (typeof KNOBS)[number];
export type KnobKey = Row['key'];
type ValueOf<R> = R extends { kind: 'int' | 'number' }
  ? number
  : R extends { kind: 'bool' }
    ? boolean
    : R extends { kind: 'range' }
      ? [number, number]
      : R extends { kind: 'enum'; options: readonly (infer O)[] }
        ? O
        : string;
/** The value type of one knob, e.g. `KnobValue<'synthesis.etaSchedule'>` is 'linear' | 'cosine' | 'constant'. */
export type KnobValue<K extends KnobKey> = ValueOf<Extract<Row, { key: K }>>;
/** The knobs directly under a dotted prefix, as an object: `KnobFields<'student'>` is the student's settings. */
export type KnobFields<P extends string> = {
  [R in Row as R['key'] extends `${P}.${infer F}` ? (F extends `${string}.${string}` ? never : F) : never]: ValueOf<R>;
};

// --- reading one row ----------------------------------------------------------------------------------------------

const BY_KEY = new Map<string, Knob>(KNOBS.map((k) => [k.key, k]));

/** The knob with this dotted key, or undefined. */
export function findKnob(key: string): Knob | undefined {
  return BY_KEY.get(key);
}

/** What a knob accepts, in words ("a whole number from 1 to 8192", "in [0, 1]", "one of sgd, adam"). */
export function allowedValues(knob: Knob): string {
  switch (knob.kind) {
    case 'int':
      return `a whole number from ${knob.min} to ${knob.max}`;
    case 'number': {
      const { min, max, exclusiveMin, exclusiveMax } = knob;
      if (min === 0 && exclusiveMin) return max === Infinity ? 'a positive number' : `a positive number up to ${max}`;
      if (max === Infinity) return `a number ≥ ${min}`;
      return `in ${exclusiveMin ? '(' : '['}${min}, ${max}${exclusiveMax ? ')' : ']'}`;
    }
    case 'bool':
      return 'true or false';
    case 'enum':
      return `one of ${knob.options.join(', ')}`;
    case 'range':
      return '[low, high] with low < high';
    case 'arch':
      return 'a student architecture';
  }
}

/** Why a value is not allowed for a knob, or null when it is (ranges and options only; config.ts checks across knobs). */
export function knobProblem(knob: Knob, v: unknown): string | null {
  let ok: boolean;
  switch (knob.kind) {
    case 'int':
      ok = Number.isInteger(v) && (v as number) >= knob.min && (v as number) <= knob.max;
      break;
    case 'number': {
      const n = v as number;
      ok =
        Number.isFinite(n) &&
        (knob.exclusiveMin ? n > knob.min : n >= knob.min) &&
        (knob.exclusiveMax ? n < knob.max : n <= knob.max);
      break;
    }
    case 'bool':
      ok = typeof v === 'boolean';
      break;
    case 'enum':
      ok = knob.options.includes(v as string);
      break;
    case 'range':
      ok = Array.isArray(v) && v.length === 2 && v.every(Number.isFinite) && v[0] < v[1];
      return ok ? null : `must be [low, high] with low < high, got [${String(v)}]`;
    case 'arch':
      return typeof v === 'string' && v.length > 0 ? null : 'must name a student architecture';
  }
  return ok ? null : `must be ${allowedValues(knob)}, got ${String(v)}`;
}

/** A knob's value from its text (as `--set`, the form, links and settings files write it). Throws naming the key. */
export function parseKnob(knob: Knob, raw: string): unknown {
  switch (knob.kind) {
    case 'int':
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`setting "${knob.key}" needs a number, got "${raw}"`);
      return n;
    }
    case 'bool':
      if (raw !== 'true' && raw !== 'false') throw new Error(`setting "${knob.key}" needs true or false, got "${raw}"`);
      return raw === 'true';
    case 'range': {
      const pair = raw.split(',').map(Number);
      if (pair.length !== 2 || pair.some((v) => !Number.isFinite(v)))
        throw new Error(`setting "${knob.key}" needs 2 comma-separated numbers, got "${raw}"`);
      return pair;
    }
    case 'enum':
    case 'arch':
      // Checked against the options with the rest of the config, so the reason comes with the others.
      return raw;
  }
}

/** A knob's value as text, the inverse of parseKnob. */
export function formatKnob(v: unknown): string {
  return Array.isArray(v) ? v.map((x) => String(x)).join(',') : String(v);
}

/** The value at a dotted key of a config (or of any nested object); undefined where there is none. */
export function valueAt(config: unknown, key: string): unknown {
  let node: unknown = config;
  for (const p of key.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[p];
  }
  return node;
}

/** A copy of a config (or of any nested object) with the value at a dotted key replaced. */
export function withValueAt<T>(config: T, key: string, value: unknown): T {
  const copy = structuredClone(config);
  const path = key.split('.');
  let node = copy as Record<string, unknown>;
  for (const p of path.slice(0, -1)) node = node[p] as Record<string, unknown>;
  node[path[path.length - 1]] = value;
  return copy;
}
