import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeBackend } from '../tfjs/node-backend';
import { checkInputGradient } from './gradient-check';
import { decodeOnnx, OnnxExecutor, readOnnxGraph } from './onnx';
import { aFloat, aInt, aInts, aString, aTensor, floatTensor, int64Tensor, node, onnxFile, onnxModel, valueInfo } from './onnx-fixtures';
import { ortRun } from './onnx-reference';
import { DataType } from './onnx-schema';

// Each op CAKE runs from ONNX, in the forms exporters write it, against ONNX Runtime's output on the same graph,
// at two batch sizes (the batch is free), plus the input-gradient check CAKE runs at load time.

beforeAll(async () => {
  await initNodeBackend();
});

type Obj = Record<string, unknown>;
const INT64_MAX = 9223372036854775807;

/** A one-input, one-output model around `nodes`, the input named x ([N, …shape]) and the output y. */
function graph(nodes: Obj[], inputShape: number[], opts: { opset?: number; init?: Obj[] } = {}): Obj {
  return onnxModel({ node: nodes, initializer: opts.init ?? [], input: [valueInfo('x', ['N', ...inputShape])], output: [{ name: 'y', type: { tensor_type: { elem_type: DataType.FLOAT } } }] }, opts.opset ?? 13);
}

const c64 = (name: string, values: number[], dims = [values.length]) => node('Constant', [], [name], [aTensor('value', int64Tensor('', values, dims))]);
const cf = (name: string, values: number[], dims = [values.length]) => node('Constant', [], [name], [aTensor('value', floatTensor('', tf.tensor(values, dims)))]);

/**
 * Our output against ONNX Runtime's at batches 2 and 3, and the gradient check; returns how many nodes were folded
 * into constants when the model was read.
 */
async function check(model: Obj, inputShape: number[], opts: { tolerance?: number; grad?: boolean; range?: [number, number] } = {}): Promise<number> {
  const file = onnxFile('t.onnx', model);
  const g = readOnnxGraph(decodeOnnx(file.data, 't.onnx'), [], 't.onnx');
  const exec = new OnnxExecutor(g);
  try {
    for (const batch of [2, 3]) {
      const x = opts.range
        ? tf.randomUniform([batch, ...inputShape], opts.range[0], opts.range[1], 'float32', batch)
        : tf.randomNormal([batch, ...inputShape], 0, 1, 'float32', batch);
      const values = x.dataSync() as Float32Array;
      const ref = await ortRun(file, values, x.shape);
      const ours = exec.run(x);
      expect(ours.shape).toEqual(ref.dims);
      const got = ours.dataSync();
      const scale = Math.max(1, ...Array.from(ref.data, Math.abs));
      let worst = 0;
      ref.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got[i]))));
      expect(worst / scale).toBeLessThan(opts.tolerance ?? 1e-5);
      tf.dispose([x, ours]);
    }
    if (opts.grad !== false) {
      const result = await checkInputGradient((x) => tf.reshape(exec.run(x), [x.shape[0], -1]) as tf.Tensor2D, inputShape, { range: opts.range });
      expect(result.message).toMatch(/^input gradients match/);
    }
    return g.folded;
  } finally {
    exec.dispose();
  }
}

describe('ONNX shape subgraphs fold into constants', () => {
  it("PyTorch's option-A shortcut (strided Slice, F.pad's ConstantOfShape/Concat/Reshape/reversed Slice/Transpose/Cast, Pad)", async () => {
    const nodes = [
      c64('two', [2]),
      c64('zero', [0]),
      c64('end', [INT64_MAX]),
      c64('three', [3]),
      node('Slice', ['x', 'zero', 'end', 'two', 'two'], ['s1']),
      node('Slice', ['s1', 'zero', 'end', 'three', 'two'], ['s2']),
      c64('len', [2]),
      c64('pads6', [0, 0, 0, 0, 2, 2]),
      node('ConstantOfShape', ['len'], ['zeros'], [aTensor('value', int64Tensor('', [0], [1]))]),
      node('Concat', ['pads6', 'zeros'], ['pads8'], [aInt('axis', 0)]),
      c64('pairs', [-1, 2]),
      node('Reshape', ['pads8', 'pairs'], ['r']),
      c64('minus1', [-1]),
      c64('minusEnd', [-INT64_MAX]),
      node('Slice', ['r', 'minus1', 'minusEnd', 'zero', 'minus1'], ['rev']),
      node('Transpose', ['rev'], ['tr'], [aInts('perm', [1, 0])]),
      node('Reshape', ['tr', 'minus1'], ['flat']),
      node('Cast', ['flat'], ['pads'], [aInt('to', DataType.INT64)]),
      cf('padValue', [0], []),
      node('Pad', ['s2', 'pads', 'padValue'], ['y'], [aString('mode', 'constant')]),
    ];
    const folded = await check(graph(nodes, [3, 8, 8]), [3, 8, 8]);
    // Everything but the two data slices and the Pad is a constant.
    expect(folded).toBe(nodes.length - 3);
  });

  it("x.view(x.size(0), -1), zeros_like and expand_as: Shape, Gather, Unsqueeze, Concat, ConstantOfShape, Expand, Equal, Where", async () => {
    const nodes = [
      node('Shape', ['x'], ['shape']),
      c64('zero', [0], []),
      node('Gather', ['shape', 'zero'], ['batch'], [aInt('axis', 0)]),
      c64('axes0', [0]),
      node('Unsqueeze', ['batch', 'axes0'], ['batch1']),
      c64('minus1', [-1]),
      node('Concat', ['batch1', 'minus1'], ['flatShape'], [aInt('axis', 0)]),
      node('Reshape', ['x', 'flatShape'], ['flat']),
      node('Shape', ['flat'], ['fshape']),
      node('ConstantOfShape', ['fshape'], ['ones'], [aTensor('value', floatTensor('', tf.tensor([1], [1])))]),
      node('Expand', ['bias', 'fshape'], ['b']),
      node('Mul', ['ones', 'b'], ['scaled']),
      node('Equal', ['fshape', 'fshape'], ['same']),
      node('Where', ['same', 'fshape', 'fshape'], ['fshape2']),
      node('Reshape', ['scaled', 'fshape2'], ['scaled2']),
      node('Add', ['flat', 'scaled2'], ['y']),
    ];
    const init = [floatTensor('bias', tf.randomNormal([1, 48], 0, 1, 'float32', 3))];
    await check(graph(nodes, [3, 4, 4], { init }), [3, 4, 4]);
  });

  it('Range, Not, Less, Cast and Where on data (a mask over the channels)', async () => {
    const nodes = [
      node('Shape', ['x'], ['shape']),
      c64('one', [1], []),
      node('Gather', ['shape', 'one'], ['channels']),
      c64('zero', [0], []),
      node('Range', ['zero', 'channels', 'one'], ['idx']),
      c64('two', [2], []),
      node('Less', ['idx', 'two'], ['low']),
      node('Not', ['low'], ['high']),
      c64('axes', [1, 2]),
      node('Unsqueeze', ['high', 'axes'], ['mask']),
      node('Where', ['mask', 'x', 'half'], ['masked']),
      node('Greater', ['x', 'zeroF'], ['positive']),
      node('Where', ['positive', 'masked', 'x'], ['y']),
    ];
    const init = [floatTensor('half', tf.scalar(0.5)), floatTensor('zeroF', tf.scalar(0))];
    await check(graph(nodes, [4, 3, 3], { init }), [4, 3, 3]);
  });
});

describe('ONNX ops against ONNX Runtime', () => {
  it('Tile and Expand on data', async () => {
    const nodes = [
      c64('reps', [1, 2, 1, 3]),
      node('Tile', ['x', 'reps'], ['t']),
      c64('one', [1]),
      node('Unsqueeze', ['t', 'one'], ['t5']),
      c64('shape', [1, 3, 1, 1, 1]),
      node('Expand', ['t5', 'shape'], ['e']),
      c64('reps5', [1, 1, 2, 1, 1]),
      node('Tile', ['e', 'reps5'], ['y']),
    ];
    await check(graph(nodes, [3, 2, 2]), [3, 2, 2]);
  });

  it('Split: sizes as an attribute (opset 11), as an input (13), num_outputs (18); Squeeze and Unsqueeze both ways', async () => {
    const opset11 = [
      node('Split', ['x'], ['a', 'b'], [aInt('axis', 1), aInts('split', [1, 3])]),
      node('Unsqueeze', ['a'], ['a5'], [aInts('axes', [0])]),
      node('Squeeze', ['a5'], ['a4'], [aInts('axes', [0])]),
      node('Concat', ['b', 'a4'], ['y'], [aInt('axis', 1)]),
    ];
    await check(graph(opset11, [4, 3, 3], { opset: 11 }), [4, 3, 3]);
    const opset13 = [
      c64('sizes', [2, 2]),
      node('Split', ['x', 'sizes'], ['a', 'b'], [aInt('axis', -1)]),
      c64('ax', [1]),
      node('Unsqueeze', ['a', 'ax'], ['a5']),
      node('Squeeze', ['a5', 'ax'], ['a4']),
      node('Sub', ['a4', 'b'], ['y']),
    ];
    await check(graph(opset13, [2, 3, 4], { opset: 13 }), [2, 3, 4]);
    const opset18 = [node('Split', ['x'], ['a', 'b', 'c'], [aInt('axis', 1), aInt('num_outputs', 3)]), node('Concat', ['c', 'a', 'b'], ['y'], [aInt('axis', 1)])];
    await check(graph(opset18, [7, 2, 2], { opset: 18 }), [7, 2, 2]);
  });

  it('Resize: nearest (asymmetric, floor) by scales, linear (half_pixel, align_corners) by sizes, cubic; Upsample (opset 9)', async () => {
    const scales = floatTensor('scales', tf.tensor([1, 1, 2, 2]));
    const nearest = [node('Resize', ['x', '', 'scales'], ['y'], [aString('mode', 'nearest'), aString('coordinate_transformation_mode', 'asymmetric'), aString('nearest_mode', 'floor')])];
    await check(graph(nearest, [2, 3, 4], { init: [scales] }), [2, 3, 4]);
    for (const coordinates of ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric']) {
      // F.interpolate(x, size=(7, 5)): the sizes are the input's N and C (from its shape) and the new H, W.
      const linear = [
        node('Shape', ['x'], ['shape']),
        c64('zero', [0]),
        c64('two', [2]),
        node('Slice', ['shape', 'zero', 'two', 'zero'], ['nc']),
        c64('hw', [7, 5]),
        node('Concat', ['nc', 'hw'], ['sizes'], [aInt('axis', 0)]),
        node('Resize', ['x', '', '', 'sizes'], ['y'], [aString('mode', 'linear'), aString('coordinate_transformation_mode', coordinates)]),
      ];
      await check(graph(linear, [2, 3, 4]), [2, 3, 4]);
    }
    const linear = [node('Resize', ['x', '', 'scales2'], ['y'], [aString('mode', 'linear')])];
    await check(graph(linear, [2, 3, 4], { init: [floatTensor('scales2', tf.tensor([1, 1, 1.5, 0.5]))] }), [2, 3, 4]);
    const cubic = [node('Resize', ['x', '', 'scales'], ['y'], [aString('mode', 'cubic'), aFloat('cubic_coeff_a', -0.75)])];
    await check(graph(cubic, [2, 4, 4], { init: [scales] }), [2, 4, 4], { tolerance: 1e-4 });
    const upsample = [node('Upsample', ['x', 'scales'], ['y'], [aString('mode', 'nearest')])];
    await check(graph(upsample, [2, 3, 3], { opset: 9, init: [scales] }), [2, 3, 3]);
  });
});

describe('ONNX ops against ONNX Runtime: layers', () => {
  const conv = (input: string, output: string, w: string, extra: Obj[] = []) => node('Conv', [input, w], [output], [aInts('kernel_shape', [3, 3]), aInts('pads', [1, 1, 1, 1]), ...extra]);
  const w4 = (name: string, dims: number[], seed: number) => floatTensor(name, tf.randomNormal(dims, 0, 0.5, 'float32', seed));

  it('ReduceL2 (axes as an attribute, then as an input), ReduceL1, ReduceSumSquare, ReduceLogSumExp, without keepdims on NHWC', async () => {
    const opset13 = [conv('x', 'c', 'w'), node('ReduceL2', ['c'], ['l2'], [aInts('axes', [2, 3]), aInt('keepdims', 0)]), node('ReduceL1', ['c'], ['l1'], [aInts('axes', [1]), aInt('keepdims', 0)]), node('Flatten', ['l1'], ['f']), node('Concat', ['l2', 'f'], ['y'], [aInt('axis', 1)])];
    await check(graph(opset13, [2, 4, 4], { init: [w4('w', [3, 2, 3, 3], 1)] }), [2, 4, 4]);
    const opset18 = [conv('x', 'c', 'w'), c64('axes', [1]), node('ReduceL2', ['c', 'axes'], ['a'], [aInt('keepdims', 1)]), node('ReduceSumSquare', ['a', 'axes'], ['b']), node('ReduceLogSumExp', ['b', 'axes'], ['y'])];
    await check(graph(opset18, [2, 4, 4], { opset: 18, init: [w4('w', [3, 2, 3, 3], 2)] }), [2, 4, 4]);
  });

  it('HardSigmoid, HardSwish (opset 14) and the opset-13 hard-swish (x · HardSigmoid(x, 1/6))', async () => {
    const nodes = [node('HardSwish', ['x'], ['a']), node('HardSigmoid', ['x'], ['hs'], [aFloat('alpha', 1 / 6), aFloat('beta', 0.5)]), node('Mul', ['x', 'hs'], ['b']), node('HardSigmoid', ['x'], ['c']), node('Sum', ['a', 'b', 'c'], ['y'])];
    await check(graph(nodes, [3, 4, 4], { opset: 14 }), [3, 4, 4], { range: [-5, 5] });
  });

  it('ConvTranspose: stride 2 with pads and output_padding, groups, dilation, output_shape, SAME_UPPER', async () => {
    const variants: Obj[][] = [
      [aInts('strides', [2, 2]), aInts('pads', [1, 1, 1, 1]), aInts('output_padding', [1, 1])],
      [aInt('group', 2), aInts('strides', [1, 2])],
      [aInts('dilations', [2, 2]), aInts('pads', [0, 1, 2, 0])],
      [aInts('strides', [2, 2]), aInts('output_shape', [9, 8])],
      [aInts('strides', [2, 2]), aString('auto_pad', 'SAME_UPPER')],
    ];
    for (const [i, attrs] of variants.entries()) {
      const group = i === 1 ? 2 : 1;
      const nodes = [node('ConvTranspose', ['x', 'w', 'b'], ['y'], [aInts('kernel_shape', [3, 3]), ...attrs])];
      const init = [w4('w', [4, 6 / group, 3, 3], 10 + i), w4('b', [6], 20 + i)];
      await check(graph(nodes, [4, 5, 4], { init }), [4, 5, 4]);
    }
  });

  it('DepthToSpace (DCR and CRD) and SpaceToDepth', async () => {
    for (const mode of ['DCR', 'CRD']) {
      const nodes = [node('DepthToSpace', ['x'], ['d'], [aInt('blocksize', 2), aString('mode', mode)]), conv('d', 'y', 'w')];
      await check(graph(nodes, [8, 3, 2], { init: [w4('w', [3, 2, 3, 3], 30)] }), [8, 3, 2]);
    }
    await check(graph([node('SpaceToDepth', ['x'], ['y'], [aInt('blocksize', 2)])], [3, 4, 6]), [3, 4, 6]);
  });

  it('InstanceNormalization, LayerNormalization (opset 17) and Gelu (opset 20, both forms)', async () => {
    const init = [w4('w', [4, 2, 3, 3], 40), w4('scale', [4], 41), w4('bias', [4], 42), w4('ln', [5], 43), w4('lnb', [5], 44)];
    const nodes = [
      conv('x', 'c', 'w'),
      node('InstanceNormalization', ['c', 'scale', 'bias'], ['i'], [aFloat('epsilon', 1e-3)]),
      node('LayerNormalization', ['i', 'ln', 'lnb'], ['l'], [aInt('axis', -1), aFloat('epsilon', 1e-4)]),
      node('Gelu', ['l'], ['g1']),
      node('Gelu', ['l'], ['g2'], [aString('approximate', 'tanh')]),
      node('Sub', ['g1', 'g2'], ['d']),
      node('Add', ['d', 'g1'], ['y']),
    ];
    await check(graph(nodes, [2, 3, 5], { opset: 20, init }), [2, 3, 5], { tolerance: 1e-4 });
  });

  it('Einsum as matmuls: attention scores, a linear layer, a transpose with a sum, and an ellipsis', async () => {
    const init = [w4('w', [6, 5], 50)];
    const nodes = [
      node('Einsum', ['x', 'x'], ['att'], [aString('equation', 'bhid,bhjd->bhij')]),
      node('Einsum', ['x', 'w'], ['lin'], [aString('equation', 'bhij,oj->bhio')]),
      node('Einsum', ['lin'], ['t'], [aString('equation', 'bhio->boh')]),
      node('Einsum', ['att', 'x'], ['e'], [aString('equation', '...ij,...jk->...ik')]),
      node('Flatten', ['t'], ['tf']),
      node('Flatten', ['e'], ['ef']),
      node('Concat', ['tf', 'ef'], ['y'], [aInt('axis', 1)]),
    ];
    await check(graph(nodes, [2, 3, 5], { opset: 13, init }), [2, 3, 5], { tolerance: 1e-4 });
  });

  it('Gather on data (indices and a scalar), Pad (edge, reflect, negative), Softmax over channels and Max/Mean of several inputs, kept NHWC', async () => {
    const nodes = [
      conv('x', 'c', 'w'),
      c64('idx', [2, 0, 1, 1]),
      node('Gather', ['c', 'idx'], ['g'], [aInt('axis', 1)]),
      c64('one', [1], []),
      node('Gather', ['c', 'one'], ['g1'], [aInt('axis', 2)]),
      c64('p1', [0, 0, 1, 2, 0, 0, 2, 1]),
      node('Pad', ['g', 'p1'], ['pe'], [aString('mode', 'edge')]),
      node('Pad', ['g', 'p1'], ['pr'], [aString('mode', 'reflect')]),
      c64('p2', [0, 0, -1, 1, 0, 0, 1, -1]),
      node('Pad', ['g', 'p2'], ['pn']),
      node('Softmax', ['pn'], ['sm'], [aInt('axis', 1)]),
      node('Max', ['pe', 'pr', 'pe'], ['mx']),
      node('Mean', ['pe', 'pr'], ['mn']),
      node('Add', ['mx', 'mn'], ['s']),
      node('Flatten', ['s'], ['f1']),
      node('Flatten', ['sm'], ['f2']),
      node('Flatten', ['g1'], ['f3']),
      node('Concat', ['f1', 'f2', 'f3'], ['y'], [aInt('axis', 1)]),
    ];
    await check(graph(nodes, [2, 5, 5], { init: [w4('w', [3, 2, 3, 3], 60)] }), [2, 5, 5]);
  });
});
