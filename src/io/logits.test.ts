import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { finalActivation, logitsReproduce, logitsTopology, looksLikeProbabilities } from './logits';

beforeAll(async () => {
  await initNodeBackend();
});

// The rewrite works on Keras JSON, so it is tested on hand-written topologies as Keras (not tfjs) writes them.

const dense = (name: string, activation: string, extra: object = {}) => ({ class_name: 'Dense', config: { name, units: 3, activation, ...extra } });

describe('logitsTopology', () => {
  it('sets a Keras Sequential softmax head to linear, under model_config', () => {
    const topology = { keras_version: '2.3.0', model_config: { class_name: 'Sequential', config: { name: 's', layers: [dense('a', 'relu', { batch_input_shape: [null, 4] }), dense('b', 'softmax')] } } };
    const out = logitsTopology(topology)!;
    expect(out.removed).toBe('softmax removed');
    const layers = (out.topology.model_config as { config: { layers: { config: { activation: string } }[] } }).config.layers;
    expect(layers.map((l) => l.config.activation)).toEqual(['relu', 'linear']);
    // The input is not modified.
    expect(topology.model_config.config.layers[1].config.activation).toBe('softmax');
  });

  it('looks past Dropout and Flatten, and into a nested functional model', () => {
    const inner = {
      class_name: 'Functional',
      name: 'inner',
      config: {
        name: 'inner',
        layers: [
          { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 4] }, inbound_nodes: [] },
          { class_name: 'Dense', name: 'd', config: { name: 'd', units: 3, activation: 'softmax' }, inbound_nodes: [[['in', 0, 0, {}]]] },
        ],
        input_layers: [['in', 0, 0]],
        output_layers: [['d', 0, 0]],
      },
    };
    const outer = { class_name: 'Sequential', config: { layers: [inner, { class_name: 'Dropout', config: { rate: 0.2 } }] } };
    const out = logitsTopology(outer)!;
    expect(out.removed).toBe('softmax removed');
    expect(JSON.stringify(out.topology)).toContain('"activation":"linear"');
  });

  it('leaves heads it cannot unwrap alone', () => {
    expect(logitsTopology({ class_name: 'Sequential', config: { layers: [dense('a', 'relu')] } })).toBeUndefined();
    // A softmax layer used twice cannot simply be removed.
    const shared = {
      class_name: 'Model',
      config: {
        layers: [
          { class_name: 'InputLayer', name: 'in', config: { name: 'in' }, inbound_nodes: [] },
          { class_name: 'Softmax', name: 'sm', config: { name: 'sm' }, inbound_nodes: [[['in', 0, 0, {}]]] },
          { class_name: 'Add', name: 'add', config: { name: 'add' }, inbound_nodes: [[['sm', 0, 0, {}], ['sm', 0, 0, {}]]] },
        ],
        output_layers: [['sm', 0, 0]],
      },
    };
    expect(logitsTopology(shared)).toBeUndefined();
  });

  it('finalActivation finds the last activation, through containers', () => {
    expect(finalActivation({ class_name: 'Sequential', config: { layers: [dense('a', 'relu'), dense('b', 'sigmoid', { units: 1 })] } })).toBe('sigmoid');
    expect(finalActivation({ class_name: 'Sequential', config: { layers: [{ class_name: 'Sequential', config: { layers: [dense('x', 'softmax')] } }] } })).toBe('softmax');
  });
});

describe('asynchronous read-backs (WebGPU-safe in a worker)', () => {
  it('looksLikeProbabilities tells probability rows from logits', async () => {
    const probs = tf.tensor2d([[0.25, 0.75], [1, 0]]);
    const logits = tf.tensor2d([[2, -1], [0.5, 0.5]]);
    const before = tf.memory().numTensors;
    await expect(looksLikeProbabilities(probs)).resolves.toBe(true);
    await expect(looksLikeProbabilities(logits)).resolves.toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([probs, logits]);
  });

  it('logitsReproduce checks softmax and sigmoid heads, and refuses NaN', async () => {
    const logits = tf.tensor2d([[1, 2, 3], [0, -1, 4]]);
    const soft = tf.softmax(logits) as tf.Tensor2D;
    const sig = tf.sigmoid(logits) as tf.Tensor2D;
    const nan = tf.tensor2d([[NaN, 0, 0], [0, 0, 0]]);
    const before = tf.memory().numTensors;
    expect(await logitsReproduce(logits, soft, 'softmax removed')).toBe(true);
    expect(await logitsReproduce(logits, sig, 'sigmoid removed')).toBe(true);
    expect(await logitsReproduce(logits, sig, 'softmax removed')).toBe(false);
    expect(await logitsReproduce(nan, soft, 'softmax removed')).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([logits, soft, sig, nan]);
  });
});
