import type { Progress } from '../cake/progress';

/**
 * Progress on stderr: a single redrawn bar with the ETA on a terminal, plain lines (at most one every few seconds)
 * when stderr is a file or a pipe, so logs stay readable.
 */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '--:--';
  const s = Math.max(0, Math.round(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

export function describe(p: Progress): string {
  if (p.stage === 'synthesis') {
    const l = p.losses;
    return (
      `synthesis set ${p.set + 1}/${p.sets} step ${p.step}/${p.steps} η=${p.eta.toExponential(2)} ` +
      `loss=${l.total.toPrecision(4)} (cls ${l.cls.toPrecision(3)}, contr ${l.contr.toPrecision(3)}, tv ${l.tv.toPrecision(3)}) ` +
      `hit=${(100 * p.hitRate).toFixed(0)}% ${Math.round(p.samplesPerSec)} samples/s`
    );
  }
  return `student epoch ${p.epoch + 1}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} loss=${p.loss.toPrecision(4)} lr=${p.lr.toExponential(2)} ${Math.round(p.samplesPerSec)} samples/s`;
}

export class ProgressLine {
  private lastPlain = 0;
  private drawn = false;
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 5000,
  ) {}

  update(p: Progress): void {
    const eta = `ETA ${formatDuration(p.remainingSec)}`;
    if (this.stream.isTTY) {
      const width = 24;
      const filled = Math.round(width * Math.min(1, p.fraction));
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(100 * p.fraction).toFixed(0).padStart(3)}%`;
      const line = `${bar} ${eta} ${describe(p)}`;
      const cols = this.stream.columns ?? 120;
      this.stream.write(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}`);
      this.drawn = true;
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain < this.plainEveryMs) return;
    this.lastPlain = now;
    this.stream.write(`${(100 * p.fraction).toFixed(1)}% ${eta} ${describe(p)}\n`);
  }

  /** A line of its own (ends the bar first). */
  log(text: string): void {
    this.done();
    this.stream.write(`${text}\n`);
  }

  done(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
