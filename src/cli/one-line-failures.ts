/**
 * For the benchmark scripts: any failure ends the process with one line, `name: message`, and exit code 1, as the
 * `cake` commands do (src/cli/main.ts). Without it an uncaught error prints its stack, and on the wasm backend the
 * module's source as "context", which fills the terminal.
 */
export function failInOneLine(name: string): void {
  process.setUncaughtExceptionCaptureCallback((e) => {
    process.stderr.write(`${name}: ${(e as Error)?.message ?? e}\n`);
    process.exit(1);
  });
}
