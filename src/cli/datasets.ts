import path from 'node:path';
import type { NamedFile } from '../io/files';
import { idxImagesShape, idxImagesToTensorData, readIdxImages, readIdxLabels, type ImageNormalisation } from '../io/idx';
import { prepareLabelled } from '../io/labelled-data';
import type { Preprocessing } from '../io/teacher-info';
import { UsageError, type Args } from './args';
import { readBytes } from './node-files';

/** The paper's preprocessing for its 32×32 LeNet-5 runs (spec §5): zero-pad 28 → 32, scale to [0, 1], normalise. */
export const DATASETS = {
  mnist: {
    mean: 0.1307,
    std: 0.3081,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  },
  'fashion-mnist': {
    mean: 0.5,
    std: 0.5,
    classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
  },
  /** No normalisation of its own: colour teachers declare theirs, or the flags give it. */
  cifar10: {
    mean: 0,
    std: 1,
    classNames: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
  },
} as const;
export type DatasetName = keyof typeof DATASETS;

export interface LoadedImages {
  x: Float32Array;
  labels: Uint8Array;
  shape: [number, number, number];
  background: number;
}

/** Reads an IDX image file and its labels, preprocessed into [n, H, W, 1] floats. */
export async function loadIdxPair(imagesPath: string, labelsPath: string, norm: ImageNormalisation): Promise<LoadedImages> {
  const images = readIdxImages(await readBytes(imagesPath), path.basename(imagesPath));
  const labels = readIdxLabels(await readBytes(labelsPath), path.basename(labelsPath));
  if (labels.dims[0] !== images.dims[0])
    throw new Error(`${path.basename(imagesPath)} holds ${images.dims[0]} images but ${path.basename(labelsPath)} holds ${labels.dims[0]} labels`);
  const [, H, W, C] = idxImagesShape(images, norm.pad ?? 0);
  const mean = Array.isArray(norm.mean) ? norm.mean[0] : (norm.mean ?? 0);
  const std = Array.isArray(norm.std) ? norm.std[0] : (norm.std ?? 1);
  return {
    x: idxImagesToTensorData(images, norm),
    labels: labels.data,
    shape: [H, W, C],
    background: (0 - mean) / std,
  };
}

/** The standard file names inside a data folder (gzip or not). */
export async function findIdx(dir: string, split: 'train' | 't10k'): Promise<{ images: string; labels: string }> {
  const { readdir } = await import('node:fs/promises');
  const names = await readdir(dir).catch(() => {
    throw new Error(`no such data folder: ${dir}`);
  });
  const pick = (kind: 'images' | 'labels') => {
    const hit = names.find((n) => n.startsWith(`${split}-${kind}-idx`));
    if (!hit) throw new Error(`${dir} has no ${split}-${kind}-idx… file (expected the standard MNIST file names)`);
    return path.join(dir, hit);
  };
  return { images: pick('images'), labels: pick('labels') };
}

/** A number or a fraction ("1/255"), for preprocessing flags. */
function parseNumber(text: string, flag: string): number {
  const m = /^\s*(-?[\d.]+(?:e-?\d+)?)\s*(?:\/\s*([\d.]+(?:e-?\d+)?))?\s*$/i.exec(text);
  const n = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
  if (!Number.isFinite(n)) throw new UsageError(`--${flag} needs a number (or a fraction such as 1/255), got "${text}"`);
  return n;
}

/** One number, or one per channel ("0.485,0.456,0.406"). */
function parseNumbers(text: string, flag: string): number | number[] {
  const parts = text.split(',').map((p) => parseNumber(p, flag));
  return parts.length === 1 ? parts[0] : parts;
}

/** --pad, --scale, --mean and --std as a preprocessing override (only the flags given). */
export function preprocessingFlags(args: Args): Partial<Pick<Preprocessing, 'pad' | 'scale' | 'mean' | 'std'>> {
  const out: Partial<Pick<Preprocessing, 'pad' | 'scale' | 'mean' | 'std'>> = {};
  const get = (k: string) => args.values.get(k);
  if (get('pad') !== undefined) out.pad = parseNumber(get('pad')!, 'pad');
  if (get('scale') !== undefined) out.scale = parseNumber(get('scale')!, 'scale');
  if (get('mean') !== undefined) out.mean = parseNumbers(get('mean')!, 'mean');
  if (get('std') !== undefined) out.std = parseNumbers(get('std')!, 'std');
  return out;
}

/** Every file under `dir`, named by its path from the folder that holds `dir` ("cifar/cat/1.png"). */
async function readTree(dir: string): Promise<NamedFile[]> {
  const { readdir } = await import('node:fs/promises');
  const root = path.dirname(path.resolve(dir));
  const out: NamedFile[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (entry.isFile() && !entry.name.startsWith('.')) out.push({ name: path.relative(root, p).split(path.sep).join('/'), data: await readBytes(p) });
    }
  };
  await walk(path.resolve(dir));
  return out;
}

/** CIFAR-10's test batch: the file itself, or test_batch.bin[.gz] inside the folder named. */
export async function cifarTestFile(where: string): Promise<string> {
  const { readdir, stat } = await import('node:fs/promises');
  if ((await stat(where).catch(() => null))?.isFile()) return where;
  const names = await readdir(where).catch(() => {
    throw new Error(`no such data file or folder: ${where}`);
  });
  const hit = names.find((n) => /^test_batch\.bin(\.gz)?$/.test(n));
  if (!hit) throw new Error(`${where} has no test_batch.bin or test_batch.bin.gz (the CIFAR-10 binary test batch)`);
  return path.join(where, hit);
}

/**
 * The labelled data `--data` (a CIFAR binary file, a folder of images per class, or a folder with IDX files) or
 * `--images` with `--labels` name, preprocessed for the model described by `info`.
 */
export async function labelledData(
  source: { data?: string; images?: string; labels?: string },
  info: { inputShape: number[]; layout: string; numClasses: number; classNames?: string[]; preprocessing?: Preprocessing },
): Promise<{ x: Float32Array; labels: Int32Array; source: string; pad: number }> {
  const { data, images, labels } = source;
  let files: NamedFile[];
  if (data !== undefined) {
    const { stat } = await import('node:fs/promises');
    const s = await stat(data).catch(() => null);
    if (!s) throw new UsageError(`no such file or folder: ${data}`);
    if (s.isDirectory()) files = await readTree(data);
    else {
      files = [{ name: path.basename(data), data: await readBytes(data) }];
      // CIFAR's class names sit beside its batches.
      const meta = path.join(path.dirname(data), 'batches.meta.txt');
      if (await stat(meta).then((m) => m.isFile(), () => false)) files.push({ name: 'batches.meta.txt', data: await readBytes(meta) });
    }
  } else if (images !== undefined && labels !== undefined) {
    files = [
      { name: path.basename(images), data: await readBytes(images) },
      { name: path.basename(labels), data: await readBytes(labels) },
    ];
  } else throw new UsageError('name the labelled data: --data <file or folder>, or --images with --labels');
  const prepared = await prepareLabelled(files, info);
  return { x: prepared.x, labels: prepared.labels, source: prepared.source, pad: prepared.pad };
}
