// Limits on what reading a teacher may cost.

const MiB = 1024 * 1024;

/**
 * How long reading, building and gradient-checking a teacher may take before the studio or the CLI gives up on it:
 * 30 s plus 1 s per MiB of its files. Measured on a load thread of the shared 2-core dev machine, healthy teachers
 * of 0.2 to 2 MiB (LeNet, an MLP, ResNet-8, DoodleNet) take 0.02 to 0.8 s, and dense models of 16, 64 and 256 MiB
 * take 0.7, 2.3 and 5.4 s (0.02 to 0.05 s per MiB). The base is about 40 times the slowest small teacher and the
 * per-MiB term 20 to 50 times the cost of a MiB, so a slower machine or a busier tab is not cut off, while a file
 * that is looping is given up on within half a minute or so.
 */
export function loadDeadlineMs(bytes: number): number {
  return 30_000 + Math.ceil((1000 * Math.max(0, bytes)) / MiB);
}
