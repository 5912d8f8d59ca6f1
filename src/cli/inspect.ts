import { inspectTeacher } from '../io/teacher-info';
import { loadTeacher } from '../io/teacher-load';
import { parseArgs, UsageError } from './args';
import { useBackend } from './backend';
import { readTeacherFiles } from './node-files';

export const INSPECT_USAGE = 'cake inspect <model.json | model.zip | .h5 | .keras | .onnx | folder> [other files…]';

/** `cake inspect`: what the studio's teacher card shows, as JSON on stdout. */
export async function inspect(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { values: ['backend'] });
  if (args.positionals.length === 0) throw new UsageError('name the teacher files to inspect');
  await useBackend(args.values.get('backend'));
  const loaded = await loadTeacher(await readTeacherFiles(args.positionals));
  try {
    const info = await inspectTeacher(loaded);
    process.stdout.write(JSON.stringify({ ...info, inputGradientsFlow: info.gradientCheck?.ok ?? false }, null, 2) + '\n');
  } finally {
    loaded.dispose();
  }
}
