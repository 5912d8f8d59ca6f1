import path from 'node:path';
import { idxImagesShape, idxImagesToTensorData, readIdxImages, readIdxLabels, type ImageNormalisation } from '../io/idx';
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
