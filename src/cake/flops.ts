import * as tf from '@tensorflow/tfjs';

/**
 * Floating-point operations of one forward pass per image, counted from the kernels tfjs actually runs: one pass at
 * batch 1 is profiled and every convolution and matrix product is costed from its input and output shapes (2 per
 * multiply-add). The same count for a Layers model, a GraphModel or an imported ONNX graph, since all run tfjs
 * kernels; element-wise ops are left out, as FLOPs are usually quoted. A deterministic measure of a teacher's cost,
 * which the presets size colour runs by (wall time would differ from machine to machine and break seeds).
 */
export async function flopsPerImage(forward: (x: tf.Tensor) => tf.Tensor, inputShape: readonly number[]): Promise<number> {
  const x = tf.zeros([1, ...inputShape]);
  try {
    const profile = await tf.profile(() => tf.tidy(() => forward(x)));
    tf.dispose(profile.result as tf.Tensor);
    let flops = 0;
    for (const k of profile.kernels) flops += kernelFlops(k.name, k.inputShapes, k.outputShapes);
    return flops;
  } finally {
    x.dispose();
  }
}

const size = (shape: readonly number[] | undefined) => (shape ?? []).reduce((a, b) => a * b, 1);

/** 2 × multiply-adds of one kernel call, from its shapes; 0 for kernels that are not products. */
export function kernelFlops(name: string, inputs: readonly (readonly number[])[], outputs: readonly (readonly number[])[]): number {
  const out = outputs[0];
  if (!out) return 0;
  const filter = inputs[1];
  switch (name) {
    case 'Conv2D':
    case 'FusedConv2D':
      // filter [fh, fw, inC, outC]: each output value sums fh·fw·inC products.
      return filter && filter.length === 4 ? 2 * size(out) * filter[0] * filter[1] * filter[2] : 0;
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2D':
      // filter [fh, fw, inC, multiplier]: each output value sums fh·fw products.
      return filter && filter.length === 4 ? 2 * size(out) * filter[0] * filter[1] : 0;
    case 'CakeWinogradConv2D':
      // src/tfjs/winograd-conv.ts, for 3×3 stride-1 convolutions of a frozen teacher: the filter comes transformed,
      // [16, inC, outC]; counted as the direct convolution it computes, as FLOPs are quoted.
      return filter && filter.length === 3 ? 2 * size(out) * 9 * filter[1] : 0;
    case 'Conv2DBackpropInput':
      // A transposed convolution: inputs [dy, filter] or [shape, dy, filter] depending on the caller; each input
      // value of dy spreads over fh·fw·outC outputs.
      return transposedConvFlops(inputs);
    case 'MatMul':
    case '_FusedMatMul':
    case 'BatchMatMul': {
      const [a, b] = inputs;
      if (!a || !b) return 0;
      // A [.., m, k], B [.., k, n] (either transposed), out [.., m, n]: |A|·|B| / (|out|·batch) = k².
      const batch = out.length > 2 ? size(out.slice(0, -2)) : 1;
      const k = Math.sqrt((size(a) * size(b)) / (size(out) * batch));
      return Number.isFinite(k) ? 2 * size(out) * Math.round(k) : 0;
    }
    default:
      return 0;
  }
}

function transposedConvFlops(inputs: readonly (readonly number[])[]): number {
  const four = inputs.filter((s) => s.length === 4);
  if (four.length < 2) return 0;
  const [dy, filter] = four;
  // filter [fh, fw, outC, inC] for the transposed direction; dy [n, h, w, inC].
  return 2 * size(dy) * filter[0] * filter[1] * filter[2];
}
