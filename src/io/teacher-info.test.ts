import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { parseClassNames } from './side-files';
import { inputLayout, inspectTeacher, type TeacherMetadata } from './teacher-info';
import { loadTeacher } from './teacher-load';
import { convClassifier, denseClassifier, jsonFile, modelFiles, textFile } from './test-fixtures';

beforeAll(async () => {
  await initNodeBackend();
});

describe('class names and metadata from side files', () => {
  it('class_names.txt, one per line', async () => {
    const model = denseClassifier();
    const loaded = await loadTeacher([...(await modelFiles(model)), textFile('class_names.txt', 'cat\r\ndog\nbird\n\n')]);
    expect(loaded.info.classNames).toEqual(['cat', 'dog', 'bird']);
    expect(loaded.info.classNamesFrom).toBe('class_names.txt');
    model.dispose();
    loaded.dispose();
  });

  it("labels.txt, with Teachable Machine's index prefixes dropped", async () => {
    expect(parseClassNames('0 Class 1\n1 Class 2\n2 Class 3\n')).toEqual(['Class 1', 'Class 2', 'Class 3']);
    expect(parseClassNames('3 apples\n5 pears\n')).toEqual(['3 apples', '5 pears']);
    const model = denseClassifier();
    const loaded = await loadTeacher([...(await modelFiles(model, { dir: 't/' })), textFile('t/labels.txt', '0 a\n1 b\n2 c')]);
    expect(loaded.info.classNames).toEqual(['a', 'b', 'c']);
    model.dispose();
    loaded.dispose();
  });

  it("Teachable Machine's metadata.json labels (and its [-1, 1] input convention)", async () => {
    const model = denseClassifier();
    const meta = { tfjsVersion: '1.3.1', tmVersion: '2.4.7', packageName: '@teachablemachine/image', labels: ['up', 'down', 'left'], imageSize: 224 };
    const loaded = await loadTeacher([...(await modelFiles(model)), jsonFile('metadata.json', meta)]);
    expect(loaded.info.classNames).toEqual(['up', 'down', 'left']);
    expect(loaded.info.preprocessing?.inputRange).toEqual([-1, 1]);
    model.dispose();
    loaded.dispose();
  });

  it('our own metadata.json: class names, preprocessing, input range', async () => {
    const model = denseClassifier();
    const meta: TeacherMetadata = {
      dataset: 'mnist',
      classNames: ['zero', 'one', 'two'],
      preprocessing: { pad: 2, scale: 1 / 255, mean: 0.1307, std: 0.3081 },
      inputRange: [-0.4242, 2.8215],
      testAccuracy: 0.99,
      command: 'npm run train-teacher -- mnist',
    };
    const loaded = await loadTeacher([...(await modelFiles(model)), jsonFile('metadata.json', meta)]);
    expect(loaded.info).toMatchObject({
      classNames: ['zero', 'one', 'two'],
      classNamesFrom: 'metadata.json',
      dataset: 'mnist',
      testAccuracy: 0.99,
      preprocessing: { pad: 2, scale: 1 / 255, mean: 0.1307, std: 0.3081, inputRange: [-0.4242, 2.8215] },
    });
    model.dispose();
    loaded.dispose();
  });

  it('ignores class names of the wrong count and a broken metadata.json, with warnings', async () => {
    const model = denseClassifier();
    const loaded = await loadTeacher([...(await modelFiles(model)), textFile('labels.txt', 'a\nb\n'), textFile('metadata.json', '{oops')]);
    expect(loaded.info.classNames).toBeUndefined();
    expect(loaded.info.warnings).toContain('labels.txt lists 2 class names but the model has 3 classes, so it was ignored');
    expect(loaded.info.warnings.some((w) => w.startsWith('metadata.json was ignored: it is not valid JSON'))).toBe(true);
    model.dispose();
    loaded.dispose();
  });
});

describe('inputLayout', () => {
  it('tells the four layouts apart', () => {
    expect(inputLayout([784])).toBe('flat');
    expect(inputLayout([28, 28])).toBe('HW');
    expect(inputLayout([28, 28, 1])).toBe('NHWC');
    expect(inputLayout([32, 32, 3])).toBe('NHWC');
    expect(inputLayout([3, 32, 32])).toBe('NCHW');
  });
});

describe('inspectTeacher: the input-gradient check', () => {
  it('passes for a sound conv teacher and stores the result on the loaded teacher', async () => {
    const model = convClassifier();
    const loaded = await loadTeacher(await modelFiles(model));
    model.dispose();
    const before = tf.memory().numTensors;
    const info = await inspectTeacher(loaded);
    expect(tf.memory().numTensors).toBe(before);
    expect(info.gradientCheck?.ok).toBe(true);
    expect(info.gradientCheck!.maxRelError).toBeLessThan(0.1);
    expect(loaded.info.gradientCheck).toEqual(info.gradientCheck);
    loaded.dispose();
  });

  it('passes for a rank-3 dense teacher', async () => {
    const model = denseClassifier({ inputShape: [12, 12], classes: 5 });
    const loaded = await loadTeacher(await modelFiles(model));
    model.dispose();
    expect((await inspectTeacher(loaded)).gradientCheck?.ok).toBe(true);
    loaded.dispose();
  });

  it('fails loudly for a teacher whose logits ignore the input (zero kernel)', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [4, 4, 1] }),
        tf.layers.dense({ units: 3, kernelInitializer: 'zeros', biasInitializer: tf.initializers.randomNormal({ seed: 5, stddev: 3 }) }),
      ],
    });
    const loaded = await loadTeacher(await modelFiles(model));
    model.dispose();
    const check = (await inspectTeacher(loaded)).gradientCheck!;
    expect(check.ok).toBe(false);
    expect(check.message).toContain('all gradients of the logits with respect to the input are zero');
    loaded.dispose();
  });
});
