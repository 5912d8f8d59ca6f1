import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { guessInputRange } from './input-guess';

beforeAll(async () => {
  await initNodeBackend();
});

/** conv 3×3 → BN → relu → GAP → dense, with the BN's running mean set as training on inputs averaging `m` leaves it. */
function convBn(m: number, padded = false): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  let x = padded ? (tf.layers.zeroPadding2d({ padding: 1 }).apply(input) as tf.SymbolicTensor) : input;
  const conv = tf.layers.conv2d({ filters: 6, kernelSize: 3, kernelInitializer: tf.initializers.randomUniform({ minval: 0, maxval: 0.2, seed: 1 }), biasInitializer: 'ones' });
  x = conv.apply(x) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization();
  x = bn.apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(tf.layers.reLU().apply(x)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 4 }).apply(x) as tf.SymbolicTensor });
  const sums = tf.tidy(() => conv.getWeights()[0].reshape([-1, 6]).sum(0));
  const [gamma, beta, , variance] = bn.getWeights();
  const mean = tf.tidy(() => tf.add(tf.mul(sums, m), 1).add(tf.randomNormal([6], 0, 0.01 * Math.max(1, m), 'float32', 2)));
  bn.setWeights([gamma, beta, mean, variance]);
  tf.dispose([sums, mean]);
  return model;
}

describe('the input range guessed from the first BatchNormalization', () => {
  it('tells raw pixels from 0-1 pixels from normalised inputs', () => {
    expect(guessInputRange(convBn(120))?.range).toEqual([0, 255]);
    expect(guessInputRange(convBn(33, true))?.range).toEqual([0, 255]);
    const unit = guessInputRange(convBn(0.45));
    expect(unit?.range).toEqual([0, 1]);
    expect(unit?.reason).toMatch(/^its first BatchNormalization \("[^"]+"\) says its inputs average about 0.45: pixels scaled to 0-1 \(a guess/);
    expect(guessInputRange(convBn(0))).toBeNull();
    expect(guessInputRange(convBn(-0.1))).toBeNull();
  });

  it('says nothing without a BatchNormalization right after the first convolution', () => {
    const model = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3 }), tf.layers.flatten(), tf.layers.dense({ units: 3 })] });
    expect(guessInputRange(model)).toBeNull();
  });
});
