import { UsageError } from './args';
import { BENCH_USAGE, bench } from './bench';
import { DISTILL_USAGE, distill } from './distill';
import { EVAL_USAGE, evaluate } from './eval';
import { EXPORT_USAGE, exportCommand } from './export';
import { INSPECT_USAGE, inspect } from './inspect';
import { TRAIN_TEACHER_USAGE, trainTeacherCommand } from './train-teacher';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; usage: string; about: string }> = {
  distill: { run: distill, usage: DISTILL_USAGE, about: 'distil a teacher into a student with CAKE' },
  export: { run: exportCommand, usage: EXPORT_USAGE, about: 'a student in another format: ONNX, Keras .h5, tfjs with float16 or 8-bit weights' },
  inspect: { run: inspect, usage: INSPECT_USAGE, about: 'print what a teacher is, as JSON' },
  eval: { run: evaluate, usage: EVAL_USAGE, about: 'accuracy of a model on labelled IDX data' },
  'train-teacher': { run: trainTeacherCommand, usage: TRAIN_TEACHER_USAGE, about: 'train a demo teacher on MNIST or Fashion-MNIST' },
  bench: { run: bench, usage: BENCH_USAGE, about: 'time synthesis and student steps' },
};

function help(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(14)} ${c.about}\n      ${c.usage}`);
  return `usage: cake <command> [options]\n\n${lines.join('\n')}\n`;
}

/** Runs one CLI command; returns the exit code. Every failure is one line on stderr, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`cake: unknown command "${name}"\n${help()}`);
    return 2;
  }
  if (rest.includes('--help')) {
    process.stdout.write(`usage: ${command.usage}\n`);
    return 0;
  }
  try {
    await command.run(rest);
    return 0;
  } catch (e) {
    const err = e as Error;
    const message = (err?.message ?? String(e)).split('\n')[0];
    // On a terminal the progress bar may own the current line: start a fresh one.
    process.stderr.write(`${process.stderr.isTTY ? "\n" : ""}cake ${name}: error: ${message}\n`);
    if (err instanceof UsageError) process.stderr.write(`usage: ${command.usage}\n`);
    if (process.env.CAKE_DEBUG) process.stderr.write(`${err?.stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
