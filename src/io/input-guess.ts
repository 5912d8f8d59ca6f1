import * as tf from '@tensorflow/tfjs';
import { flattenGraph } from '../cake/graph';

/**
 * A guess at the input range of a teacher whose files do not declare it (most `.h5`, `.onnx` and tfjs files), from
 * the teacher's own weights: when its first convolution feeds a BatchNormalization, that layer's running mean is
 * what the convolution output averaged over the training data, μ_c = b_c + m·Σ W_c for an input averaging m in every
 * channel, so m follows by least squares over the channels. Raw pixels average about 30-130 (digits to photos), 0-1
 * pixels 0.1-0.5, normalised inputs about 0. No data is read: only the weights and statistics the file carries.
 */
export interface InputGuess {
  range: [number, number];
  /** One sentence for the teacher card: what was found and from where. */
  reason: string;
}

const PASS_THROUGH = new Set(['ZeroPadding2D', 'Rescaling', 'Reshape', 'Permute']);

export function guessInputRange(model: tf.LayersModel): InputGuess | null {
  let ops;
  try {
    ops = flattenGraph(model).ops;
  } catch {
    return null;
  }
  // The first Conv2D reached from the input through layout-only layers, and the BatchNormalization right after it.
  const first = ops.findIndex((op) => op.className === 'Conv2D');
  if (first < 0) return null;
  let before = ops[first].inputs[0];
  while (before !== undefined && PASS_THROUGH.has(ops[before].className)) before = ops[before].inputs[0];
  if (before === undefined || ops[before].className !== 'InputLayer') return null;
  const bn = ops.find((op) => op.className === 'BatchNormalization' && op.inputs[0] === first);
  if (!bn) return null;
  const conv = ops[first].layer;
  const [kernel, bias] = conv.getWeights();
  const names = bn.layer.weights.map((w) => w.originalName.split('/').pop() ?? '');
  const movingMean = bn.layer.getWeights()[names.findIndex((n) => n.startsWith('moving_mean'))];
  if (!movingMean) return null;
  const out = kernel.shape[3] as number;
  const sums = tf.tidy(() => kernel.reshape([-1, out]).sum(0).dataSync() as Float32Array);
  const mu = movingMean.dataSync();
  const b = bias ? bias.dataSync() : new Float32Array(out);
  let num = 0;
  let den = 0;
  for (let c = 0; c < out; c++) {
    num += (mu[c] - b[c]) * sums[c];
    den += sums[c] * sums[c];
  }
  if (!(den > 0)) return null;
  const mean = num / den;
  const found = `its first BatchNormalization ("${bn.layer.name}") says its inputs average about ${mean.toPrecision(2)}`;
  if (mean > 10) return { range: [0, 255], reason: `${found}: raw 0-255 pixels (a guess; set the preprocessing if it is wrong)` };
  if (mean > 0.2 && mean <= 1.5) return { range: [0, 1], reason: `${found}: pixels scaled to 0-1 (a guess; set the preprocessing if it is wrong)` };
  return null;
}
