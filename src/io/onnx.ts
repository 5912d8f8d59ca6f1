import * as tf from '@tensorflow/tfjs';
import { basename, type NamedFile } from './files';
import type { HeadRewrite } from './logits';
import { attrsOf } from './onnx-attrs';
import { nchw, OpError, OPS, PASS_THROUGH_OPS, type OpContext, type Prepared, type Val } from './onnx-ops';
import { STATIC_OPS } from './onnx-static';
import { decodeTensor, type Static } from './onnx-tensor';
import { DataType, modelProto, type GraphProtoObj, type ModelProtoObj, type NodeProtoObj } from './onnx-schema';
import { ensureComparisonGradients } from './comparison-grads';
import { ensureStridedSliceGradient } from './strided-slice-grad';
import { internalFailure, TeacherError } from './teacher-error';
import type { Network } from './network';

// ONNX models (torch.onnx.export, tf2onnx, keras2onnx): the protobuf is decoded with protobufjs from the schema in
// onnx-schema.ts and initializers become JS values (onnx-tensor.ts). When the model is read, every node whose inputs
// are all constants is folded into a constant (onnx-static.ts); the rest runs node by node, in an order sorted from
// the nodes' inputs (files do not always list nodes topologically): what depends only on the input's shape in JS,
// once per batch size, and everything on the data with the differentiable tfjs ops of onnx-ops.ts. The teacher
// keeps the model's own input layout (NCHW for PyTorch exports), so the student is a drop-in replacement; a batch
// size fixed at export time is treated as free.

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

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
  /** Initializers, and every value folded from constants when the model was read. */
  statics: Map<string, Static>;
  /** The nodes left to run, by the values they produce. */
  producers: Map<string, NodeProtoObj>;
  /** Nodes that read only shapes and constants: the same for every batch of one size. */
  shapeOnly: Set<NodeProtoObj>;
  params: number;
  /** Nodes evaluated into constants when the model was read. */
  folded: number;
}

/** Run one node: in JS when all its inputs are known and the op is one onnx-static.ts evaluates, else with tfjs. */
function runNode(node: NodeProtoObj, inputs: (Val | undefined)[], ctx: OpContext, prepared: Prepared): Val[] {
  const op = node.op_type ?? '';
  const a = attrsOf(node);
  const staticFn = STATIC_OPS[op];
  if (staticFn && inputs.every((v) => v === undefined || (v.s !== undefined && v.t === undefined))) {
    const r = staticFn(inputs.map((v) => v?.s), a, ctx.opset, (node.output ?? []).length);
    if (r) return r.map((s) => ({ s }));
  }
  const fn = OPS[op];
  if (!fn) throw new OpError('has an input computed from the image, and this op runs only on constants here');
  return fn(inputs, a, ctx, node, prepared);
}

const isDefaultDomain = (node: NodeProtoObj) => !node.domain || node.domain === 'ai.onnx';

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

  const allProducers = new Map<string, NodeProtoObj>();
  for (const node of graph.node ?? []) for (const out of node.output ?? []) if (out) allProducers.set(out, node);
  const needed = scheduleFor(output, allProducers, new Set([inputName, ...statics.keys()]), name);
  const used = new Set(needed.flatMap((n) => n.input ?? []));
  // Parameters: the float initializers the output depends on (constants folded from them are not counted twice).
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const params = [...statics].filter(([k, s]) => !s.isInt && used.has(k) && initializers.has(k)).reduce((sum, [, s]) => sum + s.data.length, 0);

  // Fold: every node whose inputs are all constants becomes a constant (Constant nodes, F.pad's pads arithmetic,
  // weights reshaped or transposed by the exporter). The batch size is not known here, so what hangs off Shape(x)
  // stays, and is evaluated in JS per batch size when the model runs.
  const remaining: NodeProtoObj[] = [];
  const foldCtx = { opset, tensorFor: () => tf.scalar(0), batch: 1 } as OpContext;
  for (const node of needed) {
    const ins = node.input ?? [];
    const op = node.op_type ?? '';
    if (!isDefaultDomain(node) || !(op in STATIC_OPS) || !ins.every((n) => n === '' || statics.has(n))) {
      remaining.push(node);
      continue;
    }
    let outs: Val[];
    try {
      outs = runNode(node, ins.map((n) => (n === '' ? undefined : { s: statics.get(n) })), foldCtx, new Map());
    } catch (e) {
      throw explainOnnxError(new NodeError(node, e), 'run', name) ?? e;
    }
    if (!outs.every((v) => v.s)) {
      remaining.push(node);
      continue;
    }
    (node.output ?? []).forEach((o, i) => {
      if (o && outs[i]?.s) statics.set(o, outs[i].s!);
    });
  }

  // Which values depend on the image's values (not only its shape): those nodes need a tensor op, the others can
  // be evaluated in JS. Every node must be one of the two, and each op CAKE cannot run is listed once.
  const data = new Set([inputName]);
  const shapeOnly = new Set<NodeProtoObj>();
  const unsupported = new Map<string, number>();
  for (const node of remaining) {
    const op = node.op_type ?? '';
    const onData = op !== 'Shape' && op !== 'Size' && (node.input ?? []).some((n) => data.has(n));
    if (onData) for (const o of node.output ?? []) data.add(o);
    else shapeOnly.add(node);
    const known = isDefaultDomain(node) && (op in OPS || (!onData && op in STATIC_OPS));
    if (!known) {
      const label = isDefaultDomain(node) ? op : `${node.domain}.${op}`;
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

  const producers = new Map<string, NodeProtoObj>();
  for (const node of remaining) for (const out of node.output ?? []) if (out) producers.set(out, node);
  // A final Softmax (behind identities) can be cut off for exact logits; a final Sigmoid over several classes too.
  let cut: OnnxGraph['cut'];
  let last = producers.get(output);
  for (let guard = 0; last && PASS_THROUGH_OPS.has(last.op_type ?? '') && guard < 8; guard++) last = producers.get(last.input?.[0] ?? '');
  if (last && (last.op_type === 'Softmax' || last.op_type === 'Sigmoid') && last.input?.[0])
    cut = { value: last.input[0], removed: last.op_type === 'Softmax' ? 'softmax removed' : 'sigmoid removed' };

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
    shapeOnly,
    params,
    folded: needed.length - remaining.length,
  };
}

/** Runs an ONNX graph with tfjs; owns the initializer tensors. */
export class OnnxExecutor {
  private readonly tensors = new Map<string, tf.Tensor>();
  private readonly prepared: Prepared = new Map();
  private readonly schedules = new Map<string, NodeProtoObj[]>();
  /**
   * Per target and batch size: the values of the shape-only nodes, computed on the first run. Later runs of that
   * size skip those nodes, so the shape arithmetic is folded once the batch is known.
   */
  private readonly shapeValues = new Map<string, { values: Map<string, Static>; skip: Set<NodeProtoObj> }>();

  constructor(private readonly graph: OnnxGraph) {
    // Strided slices and comparisons on the data path need gradients tfjs does not register.
    ensureStridedSliceGradient();
    ensureComparisonGradients();
  }

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
      const key = `${target}\u0000${x.shape[0]}`;
      const known = this.shapeValues.get(key);
      if (known) for (const [n, s] of known.values) values.set(n, { s });
      const schedule = this.schedule(target);
      for (const node of schedule) {
        if (known?.skip.has(node)) continue;
        const inputs = (node.input ?? []).map((n) => (n === '' ? undefined : values.get(n)));
        let outs: Val[];
        try {
          outs = runNode(node, inputs, ctx, this.prepared);
        } catch (e) {
          throw new NodeError(node, e);
        }
        (node.output ?? []).forEach((o, i) => {
          if (o && outs[i]) values.set(o, outs[i]);
        });
      }
      if (!known) this.shapeValues.set(key, shapeOnlyValues(schedule, this.graph.shapeOnly, values));
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

/** The shape-only nodes of a run whose outputs all came out as JS values, with those values. */
function shapeOnlyValues(schedule: NodeProtoObj[], shapeOnly: Set<NodeProtoObj>, values: Map<string, Val>) {
  const out = { values: new Map<string, Static>(), skip: new Set<NodeProtoObj>() };
  for (const node of schedule) {
    if (!shapeOnly.has(node)) continue;
    const outs = (node.output ?? []).filter((o) => o !== '');
    if (!outs.every((o) => values.get(o)?.s && !values.get(o)?.t)) continue;
    for (const o of outs) out.values.set(o, values.get(o)!.s!);
    out.skip.add(node);
  }
  return out;
}

/** One sentence for a failure while running or differentiating the graph. */
function explainOnnxError(e: Error, during: 'run' | 'gradient', name: string): TeacherError | undefined {
  if (e instanceof NodeError) {
    const cause = e.cause;
    if (cause instanceof TeacherError) return cause;
    const label = nodeLabel(e.node);
    if (cause instanceof OpError) return new TeacherError('unsupported-op', `${name}: ${label} ${cause.message}`);
    const inside = internalFailure(cause);
    if (inside)
      return new TeacherError('build-failed', `${name}: ${label} failed inside TensorFlow.js, as it does when a shape, attribute or weight the node reads is out of range or missing; the model is damaged`, {
        restartReader: inside.abort,
      });
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

/** Read an ONNX model from a .onnx file (and any external-data files dropped with it). */
export function readOnnxNetwork(file: NamedFile, all: readonly NamedFile[]): Network {
  const name = basename(file.name);
  const graph = readOnnxGraph(decodeOnnx(file.data, name), all, name);
  const executor = new OnnxExecutor(graph);
  const warnings =
    graph.fixedBatch !== undefined && graph.fixedBatch !== -1
      ? [`the ONNX model's input declares a fixed batch of ${graph.fixedBatch}; CAKE runs it on batches of any size`]
      : [];
  return {
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
  };
}
