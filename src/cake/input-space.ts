import * as tf from '@tensorflow/tfjs';
import type { Teacher } from './teacher';

/**
 * Where synthesis moves its samples. The method starts from N(0, I) noise in the teacher's input space, which the
 * paper's teachers take normalised by their data's mean and std, so that noise spans what real images span and its
 * step sizes and loss weights fit. A teacher that takes raw 0-255 pixels (MLPerf's CIFAR ResNet-8) or 0-1 ones sees
 * that noise as a black image; the method's step sizes then barely move it (0-255) or throw it far outside
 * (a 4×-narrow 0-1 range), and the loss runs away (issue #24: 4e7 → 2.5e31 within one set). So synthesis works in a
 * standardised space u where the teacher's declared input range [lo, hi] spans about [-2, 2] (the ±2σ of
 * normalised images), and the teacher sees x = scale·u + offset. A range that already spans 1.5 to 8 units is taken
 * as normalised (MNIST's [-0.42, 2.82], [-1, 1], ImageNet mean/std) and synthesis stays in the teacher's own space,
 * exactly as the method does.
 */
export interface InputMap {
  /** x = scale·u + offset, the same for every channel (the declared range is one range). */
  scale: number;
  offset: number;
}

/** How wide a declared range may be and still count as normalised: [-1, 1] is 2, MNIST's mean/std 3.2, ImageNet's 4.6. */
const NORMALISED_WIDTH = [1.5, 8] as const;

/** The map from synthesis space to the teacher's input for a declared input range; null keeps the teacher's space. */
export function inputMapFor(range: readonly [number, number] | undefined): InputMap | null {
  if (!range) return null;
  const [lo, hi] = range;
  const width = hi - lo;
  if (!(width > 0) || !Number.isFinite(width)) return null;
  if (width >= NORMALISED_WIDTH[0] && width <= NORMALISED_WIDTH[1]) return null;
  return { scale: width / 4, offset: (lo + hi) / 2 };
}

/**
 * The name of the fixed Rescaling a student of such a teacher starts with: x / scale, without the offset, so the
 * student's first layer works at the scale of normalised inputs and zero padding means what it means to the teacher.
 * A student that starts from the teacher's channels has that layer's weights multiplied by `scale` (inherit.ts).
 */
export const INPUT_SCALE_LAYER = 'cake_input_scale';

/** Synthesis-space values to the teacher's input, in place. */
export function toTeacherSpace(u: Float32Array, map: InputMap | null): Float32Array {
  if (map) for (let i = 0; i < u.length; i++) u[i] = map.scale * u[i] + map.offset;
  return u;
}

/** A range in the teacher's input space as a range in synthesis space (for clamping there). */
export function rangeInSynthesisSpace(range: readonly [number, number], map: InputMap | null): [number, number] {
  return map ? [(range[0] - map.offset) / map.scale, (range[1] - map.offset) / map.scale] : [range[0], range[1]];
}

/** The teacher as seen from synthesis space: logits(u) = teacher.logits(scale·u + offset). */
export function teacherInSynthesisSpace(teacher: Teacher, map: InputMap | null): Teacher {
  if (!map) return teacher;
  return {
    inputShape: teacher.inputShape,
    numClasses: teacher.numClasses,
    layout: teacher.layout,
    logits: (u) => tf.tidy(() => teacher.logits(tf.add(tf.mul(u, map.scale), map.offset))),
  };
}
