import * as tf from '@tensorflow/tfjs';
import { initNodeBackend } from '/work/main/src/tfjs/node-backend';
import { runCake, presetConfig, applySetting } from '/work/main/src/cake';
import { loadTeacher } from '/work/main/src/io/teacher-load';
import { buildStudent } from '/work/main/src/models/students';
import { fixtureTeacher } from '/work/main/e2e/fixtures';

const t = await fixtureTeacher();
await initNodeBackend();
const loaded = await loadTeacher([{ name: 'model.json', data: t.modelJson.buffer.slice(t.modelJson.byteOffset, t.modelJson.byteOffset + t.modelJson.length) as ArrayBuffer }, { name: 'group1-shard1of1.bin', data: t.weights.buffer.slice(t.weights.byteOffset, t.weights.byteOffset + t.weights.length) as ArrayBuffer }]);
for (const extra of process.argv.slice(2).length ? [process.argv.slice(2)] : [[]]) {
  let config = presetConfig('smoke', { inputShape: [16, 16, 1], numClasses: 10 }, 5);
  for (const kv of ['synthesis.sets=8', 'synthesis.steps=40', 'student.epochs=3', ...extra]) { const [k, v] = kv.split('='); config = applySetting(config, k, v); }
  const built = buildStudent(config.student.arch, [16, 16, 1], 10, loaded.model, { seed: 5 });
  try {
    const r = await runCake({ teacher: loaded.teacher, config, student: built.model, studentArch: built.arch,
      onSet: (s) => { let mn = Infinity, mx = -Infinity; for (const v of s.x) { mn = Math.min(mn, v); mx = Math.max(mx, v); } console.log('set', s.set, 'x range', mn.toFixed(2), mx.toFixed(2), 'hit', s.hitRate, JSON.stringify(s.losses)); },
      onEpoch: (e) => console.log('epoch', JSON.stringify(e)) });
    console.log('ok', r.report.synthesis.msPerStep, r.report.studentTraining.msPerStep);
  } catch (e) { console.log('ERR', (e as Error).message); }
}
