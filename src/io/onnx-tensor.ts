import { basename, type NamedFile } from './files';
import { DataType, type TensorProtoObj } from './onnx-schema';
import { checkDeclaredShape } from './limits';
import { TeacherError } from './teacher-error';

// ONNX TensorProtos (initializers, Constant nodes, attribute tensors) as plain JS values. Integers (int64 shapes,
// axes, indices, bools) stay JS numbers, so shape arithmetic is exact and never waits on a backend; floats become a
// Float32Array.

/** A value known without running the model. */
export interface Static {
  data: Float32Array | number[];
  dims: number[];
  isInt: boolean;
}

const prod = (xs: readonly number[]) => xs.reduce((p, d) => p * d, 1);

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
  checkDeclaredShape(dims, label, modelName);
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
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0)
      throw new TeacherError('bad-onnx', `${modelName} places ${label} at offset ${kv.get('offset')} and length ${kv.get('length')} of "${basename(location)}", which are not byte counts; it is damaged`);
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

