import h5wasm from 'h5wasm';
import { checkDeclaredShape, sizeText } from './limits';
import { TeacherError } from './teacher-error';

// Two checks on HDF5 files before h5wasm reads them.
//
// Global heaps: the HDF5 library (1.14, in h5wasm 0.10) walks a global heap collection ("GCOL", where variable-length
// strings such as Keras' attributes live) record by record, moving on by each record's size; a free-space record of
// size 0 (what a zeroed block leaves) does not move it, and it loops forever inside one synchronous WebAssembly call
// (H5HG__cache_heap_deserialize). checkGlobalHeaps walks every collection the same way first.
//
// Datasets, checked before any is read: h5wasm allocates a dataset's declared size (shape times element size)
// when its value is read, whatever the file holds, so a flipped bit in a dimension asks for gigabytes. A dataset
// stored without filters (Keras never compresses weights) must fit in the file's bytes; any must fit the caps of
// limits.ts. The walk is bounded too: hard links can make a group its own descendant.

type H5Group = InstanceType<typeof h5wasm.Group>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

/** The most groups and datasets one walk visits, and how deep it goes; Keras files have hundreds, 8 deep at most. */
const MAX_OBJECTS = 100_000;
const MAX_DEPTH = 32;

/** Little-endian unsigned integer of `n` bytes (as a double beyond 2^53: only compared and added). */
function readUint(b: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + b[at + i];
  return v;
}

/** The superblock's "size of lengths" (bytes of a length field), 8 unless it says otherwise. */
function lengthSize(b: Uint8Array): number {
  // The superblock sits at 0, 512, 1024, 2048, … (after a user block).
  for (let at = 0; at + 16 <= b.length; at = at === 0 ? 512 : at * 2) {
    if (readUint(b, at, 4) !== 0x46444889 || readUint(b, at + 4, 4) !== 0x0a1a0a0d) continue;
    const version = b[at + 8];
    const size = version <= 1 ? b[at + 14] : b[at + 10];
    return [2, 4, 8, 16].includes(size) ? size : 8;
  }
  return 8;
}

/** Refuse a global heap collection whose record walk would never end (see above). `where` names the file. */
export function checkGlobalHeaps(data: ArrayBuffer, where: string): void {
  const b = new Uint8Array(data);
  const len = lengthSize(b);
  const header = 8 + len;
  for (let at = b.indexOf(0x47); at >= 0 && at + header <= b.length; at = b.indexOf(0x47, at + 1)) {
    // "GCOL", version 1, a collection size of at least 4096 (the library's minimum) that fits in the file.
    if (b[at + 1] !== 0x43 || b[at + 2] !== 0x4f || b[at + 3] !== 0x4c || b[at + 4] !== 1) continue;
    const end = at + readUint(b, at + 8, len);
    if (end - at < 4096 || end > b.length) continue;
    for (let p = at + header; p < end && p + 8 + len <= end; ) {
      const index = readUint(b, p, 2);
      const size = readUint(b, p + 8, len);
      if (index === 0 && size === 0)
        throw new TeacherError('bad-hdf5', `${where}: the global heap at byte ${at} holds an empty record the HDF5 library would read forever; the file is damaged`);
      p += index > 0 ? 8 + len + Math.ceil(size / 8) * 8 : size;
    }
  }
}

/** Check one dataset's declared size; returns its number of values. */
function checkDataset(ds: H5Dataset, fileBytes: number, where: string): number {
  const meta = ds.metadata;
  const values = checkDeclaredShape(meta.shape ?? [], `dataset "${ds.path}"`, where);
  const bytes = values * meta.size;
  if (!meta.vlen && bytes > fileBytes && ds.filters.length === 0)
    throw new TeacherError(
      'too-large',
      `${where}: dataset "${ds.path}" declares the shape [${(meta.shape ?? []).join(',')}] (${sizeText(bytes)}) but the whole file holds ${sizeText(fileBytes)}; it is truncated or damaged`,
    );
  return values;
}

/**
 * Check every dataset under `root` (see above); returns the values they hold in all, the most weights a model read
 * from them can have. `where` names the file in messages.
 */
export function checkH5Datasets(root: H5Group, fileBytes: number, where: string): number {
  let values = 0;
  let seen = 0;
  const stack: { group: H5Group; depth: number }[] = [{ group: root, depth: 0 }];
  while (stack.length > 0) {
    const { group, depth } = stack.pop()!;
    for (const name of group.keys()) {
      if (++seen > MAX_OBJECTS)
        throw new TeacherError('bad-hdf5', `${where} holds more than ${MAX_OBJECTS} groups and datasets (or its groups link in a circle); it is damaged`);
      const child = group.get(name);
      if (child instanceof h5wasm.Dataset) values += checkDataset(child, fileBytes, where);
      else if (child instanceof h5wasm.Group) {
        if (depth + 1 > MAX_DEPTH)
          throw new TeacherError('bad-hdf5', `${where} nests its groups deeper than ${MAX_DEPTH} levels (or they link in a circle); it is damaged`);
        stack.push({ group: child, depth: depth + 1 });
      }
    }
  }
  return values;
}
