import type { NamedFile } from '../io/files';
import { loadDeadlineMs } from '../io/limits';
import type { TeacherInfo } from '../io/teacher-info';
import { loadTeacher, type LoadedTeacher } from '../io/teacher-load';
import { numberOpt, UsageError, type Args } from './args';
import { TeacherThread } from './teacher-thread';

// Every command that reads a teacher reads it under a deadline (`--timeout`, by default the studio's: 30 s plus
// 1 s per MiB, see src/io/limits.ts), so a damaged file ends in one line and a non-zero exit instead of a process
// spinning at full CPU. The deadline can only be kept from another thread (see teacher-thread.ts): the teacher is
// read, built and gradient-checked on a load thread first, and only a file that passed there is loaded here.

export const TIMEOUT_USAGE = '[--timeout <seconds>]';

/** `--timeout` in ms, or the deadline the files' size gives. */
export function loadTimeoutMs(args: Args, files: readonly NamedFile[]): number {
  const seconds = numberOpt(args, 'timeout');
  if (seconds === undefined) return loadDeadlineMs(files.reduce((n, f) => n + f.data.byteLength, 0));
  if (!(seconds > 0)) throw new UsageError(`--timeout needs a number of seconds above 0, got ${seconds}`);
  return seconds * 1000;
}

/**
 * Read, build and gradient-check the teacher on a load thread within `ms`; its info, or one line saying why not.
 * `label` names the teacher in messages (the path the user gave).
 */
export async function checkTeacherWithin(files: NamedFile[], ms: number, backend: string, label: string): Promise<TeacherInfo> {
  const thread = new TeacherThread(backend);
  try {
    const outcome = await thread.load(files, ms);
    switch (outcome.kind) {
      case 'loaded':
        return outcome.info;
      case 'refused':
        throw new Error(outcome.message.split('\n')[0]);
      case 'timeout':
        throw new Error(
          `${label} could not be read within ${Math.round(ms / 1000)} s: the file may be damaged (a very large model may need a longer --timeout)`,
        );
      case 'crashed':
        throw new Error(`reading ${label} stopped the loader (${outcome.message.split('\n')[0]}): the file may be damaged`);
    }
  } finally {
    await thread.dispose();
  }
}

/**
 * checkTeacherWithin, then the same load on this thread, for commands that use the model (the file has shown that it
 * loads). Its info comes from the load thread, gradient check included: the same code on the same files and backend.
 */
export async function loadTeacherWithin(files: NamedFile[], ms: number, backend: string, label: string): Promise<LoadedTeacher> {
  const info = await checkTeacherWithin(files, ms, backend, label);
  const loaded = await loadTeacher(files);
  loaded.info = info;
  return loaded;
}
