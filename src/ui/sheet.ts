/**
 * A sample sheet: many samples of one set painted into a single canvas, in rows, with optional captions and row
 * labels. One canvas per grid instead of one per sample: on software compositing each canvas is a resource that every
 * frame commit copies, and dozens of them, plus their caption text in the DOM, made one set's redraw a 100–200 ms
 * main-thread task. The layout is pure (and tested); painting needs a canvas.
 */
import type { Preprocessing } from '../worker/protocol';
import { geometry, samplePixels } from './draw';

export interface SheetSpec {
  /** Side of a sample's image box, CSS pixels. */
  image: number;
  /** Space around the image inside its cell. */
  pad: number;
  /** Gap between cells in a row and between rows. */
  gap: number;
  /** Two caption lines under each image (target, the teacher's top class). */
  captions: boolean;
  /** Width of the row-label column on the left (0: none). */
  label: number;
}

export const CAPTION_LINE = 12;

export interface SheetCell {
  row: number;
  col: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface SheetLayout {
  width: number;
  height: number;
  cells: SheetCell[];
  /** Top of each row, for its label. */
  rowTops: number[];
}

/** Cell rectangles for rows of `rowLengths[r]` samples (CSS pixels, origin top-left). */
export function layoutSheet(rowLengths: readonly number[], spec: SheetSpec): SheetLayout {
  const w = spec.image + 2 * spec.pad;
  const h = spec.image + 2 * spec.pad + (spec.captions ? 2 * CAPTION_LINE + 2 : 0);
  const cells: SheetCell[] = [];
  const rowTops: number[] = [];
  let width = 0;
  rowLengths.forEach((n, row) => {
    const y = row * (h + spec.gap);
    rowTops.push(y);
    for (let col = 0; col < n; col++) cells.push({ row, col, x: spec.label + col * (w + spec.gap), y, w, h });
    if (n > 0) width = Math.max(width, spec.label + n * w + (n - 1) * spec.gap);
  });
  const height = rowLengths.length > 0 ? rowLengths.length * h + (rowLengths.length - 1) * spec.gap : 0;
  return { width, height, cells, rowTops };
}

// Fitted captions by font, width and text: a grid repeats the same few class names, and measuring text is the
// costliest part of painting one.
const fitted = new Map<string, string>();

/** `text` cut with an ellipsis to fit `max` pixels in the context's current font (cached). */
export function fitText(ctx: Pick<CanvasRenderingContext2D, 'measureText' | 'font'>, text: string, max: number): string {
  const key = `${ctx.font}|${max}|${text}`;
  let out = fitted.get(key);
  if (out === undefined) {
    if (fitted.size > 4096) fitted.clear();
    out = cutToFit(ctx, text, max);
    fitted.set(key, out);
  }
  return out;
}

function cutToFit(ctx: Pick<CanvasRenderingContext2D, 'measureText'>, text: string, max: number): string {
  if (ctx.measureText(text).width <= max) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ctx.measureText(`${text.slice(0, mid)}…`).width <= max) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}

/** One row's samples: which set, which of its samples, and the row's label lines. */
export interface SheetRow {
  x: Float32Array;
  inputShape: readonly number[];
  targets: Int32Array;
  indices: readonly number[];
  label: readonly string[];
}

export interface SheetText {
  name: (c: number) => string;
  font: string;
  colors: { muted: string; faint: string; ok: string; bad: string };
}

// A CPU-backed canvas, reused, that holds a sheet's samples at their own resolution, in rows no wider than
// ATLAS_WIDTH (a canvas has a maximum side, and a single row of many large inputs would pass it).
let atlas: HTMLCanvasElement | null = null;
const ATLAS_WIDTH = 8192;

/**
 * Paint every cell of `layout` into `canvas` (sized here for the device pixel ratio). The samples go into one atlas at
 * their own resolution with a single putImageData; each cell is then one scaled drawImage from it. Both canvases are
 * CPU-backed: on a GPU-backed canvas every draw from a CPU source uploads a texture, and on a software GPU dozens of
 * those made one paint a long task.
 */
export function paintSheet(
  canvas: HTMLCanvasElement,
  layout: SheetLayout,
  spec: SheetSpec,
  rows: readonly SheetRow[],
  /** The teacher's top class and its probability for each cell of `layout`, in order. */
  tops: readonly { cls: number; p: number }[],
  pre: Preprocessing,
  text: SheetText,
): void {
  const dpr = Math.max(1, Math.min(3, globalThis.devicePixelRatio || 1));
  const pw = Math.max(1, Math.round(layout.width * dpr));
  const ph = Math.max(1, Math.round(layout.height * dpr));
  // Resizing reallocates the canvas's memory: only when the size changed.
  if (canvas.width !== pw) canvas.width = pw;
  if (canvas.height !== ph) canvas.height = ph;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) return;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, layout.width, layout.height);
  if (rows.length === 0 || layout.cells.length === 0) return;

  // Every row of a sheet comes from one teacher, so one input shape.
  const g = geometry(rows[0].inputShape);
  const n = layout.cells.length;
  const cols = Math.max(1, Math.min(n, Math.floor(ATLAS_WIDTH / g.width)));
  const aw = cols * g.width;
  const ah = Math.ceil(n / cols) * g.height;
  // Where sample k of the sheet sits in the atlas.
  const ax = (k: number) => (k % cols) * g.width;
  const ay = (k: number) => Math.floor(k / cols) * g.height;
  atlas ??= document.createElement('canvas');
  if (atlas.width !== aw) atlas.width = aw;
  if (atlas.height !== ah) atlas.height = ah;
  const actx = atlas.getContext('2d', { willReadFrequently: true });
  if (!actx) return;
  const img = actx.createImageData(aw, ah);
  const px = new Uint8ClampedArray(g.width * g.height * 4);
  const rowBytes = g.width * 4;
  layout.cells.forEach((cell, k) => {
    const row = rows[cell.row];
    samplePixels(row.x, row.indices[cell.col], g, pre, px);
    for (let y = 0; y < g.height; y++) img.data.set(px.subarray(y * rowBytes, (y + 1) * rowBytes), ((ay(k) + y) * aw + ax(k)) * 4);
  });
  actx.putImageData(img, 0, 0);

  // Fit the image's aspect into the square box (rank-1 inputs that are not squares are one pixel tall).
  const fit = spec.image / Math.max(g.width, g.height);
  const iw = Math.max(1, Math.round(g.width * fit));
  const ih = Math.max(1, Math.round(g.height * fit));
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#000';
  layout.cells.forEach((cell, k) => {
    const bx = cell.x + spec.pad;
    const by = cell.y + spec.pad;
    ctx.fillRect(bx, by, spec.image, spec.image);
    ctx.drawImage(atlas!, ax(k), ay(k), g.width, g.height, bx + (spec.image - iw) / 2, by + (spec.image - ih) / 2, iw, ih);
  });

  // Text on top.
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  ctx.font = `10px ${text.font}`;
  if (spec.captions) {
    // The teacher's line keeps its percentage whole: a long class name is cut instead.
    const pctWidths = new Map<string, number>();
    const widthOf = (t: string) => pctWidths.get(t) ?? pctWidths.set(t, ctx.measureText(t).width).get(t)!;
    layout.cells.forEach((cell, k) => {
      const row = rows[cell.row];
      const target = row.targets[row.indices[cell.col]];
      const top = tops[k];
      const cx = cell.x + cell.w / 2;
      const ty = cell.y + spec.pad + spec.image + 2;
      ctx.fillStyle = text.colors.muted;
      ctx.fillText(fitText(ctx, `→ ${text.name(target)}`, cell.w - 2), cx, ty);
      ctx.fillStyle = top.cls === target ? text.colors.ok : text.colors.bad;
      const pct = ` ${Math.round(top.p * 100)}%`;
      ctx.fillText(`${fitText(ctx, text.name(top.cls), cell.w - 2 - widthOf(pct))}${pct}`, cx, ty + CAPTION_LINE);
    });
  }
  if (spec.label > 0) {
    // Label lines centred on the row's image: the first in the text colour of captions, the rest fainter.
    ctx.textAlign = 'left';
    ctx.font = `11px ${text.font}`;
    layout.rowTops.forEach((y, r) => {
      const lines = rows[r].label;
      const top = y + spec.pad + spec.image / 2 - (lines.length * 13) / 2;
      lines.forEach((line, k) => {
        ctx.fillStyle = k === 0 && lines.length > 1 ? text.colors.muted : text.colors.faint;
        ctx.fillText(fitText(ctx, line, spec.label - 4), 0, top + k * 13);
      });
    });
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
}
