import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { NamedFile } from '../io/files';
import { decodePool, type SyntheticPool } from '../cake/pool';

/** Side files the loaders look for next to a model.json. */
const SIDE_FILES = ['class_names.txt', 'labels.txt', 'metadata.json'];

async function read(p: string): Promise<NamedFile> {
  try {
    const buf = await readFile(p);
    return { name: path.basename(p), data: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`no such file: ${p}`);
    if (code === 'EISDIR') throw new Error(`${p} is a folder: name the model.json inside it`);
    throw new Error(`cannot read ${p}: ${(e as Error).message}`);
  }
}

/**
 * The files a teacher needs, read from disk: the named files; for a model.json also the weight files its manifest
 * names; for an .onnx its external weights file; and for every model file the known side files (class names,
 * metadata.json) when they sit beside it. A folder stands for every file in it.
 * Missing weight files are left out on purpose: the loader names them in its message.
 */
export async function readTeacherFiles(paths: string[]): Promise<NamedFile[]> {
  const files = new Map<string, NamedFile>();
  const add = (f: NamedFile) => files.set(f.name, f);
  for (const p of paths) {
    if ((await stat(p).catch(() => null))?.isDirectory()) {
      for (const entry of await readdir(p, { withFileTypes: true })) if (entry.isFile()) add(await read(path.join(p, entry.name)));
      continue;
    }
    const file = await read(p);
    add(file);
    const dir = path.dirname(p);
    const wanted = new Set(SIDE_FILES);
    const lower = p.toLowerCase();
    if (lower.endsWith('.json')) {
      try {
        const json = JSON.parse(new TextDecoder().decode(file.data)) as { weightsManifest?: { paths?: string[] }[] };
        for (const group of json.weightsManifest ?? []) for (const w of group.paths ?? []) wanted.add(path.basename(w));
      } catch {
        // Not JSON: the loader says so precisely.
      }
    } else if (lower.endsWith('.onnx')) {
      // PyTorch writes large weights to an external file beside the model.
      wanted.add(`${path.basename(p)}.data`);
    } else if (!/\.(h5|hdf5|keras)$/.test(lower)) {
      continue;
    }
    for (const name of wanted) {
      if (files.has(name)) continue;
      const candidate = path.join(dir, name);
      if (await stat(candidate).then((s) => s.isFile(), () => false)) add(await read(candidate));
    }
  }
  return [...files.values()];
}

export async function readBytes(p: string): Promise<ArrayBuffer> {
  return (await read(p)).data;
}

/** A pool file (a `bench:repro --pool-cache` file or a `pool:mix` output); a failure names the file. */
export async function readPoolFile(file: string): Promise<SyntheticPool> {
  try {
    return decodePool(new Uint8Array(await readFile(file)));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}
