import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { flopsPerImage, kernelFlops } from './flops';

beforeAll(async () => {
  await initNodeBackend();
});

describe('flopsPerImage', () => {
  it('counts 2 per multiply-add of the convolutions and matrix products a forward pass runs', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, activation: 'relu' }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 1 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 5 }),
      ],
    });
    // conv: 6·6·4 outputs × 3·3·3 products; depthwise: 4·4·4 outputs × 3·3; dense: 5 outputs × 64.
    const expected = 2 * (6 * 6 * 4 * 27 + 4 * 4 * 4 * 9 + 5 * 64);
    const before = tf.memory().numTensors;
    expect(await flopsPerImage((x) => model.predict(x) as tf.Tensor, [8, 8, 3])).toBe(expected);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('costs a Winograd convolution as the direct one, a transposed matrix product by its shared axis, anything else as 0', () => {
    expect(kernelFlops('CakeWinogradConv2D', [[1, 8, 8, 16], [16, 16, 32]], [[1, 8, 8, 32]])).toBe(2 * 8 * 8 * 32 * 9 * 16);
    expect(kernelFlops('MatMul', [[7, 3], [5, 7]], [[3, 5]])).toBe(2 * 3 * 5 * 7);
    expect(kernelFlops('BatchMatMul', [[2, 3, 7], [2, 7, 5]], [[2, 3, 5]])).toBe(2 * 2 * 3 * 5 * 7);
    expect(kernelFlops('Relu', [[1, 8]], [[1, 8]])).toBe(0);
  });
});
