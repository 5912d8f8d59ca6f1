// Entry point of a teacher-load thread (see teacher-thread.ts): registers tsx, as bin/cake.mjs does, so the thread
// runs the same TypeScript sources.
import { register } from 'tsx/esm/api';

register();
await import('./teacher-thread-worker.ts');
