/**
 * A small argument parser: `--name value`, `--name=value`, repeatable options, flags and positionals. Unknown
 * options are refused by name so a typo never silently falls back to a default.
 */
export interface ArgSpec {
  /** Options that take a value. */
  values?: string[];
  /** Options that may repeat; collected in order. */
  repeated?: string[];
  /** Options without a value. */
  flags?: string[];
}

export interface Args {
  values: Map<string, string>;
  repeated: Map<string, string[]>;
  flags: Set<string>;
  positionals: string[];
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: string[], spec: ArgSpec): Args {
  const out: Args = { values: new Map(), repeated: new Map(), flags: new Set(), positionals: [] };
  const values = new Set(spec.values ?? []);
  const repeated = new Set(spec.repeated ?? []);
  const flags = new Set(spec.flags ?? []);
  let lastRepeated: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      // Bare words after a repeatable option extend it (`--teacher model.json shard.bin`).
      if (lastRepeated) out.repeated.get(lastRepeated)!.push(a);
      else out.positionals.push(a);
      continue;
    }
    lastRepeated = null;
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : a.slice(eq + 1);
    if (flags.has(name)) {
      out.flags.add(name);
      continue;
    }
    if (!values.has(name) && !repeated.has(name)) throw new UsageError(`unknown option --${name}`);
    const v = inline ?? argv[++i];
    if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new UsageError(`option --${name} needs a value`);
    if (repeated.has(name)) {
      if (!out.repeated.has(name)) out.repeated.set(name, []);
      out.repeated.get(name)!.push(v);
      lastRepeated = name;
    } else {
      out.values.set(name, v);
    }
  }
  return out;
}

export function required(args: Args, name: string): string {
  const v = args.values.get(name);
  if (v === undefined) throw new UsageError(`missing --${name}`);
  return v;
}

export function numberOpt(args: Args, name: string, fallback: number): number;
export function numberOpt(args: Args, name: string): number | undefined;
export function numberOpt(args: Args, name: string, fallback?: number): number | undefined {
  const v = args.values.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} needs a number, got "${v}"`);
  return n;
}
