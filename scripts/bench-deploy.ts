/**
 * `npm run bench:deploy -- --teacher <model files…> [--student auto|lenet5|lenet5-half|mlp|cnn] [--backend wasm|cpu]`
 *
 * What distilling buys in inference speed, before any run: the teacher and the student CAKE would build for it,
 * timed in turns on the same backend (src/models/speed.ts: batch 1 and batch 32, median of timed samples after
 * warm-up, output read-back included; this process's CPU time, as `cake distill` reports it), with their parameters
 * and weight bytes. The student is untrained: speed does
 * not depend on the weights. Prints JSON.
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from '../src/cli/args';
import { cpuClock, useBackend } from '../src/cli/backend';
import { readTeacherFiles } from '../src/cli/node-files';
import { loadTeacher } from '../src/io/teacher-load';
import { timeInferences } from '../src/models/speed';
import { buildStudent } from '../src/models/students';

process.on('uncaughtException', (e) => {
  console.error(`bench:deploy: ${(e as Error).message.split('\n')[0]}`);
  process.exit(1);
});

const args = parseArgs(process.argv.slice(2), { values: ['student', 'backend'], repeated: ['teacher'] });
const backend = await useBackend(args.values.get('backend'));
const loaded = await loadTeacher(await readTeacherFiles(args.repeated.get('teacher') ?? []));
const info = loaded.info;
const built = buildStudent(args.values.get('student') ?? 'auto', info.inputShape, info.numClasses, loaded.model, { seed: 0 });
const times = await timeInferences({ teacher: (x) => loaded.teacher.logits(x), student: (x) => built.model.predict(x) as tf.Tensor }, info.inputShape, { clock: cpuClock });
const studentParams = built.model.countParams();
console.log(
  JSON.stringify(
    {
      backend,
      clock: 'cpu',
      teacher: { format: info.format, inputShape: info.inputShape, params: info.params, msPerImage: times.teacher },
      student: { arch: built.arch, note: built.note, params: studentParams, float32Bytes: studentParams * 4, msPerImage: times.student },
      speedup: { batch1: times.teacher.batch1 / times.student.batch1, batch32: times.teacher.batch32 / times.student.batch32 },
    },
    null,
    2,
  ),
);
built.model.dispose();
loaded.dispose();
