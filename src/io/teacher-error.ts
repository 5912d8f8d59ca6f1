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
  /** The file declares more than it holds, or more than a teacher may hold (src/io/limits.ts). */
  | 'too-large'
  | 'non-finite-weights'
  | 'build-failed'
  | 'inputs'
  | 'input-shape'
  | 'outputs'
  | 'output-shape'
  | 'classes';

export class TeacherError extends Error {
  readonly code: TeacherErrorCode;
  /**
   * The reader failed inside a library that may be left in a bad state (the HDF5 library, C in WebAssembly, can
   * write past a buffer when a damaged file misleads it): whoever holds the reader should start a fresh one (the
   * studio its worker, the CLI its load thread) before the next file.
   */
  readonly restartReader: boolean;

  constructor(code: TeacherErrorCode, message: string, options: { restartReader?: boolean } = {}) {
    // One line whatever a damaged file puts in the names it quotes: control characters are shown escaped.
    super(message.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1)));
    this.name = 'TeacherError';
    this.code = code;
    this.restartReader = options.restartReader ?? false;
  }
}

/**
 * Whether `e` is a failure inside tfjs' kernels or a WebAssembly module rather than one of their checks: a trap or
 * an abort of the WebAssembly code (`abort`: the module may be left damaged), or a JavaScript TypeError or
 * RangeError from a size or field nobody checked. Damaged files end there; the message should say so, not quote it.
 */
export function internalFailure(e: unknown): { abort: boolean } | undefined {
  const text = String((e as Error)?.message ?? e);
  if (e instanceof WebAssembly.RuntimeError || /Aborted\(|memory access out of bounds|unreachable/.test(text)) return { abort: true };
  if (e instanceof TypeError || e instanceof RangeError) return { abort: false };
  return undefined;
}
