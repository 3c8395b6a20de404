/**
 * Display helpers for the Deno Jupyter kernel: SVG figures, tables (as HTML), danfojs DataFrames
 * and Markdown, each shown inline with `Deno.jupyter.display`, and printed to stdout when the
 * code runs outside the kernel (a script, a test), where touching `Deno.jupyter` throws.
 *
 * Nothing is loaded at import time: danfojs (seconds to import, and it pulls in tfjs) is imported
 * by {@link toDataFrame} on first use.
 *
 * ```ts
 * import { loadReport } from "./report.ts";        // in a notebook: "../lib/report/mod.ts"
 * const { tables, figures } = loadReport({ preset: "quick" });
 * await show(figures[0]);                          // a figure
 * await show(tables[0]);                           // a table
 * await show(await toDataFrame(tables[0]));        // the same table as a danfojs DataFrame
 * ```
 *
 * @module
 */

import type { EntrySummary, Table } from "./tables.ts";
import { tableToHtml, tableToMarkdown } from "./tables.ts";

/** The part of `Deno.jupyter` used here (typed locally: `deno check` does not know it). */
type Jupyter = {
  display(obj: Record<string, unknown>, opts?: { raw?: boolean }): Promise<void> | void;
};

/** `Deno.jupyter` inside the kernel; undefined elsewhere (where reading it throws). */
export function jupyter(): Jupyter | undefined {
  try {
    // deno-lint-ignore no-explicit-any
    const j = (Deno as any).jupyter as Jupyter | undefined;
    return j && typeof j.display === "function" ? j : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the code runs in the Deno Jupyter kernel. */
export function inJupyter(): boolean {
  return jupyter() !== undefined;
}

/** Sends a rich output (MIME type -> content) to the notebook, or prints `text/plain` to stdout. */
export async function displayRaw(bundle: Record<string, string>): Promise<void> {
  const j = jupyter();
  if (j) await j.display(bundle, { raw: true });
  else console.log(bundle["text/plain"] ?? bundle["text/markdown"] ?? Object.values(bundle)[0]);
}

/** Shows an SVG figure (outside the kernel: a one-line description). */
export function showSvg(svg: string, caption = "figure"): Promise<void> {
  return displayRaw({ "image/svg+xml": svg, "text/plain": `[${caption}: SVG, ${svg.length} bytes]` });
}

/** Shows HTML, with a plain-text fallback. */
export function showHtml(html: string, text = html): Promise<void> {
  return displayRaw({ "text/html": html, "text/plain": text });
}

/** Shows Markdown (printed as is outside the kernel). */
export function showMarkdown(md: string): Promise<void> {
  return displayRaw({ "text/markdown": md, "text/plain": md });
}

/** Shows a report table as HTML (Markdown outside the kernel). */
export function showTable(t: Table): Promise<void> {
  return displayRaw({
    "text/html": tableToHtml(t),
    "text/markdown": tableToMarkdown(t),
    "text/plain": tableToMarkdown(t),
  });
}

/** The part of a danfojs DataFrame the helpers use. */
export interface DataFrameLike {
  columns: string[];
  values: unknown[];
  print(): void;
}

function isDataFrame(x: unknown): x is DataFrameLike {
  return typeof x === "object" && x !== null && Array.isArray((x as DataFrameLike).columns) &&
    Array.isArray((x as DataFrameLike).values) && typeof (x as DataFrameLike).print === "function";
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A DataFrame as an HTML table (danfojs has no HTML export). */
export function dataFrameToHtml(df: DataFrameLike, opts: { digits?: number } = {}): string {
  const fmt = (v: unknown) =>
    typeof v === "number" && opts.digits !== undefined && !Number.isInteger(v)
      ? v.toFixed(opts.digits)
      : String(v ?? "");
  const rows = (df.values as unknown[]).map((r) => (Array.isArray(r) ? r : [r]));
  return `<table><thead><tr>${df.columns.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead><tbody>${
    rows.map((r) => `<tr>${r.map((v) => `<td>${esc(fmt(v))}</td>`).join("")}</tr>`).join("")
  }</tbody></table>`;
}

/** Shows a danfojs DataFrame as HTML (outside the kernel: danfojs' own `print`). */
export async function showDataFrame(df: DataFrameLike, opts: { digits?: number } = {}): Promise<void> {
  if (!inJupyter()) return df.print();
  await displayRaw({
    "text/html": dataFrameToHtml(df, opts),
    "text/plain": `DataFrame ${df.columns.join(", ")}`,
  });
}

/**
 * Shows anything the report produces: an SVG string, a figure (`{name, svg}`), a {@link Table},
 * a danfojs DataFrame, a Markdown or plain string, or any other value (printed).
 */
export function show(x: unknown): Promise<void> {
  if (typeof x === "string") {
    if (x.trimStart().startsWith("<svg")) return showSvg(x);
    return showMarkdown(x);
  }
  if (isDataFrame(x)) return showDataFrame(x, { digits: 4 });
  if (typeof x === "object" && x !== null && typeof (x as { svg?: unknown }).svg === "string") {
    const f = x as { svg: string; name?: string };
    return showSvg(f.svg, f.name);
  }
  if (typeof x === "object" && x !== null && "rows" in x && "columns" in x && "title" in x) {
    return showTable(x as Table);
  }
  console.log(x);
  return Promise.resolve();
}

/**
 * A report table as a danfojs DataFrame: one row per table row, one column per method (the
 * formatted "mean ± std" strings). With `raw`, the entries' numbers in long form instead (table,
 * row, column, x, mean, std, n, status), which danfojs can group and sort.
 *
 * Building a DataFrame allocates no tfjs tensors; danfojs arithmetic on it (`add`, `mean`,
 * `groupby().agg()`) does, and those tensors stay alive: wrap such code in `tf.tidy`, or check
 * `tf.memory()` in long sessions.
 */
export async function toDataFrame(
  x: Table | EntrySummary[],
  opts: { raw?: boolean } = {},
): Promise<DataFrameLike> {
  const dfd = await import("danfojs");
  if (Array.isArray(x) || opts.raw) {
    const summaries = Array.isArray(x) ? x : x.summaries;
    return new dfd.DataFrame(summaries.map((s) => ({
      table: s.table,
      row: s.row,
      column: s.column,
      x: s.x ?? null,
      mean: s.agg ? s.agg.mean : null,
      std: s.agg ? s.agg.std : null,
      n: s.agg?.n ?? 0,
      status: s.status,
    }))) as unknown as DataFrameLike;
  }
  const data: Record<string, string[]> = { [x.rowHeader]: x.rows.map((r) => r.label) };
  x.columns.forEach((c, i) => (data[c || "value"] = x.rows.map((r) => r.cells[i])));
  return new dfd.DataFrame(data) as unknown as DataFrameLike;
}
