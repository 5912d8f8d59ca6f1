import type { AttributeProtoObj, NodeProtoObj } from './onnx-schema';

// A node's attributes by name, and typed reads with the spec's defaults.

export type Attrs = Map<string, AttributeProtoObj>;

export const attrsOf = (node: NodeProtoObj): Attrs => new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
// A present attribute without its value field holds the field's zero: encoders omit zeros (keepdims=0, axis=0).
export const attrInt = (a: Attrs, name: string, fallback: number) => (a.has(name) ? Number(a.get(name)!.i ?? 0) : fallback);
export const attrFloat = (a: Attrs, name: string, fallback: number) => (a.has(name) ? Number(a.get(name)!.f ?? 0) : fallback);
export const attrInts = (a: Attrs, name: string): number[] | undefined => (a.has(name) ? (a.get(name)!.ints ?? []).map(Number) : undefined);
export const attrFloats = (a: Attrs, name: string): number[] | undefined => (a.has(name) ? (a.get(name)!.floats ?? []).map(Number) : undefined);
export const attrString = (a: Attrs, name: string, fallback: string) => {
  const s = a.get(name)?.s;
  return s && s.length > 0 ? new TextDecoder().decode(s) : fallback;
};
