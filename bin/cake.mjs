#!/usr/bin/env node
// The `cake` command: runs the TypeScript CLI in src/cli through tsx, so the CLI and the studio share one source.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
