import * as tf from '@tensorflow/tfjs';
import { basename, type NamedFile } from './files';
import { foreignTeacher } from './foreign-model';
import type { HeadRewrite } from './logits';
import { attrsOf, nchw, OpError, OPS, PASS_THROUGH_OPS, type OpContext, type Prepared, type Static, type Val } from './onnx-ops';
import { DataType, modelProto, type GraphProtoObj, type ModelProtoObj, type NodeProtoObj, type TensorProtoObj } from './onnx-schema';
import { ensureStridedSliceGradient } from './strided-slice-grad';
import { TeacherError } from './teacher-error';
import type { LoadedTeacher } from './teacher-load';

// ONNX models (torch.onnx.export, tf2onnx, keras2onnx): the protobuf is decoded with protobufjs from the schema in
// onnx-schema.ts, initializers become tfjs tensors, and the graph is run node by node with the differentiable tfjs
// ops of onnx-ops.ts, in an order sorted from the nodes' inputs (files do not always list nodes topologically).
// The teacher keeps the model's own input layout (NCHW for PyTorch exports), so the student is a drop-in
// replacement; a batch size fixed at export time is treated as free.

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];
const prod = (xs: readonly number[]) => xs.reduce((p, d) => p * d, 1);

/** Decode a .onnx file into plain objects (int64 as numbers, bytes as Uint8Array). */
export function decodeOnnx(data: ArrayBuffer, name: string): ModelProtoObj {
  const type = modelProto();
  try {
    const message = type.decode(new Uint8Array(data));
    return type.toObject(message, { longs: Number, arrays: true }) as ModelProtoObj;
  } catch (e) {
    throw new TeacherError('bad-onnx', `"${name}" is not a readable ONNX model (${firstLine(e)}); it may be truncated or damaged`);
  }
}

/** IEEE half → float. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** A copy of bytes in a fresh, aligned ArrayBuffer (protobufjs hands out views into the whole file). */
const copyBytes = (b: Uint8Array) => Uint8Array.prototype.slice.call(b).buffer as ArrayBuffer;

const DTYPE_NAMES: Record<number, string> = { 8: 'STRING', 14: 'COMPLEX64', 15: 'COMPLEX128', 0: 'UNDEFINED' };

/** An initializer or Constant tensor as a static value. */
export function decodeTensor(t: TensorProtoObj, files: readonly NamedFile[], modelName: string): Static {
  const label = `tensor "${t.name ?? ''}"`;
  const dims = (t.dims ?? []).map(Number);
  let raw = t.raw_data && t.raw_data.length > 0 ? t.raw_data : undefined;
  const external = t.external_data ?? [];
  if (t.data_location === 1 || external.length > 0) {
    const kv = new Map(external.map((e) => [e.key ?? '', e.value ?? '']));
    const location = kv.get('location') ?? '';
    const file = files.find((f) => basename(f.name) === basename(location));
    if (!file)
      throw new TeacherError(
        'missing-weights',
        `${modelName} keeps ${label} in the external file "${basename(location)}"; drop that file together with ${modelName}`,
      );
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : file.data.byteLength - offset;
    if (offset + length > file.data.byteLength)
      throw new TeacherError('weights-size', `"${basename(location)}" is too short for ${label} of ${modelName} (needs bytes ${offset}–${offset + length})`);
    raw = new Uint8Array(file.data, offset, length);
  }
  const type = t.data_type ?? 0;
  let data: Float32Array | number[];
  let isInt = false;
  const rawAs = <T>(Ctor: new (b: ArrayBuffer) => T) => new Ctor(copyBytes(raw!));
  switch (type) {
    case DataType.FLOAT:
      data = raw ? rawAs(Float32Array) : Float32Array.from(t.float_data ?? []);
      break;
    case DataType.DOUBLE:
      data = Float32Array.from(raw ? rawAs(Float64Array) : (t.double_data ?? []));
      break;
    case DataType.FLOAT16:
      data = Float32Array.from(raw ? rawAs(Uint16Array) : (t.int32_data ?? []), halfToFloat);
      break;
    case DataType.BFLOAT16: {
      const bits = raw ? rawAs(Uint16Array) : Uint16Array.from(t.int32_data ?? []);
      data = new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer);
      break;
    }
    case DataType.INT64:
      data = raw ? Array.from(rawAs(BigInt64Array), Number) : (t.int64_data ?? []).map(Number);
      isInt = true;
      break;
    case DataType.UINT64:
      data = raw ? Array.from(rawAs(BigUint64Array), Number) : (t.uint64_data ?? []).map(Number);
      isInt = true;
      break;
    case DataType.UINT32:
      data = raw ? Array.from(rawAs(Uint32Array)) : (t.uint64_data ?? []).map(Number);
      isInt = true;
      break;
    case DataType.INT32:
    case DataType.INT16:
    case DataType.INT8:
    case DataType.UINT16:
    case DataType.UINT8:
    case DataType.BOOL: {
      if (raw) {
        const Ctor = { [DataType.INT32]: Int32Array, [DataType.INT16]: Int16Array, [DataType.INT8]: Int8Array, [DataType.UINT16]: Uint16Array, [DataType.UINT8]: Uint8Array, [DataType.BOOL]: Uint8Array }[type]!;
        data = Array.from(new Ctor(copyBytes(raw)) as ArrayLike<number>);
      } else data = (t.int32_data ?? []).map(Number);
      isInt = true;
      break;
    }
    default:
      throw new TeacherError('bad-onnx', `${modelName} holds ${label} of type ${DTYPE_NAMES[type] ?? type}, which CAKE cannot read`);
  }
  const want = prod(dims);
  if (data.length !== want)
    throw new TeacherError('bad-onnx', `${modelName}: ${label} holds ${data.length} value${data.length === 1 ? '' : 's'} but its dims [${dims.join(',')}] need ${want}`);
  if (!isInt) {
    let bad = 0;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) bad++;
    if (bad > 0)
      throw new TeacherError(
        'non-finite-weights',
        `weight "${t.name ?? ''}" holds ${bad} NaN or infinite value${bad === 1 ? '' : 's'} (of ${data.length}); the model is broken: re-export it from a healthy checkpoint`,
      );
  }
  return { data, dims, isInt };
}

/** A node failed while running: which one, and why. */
class NodeError extends Error {
  constructor(
    readonly node: NodeProtoObj,
    override readonly cause: unknown,
  ) {
    super(firstLine(cause));
  }
}

const nodeLabel = (n: NodeProtoObj) => `node "${n.name || n.output?.[0] || '?'}" (${n.op_type})`;

/** Nodes needed for `target`, in an order where every node comes after the nodes it reads from. */
function scheduleFor(target: string, producers: Map<string, NodeProtoObj>, available: Set<string>, modelName: string): NodeProtoObj[] {
  const order: NodeProtoObj[] = [];
  const state = new Map<NodeProtoObj, 'visiting' | 'done'>();
  // Iterative depth-first search: deep graphs (ResNets have hundreds of nodes) must not overflow the stack.
  const visit = (root: NodeProtoObj) => {
    const stack: { node: NodeProtoObj; next: number }[] = [{ node: root, next: 0 }];
    state.set(root, 'visiting');
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const inputs = top.node.input ?? [];
      if (top.next < inputs.length) {
        const name = inputs[top.next++];
        if (name === '' || available.has(name)) continue;
        const producer = producers.get(name);
        if (!producer)
          throw new TeacherError('bad-onnx', `${modelName}: ${nodeLabel(top.node)} reads "${name}", which no node, graph input or initializer produces`);
        const s = state.get(producer);
        if (s === 'visiting') throw new TeacherError('bad-onnx', `${modelName}: the graph has a cycle through ${nodeLabel(producer)}`);
        if (s === undefined) {
          state.set(producer, 'visiting');
          stack.push({ node: producer, next: 0 });
        }
        continue;
      }
      state.set(top.node, 'done');
      order.push(top.node);
      stack.pop();
    }
  };
  if (available.has(target)) return order;
  const root = producers.get(target);
  if (!root) throw new TeacherError('bad-onnx', `${modelName}: the graph output "${target}" is produced by no node`);
  visit(root);
  return order;
}

interface OnnxGraph {
  name: string;
  inputName: string;
  /** Without the batch axis. */
  inputShape: number[];
  fixedBatch?: number;
  output: string;
  cut?: { value: string; removed: HeadRewrite };
  opset: number;
  statics: Map<string, Static>;
  producers: Map<string, NodeProtoObj>;
  params: number;
}

/** Read and check an ONNX model: one float image input, one output, supported ops; everything named on failure. */
export function readOnnxGraph(model: ModelProtoObj, files: readonly NamedFile[], name: string): OnnxGraph {
  const graph: GraphProtoObj | undefined = model.graph;
  if (!graph || (graph.node ?? []).length === 0)
    throw new TeacherError('bad-onnx', `"${name}" is not an ONNX model: it has no graph nodes`);
  const opsets = (model.opset_import ?? []).filter((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = opsets.length > 0 ? Math.max(...opsets.map((o) => Number(o.version ?? 1))) : 1;

  const statics = new Map<string, Static>();
  for (const init of graph.initializer ?? []) statics.set(init.name ?? '', decodeTensor(init, files, name));
  const inputs = (graph.input ?? []).filter((i) => !statics.has(i.name ?? ''));
  if (inputs.length !== 1)
    throw new TeacherError('inputs', `this ONNX model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); CAKE needs a single image input`);
  const input = inputs[0];
  const inputName = input.name ?? '';
  const tensorType = input.type?.tensor_type;
  if (!tensorType) throw new TeacherError('inputs', `the ONNX model's input "${inputName}" is not a tensor; CAKE needs a float image input`);
  if (tensorType.elem_type !== DataType.FLOAT)
    throw new TeacherError('inputs', `the ONNX model's input "${inputName}" has element type ${tensorType.elem_type}; CAKE needs a float32 image input`);
  const dims = tensorType.shape?.dim ?? [];
  const shapeText = `[${dims.map((d) => d.dim_value ?? d.dim_param ?? '?').join(',')}]`;
  if (dims.length < 2)
    throw new TeacherError('input-shape', `the ONNX model's input "${inputName}" has shape ${shapeText}; CAKE needs a batch axis and a fixed image size such as [N,1,28,28]`);
  const rest = dims.slice(1).map((d) => Number(d.dim_value ?? 0));
  if (rest.some((d) => !(d > 0)))
    throw new TeacherError('input-shape', `the ONNX model's input "${inputName}" has shape ${shapeText} with free dimensions; CAKE needs a fixed image size such as [N,1,28,28]`);
  if (rest.length > 3)
    throw new TeacherError('input-shape', `the ONNX model's input "${inputName}" has shape ${shapeText}; CAKE needs an image input [N,C,H,W], [N,H,W,C], [N,H,W] or [N,features]`);
  const batchDim = Number(dims[0].dim_value ?? 0);

  const outputs = graph.output ?? [];
  if (outputs.length !== 1)
    throw new TeacherError('outputs', `this ONNX model has ${outputs.length} outputs (${outputs.map((o) => o.name).join(', ')}); CAKE needs a single classifier output`);
  const output = outputs[0].name ?? '';

  const producers = new Map<string, NodeProtoObj>();
  for (const node of graph.node ?? []) {
    for (const out of node.output ?? []) if (out) producers.set(out, node);
    if (node.op_type === 'Constant' && (node.output ?? []).length > 0) {
      const t = attrsOf(node).get('value')?.t;
      if (t) statics.set(node.output![0], decodeTensor({ ...t, name: t.name || node.output![0] }, files, name));
    }
  }
  const available = new Set([inputName, ...statics.keys()]);
  const needed = scheduleFor(output, producers, available, name);

  // Every op the output depends on must be one we can run; list all that are not, once each.
  const unsupported = new Map<string, number>();
  for (const node of needed) {
    const domain = node.domain ?? '';
    const op = node.op_type ?? '';
    const known = (domain === '' || domain === 'ai.onnx') && op in OPS;
    if (!known) {
      const label = domain && domain !== 'ai.onnx' ? `${domain}.${op}` : op;
      unsupported.set(label, (unsupported.get(label) ?? 0) + 1);
    }
  }
  if (unsupported.size > 0) {
    const list = [...unsupported].map(([op, n]) => (n > 1 ? `${op} (${n} nodes)` : op)).join(', ');
    throw new TeacherError(
      'unsupported-op',
      `${name} uses ONNX op${unsupported.size === 1 ? '' : 's'} CAKE Studio cannot run yet: ${list}; supported are ${Object.keys(OPS).join(', ')}`,
    );
  }

  // A final Softmax (behind identities) can be cut off for exact logits; a final Sigmoid over several classes too.
  let cut: OnnxGraph['cut'];
  let last = producers.get(output);
  for (let guard = 0; last && PASS_THROUGH_OPS.has(last.op_type ?? '') && guard < 8; guard++) last = producers.get(last.input?.[0] ?? '');
  if (last && (last.op_type === 'Softmax' || last.op_type === 'Sigmoid') && last.input?.[0])
    cut = { value: last.input[0], removed: last.op_type === 'Softmax' ? 'softmax removed' : 'sigmoid removed' };

  const used = new Set(needed.flatMap((n) => n.input ?? []));
  // Parameters: the float initializers the output depends on (Constant nodes are not counted).
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const params = [...statics].filter(([k, s]) => !s.isInt && used.has(k) && initializers.has(k)).reduce((sum, [, s]) => sum + s.data.length, 0);
  return {
    name,
    inputName,
    inputShape: rest,
    fixedBatch: batchDim > 0 ? batchDim : undefined,
    output,
    cut,
    opset,
    statics,
    producers,
    params,
  };
}

/** Runs an ONNX graph with tfjs; owns the initializer tensors. */
export class OnnxExecutor {
  private readonly tensors = new Map<string, tf.Tensor>();
  private readonly prepared: Prepared = new Map();
  private readonly schedules = new Map<string, NodeProtoObj[]>();

  constructor(private readonly graph: OnnxGraph) {}

  private schedule(target: string): NodeProtoObj[] {
    let s = this.schedules.get(target);
    if (!s) {
      s = scheduleFor(target, this.graph.producers, new Set([this.graph.inputName, ...this.graph.statics.keys()]), this.graph.name);
      this.schedules.set(target, s);
    }
    return s;
  }

  /** A float tensor for a static value; initializers' tensors are created once and kept. */
  private tensorFor(v: Val, name?: string): tf.Tensor {
    const s = v.s!;
    if (name !== undefined) {
      let t = this.tensors.get(name);
      if (!t) {
        t = tf.keep(tf.tensor(s.data, s.dims, 'float32'));
        this.tensors.set(name, t);
      }
      return t;
    }
    return tf.tensor(s.data, s.dims, 'float32');
  }

  /** Run the graph on x ([batch, …inputShape]) up to `target` (default: the model's output). */
  run(x: tf.Tensor, target = this.graph.output): tf.Tensor {
    return tf.tidy(() => {
      const values = new Map<string, Val>();
      // Static values carry their name so that their tensors are cached across runs.
      const named = new WeakMap<Val, string>();
      for (const [name, s] of this.graph.statics) {
        const v: Val = { s };
        named.set(v, name);
        values.set(name, v);
      }
      values.set(this.graph.inputName, { t: x });
      const ctx: OpContext = {
        opset: this.graph.opset,
        tensorFor: (v) => this.tensorFor(v, named.get(v)),
        fixedBatch: this.graph.fixedBatch,
        batch: x.shape[0],
      };
      for (const node of this.schedule(target)) {
        const inputs = (node.input ?? []).map((n) => (n === '' ? undefined : values.get(n)));
        let outs: Val[];
        try {
          // Constant nodes with a tensor value were read with the graph.
          if (node.op_type === 'Constant' && values.has(node.output?.[0] ?? '')) continue;
          outs = OPS[node.op_type ?? ''](inputs, attrsOf(node), ctx, node, this.prepared);
        } catch (e) {
          throw new NodeError(node, e);
        }
        (node.output ?? []).forEach((o, i) => {
          if (o && outs[i]) values.set(o, outs[i]);
        });
      }
      const out = values.get(target)!;
      return out.t ? nchw(out, ctx) : ctx.tensorFor(out);
    });
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    for (const t of this.prepared.values()) t.dispose();
    this.tensors.clear();
    this.prepared.clear();
  }
}

/** One sentence for a failure while running or differentiating the graph. */
function explainOnnxError(e: Error, during: 'run' | 'gradient', name: string): TeacherError | undefined {
  if (e instanceof NodeError) {
    const cause = e.cause;
    if (cause instanceof TeacherError) return cause;
    const label = nodeLabel(e.node);
    if (cause instanceof OpError) return new TeacherError('unsupported-op', `${name}: ${label} ${cause.message}`);
    return new TeacherError('build-failed', `${name}: ${label} failed: ${firstLine(cause)}`);
  }
  const message = firstLine(e);
  const noGrad = /gradient function not found for (\w+)/.exec(message) ?? /Kernel '(\w+)' not registered/.exec(message);
  if (noGrad && during === 'gradient')
    return new TeacherError(
      'no-gradient',
      `${name} needs the TensorFlow.js kernel ${noGrad[1]} to compute input gradients, which this backend does not have, so CAKE cannot synthesise inputs through the model`,
    );
  return undefined;
}

/** Load an ONNX model from a .onnx file (and any external-data files dropped with it). */
export async function loadOnnxTeacher(file: NamedFile, all: readonly NamedFile[]): Promise<LoadedTeacher> {
  const name = basename(file.name);
  const graph = readOnnxGraph(decodeOnnx(file.data, name), all, name);
  ensureStridedSliceGradient();
  const executor = new OnnxExecutor(graph);
  const warnings =
    graph.fixedBatch !== undefined && graph.fixedBatch !== -1
      ? [`the ONNX model's input declares a fixed batch of ${graph.fixedBatch}; CAKE runs it on batches of any size`]
      : [];
  return foreignTeacher(
    {
      format: 'onnx',
      modelFile: file,
      inputName: graph.inputName,
      inputShape: graph.inputShape,
      params: graph.params,
      layerName: 'OnnxGraph',
      run: (x) => executor.run(x),
      cut: graph.cut && { removed: graph.cut.removed, run: (x) => executor.run(x, graph.cut!.value) },
      warnings,
      explain: (e, during) => explainOnnxError(e, during, name),
      dispose: () => executor.dispose(),
    },
    all,
  );
}
