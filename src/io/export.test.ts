import * as tf from '@tensorflow/tfjs';
import { strFromU8, unzipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { exportStudent, studentZip } from './export';
import { loadTeacher } from './teacher-load';
import { convClassifier, maxAbsDiff } from './test-fixtures';

beforeAll(async () => {
  await initNodeBackend();
});

describe('exportStudent + studentZip', () => {
  it('round-trips through a zip into plain tf.loadLayersModel with identical predictions', async () => {
    const model = convClassifier(5);
    const { modelJson, weights } = await exportStudent(model);
    expect(modelJson.format).toBe('layers-model');
    expect(modelJson.convertedBy).toBeNull();
    expect(modelJson.weightsManifest[0].paths).toEqual(['./weights.bin']);
    // conv 3·3·1·3 + 3 = 30, dense 27·5 + 5 = 140: 170 float32 values.
    expect(weights.byteLength).toBe(170 * 4);

    const zip = studentZip({
      'student/model.json': modelJson,
      'student/weights.bin': weights,
      'student/README.txt': 'a CAKE student\n',
      'student/report.json': { agreement: 0.97 },
    });
    const entries = unzipSync(zip);
    expect(Object.keys(entries).sort()).toEqual(['student/README.txt', 'student/model.json', 'student/report.json', 'student/weights.bin']);
    expect(strFromU8(entries['student/report.json'])).toBe('{\n  "agreement": 0.97\n}\n');

    const json = JSON.parse(strFromU8(entries['student/model.json']));
    const reloaded = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: entries['student/weights.bin'].slice().buffer,
      }),
    );
    tf.tidy(() => {
      const x = tf.randomNormal([6, 8, 8, 1], 0, 1, 'float32', 11);
      expect(maxAbsDiff(reloaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
    });
    reloaded.dispose();

    // Our own loader reads the exported zip as a teacher too.
    const asTeacher = await loadTeacher([{ name: 'student.zip', data: zip.slice().buffer }]);
    expect(asTeacher.info.numClasses).toBe(5);
    asTeacher.dispose();
    model.dispose();
  });

  it('serialises strings as UTF-8 and typed arrays as bytes', () => {
    const entries = unzipSync(studentZip({ 'a.txt': 'héllo', 'b.bin': new Uint8Array([1, 2, 3]) }));
    expect(strFromU8(entries['a.txt'])).toBe('héllo');
    expect([...entries['b.bin']]).toEqual([1, 2, 3]);
  });
});
