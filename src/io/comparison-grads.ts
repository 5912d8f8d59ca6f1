import * as tf from '@tensorflow/tfjs';

// Comparisons and logical ops are piecewise constant, so their gradient is zero, but TensorFlow.js registers none
// for most of them (Greater, Less, Equal, …): a model that computes a mask from its input (ReLU written as
// Where(x > 0, x, 0), torch.where, a clamp exported as comparisons) fails tf.grad even though the mask needs no
// gradient. These give each input a zero gradient.

const KERNELS: [string, string[]][] = [
  ['Greater', ['a', 'b']],
  ['GreaterEqual', ['a', 'b']],
  ['Less', ['a', 'b']],
  ['LessEqual', ['a', 'b']],
  ['Equal', ['a', 'b']],
  ['NotEqual', ['a', 'b']],
  ['LogicalAnd', ['a', 'b']],
  ['LogicalOr', ['a', 'b']],
  ['LogicalXor', ['a', 'b']],
  ['LogicalNot', ['x']],
];

let registered = false;

/** Register zero gradients for the comparison and logical kernels that have none. */
export function ensureComparisonGradients(): void {
  if (registered) return;
  registered = true;
  for (const [kernelName, inputs] of KERNELS) {
    if (tf.getGradient(kernelName) != null) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: inputs,
      gradFunc: (_dy, saved) => Object.fromEntries(inputs.map((name, i) => [name, () => tf.zerosLike(saved[i])])),
    });
  }
}
