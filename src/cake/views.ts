import * as tf from '@tensorflow/tfjs';
import { backgroundEllipse } from './augment';
import type { SynthesisConfig } from './config';
import type { InputLayout } from './losses';
import type { Rng } from './rng';

/**
 * What the teacher sees of the synthetic batch at one synthesis step. The method shows it the inputs themselves;
 * two levers show it transformed copies, so the samples must keep their class under the transformation (the
 * gradient flows back through it to the inputs):
 *
 * - jitter: the whole batch shifted cyclically by up to `jitter` pixels, one random shift per step (DeepInversion).
 * - augViews: a share of the samples seen with a random contrast and brightness clipped to the input range, half of
 *   them also cut to a central ellipse on the range's low end: the student stage's contrast and background
 *   augmentations. The student is taught on such views, relabelled by the teacher; samples made to hold their class
 *   under them keep the class balance CAKE's targets give when the student sees them so.
 *
 * The total-variation prior stays on the inputs themselves.
 */
export interface View {
  dy: number;
  dx: number;
  /** Per sample: 1 when seen through contrast (and maybe the ellipse), else 0; null when no sample is. */
  picked: Float32Array | null;
  gain: Float32Array;
  offset: Float32Array;
  /** [B, H, W] of 1 (kept) and 0 (set to the low end) for the picked samples; 1 elsewhere. */
  mask: Float32Array;
}

/** Draws one step's view (all random numbers from `rng`, in a fixed order); null when the step shows the inputs. */
export function drawView(cfg: SynthesisConfig, batch: number, image: [number, number] | null, rng: Rng): View | null {
  if (!image || (cfg.jitter <= 0 && cfg.augViews <= 0)) return null;
  const [H, W] = image;
  const shift = () => (cfg.jitter > 0 ? rng.int(2 * cfg.jitter + 1) - cfg.jitter : 0);
  const dy = shift();
  const dx = shift();
  const [lo, hi] = cfg.clampRange;
  const picked = new Float32Array(batch);
  const gain = new Float32Array(batch).fill(1);
  const offset = new Float32Array(batch);
  const mask = new Float32Array(batch * H * W).fill(1);
  let any = false;
  if (cfg.augViews > 0)
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
  return { dy, dx, picked: any ? picked : null, gain, offset, mask };
}

/** The inputs as the view shows them (differentiable in x). */
export function applyView(x: tf.Tensor, view: View | null, layout: InputLayout, range: readonly [number, number]): tf.Tensor {
  if (!view || layout === 'flat') return x;
  let y = view.dy || view.dx ? rollImages(x, view.dy, view.dx, layout) : x;
  if (!view.picked) return y;
  const B = x.shape[0];
  const [hAxis, wAxis] = layout === 'NCHW' ? [2, 3] : [1, 2];
  const [H, W] = [x.shape[hAxis]!, x.shape[wAxis]!];
  // Per-sample numbers broadcast over the image: [B, 1, 1] for HW inputs, [B, 1, 1, 1] otherwise.
  const perSample = (v: Float32Array) => tf.tensor(v, [B, ...x.shape.slice(1).map(() => 1)]);
  const maskShape = layout === 'HW' ? [B, H, W] : layout === 'NCHW' ? [B, 1, H, W] : [B, H, W, 1];
  const [lo, hi] = range;
  const spatial = x.shape.slice(1).map((_, i) => i + 1);
  const mean = tf.mean(y, spatial, true);
  const contrasted = tf.clipByValue(tf.add(tf.mul(tf.sub(y, mean), perSample(view.gain)), perSample(view.offset)), lo, hi);
  const mask = tf.tensor(view.mask, maskShape);
  const seen = tf.add(tf.mul(contrasted, mask), tf.mul(tf.sub(1, mask), lo));
  const pick = perSample(view.picked);
  y = tf.add(tf.mul(seen, pick), tf.mul(y, tf.sub(1, pick)));
  return y;
}

/** The batch of images shifted cyclically by (dy, dx) pixels (differentiable: slices and concatenations). */
export function rollImages(x: tf.Tensor, dy: number, dx: number, layout: InputLayout): tf.Tensor {
  if (layout === 'flat') return x;
  // Batched axes of height and width.
  const [hAxis, wAxis] = layout === 'NCHW' ? [2, 3] : [1, 2];
  const roll = (t: tf.Tensor, shift: number, axis: number) => {
    const n = t.shape[axis];
    const k = ((shift % n) + n) % n;
    if (k === 0) return t;
    const [head, tail] = tf.split(t, [n - k, k], axis);
    return tf.concat([tail, head], axis);
  };
  return roll(roll(x, dy, hAxis), dx, wAxis);
}
