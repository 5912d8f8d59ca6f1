/**
 * Loading a teacher into the worker's session: from dropped files (`load-teacher`) or from a checkpoint's stored
 * files (`resume-checkpoint`). Reads the model, checks its input gradients, and reports progress under the request.
 */
import { TeacherError } from '../io/teacher-error';
import { inspectTeacher } from '../io/teacher-info';
import { loadTeacher } from '../io/teacher-load';
import type { TeacherCard, WireFile } from './protocol';
import { errorText, type Session } from './session';
import { teacherCard } from './teacher-card';

/** Tests: what a reader stuck on a damaged file does: loop inside one synchronous call, deaf to every message. */
function spinForever(): never {
  for (;;) {
    // Nothing returns from here; the page's deadline ends the worker.
  }
}

/** Load `files` as the session's teacher; throws with the message for the page (the old teacher then stays). */
export async function loadTeacherFiles(session: Session, requestId: number, files: WireFile[]): Promise<TeacherCard> {
  if (session.run) throw new Error('a run is in progress; stop it before loading another teacher');
  const { post } = session;
  try {
    await session.backend();
    // Kept for checkpoints (a resumed run reloads the teacher from them); copied before any loader touches them.
    const kept = files.map((f) => ({ name: f.name, data: f.data.slice(0) }));
    post({ type: 'teacher-loading', requestId, phase: 'Reading the model', fraction: 0.35 });
    if (session.stallTeacherReads) spinForever();
    const loaded = await loadTeacher(files.map((f) => ({ name: f.name, data: f.data })));
    post({ type: 'teacher-loading', requestId, phase: 'Checking input gradients', fraction: 0.7 });
    await new Promise((r) => setTimeout(r, 0));
    try {
      await inspectTeacher(loaded);
    } catch (e) {
      loaded.dispose();
      throw e;
    }
    const card = teacherCard(loaded, files);
    session.teacherLoaded({ loaded, card, files: kept });
    return card;
  } catch (e) {
    throw e instanceof TeacherError ? e : new Error(`the teacher could not be loaded: ${errorText(e)}`);
  }
}
