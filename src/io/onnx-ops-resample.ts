import * as tf from '@tensorflow/tfjs';
import { attrFloat, attrInt, attrInts, attrString, type Attrs } from './onnx-attrs';
import { floats, ints, nhwcOf, OpError, spatialPads, tensorVal, type OpFn, type Prepared, type Val } from './onnx-values';

// Ops that change the spatial size: Resize and Upsample (decoders, FPNs, old segmentation heads) and ConvTranspose.
//
// Every mode of Resize along one axis is a linear map of that axis, so each axis is resized by a matrix
// multiplication with an [out, in] interpolation matrix built in JS from ONNX's own formulas (coordinate
// transformation, nearest rounding, linear and cubic weights). That follows the spec exactly for every mode and
// scale, including the cases where tfjs' resize kernels round differently (a scale that is not out/in, cubic,
// tf_half_pixel_for_nn), and the gradient is a matmul, which every backend has.

/** Where output index x reads from along an axis of `inSize` resized to `outSize` with `scale` (out/in by default). */
function sourceCoordinate(mode: string, x: number, scale: number, inSize: number, outSize: number): number {
  switch (mode) {
    case 'half_pixel':
      return (x + 0.5) / scale - 0.5;
    case 'pytorch_half_pixel':
      return outSize > 1 ? (x + 0.5) / scale - 0.5 : 0;
    case 'align_corners':
      return outSize === 1 ? 0 : (x * (inSize - 1)) / (outSize - 1);
    case 'asymmetric':
      return x / scale;
    case 'tf_half_pixel_for_nn':
      return (x + 0.5) / scale;
    case 'half_pixel_symmetric': {
      const adjustment = outSize / (scale * inSize);
      const center = inSize / 2;
      const offset = center * (1 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    default:
      throw new OpError(`uses coordinate_transformation_mode "${mode}", which is not supported`);
  }
}

function nearestIndex(mode: string, v: number): number {
  switch (mode) {
    case 'round_prefer_floor':
      return v - Math.floor(v) === 0.5 ? Math.floor(v) : Math.round(v);
    case 'round_prefer_ceil':
      return v - Math.floor(v) === 0.5 ? Math.ceil(v) : Math.round(v);
    case 'floor':
      return Math.floor(v);
    case 'ceil':
      return Math.ceil(v);
    default:
      throw new OpError(`uses nearest_mode "${mode}", which is not supported`);
  }
}

interface ResizeMode {
  mode: string;
  coordinates: string;
  nearest: string;
  cubicA: number;
  excludeOutside: boolean;
}

/** The [outSize, inSize] matrix that resizes one axis. */
export function resizeMatrix(m: ResizeMode, inSize: number, outSize: number, scale: number): Float32Array {
  const w = new Float32Array(outSize * inSize);
  const clampIndex = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  for (let x = 0; x < outSize; x++) {
    const row = x * inSize;
    const src = sourceCoordinate(m.coordinates, x, scale, inSize, outSize);
    if (m.mode === 'nearest') {
      w[row + clampIndex(nearestIndex(m.nearest, src))] = 1;
    } else if (m.mode === 'linear') {
      const s = Math.min(Math.max(src, 0), inSize - 1);
      const x0 = Math.floor(s);
      const x1 = Math.min(x0 + 1, inSize - 1);
      const t = s - x0;
      w[row + x0] += 1 - t;
      w[row + x1] += t;
    } else if (m.mode === 'cubic') {
      const x0 = Math.floor(src);
      const t = src - x0;
      const A = m.cubicA;
      const c = [
        ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A,
        ((A + 2) * t - (A + 3)) * t * t + 1,
        ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1,
        ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A,
      ];
      const taps = [x0 - 1, x0, x0 + 1, x0 + 2];
      const inside = taps.map((i) => i >= 0 && i < inSize);
      const total = m.excludeOutside ? c.reduce((sum, ci, k) => sum + (inside[k] ? ci : 0), 0) : 1;
      taps.forEach((i, k) => {
        if (m.excludeOutside && !inside[k]) return;
        w[row + clampIndex(i)] += c[k] / total;
      });
    } else {
      throw new OpError(`uses mode "${m.mode}"; nearest, linear and cubic are supported`);
    }
  }
  return w;
}

/** Resize an NHWC tensor's H and W with interpolation matrices (cached per node and input size). */
function resizeNhwc(x: tf.Tensor4D, m: ResizeMode, out: [number, number], scales: [number, number], key: string, prepared: Prepared): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const matrix = (axis: 0 | 1, inSize: number) => {
    const k = `${key}:${axis}:${inSize}>${out[axis]}`;
    let t = prepared.get(k);
    if (!t) {
      t = tf.keep(tf.tensor3d(resizeMatrix(m, inSize, out[axis], scales[axis]), [1, out[axis], inSize]));
      prepared.set(k, t);
    }
    return t as tf.Tensor3D;
  };
  // An axis kept at scale 1 maps every index to itself in every mode.
  let y: tf.Tensor = x;
  if (out[0] !== h || scales[0] !== 1) y = tf.reshape(tf.matMul(matrix(0, h), tf.reshape(y, [n, h, w * c])), [n, out[0], w, c]);
  if (out[1] !== w || scales[1] !== 1) y = tf.reshape(tf.matMul(matrix(1, w), tf.reshape(y, [n * out[0], w, c])), [n, out[0], out[1], c]);
  return y as tf.Tensor4D;
}

/** Output size and per-axis scale of H and W from `scales` or `sizes` ([N, C, H, W], or just the `axes` named). */
function targetSize(x: tf.Tensor4D, scalesIn: number[] | undefined, sizesIn: number[] | undefined, axes: number[] | undefined): { out: [number, number]; scales: [number, number] } {
  const [n, h, w, c] = x.shape;
  const full = (values: number[], fill: number) => {
    if (!axes) return values;
    const all = [fill, fill, fill, fill];
    axes.forEach((ax, i) => (all[ax < 0 ? ax + 4 : ax] = values[i]));
    return all;
  };
  if (sizesIn && sizesIn.length > 0) {
    const sizes = full(sizesIn, NaN).map((v, i) => (Number.isNaN(v) ? [n, c, h, w][i] : v));
    if (sizes[0] !== n || sizes[1] !== c) throw new OpError(`resizes the batch or channel axis (sizes [${sizesIn.join(',')}]), which is not supported`);
    return { out: [sizes[2], sizes[3]], scales: [sizes[2] / h, sizes[3] / w] };
  }
  if (!scalesIn || scalesIn.length === 0) throw new OpError('has neither scales nor sizes');
  const scales = full(scalesIn, 1);
  if (scales.length !== 4) throw new OpError(`has ${scales.length} scales; only 4-D (N, C, H, W) inputs are supported`);
  if (scales[0] !== 1 || scales[1] !== 1) throw new OpError(`resizes the batch or channel axis (scales [${scales.join(',')}]), which is not supported`);
  return { out: [Math.floor(h * scales[2]), Math.floor(w * scales[3])], scales: [scales[2], scales[3]] };
}

function modeOf(a: Attrs, opset: number, legacy: boolean): ResizeMode {
  let mode = attrString(a, 'mode', 'nearest').toLowerCase();
  // Upsample (opset 7–9) says "bilinear" in some exporters.
  if (mode === 'bilinear') mode = 'linear';
  if (mode === 'bicubic') mode = 'cubic';
  return {
    mode,
    // Upsample and Resize-10 use asymmetric coordinates; Resize-11 and later default to half_pixel.
    coordinates: legacy || opset < 11 ? 'asymmetric' : attrString(a, 'coordinate_transformation_mode', 'half_pixel'),
    nearest: legacy || opset < 11 ? 'floor' : attrString(a, 'nearest_mode', 'round_prefer_floor'),
    cubicA: attrFloat(a, 'cubic_coeff_a', -0.75),
    excludeOutside: attrInt(a, 'exclude_outside', 0) === 1,
  };
}

export const resize: OpFn = (inputs, a, ctx, node, prepared) => {
  const x = nhwcOf(inputs[0]!, ctx);
  const m = modeOf(a, ctx.opset, false);
  if (m.coordinates === 'tf_crop_and_resize') throw new OpError('uses tf_crop_and_resize, which is not supported');
  if (attrInt(a, 'antialias', 0) === 1 && m.mode !== 'nearest') throw new OpError('uses antialias, which is not supported');
  const policy = attrString(a, 'keep_aspect_ratio_policy', 'stretch');
  if (policy !== 'stretch') throw new OpError(`uses keep_aspect_ratio_policy "${policy}", which is not supported`);
  // Opset 10: (X, scales). Opset 11+: (X, roi, scales, sizes), each of the last three optional.
  const scalesVal = ctx.opset < 11 ? inputs[1] : inputs[2];
  const sizesVal = ctx.opset < 11 ? undefined : inputs[3];
  const scales = scalesVal && !isEmpty(scalesVal) ? floats(scalesVal, 'its scales') : undefined;
  const sizes = sizesVal && !isEmpty(sizesVal) ? ints(sizesVal, 'its sizes') : undefined;
  const { out, scales: s } = targetSize(x, scales, sizes, attrInts(a, 'axes'));
  return [tensorVal(resizeNhwc(x, m, out, s, node.output?.[0] ?? 'resize', prepared), true)];
};

const isEmpty = (v: Val) => v.s !== undefined && v.s.data.length === 0;

export const upsample: OpFn = (inputs, a, ctx, node, prepared) => {
  const x = nhwcOf(inputs[0]!, ctx);
  const scales = ctx.opset < 9 ? (a.get('scales')?.floats ?? []).map(Number) : floats(inputs[1], 'its scales');
  const { out, scales: s } = targetSize(x, scales, undefined, undefined);
  return [tensorVal(resizeNhwc(x, modeOf(a, ctx.opset, true), out, s, node.output?.[0] ?? 'upsample', prepared), true)];
};

/** A kernel with holes: dilation d spreads a k×k kernel over (k−1)·d+1 cells (tfjs' transposed conv takes no dilation). */
function dilateKernel(w: tf.Tensor4D, d: [number, number]): tf.Tensor4D {
  if (d[0] === 1 && d[1] === 1) return w;
  const [kh, kw, o, i] = w.shape;
  const values = w.dataSync();
  const H = (kh - 1) * d[0] + 1;
  const W = (kw - 1) * d[1] + 1;
  const out = new Float32Array(H * W * o * i);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++) out.set(values.subarray((y * kw + x) * o * i, (y * kw + x + 1) * o * i), (y * d[0] * W + x * d[1]) * o * i);
  return tf.tensor4d(out, [H, W, o, i]);
}

/**
 * ConvTranspose as tfjs' conv2dTranspose at 'valid' padding (which gives the full output) and a crop by the pads;
 * output_padding extends the end, groups run one transposed conv per group. The input gradient is a convolution.
 */
export const convTranspose: OpFn = (inputs, a, ctx, node, prepared) => {
  const [xv, w, b] = inputs;
  if (!w?.s) throw new OpError('needs its weights as an initializer');
  const wDims = w.s.dims;
  if (wDims.length !== 4) throw new OpError(`has weights of shape [${wDims.join(',')}]; only 2-D transposed convolutions are supported`);
  const x = nhwcOf(xv!, ctx);
  const [n, h, wIn, inC] = x.shape;
  const group = attrInt(a, 'group', 1);
  if (inC !== wDims[0]) throw new OpError(`gets ${inC} input channels but its weights [${wDims.join(',')}] expect ${wDims[0]}`);
  const outPerGroup = wDims[1];
  const strides = (attrInts(a, 'strides') ?? [1, 1]) as [number, number];
  const dilations = (attrInts(a, 'dilations') ?? [1, 1]) as [number, number];
  const outputPadding = attrInts(a, 'output_padding') ?? [0, 0];
  const k = [(wDims[2] - 1) * dilations[0] + 1, (wDims[3] - 1) * dilations[1] + 1];
  const full = [strides[0] * (h - 1) + k[0], strides[1] * (wIn - 1) + k[1]];
  // Pads: given, or worked out from output_shape / SAME as the spec says.
  let pads: [number, number, number, number];
  const outputShape = attrInts(a, 'output_shape');
  const auto = attrString(a, 'auto_pad', 'NOTSET');
  if (outputShape || auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const target = outputShape ? outputShape.slice(-2) : [h * strides[0], wIn * strides[1]];
    const total = [0, 1].map((i) => full[i] + outputPadding[i] - target[i]);
    const upper = auto === 'SAME_UPPER';
    const begin = total.map((t) => (upper ? Math.floor(t / 2) : t - Math.floor(t / 2)));
    pads = [begin[0], begin[1], total[0] - begin[0], total[1] - begin[1]];
  } else if (auto === 'VALID') pads = [0, 0, 0, 0];
  else pads = spatialPads(a, h, wIn, k, strides, [1, 1]);
  const key = `${node.output?.[0]}:kernel`;
  let kernel = prepared.get(key) as tf.Tensor4D | undefined;
  if (!kernel) {
    // [C_in, C_out/group, kH, kW] → [kH, kW, C_out/group, C_in], holes for dilation.
    kernel = tf.keep(tf.tidy(() => dilateKernel(tf.transpose(ctx.tensorFor(w), [2, 3, 1, 0]) as tf.Tensor4D, dilations)));
    prepared.set(key, kernel);
  }
  const fullShape: [number, number, number, number] = [n, full[0] + outputPadding[0], full[1] + outputPadding[1], outPerGroup];
  const run = (xi: tf.Tensor4D, ki: tf.Tensor4D) => tf.conv2dTranspose(xi, ki, fullShape, strides, 'valid');
  let y: tf.Tensor4D;
  if (group === 1) y = run(x, kernel);
  else {
    const xs = tf.split(x, group, 3) as tf.Tensor4D[];
    const ks = tf.split(kernel, group, 3) as tf.Tensor4D[];
    y = tf.concat(xs.map((xi, i) => run(xi, ks[i])), 3) as tf.Tensor4D;
  }
  const [top, left, bottom, right] = pads;
  if (pads.some((p) => p !== 0)) y = tf.slice(y, [0, top, left, 0], [n, y.shape[1] - top - bottom, y.shape[2] - left - right, y.shape[3]]);
  if (b) y = tf.add(y, ctx.tensorFor(b)) as tf.Tensor4D;
  return [tensorVal(y, true)];
};
