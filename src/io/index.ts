// What the worker and the CLI import to read teachers and data and to write students.
export { basename, detectKind, expandZips, foreignFormatMessage, unzipFiles, type FileKind, type NamedFile } from './files';
export { TeacherError, type TeacherErrorCode } from './teacher-error';
export { loadTeacher, type LoadedTeacher } from './teacher-load';
export {
  inputLayout,
  inspectTeacher,
  type GradientCheck,
  type InputLayout,
  type LogitsSource,
  type Preprocessing,
  type TeacherFormat,
  type TeacherInfo,
  type TeacherMetadata,
} from './teacher-info';
export { checkInputGradient, type GradientCheckOptions } from './gradient-check';
export { exportStudent, studentZip, WEIGHTS_FILE, type ExportedModel } from './export';
export {
  IDX_IMAGES,
  IDX_LABELS,
  IdxError,
  idxImagesShape,
  idxImagesToTensorData,
  readIdx,
  readIdxImages,
  readIdxLabels,
  type IdxArray,
  type ImageNormalisation,
} from './idx';
