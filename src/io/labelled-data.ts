/**
 * Labelled data for measuring accuracy: IDX image/label pairs (MNIST and kin), CIFAR binary files, and folders of
 * images per class, turned into the teacher's input with its preprocessing, in its layout (NHWC or NCHW). The
 * studio's evaluation panel (src/worker/evaluate.ts), `cake eval` and the accuracy benchmarks all read data here;
 * CAKE itself never does.
 */
import { readCifar, looksLikeCifarName } from './cifar';
import type { NamedFile } from './files';
import { readIdx, type IdxArray } from './idx';
import { decodePng, resizeRgba } from './png';

export class EvaluationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvaluationError';
  }
}

/** Where the teacher's input puts height, width and channels. */
export interface InputGeometry {
  layout: 'NHWC' | 'HW' | 'NCHW' | 'flat';
  height: number;
  width: number;
  channels: number;
}

/** The teacher's declared preprocessing (metadata.json and friends), as far as it is declared. */
export interface EvalPreprocessing {
  pad?: number;
  scale?: number;
  mean?: number | number[];
  std?: number | number[];
  channelOrder?: string;
}

/** Labelled pixels: [count, height, width, channels] bytes, channels 1 (grey) or 3 (RGB). */
export interface LabelledPixels {
  count: number;
  height: number;
  width: number;
  channels: 1 | 3;
  pixels: Uint8Array;
  labels: Int32Array;
  /** What was read, in words ("t10k-images-idx3-ubyte.gz + t10k-labels-idx1-ubyte.gz", "digits/ (3 classes)"). */
  source: string;
}

export function inputGeometry(inputShape: readonly number[], layout: string): InputGeometry {
  const s = inputShape;
  if (layout === 'NHWC' && s.length === 3) return { layout, height: s[0], width: s[1], channels: s[2] };
  if (layout === 'NCHW' && s.length === 3) return { layout, height: s[1], width: s[2], channels: s[0] };
  if (layout === 'HW' && s.length === 2) return { layout, height: s[0], width: s[1], channels: 1 };
  if (layout === 'flat' && s.length === 1) {
    const side = Math.round(Math.sqrt(s[0]));
    if (side * side === s[0]) return { layout, height: side, width: side, channels: 1 };
    throw new EvaluationError(`the teacher takes ${s[0]} flat features, which is not a square grey image; labelled evaluation needs an image input`);
  }
  throw new EvaluationError(`the teacher's input [${s.join(' × ')}] is not an image input labelled evaluation can fill`);
}

/**
 * The zero padding that makes h×w images fit the teacher's H×W input: the declared pad when it fits, none when the
 * sizes already match, else half the difference when both sides grow equally. Throws a specific message otherwise.
 */
export function fitPadding(h: number, w: number, geometry: InputGeometry, declaredPad?: number): number {
  const { height: H, width: W } = geometry;
  if (declaredPad !== undefined && declaredPad > 0 && h + 2 * declaredPad === H && w + 2 * declaredPad === W) return declaredPad;
  if (h === H && w === W) return 0;
  const dh = H - h;
  const dw = W - w;
  if (dh === dw && dh > 0 && dh % 2 === 0) return dh / 2;
  const declared = declaredPad ? ` (its declared padding of ${declaredPad} would make them ${h + 2 * declaredPad}×${w + 2 * declaredPad})` : '';
  throw new EvaluationError(
    h > H || w > W
      ? `the images are ${h}×${w}, larger than the teacher's ${H}×${W} input${declared}; they cannot be fitted without cropping`
      : `the images are ${h}×${w} and cannot be fitted to the teacher's ${H}×${W} input by equal zero padding on every side${declared}`,
  );
}

function perChannel(v: number | number[] | undefined, c: number, fallback: number): number {
  if (Array.isArray(v)) return v[c] ?? v[0] ?? fallback;
  return v ?? fallback;
}

/**
 * Labelled pixels as the teacher's input, in its layout: each image zero-padded by `pad` on every side, converted
 * to the teacher's channels (grey replicated, RGB to luma; BGR when declared), then x = (v·scale − mean) / std per
 * channel (scale 1/255, mean 0, std 1 when not declared), so the padding normalises like a black pixel.
 */
export function toModelInput(data: LabelledPixels, geometry: InputGeometry, pre: EvalPreprocessing, pad: number): Float32Array {
  const { count: n, height: h, width: w, channels: c, pixels } = data;
  const { height: H, width: W, channels: C, layout } = geometry;
  if (h + 2 * pad !== H || w + 2 * pad !== W) throw new EvaluationError(`padding ${pad} does not turn ${h}×${w} into ${H}×${W}`);
  const scale = pre.scale ?? 1 / 255;
  const bgr = C === 3 && pre.channelOrder?.toLowerCase() === 'bgr';
  const tables: Float32Array[] = [];
  for (let k = 0; k < C; k++) {
    const mean = perChannel(pre.mean, k, 0);
    const std = perChannel(pre.std, k, 1);
    if (!(std !== 0 && Number.isFinite(std))) throw new EvaluationError(`the teacher's declared std must be a non-zero number, got ${std}`);
    tables.push(Float32Array.from({ length: 256 }, (_, v) => (v * scale - mean) / std));
  }
  const out = new Float32Array(n * H * W * C);
  const chw = layout === 'NCHW';
  const at = (i: number, y: number, x: number, k: number) => (chw ? ((i * C + k) * H + y) * W + x : ((i * H + y) * W + x) * C + k);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const sy = y - pad;
        const sx = x - pad;
        const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        const src = ((i * h + sy) * w + sx) * c;
        for (let k = 0; k < C; k++) {
          let v = 0;
          if (inside) {
            if (c === 1) v = pixels[src];
            else if (C === 1) v = Math.round(0.299 * pixels[src] + 0.587 * pixels[src + 1] + 0.114 * pixels[src + 2]);
            else v = pixels[src + (bgr ? 2 - k : k)];
          }
          out[at(i, y, x, k)] = tables[k][v];
        }
      }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the dropped files

const IMAGE_EXT = /\.(png|jpe?g|webp|bmp|gif)$/i;
const base = (p: string) => p.split('/').pop() ?? p;

/** Which of the dropped files are IDX images and labels; by name first (MNIST names), then by rank. */
export function readIdxPair(files: readonly NamedFile[], numClasses: number): LabelledPixels {
  const parsed = files.map((f) => ({ name: base(f.name), arr: readIdx(f.data, base(f.name)) }));
  const kind = (p: { name: string; arr: IdxArray }) => {
    const n = p.name.toLowerCase();
    if (/images|idx3/.test(n)) return 'images';
    if (/labels|idx1/.test(n)) return 'labels';
    return p.arr.dims.length === 3 ? 'images' : p.arr.dims.length === 1 ? 'labels' : 'other';
  };
  let images = parsed.filter((p) => kind(p) === 'images');
  let labels = parsed.filter((p) => kind(p) === 'labels');
  // Both the training and the test files: evaluate on the test files.
  if (images.length > 1 || labels.length > 1) {
    const test = (p: { name: string }) => /t10k|test/i.test(p.name);
    if (images.some(test)) images = images.filter(test);
    if (labels.some(test)) labels = labels.filter(test);
  }
  if (images.length !== 1 || labels.length !== 1)
    throw new EvaluationError(
      `drop one IDX images file and one IDX labels file (got ${images.length} images file${images.length === 1 ? '' : 's'} and ${labels.length} labels file${labels.length === 1 ? '' : 's'}: ${parsed.map((p) => p.name).join(', ')})`,
    );
  const im = images[0];
  const lb = labels[0];
  if (im.arr.dims.length !== 3)
    throw new EvaluationError(`${im.name} has magic ${0x800 + im.arr.dims.length} (${im.arr.dims.length} dimensions); IDX images have magic 2051: [count, rows, columns]`);
  if (lb.arr.dims.length !== 1)
    throw new EvaluationError(`${lb.name} has magic ${0x800 + lb.arr.dims.length} (${lb.arr.dims.length} dimensions); IDX labels have magic 2049: [count]`);
  const [count, height, width] = im.arr.dims;
  if (lb.arr.dims[0] !== count) throw new EvaluationError(`${im.name} holds ${count} images but ${lb.name} holds ${lb.arr.dims[0]} labels; they must match`);
  if (count === 0) throw new EvaluationError(`${im.name} holds no images`);
  const labelsOut = Int32Array.from(lb.arr.data);
  const bad = labelsOut.findIndex((l) => l >= numClasses);
  if (bad >= 0) throw new EvaluationError(`${lb.name}: label ${labelsOut[bad]} (image ${bad}) is outside the teacher's ${numClasses} classes`);
  return { count, height, width, channels: 1, pixels: im.arr.data, labels: labelsOut, source: `${im.name} + ${lb.name}` };
}

/** The class index a folder name stands for: a class name of the teacher, else a class index. */
export function classOfFolder(folder: string, numClasses: number, classNames?: string[]): number {
  const byName = classNames?.findIndex((c) => c.trim().toLowerCase() === folder.trim().toLowerCase()) ?? -1;
  if (byName >= 0) return byName;
  if (/^\d+$/.test(folder)) {
    const i = Number(folder);
    if (i < numClasses) return i;
    throw new EvaluationError(`the folder "${folder}" names class ${i}, but the teacher has ${numClasses} classes (0–${numClasses - 1})`);
  }
  throw new EvaluationError(
    `the folder "${folder}" is neither one of the teacher's class names${classNames?.length ? ` (${classNames.slice(0, 5).join(', ')}${classNames.length > 5 ? ', …' : ''})` : ''} nor a class index`,
  );
}

/** Decodes one image file to width×height RGBA bytes (in the worker: createImageBitmap + OffscreenCanvas; else pngDecoder). */
export type ImageDecoder = (data: ArrayBuffer, name: string, width: number, height: number) => Promise<Uint8ClampedArray>;

/**
 * Decodes PNG images without a browser (the CLI, tests): png.ts, then resized to width×height. Other formats are
 * refused by name: no JPEG, WebP, BMP or GIF decoder ships with CAKE Studio outside the browser.
 */
export const pngDecoder: ImageDecoder = async (data, name, width, height) => {
  const bytes = new Uint8Array(data);
  if (bytes[0] !== 0x89 || bytes[1] !== 0x50)
    throw new EvaluationError(`${name} is not a PNG image; outside the browser only PNG images can be read (convert the folder to PNG, or evaluate in the studio, which decodes JPEG, WebP, BMP and GIF too)`);
  try {
    return new Uint8ClampedArray(resizeRgba(decodePng(bytes, name), width, height));
  } catch (e) {
    throw new EvaluationError((e as Error).message);
  }
};

/** A folder of images per class (…/<class>/<image>.png), decoded and resized to the teacher's input less its padding. */
export async function readImageFolder(
  files: readonly NamedFile[],
  geometry: InputGeometry,
  pre: EvalPreprocessing,
  numClasses: number,
  classNames: string[] | undefined,
  decode: ImageDecoder = pngDecoder,
): Promise<{ data: LabelledPixels; pad: number }> {
  const images = files.filter((f) => IMAGE_EXT.test(f.name));
  if (images.length === 0) throw new EvaluationError('no images were found (PNG, JPEG, WebP, BMP or GIF)');
  const missing = images.find((f) => !f.name.includes('/'));
  if (missing)
    throw new EvaluationError(`${missing.name} is not inside a class folder; drop a folder holding one sub-folder per class (named by class name or index)`);
  const declared = pre.pad ?? 0;
  const pad = declared > 0 && geometry.height - 2 * declared > 0 && geometry.width - 2 * declared > 0 ? declared : 0;
  const height = geometry.height - 2 * pad;
  const width = geometry.width - 2 * pad;
  const channels: 1 | 3 = geometry.channels === 1 ? 1 : 3;
  const pixels = new Uint8Array(images.length * height * width * channels);
  const labels = new Int32Array(images.length);
  const classes = new Set<number>();
  for (let i = 0; i < images.length; i++) {
    const parts = images[i].name.split('/');
    labels[i] = classOfFolder(parts[parts.length - 2], numClasses, classNames);
    classes.add(labels[i]);
    const rgba = await decode(images[i].data, images[i].name, width, height);
    const off = i * height * width * channels;
    for (let p = 0; p < height * width; p++) {
      if (channels === 1) pixels[off + p] = Math.round(0.299 * rgba[4 * p] + 0.587 * rgba[4 * p + 1] + 0.114 * rgba[4 * p + 2]);
      else for (let k = 0; k < 3; k++) pixels[off + 3 * p + k] = rgba[4 * p + k];
    }
  }
  const root = images[0].name.split('/').length > 2 ? `${images[0].name.split('/')[0]}/` : 'the folder';
  return {
    data: { count: images.length, height, width, channels, pixels, labels, source: `${root} (${images.length} images, ${classes.size} classes)` },
    pad,
  };
}


/** The class names a CIFAR batches.meta.txt (one per line) lists, when it is among the files. */
function cifarClassNames(files: readonly NamedFile[]): string[] | undefined {
  const meta = files.find((f) => /batches\.meta\.txt$/i.test(f.name));
  if (!meta) return undefined;
  return new TextDecoder().decode(meta.data).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}

/**
 * A CIFAR binary file among the files: the test batch when training batches are there too. The labels must fit the
 * teacher's classes; a CIFAR-100 file against a 20-class teacher uses the coarse labels.
 */
export function readCifarFile(files: readonly NamedFile[], numClasses: number): LabelledPixels {
  let bins = files.filter((f) => looksLikeCifarName(f.name));
  if (bins.length > 1 && bins.some((f) => /test/i.test(base(f.name)))) bins = bins.filter((f) => /test/i.test(base(f.name)));
  if (bins.length !== 1)
    throw new EvaluationError(`drop one CIFAR binary file (got ${bins.length}: ${bins.map((f) => base(f.name)).join(', ')})`);
  const file = bins[0];
  const name = base(file.name);
  let c;
  try {
    c = readCifar(file.data, name, numClasses === 20);
  } catch (e) {
    throw new EvaluationError((e as Error).message);
  }
  const bad = c.labels.findIndex((l) => l >= numClasses);
  if (bad >= 0) throw new EvaluationError(`${name}: label ${c.labels[bad]} (image ${bad}) is outside the teacher's ${numClasses} classes`);
  const names = cifarClassNames(files);
  const known = names && names.length === numClasses ? `; ${names.slice(0, 3).join(', ')}, …` : '';
  const kind = c.kind === 'cifar-10' ? 'CIFAR-10' : 'CIFAR-100';
  return { count: c.count, height: 32, width: 32, channels: 3, pixels: c.pixels, labels: c.labels, source: `${name} (${kind}${known})` };
}

/** Whether files hold IDX data: each starts with the IDX magic (0, 0, type, rank), gzip or not by name. */
const isIdx = (f: NamedFile) => /idx\d|ubyte/i.test(f.name) || (() => {
  const b = new Uint8Array(f.data, 0, Math.min(4, f.data.byteLength));
  return b.length === 4 && b[0] === 0 && b[1] === 0 && b[2] === 0x08;
})();

/** Read the dropped files into labelled model inputs for this teacher. */
export async function prepareLabelled(
  files: readonly NamedFile[],
  info: { inputShape: number[]; layout: string; numClasses: number; classNames?: string[]; preprocessing?: EvalPreprocessing },
  decode: ImageDecoder = pngDecoder,
): Promise<{ x: Float32Array; labels: Int32Array; source: string; imageSize: [number, number]; pad: number }> {
  if (files.length === 0) throw new EvaluationError('no files were given');
  const geometry = inputGeometry(info.inputShape, info.layout);
  const pre = info.preprocessing ?? {};
  const hasImages = files.some((f) => IMAGE_EXT.test(f.name));
  let data: LabelledPixels;
  let pad: number;
  if (hasImages) {
    ({ data, pad } = await readImageFolder(files, geometry, pre, info.numClasses, info.classNames, decode));
  } else if (files.some((f) => looksLikeCifarName(f.name)) && !files.some(isIdx)) {
    data = readCifarFile(files, info.numClasses);
    pad = fitPadding(data.height, data.width, geometry, pre.pad);
  } else {
    const idx = files.filter((f) => !/(^|\/)\.|\.(txt|json|md)$/i.test(f.name));
    data = readIdxPair(idx, info.numClasses);
    pad = fitPadding(data.height, data.width, geometry, pre.pad);
  }
  const x = toModelInput(data, geometry, pre, pad);
  return { x, labels: data.labels, source: data.source, imageSize: [data.height, data.width], pad };
}

