// The engine's public face: what the CLI and the worker import.
export * from './config';
export * from './knobs';
export * from './progress';
export * from './report';
export type { Teacher } from './teacher';
export { runCake, type RunOptions, type RunResult, type StudentCheckpoint } from './pipeline';
export type { OptimizerState } from './optim';
