import { parseArgs, UsageError } from './args';
import { useBackend } from './backend';
import { readTeacherFiles } from './node-files';
import { checkTeacherWithin, loadTimeoutMs, TIMEOUT_USAGE } from './teacher-deadline';

export const INSPECT_USAGE = `cake inspect <model.json | model.zip | .h5 | .keras | .onnx | folder> [other files…] ${TIMEOUT_USAGE}`;

/** `cake inspect`: what the studio's teacher card shows, as JSON on stdout. The teacher is read on a load thread only. */
export async function inspect(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { values: ['backend', 'timeout'] });
  if (args.positionals.length === 0) throw new UsageError('name the teacher files to inspect');
  const backend = await useBackend(args.values.get('backend'));
  const files = await readTeacherFiles(args.positionals);
  const info = await checkTeacherWithin(files, loadTimeoutMs(args, files), backend, args.positionals[0]);
  process.stdout.write(JSON.stringify({ ...info, inputGradientsFlow: info.gradientCheck?.ok ?? false }, null, 2) + '\n');
}
