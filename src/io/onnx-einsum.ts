import * as tf from '@tensorflow/tfjs';
import { attrString } from './onnx-attrs';
import { broadcast } from './onnx-ops-shape';
import { nchw, OpError, prod, tensorVal, type OpFn, type Val } from './onnx-values';

// Einsum with one or two operands, as transposes, sums and one batched matmul: tfjs' einsum has no gradient, and
// what exporters write (attention's "bhid,bhjd->bhij", a linear layer's "bi,oi->bo", a transpose "nchw->nhwc")
// is a matmul in disguise. Repeated letters within one operand (diagonals) and more than two operands are refused.

/** The equation's operands and output as letter lists, with "..." expanded to as many private letters as it spans. */
function parse(equation: string, ranks: number[]): { terms: string[][]; out: string[] } {
  const eq = equation.replace(/\s/g, '');
  const [lhs, rhs] = eq.split('->');
  const rawTerms = lhs.split(',');
  if (rawTerms.length !== ranks.length) throw new OpError(`has equation "${equation}" for ${ranks.length} inputs`);
  // Ellipsis letters: characters no equation uses, shared right-aligned across operands (broadcast batch axes).
  const ellipsisRank = Math.max(0, ...rawTerms.map((t, i) => (t.includes('...') ? ranks[i] - t.replace('...', '').length : 0)));
  const ell = [...Array(ellipsisRank).keys()].map((k) => String.fromCharCode(0x100 + k));
  const expand = (t: string, rank: number) => {
    if (!t.includes('...')) return [...t];
    const n = rank - t.replace('...', '').length;
    const [before, after] = t.split('...');
    return [...before, ...ell.slice(ellipsisRank - n), ...after];
  };
  const terms = rawTerms.map((t, i) => expand(t, ranks[i]));
  terms.forEach((t, i) => {
    if (t.length !== ranks[i]) throw new OpError(`has equation "${equation}", whose operand ${i + 1} names ${t.length} axes for a rank-${ranks[i]} input`);
    if (new Set(t).size !== t.length) throw new OpError(`has equation "${equation}", which takes a diagonal (a letter twice in one operand); that is not supported`);
  });
  let out: string[];
  if (rhs !== undefined) out = expand(rhs, ellipsisRank + rhs.replace('...', '').length);
  else {
    // Implicit output: the ellipsis axes, then every letter that appears once, in alphabetical order.
    const counts = new Map<string, number>();
    for (const t of terms) for (const l of t) counts.set(l, (counts.get(l) ?? 0) + 1);
    out = [...ell, ...[...counts].filter(([l, c]) => c === 1 && !ell.includes(l)).map(([l]) => l).sort()];
  }
  return { terms, out };
}

/** Sum out the axes of `t` (lettered `letters`) whose letters are not in `keep`. */
function sumOut(t: tf.Tensor, letters: string[], keep: Set<string>): { t: tf.Tensor; letters: string[] } {
  const drop = letters.flatMap((l, i) => (keep.has(l) ? [] : [i]));
  if (drop.length === 0) return { t, letters };
  return { t: tf.sum(t, drop), letters: letters.filter((l) => keep.has(l)) };
}

/** `t` (lettered `from`) transposed to the letter order `to`. */
function arrange(t: tf.Tensor, from: string[], to: string[]): tf.Tensor {
  const perm = to.map((l) => from.indexOf(l));
  return perm.every((p, i) => p === i) ? t : tf.transpose(t, perm);
}

export const einsum: OpFn = (inputs, a, ctx) => {
  const vals = inputs.filter((v): v is Val => v !== undefined);
  if (vals.length > 2) throw new OpError(`has ${vals.length} operands; Einsum with one or two operands is supported`);
  const ts = vals.map((v) => nchw(v, ctx));
  const equation = attrString(a, 'equation', '');
  const { terms, out } = parse(equation, ts.map((t) => t.rank));
  const outSet = new Set(out);
  if (ts.length === 1) {
    const s = sumOut(ts[0], terms[0], outSet);
    return [tensorVal(arrange(s.t, s.letters, out))];
  }
  // Letters only one operand has and the output lacks are summed there first.
  const A = sumOut(ts[0], terms[0], new Set([...out, ...terms[1]]));
  const B = sumOut(ts[1], terms[1], new Set([...out, ...terms[0]]));
  const inA = new Set(A.letters);
  const inB = new Set(B.letters);
  const batch = out.filter((l) => inA.has(l) && inB.has(l));
  const contract = A.letters.filter((l) => inB.has(l) && !outSet.has(l));
  const freeA = A.letters.filter((l) => !inB.has(l));
  const freeB = B.letters.filter((l) => !inA.has(l));
  const size = (src: { t: tf.Tensor; letters: string[] }, l: string) => src.t.shape[src.letters.indexOf(l)];
  const batchDims = batch.map((l) => Math.max(size(A, l), size(B, l)));
  const lift = (src: { t: tf.Tensor; letters: string[] }, order: string[]) => {
    let t = arrange(src.t, src.letters, order);
    // Ellipsis axes may broadcast (size 1 against n).
    const want = order.map((l, i) => (batch.includes(l) ? batchDims[batch.indexOf(l)] : t.shape[i]));
    if (String(want) !== String(t.shape)) t = broadcast(t, want);
    return t;
  };
  const ta = lift(A, [...batch, ...freeA, ...contract]);
  const tb = lift(B, [...batch, ...contract, ...freeB]);
  const dims = (src: { t: tf.Tensor; letters: string[] }, ls: string[]) => ls.map((l) => size(src, l));
  const [bs, fa, k, fb] = [prod(batchDims), prod(dims(A, freeA)), prod(dims(A, contract)), prod(dims(B, freeB))];
  const product = tf.matMul(tf.reshape(ta, [bs, fa, k]), tf.reshape(tb, [bs, k, fb]));
  const result = tf.reshape(product, [...batchDims, ...dims(A, freeA), ...dims(B, freeB)]);
  return [tensorVal(arrange(result, [...batch, ...freeA, ...freeB], out))];
};
