import * as tf from '@tensorflow/tfjs';
import { backgroundEllipse, imageDims } from './augment';
import type { SynthesisConfig } from './config';
import { spatialAxes, type InputLayout } from './losses';
import type { Rng } from './rng';

/**
 * What the teacher sees of the synthetic batch at one synthesis step. The method shows it the inputs themselves;
 * two levers show it transformed copies, so the samples must keep their class under the transformation (the
 * gradient flows back through it to the inputs):
 *
 * - jitter: the whole batch shifted cyclically by up to `jitter` pixels, one random shift per step (DeepInversion).
 * - augViews: a share of the samples seen with a random contrast and brightness clipped to the input range, half of
 *   them also cut to a central ellipse on the range's low end: the student stage's contrast and background
 *   augmentations, so that samples keep their class when the student sees them so.
 *
 * The total-variation prior stays on the inputs themselves.
 */
export interface View {
  dy: number;
  dx: number;
  /** The augmented views, when at least one sample of this step gets one. */
  augmented: AugmentedViews | null;
}

interface AugmentedViews {
  /** Per sample: 1 when seen through contrast (and maybe the ellipse), else 0. */
  picked: Float32Array;
  gain: Float32Array;
  offset: Float32Array;
  /** [B, H, W] of 1 (kept) and 0 (set to the low end); all 1 for samples without an ellipse. */
  mask: Float32Array;
}

/** Draws one step's view (all random numbers from `rng`, in a fixed order); null when the step shows the inputs. */
export function drawView(cfg: SynthesisConfig, batch: number, inputShape: readonly number[], layout: InputLayout, rng: Rng): View | null {
  const image = imageDims(inputShape, layout);
  if (!image || (cfg.jitter <= 0 && cfg.augViews <= 0)) return null;
  const shift = () => (cfg.jitter > 0 ? rng.int(2 * cfg.jitter + 1) - cfg.jitter : 0);
  const dy = shift();
  const dx = shift();
  return { dy, dx, augmented: cfg.augViews > 0 ? drawAugmented(cfg, batch, image, rng) : null };
}

function drawAugmented(cfg: SynthesisConfig, batch: number, [H, W]: readonly number[], rng: Rng): AugmentedViews | null {
  const [lo, hi] = cfg.clampRange;
  const picked = new Float32Array(batch);
  const gain = new Float32Array(batch).fill(1);
  const offset = new Float32Array(batch);
  const mask = new Float32Array(batch * H * W).fill(1);
  let any = false;
  for (let b = 0; b < batch; b++) {
    if (rng.uniform() >= cfg.augViews) continue;
    any = true;
    picked[b] = 1;
    gain[b] = 4 ** rng.uniform();
    offset[b] = lo + (hi - lo) * rng.uniform();
    if (rng.uniform() >= 0.5) continue;
    const inside = backgroundEllipse(H, W, rng);
    for (let r = 0; r < H; r++) for (let c = 0; c < W; c++) if (!inside(r, c)) mask[(b * H + r) * W + c] = 0;
  }
  return any ? { picked, gain, offset, mask } : null;
}

/** The inputs as the view shows them (differentiable in x). */
export function applyView(x: tf.Tensor, view: View | null, layout: InputLayout, range: readonly [number, number]): tf.Tensor {
  const axes = spatialAxes(x.rank, layout);
  if (!view || !axes) return x;
  const shifted = view.dy || view.dx ? rollImages(x, view.dy, view.dx, layout) : x;
  const a = view.augmented;
  if (!a) return shifted;
  const [hAxis, wAxis] = axes;
  const B = x.shape[0];
  // Per-sample numbers broadcast over the image; the mask broadcast over channels.
  const perSample = (v: Float32Array) => tf.tensor(v, [B, ...x.shape.slice(1).map(() => 1)]);
  const maskShape = x.shape.map((d, i) => (i === 0 || i === hAxis || i === wAxis ? d : 1));
  const [lo, hi] = range;
  const mean = tf.mean(shifted, x.shape.slice(1).map((_, i) => i + 1), true);
  const contrasted = tf.clipByValue(tf.add(tf.mul(tf.sub(shifted, mean), perSample(a.gain)), perSample(a.offset)), lo, hi);
  const mask = tf.tensor(a.mask, maskShape);
  const seen = tf.add(tf.mul(contrasted, mask), tf.mul(tf.sub(1, mask), lo));
  const pick = perSample(a.picked);
  return tf.add(tf.mul(seen, pick), tf.mul(shifted, tf.sub(1, pick)));
}

/** The batch of images shifted cyclically by (dy, dx) pixels (differentiable: slices and concatenations). */
export function rollImages(x: tf.Tensor, dy: number, dx: number, layout: InputLayout): tf.Tensor {
  const axes = spatialAxes(x.rank, layout);
  if (!axes) return x;
  const roll = (t: tf.Tensor, shift: number, axis: number) => {
    const n = t.shape[axis];
    const k = ((shift % n) + n) % n;
    if (k === 0) return t;
    const [head, tail] = tf.split(t, [n - k, k], axis);
    return tf.concat([tail, head], axis);
  };
  return roll(roll(x, dy, axes[0]), dx, axes[1]);
}
