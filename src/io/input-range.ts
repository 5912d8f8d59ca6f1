// Pure arithmetic on declared preprocessing, shared by the CLI, the worker and the page (which never loads tfjs).

/**
 * The range inputs span when raw pixels 0..255 go through x = (v·scale − mean) / std: over all channels, from the
 * lowest channel's black to the highest channel's white. Scale defaults to 1/255, mean to 0, std to 1.
 */
export function inputRangeOf(pre: { scale?: number; mean?: number | number[]; std?: number | number[] }): [number, number] {
  const scale = pre.scale ?? 1 / 255;
  const means = [pre.mean ?? 0].flat();
  const stds = [pre.std ?? 1].flat();
  const channels = Math.max(means.length, stds.length);
  let lo = Infinity;
  let hi = -Infinity;
  for (let c = 0; c < channels; c++) {
    const m = means[Math.min(c, means.length - 1)];
    const s = stds[Math.min(c, stds.length - 1)];
    const a = (0 * scale - m) / s;
    const b = (255 * scale - m) / s;
    lo = Math.min(lo, a, b);
    hi = Math.max(hi, a, b);
  }
  return [lo, hi];
}
