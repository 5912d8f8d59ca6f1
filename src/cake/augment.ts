import type { StudentConfig } from './config';
import type { InputLayout } from './losses';
import type { Rng } from './rng';

/**
 * Light augmentation of synthetic samples for the student stage (a lever the method leaves open, spec §2.5 uses
 * none). Every augmented batch is relabelled by the teacher, so the student always learns the teacher's answer for
 * exactly the input it sees: augmentation then only widens where the student is taught, it never invents labels.
 *
 * - shift: move each image by up to `maxShift` pixels in each direction (edges repeat the border).
 * - mixup: blend each sample with another of the batch, x = λ·a + (1 − λ)·b with λ ~ U(0.5, 1) (the nearer sample
 *   keeps the larger weight), which puts training points between the synthetic samples, across the boundaries that
 *   CAKE's groups straddle.
 * - blur: one or two passes of a 3×3 binomial filter, which removes the pixel-scale texture synthesis leaves and
 *   keeps the shapes.
 * - contrast: x = clip(a·(x − mean(x)) + b, lo, hi) with a log-uniform in [1, 4] and b uniform in [lo, hi], which
 *   turns a smooth synthetic texture into bright or dark shapes on a saturated background.
 * - background: keep a random ellipse near the centre and set the rest to the low end of the input range, an
 *   object on a dark background as in digit and garment images (a prior about such data, off unless asked for).
 * - erase (last): set a random rectangle (2-20 % of the image, any aspect) to the low end of the range: gaps, slits
 *   and missing parts (random erasing), which the teacher tells apart and synthetic textures never show.
 */
export interface AugmentOptions {
  maxShift: number;
  /** Share of the batch that is mixed. */
  mixup: number;
  /** Share of the batch given a random contrast and brightness, clipped to `range`. */
  contrast?: number;
  /** Share of the batch smoothed by one or two passes of a 3×3 binomial filter (before any contrast change). */
  blur?: number;
  /** Share of the batch cut to a random ellipse around the centre, the outside set to the range's low end. */
  background?: number;
  /** Share of the batch with one random rectangle set to the range's low end (after background). */
  erase?: number;
  /**
   * How far above the range's low end the background and erase augmentations' level may sit, as a share of the
   * range, drawn per image (0: the low end itself). For teachers whose input range is not known: a background at
   * some level in the lower part of a default range is right more often than one at its very end.
   */
  level?: number;
  range?: readonly [number, number];
}

/** A student config's augmentation settings as augmentBatch options, in `range` (the synthesis clamp range). */
export function studentAugmentOptions(st: StudentConfig, range: readonly [number, number]): AugmentOptions {
  return { maxShift: st.augShift, mixup: st.augMixup, contrast: st.augContrast, blur: st.augBlur, background: st.augBackground, erase: st.augErase, level: st.augLevel, range };
}

export function augmentBatch(
  x: Float32Array,
  n: number,
  inputShape: readonly number[],
  layout: InputLayout,
  opts: AugmentOptions,
  rng: Rng,
  scratch: Float32Array,
): void {
  const d = inputShape.reduce((a, b) => a * b, 1);
  const image = imageDims(inputShape, layout);
  if (opts.maxShift > 0 && image) {
    const [H, W, C] = image;
    for (let k = 0; k < n; k++) {
      const dy = rng.int(2 * opts.maxShift + 1) - opts.maxShift;
      const dx = rng.int(2 * opts.maxShift + 1) - opts.maxShift;
      if (dx === 0 && dy === 0) continue;
      const img = x.subarray(k * d, (k + 1) * d);
      shiftImage(img, scratch.subarray(0, d), H, W, C, dy, dx, layout === 'NCHW');
      img.set(scratch.subarray(0, d));
    }
  }
  if (opts.mixup > 0) {
    for (let k = 0; k < n; k++) {
      if (rng.uniform() >= opts.mixup) continue;
      const other = rng.int(n);
      if (other === k) continue;
      const lambda = 0.5 + 0.5 * rng.uniform();
      const a = k * d;
      const b = other * d;
      for (let i = 0; i < d; i++) x[a + i] = lambda * x[a + i] + (1 - lambda) * x[b + i];
    }
  }
  const [lo, hi] = opts.range ?? [-1, 1];
  // Calls `fn` on each image of the batch picked with probability `share`: one draw per image, in batch order.
  const eachPicked = (share: number | undefined, fn: (img: Float32Array, k: number) => void) => {
    if (!share || share <= 0) return;
    for (let k = 0; k < n; k++) if (rng.uniform() < share) fn(x.subarray(k * d, (k + 1) * d), k);
  };
  if (image) {
    const [H, W, C] = image;
    eachPicked(opts.blur, (img) => {
      const passes = 1 + rng.int(2);
      for (let p = 0; p < passes; p++) {
        binomialBlur(img, scratch.subarray(0, d), H, W, C, layout === 'NCHW');
        img.set(scratch.subarray(0, d));
      }
    });
  }
  eachPicked(opts.contrast, (img) => {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += img[i];
    mean /= d;
    const gain = 4 ** rng.uniform();
    const offset = lo + (hi - lo) * rng.uniform();
    for (let i = 0; i < d; i++) img[i] = Math.min(hi, Math.max(lo, gain * (img[i] - mean) + offset));
  });
  if (!image) return;
  const [H, W, C] = image;
  // The level backgrounds and erased parts take: the range's low end, or per image a level drawn above it (`level`).
  const levels = opts.level && opts.level > 0 && (opts.background || opts.erase) ? Array.from({ length: n }, () => lo + opts.level! * (hi - lo) * rng.uniform()) : null;
  const levelOf = (k: number) => (levels ? levels[k] : lo);
  // Every channel of each pixel outside the kept region goes to that level.
  const keepOnly = (img: Float32Array, level: number, keep: (r: number, c: number) => boolean) => {
    for (let r = 0; r < H; r++)
      for (let c = 0; c < W; c++) {
        if (keep(r, c)) continue;
        for (let ch = 0; ch < C; ch++) img[pixelIndex(layout, H, W, C, r, c, ch)] = level;
      }
  };
  eachPicked(opts.background, (img, k) => keepOnly(img, levelOf(k), backgroundEllipse(H, W, rng)));
  eachPicked(opts.erase, (img, k) => {
    const level = levelOf(k);
    // Area 2-20 % of the image, aspect (h/w) log-uniform in [1/5, 5], anywhere it fits.
    const area = H * W * (0.02 + 0.18 * rng.uniform());
    const aspect = 5 ** (2 * rng.uniform() - 1);
    const h = Math.max(1, Math.min(H, Math.round(Math.sqrt(area * aspect))));
    const w = Math.max(1, Math.min(W, Math.round(Math.sqrt(area / aspect))));
    const top = rng.int(H - h + 1);
    const left = rng.int(W - w + 1);
    for (let r = top; r < top + h; r++)
      for (let c = left; c < left + w; c++)
        for (let ch = 0; ch < C; ch++) img[pixelIndex(layout, H, W, C, r, c, ch)] = level;
  });
}

/**
 * The background augmentation's ellipse, as a test of (row, column): semi-axes 15-50 % of each side (narrow, tall,
 * wide or round shapes), centre within 10 % of the middle.
 */
function backgroundEllipse(H: number, W: number, rng: Rng): (r: number, c: number) => boolean {
  const ry = H * (0.15 + 0.35 * rng.uniform());
  const rx = W * (0.15 + 0.35 * rng.uniform());
  const cy = (H - 1) / 2 + H * 0.1 * (2 * rng.uniform() - 1);
  const cx = (W - 1) / 2 + W * 0.1 * (2 * rng.uniform() - 1);
  return (r, c) => ((r - cy) / ry) ** 2 + ((c - cx) / rx) ** 2 <= 1;
}

/** Offset of pixel (r, c), channel ch, in one image of the given layout. */
function pixelIndex(layout: InputLayout, H: number, W: number, C: number, r: number, c: number, ch: number): number {
  return layout === 'NCHW' ? (ch * H + r) * W + c : (r * W + c) * C + ch;
}

/** Height, width and channels of an image input; null for flat inputs (no spatial augmentation). */
function imageDims(shape: readonly number[], layout: InputLayout): [number, number, number] | null {
  if (layout === 'NHWC') return [shape[0], shape[1], shape[2]];
  if (layout === 'HW') return [shape[0], shape[1], 1];
  if (layout === 'NCHW') return [shape[1], shape[2], shape[0]];
  return null;
}

/**
 * out = img filtered by [1 2 1]ᵀ[1 2 1] / 16 per channel, clamping reads to the border. Separable (rows, then
 * columns) with plain index arithmetic: it runs on every student batch, in JavaScript.
 */
function binomialBlur(img: Float32Array, out: Float32Array, H: number, W: number, C: number, chw: boolean): void {
  // Strides of a pixel's neighbours along a row and down a column, and between channels.
  const [sx, sy, sc] = chw ? [1, W, H * W] : [C, W * C, 1];
  const tmp = blurScratch.length >= img.length ? blurScratch : (blurScratch = new Float32Array(img.length));
  for (let ch = 0; ch < C; ch++) {
    const o = ch * sc;
    for (let r = 0; r < H; r++) {
      const row = o + r * sy;
      for (let c = 0; c < W; c++) {
        const left = img[row + Math.max(0, c - 1) * sx];
        const right = img[row + Math.min(W - 1, c + 1) * sx];
        tmp[row + c * sx] = left + 2 * img[row + c * sx] + right;
      }
    }
    for (let r = 0; r < H; r++) {
      const up = o + Math.max(0, r - 1) * sy;
      const here = o + r * sy;
      const down = o + Math.min(H - 1, r + 1) * sy;
      for (let c = 0; c < W; c++) out[here + c * sx] = (tmp[up + c * sx] + 2 * tmp[here + c * sx] + tmp[down + c * sx]) / 16;
    }
  }
}
let blurScratch = new Float32Array(0);

/** out = img shifted by (dy, dx), clamping reads to the border (replicate padding). */
function shiftImage(img: Float32Array, out: Float32Array, H: number, W: number, C: number, dy: number, dx: number, chw: boolean): void {
  for (let r = 0; r < H; r++) {
    const sr = Math.min(H - 1, Math.max(0, r - dy));
    for (let c = 0; c < W; c++) {
      const sc = Math.min(W - 1, Math.max(0, c - dx));
      if (chw) for (let ch = 0; ch < C; ch++) out[(ch * H + r) * W + c] = img[(ch * H + sr) * W + sc];
      else for (let ch = 0; ch < C; ch++) out[(r * W + c) * C + ch] = img[(sr * W + sc) * C + ch];
    }
  }
}
