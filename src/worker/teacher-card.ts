/** The teacher card: what the page shows about a loaded teacher, from its inspection and the files it came in. */
import { detectKind, expandZips, type NamedFile } from '../io/files';
import type { LoadedTeacher } from '../io/teacher-load';
import type { TeacherCard, WireFile } from './protocol';

/** Bytes of the weight files among the dropped files (zips unpacked; JSON and text side files left out). */
export function weightBytes(files: NamedFile[]): number {
  try {
    return expandZips(files)
      .filter((f) => detectKind(f) !== 'json' && !/\.(json|txt)$/i.test(f.name))
      .reduce((n, f) => n + f.data.byteLength, 0);
  } catch {
    return 0;
  }
}

export function teacherCard(loaded: LoadedTeacher, files: WireFile[]): TeacherCard {
  const info = loaded.info;
  const pre = info.preprocessing;
  const check = info.gradientCheck;
  return {
    format: info.format,
    inputName: info.inputName,
    inputShape: [...info.inputShape],
    layout: info.layout,
    numClasses: info.numClasses,
    classNames: info.classNames,
    outputKind: info.outputKind,
    logitsFrom: String(info.logitsFrom),
    params: info.params,
    weightBytes: weightBytes(files),
    files: files.map((f) => f.name),
    preprocessing: pre
      ? {
          scale: pre.scale,
          mean: pre.mean,
          std: pre.std,
          channelOrder: pre.channelOrder?.toLowerCase() === 'bgr' ? 'bgr' : pre.channelOrder ? 'rgb' : undefined,
          inputRange: pre.inputRange,
        }
      : undefined,
    preprocessingFrom: info.preprocessingFrom,
    preprocessingGuessed: info.preprocessingGuessed,
    flopsPerImage: info.flopsPerImage,
    gradientCheck: check
      ? { ok: check.ok, maxRelError: check.maxRelError, message: check.message }
      : { ok: true, maxRelError: NaN, message: 'not checked' },
    metadata: info.dataset || info.testAccuracy !== undefined ? { dataset: info.dataset, testAccuracy: info.testAccuracy } : undefined,
  };
}
