import * as tf from '@tensorflow/tfjs';

// TensorFlow.js registers no gradient for StridedSlice, which TensorFlow graphs use for Keras Cropping2D, tensor
// slicing (x[:, 2:-2]) and the shape arithmetic of Flatten/Reshape. On the shape path no gradient is needed (the
// tape skips ops that do not depend on the input), but on the data path tf.grad fails. The gradient is well
// defined: every output element is one input element, so the input gradient scatters dy back into zeros.

/**
 * Scatter `t` along `axis` into a tensor of `size` there, slice k going to position idx[k] (idx holds distinct
 * positions). Done as a product with a 0/1 selection matrix, so it is itself differentiable on every backend.
 */
function scatterAxis(t: tf.Tensor, axis: number, idx: number[], size: number): tf.Tensor {
  const rank = t.rank;
  const perm = [...Array(rank).keys()].filter((a) => a !== axis).concat(axis);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  const moved = tf.transpose(t, perm);
  const lead = moved.shape.slice(0, -1);
  const select = tf.buffer([idx.length, size], 'float32');
  idx.forEach((to, k) => select.set(1, k, to));
  const flat = tf.matMul(tf.reshape(moved, [-1, idx.length]), select.toTensor());
  return tf.transpose(tf.reshape(flat, [...lead, size]), inverse);
}

/** dx for a StridedSlice of x (shape xShape) with the given attributes, from the output gradient dy. */
export function stridedSliceBackward(dy: tf.Tensor, xShape: number[], attrs: Record<string, unknown>): tf.Tensor {
  const { begin, end, strides, beginMask, endMask, ellipsisMask, newAxisMask, shrinkAxisMask } = attrs as {
    begin: number[];
    end: number[];
    strides: number[];
    beginMask: number;
    endMask: number;
    ellipsisMask: number;
    newAxisMask: number;
    shrinkAxisMask: number;
  };
  const info = tf.slice_util.sliceInfo(xShape, begin, end, strides, beginMask, endMask, ellipsisMask, newAxisMask, shrinkAxisMask);
  // sliceInfo describes the slice per input axis: output[loc] = x[loc·strides + begin] over the processing shape
  // (one axis per input axis, shrunk axes kept with size 1, new axes not yet added).
  const sparse = tf.slice_util.computeOutShape(info.begin, info.end, info.strides);
  if (sparse.length !== xShape.length || sparse.reduce((a, b) => a * b, 1) !== dy.size)
    throw new Error(`the StridedSlice gradient does not handle this slice of a rank-${xShape.length} tensor`);
  return tf.tidy(() => {
    let g = tf.reshape(dy, sparse);
    for (let axis = 0; axis < xShape.length; axis++) {
      const n = sparse[axis];
      const size = xShape[axis];
      const b = info.begin[axis];
      const s = info.strides[axis];
      if (n === size && s === 1 && b === 0) continue;
      if (s === 1 || n <= 1) {
        const pads = xShape.map(() => [0, 0] as [number, number]);
        pads[axis] = [b, size - b - n];
        g = tf.pad(g, pads);
      } else {
        g = scatterAxis(g, axis, Array.from({ length: n }, (_, k) => b + k * s), size);
      }
    }
    return g;
  });
}

let registered = false;

/** Register the StridedSlice gradient once, unless tfjs (a later version) already has one. */
export function ensureStridedSliceGradient(): void {
  if (registered) return;
  registered = true;
  if (tf.getGradient('StridedSlice') != null) return;
  tf.registerGradient({
    kernelName: 'StridedSlice',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      return { x: () => stridedSliceBackward(dy as tf.Tensor, x.shape, attrs as unknown as Record<string, unknown>) };
    },
  });
}
