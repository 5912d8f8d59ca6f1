import * as tf from '@tensorflow/tfjs';
import { basename, type NamedFile } from './files';
import type { HeadRewrite } from './logits';
import { validateManifest } from './model-json';
import { ensureComparisonGradients } from './comparison-grads';
import { ensureStridedSliceGradient } from './strided-slice-grad';
import { checkGraphNodes } from './graph-guard';
import { TeacherError } from './teacher-error';
import type { Network } from './network';
import { checkFiniteWeights, resolveWeights } from './weights';

// TensorFlow.js graph models (tensorflowjs_converter's output for SavedModels and frozen graphs): model.json holds
// a TensorFlow GraphDef (`node` list) instead of a Keras config, either with `format: graph-model` and a
// `signature`, or, from pre-1.0 converters, with neither. tfjs runs them with GraphModel.execute, which records
// every op on the gradient tape, so input gradients flow wherever each op has a gradient. What this file adds:
// a StridedSlice gradient (tfjs has none), the logits cut before a final Softmax, a fixed batch dimension relaxed
// to any batch, and errors that name the op that stops a model.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Json;
}

/** Whether a parsed model.json holds a graph model (with the format key, or a legacy GraphDef topology). */
export function isGraphModelJson(json: Json): boolean {
  if (json.format === 'graph-model') return true;
  const t = json.modelTopology;
  return isObject(t) && (Array.isArray(t.node) || 'versions' in t || 'library' in t);
}

/** "node:1" and "^node" (a control input) both refer to node "node". */
const nodeName = (ref: string) => ref.replace(/^\^/, '').split(':')[0];

/** Ops that pass their first input through unchanged at inference. */
const PASS_THROUGH = new Set(['Identity', 'Snapshot', 'StopGradient', 'PreventGradient']);

/**
 * The node whose output is the pre-softmax logits, when the graph's one output is (after identities) a Softmax,
 * or a Sigmoid over several classes; the loader checks the cut numerically before trusting it.
 */
function findCut(nodes: Map<string, GraphNode>, output: string): { node: string; removed: HeadRewrite } | undefined {
  let node = nodes.get(nodeName(output));
  for (let guard = 0; node && PASS_THROUGH.has(node.op) && guard < 16; guard++) node = nodes.get(nodeName(node.input?.[0] ?? ''));
  if (!node || !node.input?.length) return undefined;
  const source = node.input[0].replace(/^\^/, '');
  if (node.op === 'Softmax') return { node: source, removed: 'softmax removed' };
  if (node.op === 'Sigmoid') return { node: source, removed: 'sigmoid removed' };
  return undefined;
}

/** tfjs kernel names that differ from the graph op that runs them, for naming the op in gradient errors. */
const KERNEL_OPS: Record<string, string[]> = {
  BatchMatMul: ['MatMul', 'BatchMatMul', 'BatchMatMulV2', '_FusedMatMul'],
  FusedConv2D: ['_FusedConv2D'],
  FusedDepthwiseConv2D: ['FusedDepthwiseConv2dNative'],
  _FusedMatMul: ['_FusedMatMul'],
  DepthwiseConv2dNative: ['DepthwiseConv2dNative', 'DepthwiseConv2D'],
};

/** The placeholders' first dimension, relaxed to -1 so any batch size passes tfjs' input check. */
function relaxBatch(topology: Json, signature: unknown, inputs: Set<string>): number | undefined {
  let fixed: number | undefined;
  const relax = (dims: unknown) => {
    if (!Array.isArray(dims) || dims.length === 0 || !isObject(dims[0])) return;
    const size = Number(dims[0].size);
    if (Number.isInteger(size) && size > 0) {
      fixed = size;
      dims[0].size = '-1';
    }
  };
  for (const n of topology.node as GraphNode[]) {
    if (!inputs.has(n.name)) continue;
    const shape = (n.attr?.shape as Json | undefined)?.shape as Json | undefined;
    relax(shape?.dim);
  }
  if (isObject(signature) && isObject(signature.inputs))
    for (const v of Object.values(signature.inputs)) if (isObject(v) && isObject(v.tensorShape)) relax(v.tensorShape.dim);
  return fixed;
}

/** Read a graph model from its parsed model.json and the dropped files. */
export async function readGraphModel(file: NamedFile, json: Json, all: readonly NamedFile[]): Promise<Network> {
  const name = basename(file.name);
  const kind = json.format === 'graph-model' ? 'a graph model (format: graph-model)' : 'a graph model (a legacy one without format)';
  const source = json.modelTopology;
  if (!isObject(source) || !Array.isArray(source.node) || source.node.length === 0)
    throw new TeacherError('graph-model', `${name} holds ${kind}, but its modelTopology lists no graph nodes`);
  const badNode = (source.node as unknown[]).findIndex((n) => !isObject(n) || typeof n.name !== 'string' || typeof n.op !== 'string');
  if (badNode >= 0) throw new TeacherError('graph-model', `${name} holds ${kind}, but node ${badNode + 1} of its graph has no name or op`);
  checkGraphNodes(source.node as GraphNode[], name);
  const topology = structuredClone(source);
  const signature = structuredClone(json.signature);
  const nodes = new Map((topology.node as GraphNode[]).map((n) => [n.name, n]));

  const weights = resolveWeights(validateManifest(json.weightsManifest, name), all, file);
  checkFiniteWeights(weights);
  ensureStridedSliceGradient();
  ensureComparisonGradients();

  const placeholders = new Set((topology.node as GraphNode[]).filter((n) => n.op.startsWith('Placeholder')).map((n) => n.name));
  const signatureInputs =
    isObject(signature) && isObject(signature.inputs)
      ? Object.values(signature.inputs).flatMap((v) => (isObject(v) && typeof v.name === 'string' ? [nodeName(v.name)] : []))
      : [];
  const fixedBatch = relaxBatch(topology, signature, new Set([...placeholders, ...signatureInputs]));

  let model: tf.GraphModel;
  try {
    model = await tf.loadGraphModel(
      tf.io.fromMemory({
        modelTopology: topology,
        weightSpecs: weights.specs,
        weightData: weights.data,
        format: 'graph-model',
        generatedBy: typeof json.generatedBy === 'string' ? json.generatedBy : undefined,
        convertedBy: typeof json.convertedBy === 'string' ? json.convertedBy : undefined,
        signature: isObject(signature) ? signature : undefined,
        userDefinedMetadata: isObject(json.userDefinedMetadata) ? (json.userDefinedMetadata as Record<string, object>) : undefined,
        modelInitializer: isObject(json.modelInitializer) ? json.modelInitializer : undefined,
      }),
    );
  } catch (e) {
    if (e instanceof TypeError && !/Unknown op/.test(String(e.message))) throw damagedGraph(name);
    const first = String((e as Error).message ?? e).split('\n')[0];
    throw new TeacherError('build-failed', `TensorFlow.js could not read the graph model in ${name}: ${first}`);
  }

  try {
    const inputs = model.inputs;
    if (inputs.length !== 1)
      throw new TeacherError('inputs', `this graph model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); CAKE needs a single image input`);
    const input = inputs[0];
    if (input.dtype !== undefined && input.dtype !== 'float32')
      throw new TeacherError('inputs', `this graph model takes ${input.dtype} input; CAKE needs a float32 image input`);
    const shape = input.shape;
    if (!shape || shape.length < 2)
      throw new TeacherError('input-shape', `the graph model's input "${input.name}" has no declared shape; CAKE needs a fixed input size such as [-1,28,28,1]`);
    const inputShape = shape.slice(1);
    if (inputShape.some((d) => !(d > 0)))
      throw new TeacherError(
        'input-shape',
        `the graph model's input has shape [${shape.join(',')}] with free dimensions; CAKE needs a fixed input size such as [-1,28,28,1]`,
      );
    if (inputShape.length > 3)
      throw new TeacherError('input-shape', `the graph model's input has shape [${shape.join(',')}]; CAKE needs an image input [H, W], [H, W, C] or a flat vector`);
    if (model.outputs.length !== 1)
      throw new TeacherError('outputs', `this graph model has ${model.outputs.length} outputs (${model.outputNodes.join(', ')}); CAKE needs a single classifier output`);

    // With a signature, tfjs names outputs by their signature key; the graph node is in the signature.
    const outputKey = model.outputNodes[0];
    const outputs = isObject(signature) && isObject(signature.outputs) ? signature.outputs : {};
    const outputRef = isObject(outputs[outputKey]) && typeof outputs[outputKey].name === 'string' ? outputs[outputKey].name : outputKey;
    const cut = findCut(nodes, outputRef);
    const ops = new Set((topology.node as GraphNode[]).map((n) => n.op));
    const params = Object.values(model.weights)
      .flat()
      .filter((t) => t.dtype === 'float32')
      .reduce((s, t) => s + t.size, 0);
    const warnings =
      fixedBatch !== undefined
        ? [`the graph model's input declares a fixed batch of ${fixedBatch}; CAKE runs it on batches of any size`]
        : [];
    const g = model;
    return {
      format: 'tfjs-graph',
      modelFile: file,
      inputName: nodeName(input.name),
      inputShape,
      params,
      layerName: 'TfjsGraphModel',
      run: (x) => g.execute(x) as tf.Tensor,
      cut: cut && { removed: cut.removed, run: (x) => g.execute(x, cut.node) as tf.Tensor },
      warnings,
      explain: (e, during) => explainGraphError(e, during, name, ops),
      dispose: () => g.dispose(),
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * tfjs' executor reads each node's inputs and attributes by position and name without checking them, so a node that
 * lost one fails as a TypeError deep inside ("Cannot read properties of undefined"): said as what it means.
 */
function damagedGraph(name: string): TeacherError {
  return new TeacherError('build-failed', `TensorFlow.js failed inside the graph in ${name}, as it does when a node lacks an input or attribute its op needs; the model is damaged`);
}

/** One sentence for an op tfjs cannot run or differentiate, naming the op. */
function explainGraphError(e: Error, during: 'run' | 'gradient', name: string, ops: Set<string>): TeacherError | undefined {
  const message = String(e.message ?? e);
  const unknown = /Unknown op '([^']+)'/.exec(message) ?? /Custom op (\S+) is not registered/.exec(message);
  if (unknown)
    return new TeacherError('unsupported-op', `${name} uses the TensorFlow op ${unknown[1]}, which TensorFlow.js cannot run; re-export the model without it`);
  const dynamic = /the dynamic op '([^']+)'/.exec(message);
  if (dynamic)
    return new TeacherError(
      'unsupported-op',
      `${name} uses the control-flow op ${dynamic[1]}, which TensorFlow.js runs only asynchronously and cannot differentiate; export the model for inference without control flow (e.g. Keras with training=False)`,
    );
  const noGrad = /gradient function not found for (\w+)/.exec(message);
  if (noGrad && during === 'gradient') {
    const kernel = noGrad[1];
    const graphOps = [kernel, ...(KERNEL_OPS[kernel] ?? [])].filter((op) => ops.has(op));
    const which = graphOps.length > 0 && graphOps[0] !== kernel ? ` (graph op ${graphOps[0]})` : '';
    return new TeacherError(
      'no-gradient',
      `${name} uses the op ${kernel}${which}, which has no gradient in TensorFlow.js, so CAKE cannot synthesise inputs through it`,
    );
  }
  // tfjs throws its "Unknown op" as a TypeError too; that one is named above.
  if (e instanceof TypeError) return damagedGraph(name);
  return undefined;
}
