/**
 * The report's figures as standalone SVG strings (Observable Plot on a linkedom document), and
 * their PNGs (resvg): bars with seed spread, FISH-DIP vs full fine-tuning across training
 * fractions, ablation curves, and the mask-movement heat map.
 *
 * Plot puts titles and legends in an HTML `<figure>` around the `<svg>`; HTML does not survive in
 * an .svg file or a PNG, and continuous colour legends need a canvas (they crash here). So every
 * figure is one Plot `<svg>` without Plot legends, wrapped by {@link composeSvg} in an outer
 * `<svg>` that draws the title and a discrete legend itself.
 *
 * ```ts
 * import type { EntrySummary } from "./tables.ts";
 * declare const summaries: EntrySummary[]; // from summarize(plan.entries, records)
 * const svg = barsWithSpread(summaries.filter((s) => s.table === "peft"), { title: "PEFT" });
 * await writeFigure("peft", svg); // results/figures/peft.svg + .png
 * ```
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import { type MethodName, METHODS } from "../methods/registry.ts";
import type { MaskSnapshot } from "../experiments/store.ts";
import type { EntrySummary } from "./tables.ts";

/** The colour of a method in every figure (its registry entry's; Tableau 10). */
function methodColor(method: MethodName): string {
  return METHODS[method]?.color ?? "#888";
}
const SERIES_COLORS = [
  "#4e79a7",
  "#e15759",
  "#59a14f",
  "#f28e2b",
  "#76b7b2",
  "#b07aa1",
  "#edc948",
  "#9c755f",
];
/** Sequential bins of the heat map (ColorBrewer Blues, 6 classes). */
const HEAT_COLORS = ["#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"];

const XMLNS = "http://www.w3.org/2000/svg";

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Renders Plot options to an `<svg>` string. Legends and titles are left to {@link composeSvg}. */
export function plotSvg(options: Record<string, unknown>): string {
  // linkedom's typings describe a window without `document`; the object has one.
  // deno-lint-ignore no-explicit-any
  const { document } = parseHTML("<!DOCTYPE html><html><body></body></html>") as any;
  // deno-lint-ignore no-explicit-any
  const el = Plot.plot({ ...options, document } as any) as any;
  if (el.tagName?.toLowerCase() !== "svg") {
    const svg = el.querySelector?.("svg");
    if (!svg) throw new Error("Plot returned no <svg>");
    return svg.outerHTML;
  }
  return el.outerHTML;
}

/** A legend swatch. */
export interface LegendItem {
  label: string;
  color: string;
  /** `rect` (bars, cells) or `line` (series). Default `rect`. */
  shape?: "rect" | "line";
}

function attr(svg: string, name: string): number {
  const m = new RegExp(`^<svg[^>]*\\s${name}="([\\d.]+)"`).exec(svg);
  if (!m) throw new Error(`<svg> without ${name}`);
  return Number(m[1]);
}

/**
 * Wraps a Plot `<svg>` into a standalone SVG (with `xmlns`) that has a title, an optional
 * subtitle and a discrete legend drawn as plain rects and text (no canvas, no HTML).
 */
export function composeSvg(
  inner: string,
  opts: { title?: string; subtitle?: string; legend?: LegendItem[]; legendTitle?: string } = {},
): string {
  const h = attr(inner, "height");
  // Wide enough for the title and subtitle as well as the plot (bold 15 px ≈ 9 px per character,
  // 11 px ≈ 6.5 px per character in a sans-serif face), so neither is cut at the right edge.
  const w = Math.ceil(Math.max(
    attr(inner, "width"),
    16 + 9 * (opts.title?.length ?? 0),
    16 + 6.5 * (opts.subtitle?.length ?? 0),
  ));
  const parts: string[] = [];
  let y = 0;
  const font = `font-family="sans-serif"`;
  if (opts.title) {
    y += 22;
    parts.push(
      `<text x="8" y="${y - 4}" ${font} font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
    );
  }
  if (opts.subtitle) {
    y += 16;
    parts.push(`<text x="8" y="${y - 3}" ${font} font-size="11" fill="#555">${esc(opts.subtitle)}</text>`);
  }
  if (opts.legend?.length) {
    // Flow the swatches left to right, wrapping at the plot's width; ~6.5 px per character.
    let x = 8;
    y += 6;
    const lineH = 18;
    let rowTop = y;
    if (opts.legendTitle) {
      parts.push(
        `<text x="${x}" y="${rowTop + 11}" ${font} font-size="11" font-weight="bold">${
          esc(opts.legendTitle)
        }</text>`,
      );
      x += 6.5 * opts.legendTitle.length + 10;
    }
    for (const item of opts.legend) {
      const width = 18 + 6.5 * item.label.length + 14;
      if (x + width > w && x > 8) {
        x = 8;
        rowTop += lineH;
      }
      parts.push(
        item.shape === "line"
          ? `<line x1="${x}" x2="${x + 14}" y1="${rowTop + 7}" y2="${
            rowTop + 7
          }" stroke="${item.color}" stroke-width="2.5"/>`
          : `<rect x="${x}" y="${
            rowTop + 1
          }" width="12" height="12" fill="${item.color}" stroke="#999" stroke-width="0.5"/>`,
        `<text x="${x + 18}" y="${rowTop + 11}" ${font} font-size="11">${esc(item.label)}</text>`,
      );
      x += width;
    }
    y = rowTop + lineH + 4;
  }
  const nested = inner.replace(/^<svg/, `<svg x="0" y="${y}"`);
  const H = y + h;
  return `<svg xmlns="${XMLNS}" width="${w}" height="${H}" viewBox="0 0 ${w} ${H}">` +
    `<rect width="100%" height="100%" fill="white"/>${parts.join("")}${nested}</svg>`;
}

/** Percent, as in the tables. */
const pctOf = (v: number) => v * 100;

interface Point {
  row: string;
  group: string;
  column: string;
  method: MethodName;
  x?: number;
  mean: number;
  lo: number;
  hi: number;
  n: number;
  values: number[];
}

interface SeedPoint {
  row: string;
  column: string;
  v: number;
}

function points(summaries: EntrySummary[]): { pts: Point[]; seeds: SeedPoint[] } {
  const pts: Point[] = [], seeds: SeedPoint[] = [];
  for (const s of summaries) {
    if (!s.agg) continue;
    const mean = pctOf(s.agg.mean), std = pctOf(s.agg.std);
    pts.push({
      row: s.row,
      group: s.group,
      column: s.column,
      method: s.method,
      x: s.x,
      mean,
      lo: mean - std,
      hi: mean + std,
      n: s.agg.n,
      values: s.agg.values.map(pctOf),
    });
    for (const v of s.agg.values) seeds.push({ row: s.row, column: s.column, v: pctOf(v) });
  }
  return { pts, seeds };
}

function missingNote(summaries: EntrySummary[]): string | undefined {
  const needs = new Set(summaries.filter((s) => s.status === "needs").flatMap((s) => s.needs));
  const pending = summaries.filter((s) => s.status === "pending").length;
  const parts = [];
  if (needs.size) parts.push(`not shown, data missing: ${[...needs].join(", ")}`);
  if (pending) parts.push(`${pending} entries not run yet`);
  return parts.length ? parts.join("; ") : undefined;
}

/** Options shared by the figure functions. */
export interface FigureOptions {
  title?: string;
  subtitle?: string;
  width?: number;
  /** y-axis label. Default "score (%)". */
  yLabel?: string;
}

/**
 * Grouped bars: one group per table row, one bar per column (method), bar = mean over seeds,
 * whisker = ± population std, dots = the individual seeds.
 */
export function barsWithSpread(
  summaries: EntrySummary[],
  opts: FigureOptions & { horizontal?: boolean } = {},
): string {
  const { pts, seeds } = points(summaries);
  const columns = [...new Set(summaries.map((s) => s.column))];
  const colorOf = new Map(summaries.map((s) => [s.column, methodColor(s.method)]));
  const groups = [...new Set(pts.map((p) => p.row))];
  const longest = Math.max(0, ...groups.map((g) => g.length));
  const top = Math.max(1, ...pts.map((p) => p.hi), ...seeds.map((s) => s.v)) * 1.05;
  const color = { domain: columns, range: columns.map((c) => colorOf.get(c)!) };
  const seedDot = { r: 2, fill: "white", stroke: "black", strokeWidth: 0.8 };
  // Beyond a handful of groups, side-by-side panels get too narrow to read once scaled to a page:
  // lay the groups out top to bottom instead, bars running left to right.
  const horizontal = opts.horizontal ?? groups.length > 6;
  const inner = horizontal
    ? plotSvg({
      width: opts.width ?? 720,
      height: 40 + groups.length * (columns.length * 13 + 12),
      // Labels at ~6.2 px per character at 10 px.
      marginLeft: 6.2 * longest + 16,
      fy: { label: null, domain: groups, axis: "left" },
      y: { axis: null, domain: columns, paddingInner: 0.1 },
      x: { label: opts.yLabel ?? "score (%)", grid: true, domain: [0, top] },
      color,
      marks: [
        Plot.barX(pts, { fy: "row", y: "column", x: "mean", fill: "column" }),
        Plot.ruleY(pts, { fy: "row", y: "column", x1: "lo", x2: "hi", stroke: "black", strokeWidth: 1.5 }),
        Plot.tickX(pts, { fy: "row", y: "column", x: "lo", stroke: "black" }),
        Plot.tickX(pts, { fy: "row", y: "column", x: "hi", stroke: "black" }),
        Plot.dot(seeds, { fy: "row", y: "column", x: "v", ...seedDot }),
        Plot.ruleX([0]),
      ],
    })
    : plotSvg({
      width: opts.width ??
        Math.max(480, 60 + groups.length * Math.max(columns.length * 22 + 30, 6.2 * longest + 16)),
      height: 340,
      marginBottom: 40,
      fx: { label: null, domain: groups },
      x: { axis: null, domain: columns, paddingInner: 0.1 },
      y: { label: opts.yLabel ?? "score (%)", grid: true, domain: [0, top] },
      color,
      marks: [
        Plot.barY(pts, { fx: "row", x: "column", y: "mean", fill: "column" }),
        Plot.ruleX(pts, { fx: "row", x: "column", y1: "lo", y2: "hi", stroke: "black", strokeWidth: 1.5 }),
        Plot.tickY(pts, { fx: "row", x: "column", y: "lo", stroke: "black" }),
        Plot.tickY(pts, { fx: "row", x: "column", y: "hi", stroke: "black" }),
        Plot.dot(seeds, { fx: "row", x: "column", y: "v", ...seedDot }),
        Plot.ruleY([0]),
      ],
    });
  return composeSvg(inner, {
    title: opts.title,
    subtitle: opts.subtitle ?? missingNote(summaries) ??
      "bars: mean over seeds; whiskers: ± std; dots: seeds",
    legend: columns.map((c) => ({ label: c, color: colorOf.get(c)! })),
  });
}

/**
 * Lines across training fractions, one panel per dataset-metric group, one line per method, with
 * ± std whiskers: the "FISH-DIP vs full fine-tuning across data fractions" figure.
 */
export function fractionLines(
  summaries: EntrySummary[],
  opts: FigureOptions & { perRow?: number } = {},
): string {
  const { pts } = points(summaries.filter((s) => s.x !== undefined));
  const columns = [...new Set(summaries.map((s) => s.column))];
  const colorOf = new Map(summaries.map((s) => [s.column, methodColor(s.method)]));
  const groups = [...new Set(pts.map((p) => p.group))];
  // Facet wrap: panel i goes to column i % perRow, row i / perRow; its title is a text mark.
  const perRow = Math.min(opts.perRow ?? 4, Math.max(1, groups.length));
  const at = (g: string) => groups.indexOf(g);
  const series = pts.map((p) => ({
    ...p,
    xp: p.x! * 100,
    fc: at(p.group) % perRow,
    fr: Math.floor(at(p.group) / perRow),
  }));
  const titles = groups.map((g, i) => ({ group: g, fc: i % perRow, fr: Math.floor(i / perRow) }));
  const rows = Math.ceil(groups.length / perRow);
  const xs = [...new Set(series.map((p) => p.xp))].sort((a, b) => a - b);
  const facet = { fx: "fc", fy: "fr" };
  const inner = plotSvg({
    width: opts.width ?? Math.max(420, perRow * 230),
    height: 60 + rows * 240,
    marginBottom: 45,
    marginTop: 24,
    fx: { axis: null, domain: [...Array(perRow).keys()] },
    fy: { axis: null, domain: [...Array(rows).keys()], padding: 0.18 },
    x: { type: "log", label: "training data (%)", ticks: xs, tickFormat: (d: number) => `${d}`, inset: 12 },
    y: { label: opts.yLabel ?? "score (%)", grid: true },
    color: { domain: columns, range: columns.map((c) => colorOf.get(c)!) },
    marks: [
      Plot.frame({ stroke: "#ddd" }),
      Plot.text(titles, { ...facet, text: "group", frameAnchor: "top", dy: -14, fontWeight: "bold" }),
      Plot.ruleX(series, { ...facet, x: "xp", y1: "lo", y2: "hi", stroke: "column", strokeOpacity: 0.6 }),
      Plot.line(series, {
        ...facet,
        x: "xp",
        y: "mean",
        stroke: "column",
        z: "column",
        strokeWidth: 2,
        sort: "xp",
      }),
      Plot.dot(series, { ...facet, x: "xp", y: "mean", fill: "column", r: 3 }),
    ],
  });
  return composeSvg(inner, {
    title: opts.title,
    subtitle: opts.subtitle ?? missingNote(summaries) ?? "mean over seeds ± std",
    legend: columns.map((c) => ({ label: c, color: colorOf.get(c)!, shape: "line" })),
  });
}

/**
 * An ablation curve: the metric against the ablated value (k, m or n), one line per metric
 * column, ± std whiskers. `log` for k and m, whose values span orders of magnitude.
 */
export function ablationCurve(
  summaries: EntrySummary[],
  opts: FigureOptions & { xLabel: string; log?: boolean; percentX?: boolean } = { xLabel: "value" },
): string {
  const { pts } = points(summaries.filter((s) => s.x !== undefined));
  const series = pts.map((p) => ({ ...p, xv: opts.percentX ? p.x! * 100 : p.x! }));
  const columns = [...new Set(summaries.map((s) => s.column))];
  const colors = columns.map((_, i) => SERIES_COLORS[i % SERIES_COLORS.length]);
  const xs = [...new Set(series.map((p) => p.xv))].sort((a, b) => a - b);
  const inner = plotSvg({
    width: opts.width ?? 520,
    height: 320,
    marginBottom: 45,
    x: {
      type: opts.log ? "log" : "linear",
      label: opts.xLabel,
      ticks: xs,
      tickFormat: (d: number) => `${+d.toPrecision(3)}`,
      inset: 12,
    },
    y: { label: opts.yLabel ?? "score (%)", grid: true },
    color: { domain: columns, range: colors },
    marks: [
      Plot.ruleX(series, { x: "xv", y1: "lo", y2: "hi", stroke: "column", strokeOpacity: 0.6 }),
      Plot.line(series, { x: "xv", y: "mean", stroke: "column", z: "column", strokeWidth: 2, sort: "xv" }),
      Plot.dot(series, { x: "xv", y: "mean", fill: "column", r: 3 }),
    ],
  });
  return composeSvg(inner, {
    title: opts.title,
    subtitle: opts.subtitle ?? missingNote(summaries) ?? "mean over seeds ± std",
    legend: columns.map((c, i) => ({ label: c, color: colors[i], shape: "line" })),
  });
}

/** Equal-width bin edges from 0 to the maximum, rounded to 2 significant digits. */
function binEdges(max: number, bins: number): number[] {
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) edges.push(+((max * i) / bins).toPrecision(2));
  return [...new Set(edges)].filter((e) => e > 0);
}

/**
 * How the mask moves: a heat map of selected entries per layer (rows) at each mask computation
 * (columns: the initial mask and each refresh). `density` shows selected/total instead of counts.
 * The colour legend is a discrete set of bins (a continuous ramp needs a canvas).
 */
export function maskHeatmap(
  masks: MaskSnapshot[],
  opts: FigureOptions & { density?: boolean; bins?: number } = {},
): string {
  const layers = [...new Set(masks.map((m) => m.layer))];
  const value = (m: MaskSnapshot) => (opts.density && m.total ? m.selected / m.total : m.selected);
  const data = masks.map((m) => ({
    ...m,
    v: value(m),
    refreshLabel: m.refresh === 0 ? "init" : String(m.refresh),
  }));
  const refreshes = [...new Set(data.map((d) => d.refresh))].sort((a, b) => a - b);
  const max = Math.max(0, ...data.map((d) => d.v));
  const edges = max > 0 ? binEdges(max, opts.bins ?? 6) : [1];
  const colors = HEAT_COLORS.slice(HEAT_COLORS.length - (edges.length + 1));
  const fmt = (v: number) => (opts.density ? `${+(v * 100).toPrecision(2)}%` : `${v}`);
  const inner = plotSvg({
    width: opts.width ?? Math.max(360, 140 + refreshes.length * 28),
    height: Math.max(160, 50 + layers.length * 14),
    // Room for the longest layer name at Plot's 10 px tick labels (about 6.2 px per character).
    marginLeft: Math.max(130, Math.ceil(16 + 6.2 * Math.max(...layers.map((l) => l.length)))),
    marginBottom: 40,
    x: {
      type: "band",
      label: "mask computation (init, refresh 1, 2, …)",
      domain: refreshes,
      tickFormat: (r: number) => (r === 0 ? "init" : `${r}`),
    },
    y: { type: "band", label: null, domain: layers },
    color: { type: "threshold", domain: edges, range: colors },
    marks: [
      Plot.cell(data, { x: "refresh", y: "layer", fill: "v", inset: 0.5 }),
    ],
  });
  const legend: LegendItem[] = colors.map((c, i) => ({
    color: c,
    label: i === 0
      ? `< ${fmt(edges[0])}`
      : i === edges.length
      ? `≥ ${fmt(edges[i - 1])}`
      : `${fmt(edges[i - 1])}–${fmt(edges[i])}`,
  }));
  return composeSvg(inner, {
    title: opts.title,
    subtitle: opts.subtitle ??
      (opts.density ? "share of each layer's entries selected" : "selected entries per layer"),
    legend,
    legendTitle: opts.density ? "density" : "selected",
  });
}

/**
 * PNG of an SVG (white background, `width` pixels wide). resvg is a native addon, so it is loaded
 * on first use rather than when this module is imported.
 */
export async function svgToPng(svg: string, width = 960): Promise<Uint8Array> {
  const { Resvg } = await import("@resvg/resvg-js");
  return new Resvg(svg, {
    background: "white",
    fitTo: { mode: "width", value: width },
    // resvg maps the generic `sans-serif` to Arial, absent on Linux; DejaVu is usually there.
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
  }).render().asPng();
}

/** Writes `DIR/NAME.svg` and `DIR/NAME.png`; returns the paths. */
export async function writeFigure(name: string, svg: string, dir = "results/figures"): Promise<string[]> {
  Deno.mkdirSync(dir, { recursive: true });
  const withNs = svg.includes("xmlns=") ? svg : svg.replace(/^<svg/, `<svg xmlns="${XMLNS}"`);
  Deno.writeTextFileSync(`${dir}/${name}.svg`, withNs);
  Deno.writeFileSync(`${dir}/${name}.png`, await svgToPng(withNs));
  return [`${dir}/${name}.svg`, `${dir}/${name}.png`];
}
