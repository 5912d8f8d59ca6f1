import { TeacherError } from './teacher-error';

// A TensorFlow.js graph model's nodes checked before tfjs reads them: tfjs orders the graph by following each
// node's inputs and fails deep inside with "Cannot read properties of undefined" when an input names no node, or
// runs into nonsense when nodes read each other. Loops that TensorFlow's own control flow makes (NextIteration feeding
// a Merge) are how while loops are written, and are allowed.

interface GraphNode {
  name: string;
  op: string;
  input?: unknown[];
}

/** Ops that take no inputs; any other op without inputs would fail deep inside tfjs' executor. */
const SOURCE_OPS = new Set(['Placeholder', 'Const', 'NoOp', 'VarHandleOp', 'VariableV2', 'Variable', 'HashTableV2', 'HashTable', 'RandomUniform', 'RandomStandardNormal']);

/** "^name" (a control input) and "name:1" (a second output) both refer to node "name". */
const producerOf = (input: string) => input.replace(/^\^/, '').replace(/:\d+$/, '');

/**
 * Every node's inputs are a list of names of nodes of the graph (none only for ops that take none), and no node
 * depends on itself except through NextIteration.
 */
export function checkGraphNodes(nodes: readonly GraphNode[], where: string): void {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const inputs = new Map<GraphNode, GraphNode[]>();
  for (const n of nodes) {
    if (n.input !== undefined && !Array.isArray(n.input))
      throw new TeacherError('build-failed', `${where}: graph node "${n.name}" (${n.op}) has inputs ${JSON.stringify(n.input).slice(0, 40)}, not a list of node names; the model is damaged`);
    const list = n.input ?? [];
    if (list.length === 0 && !SOURCE_OPS.has(n.op) && !n.op.startsWith('Placeholder'))
      throw new TeacherError('build-failed', `${where}: graph node "${n.name}" (${n.op}) has no inputs, which a ${n.op} needs; the model is damaged`);
    const from: GraphNode[] = [];
    for (const i of list) {
      const producer = typeof i === 'string' ? byName.get(producerOf(i)) : undefined;
      if (!producer)
        throw new TeacherError('build-failed', `${where}: graph node "${n.name}" (${n.op}) reads ${JSON.stringify(i)}, which no node of the graph produces; the model is damaged`);
      if (producer.op !== 'NextIteration') from.push(producer);
    }
    inputs.set(n, from);
  }
  // Iterative depth-first search for a cycle.
  const state = new Map<GraphNode, 'open' | 'done'>();
  for (const root of nodes) {
    if (state.has(root)) continue;
    const stack: { node: GraphNode; next: number }[] = [{ node: root, next: 0 }];
    state.set(root, 'open');
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const from = inputs.get(top.node)!;
      if (top.next === from.length) {
        state.set(top.node, 'done');
        stack.pop();
        continue;
      }
      const next = from[top.next++];
      if (state.get(next) === 'open')
        throw new TeacherError('build-failed', `${where}: the graph has a cycle through node "${next.name}" (${next.op}); the model is damaged`);
      if (!state.has(next)) {
        state.set(next, 'open');
        stack.push({ node: next, next: 0 });
      }
    }
  }
}
