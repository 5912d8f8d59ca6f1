// Entry point of a synthesis worker thread (see parallel-synth.ts): registers tsx, as bin/cake.mjs does, so the
// worker runs the same TypeScript sources.
import { register } from 'tsx/esm/api';

register();
await import('./synth-worker.ts');
