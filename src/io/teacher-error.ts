/**
 * Why a teacher could not be loaded, as one sentence a user can act on. `code` lets the UI and the CLI branch
 * (e.g. offer "drop the .bin too" for 'missing-weights') without matching on text.
 */
export type TeacherErrorCode =
  | 'no-files'
  | 'empty-file'
  | 'not-json'
  | 'not-a-model'
  | 'no-model'
  | 'many-models'
  | 'foreign-format'
  | 'graph-model'
  | 'bad-hdf5'
  | 'bad-keras'
  | 'bad-onnx'
  | 'unsupported-op'
  | 'no-gradient'
  | 'bad-zip'
  | 'bad-manifest'
  | 'missing-weights'
  | 'weights-size'
  | 'non-finite-weights'
  | 'build-failed'
  | 'inputs'
  | 'input-shape'
  | 'outputs'
  | 'output-shape'
  | 'classes';

export class TeacherError extends Error {
  readonly code: TeacherErrorCode;

  constructor(code: TeacherErrorCode, message: string) {
    super(message);
    this.name = 'TeacherError';
    this.code = code;
  }
}
