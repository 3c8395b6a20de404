/**
 * The paper's tables from the results store: each entry of a plan averaged over its seeds (numpy
 * mean and population std, as TANL's `get_avg_results`), laid out rows × columns as in the paper
 * and written as CSV and Markdown. Entries whose data is missing are kept as "needs DATASET";
 * entries not (fully) run yet say so, so a partial table is never mistaken for a finished one.
 *
 * ```ts
 * import { planPreset } from "../experiments/plan.ts";
 * import { ResultsStore } from "../experiments/store.ts";
 * const plan = planPreset("quick");
 * const records = new ResultsStore("results/runs").records();
 * for (const t of buildTables(plan, records)) writeTable(t, "results/tables");
 * ```
 *
 * @module
 */

import { npMean, npStd } from "../metrics/numpy_stats.ts";
import { type Cell, cellId, cellLabel } from "../experiments/cells.ts";
import { type Entry, type Plan, TABLE_TITLES, type TableName, tablesOf } from "../experiments/plan.ts";
import type { MethodName } from "../methods/registry.ts";
import type { RunRecord } from "../experiments/store.ts";

/** Mean and population standard deviation of the values found, and which seeds they came from. */
export interface Aggregate {
  mean: number;
  std: number;
  n: number;
  values: number[];
  seeds: number[];
}

/** numpy's `mean` and `std` (ddof 0) of `values`; NaN for none. */
export function aggregate(values: number[]): { mean: number; std: number; n: number } {
  if (values.length === 0) return { mean: NaN, std: NaN, n: 0 };
  return { mean: npMean(values), std: npStd(values), n: values.length };
}

/** Other names a metric may be stored under (FewRel's `relation_f1` is an accuracy). */
const ALIASES: Record<string, string[]> = { relation_f1: ["accuracy"], accuracy: ["relation_f1"] };

/** Reads `metric` under `key` from a record (or undefined). */
export function readMetric(record: RunRecord, key: string, metric: string): number | undefined {
  const m = record.metrics?.[key];
  if (!m) return undefined;
  for (const name of [metric, ...(ALIASES[metric] ?? [])]) {
    if (typeof m[name] === "number" && Number.isFinite(m[name])) return m[name];
  }
  return undefined;
}

/** Where an entry stands: all seeds in, some, none, or not runnable for lack of data. */
export type EntryStatus = "done" | "partial" | "pending" | "needs";

/** An entry with its results. Values are as stored (fractions in [0, 1]). */
export interface EntrySummary {
  table: TableName;
  row: string;
  column: string;
  group: string;
  x?: number;
  method: MethodName;
  metric: string;
  status: EntryStatus;
  needs: string[];
  /** Over the seeds found (absent when none). */
  agg?: Aggregate;
  /** Seeds planned. */
  planned: number;
  note?: string;
}

/** Records by cell id (the first record of a cell wins, as in the store). */
export function recordMap(records: RunRecord[] | Map<string, RunRecord>): Map<string, RunRecord> {
  if (records instanceof Map) return records;
  const m = new Map<string, RunRecord>();
  for (const r of records) if (!m.has(r.cellId)) m.set(r.cellId, r);
  return m;
}

/** Joins each entry of a plan with its records. */
export function summarize(entries: Entry[], records: RunRecord[] | Map<string, RunRecord>): EntrySummary[] {
  const byId = recordMap(records);
  return entries.map((e) => {
    const values: number[] = [], seeds: number[] = [];
    for (const c of e.cells) {
      const r = byId.get(cellId(c));
      const v = r && readMetric(r, e.key, e.metric);
      if (v !== undefined) {
        values.push(v);
        seeds.push(c.seed);
      }
    }
    const status: EntryStatus = e.needs.length
      ? "needs"
      : values.length === e.cells.length
      ? "done"
      : values.length
      ? "partial"
      : "pending";
    return {
      table: e.table,
      row: e.row,
      column: e.column,
      group: e.group,
      x: e.x,
      method: e.method,
      metric: e.metric,
      status,
      needs: e.needs,
      agg: values.length ? { ...aggregate(values), values, seeds } : undefined,
      planned: e.cells.length,
      note: e.note,
    };
  });
}

/** Formatting of table cells. */
export interface FormatOptions {
  /** Multiply values (metrics are fractions; tables show percentages). Default 100. */
  scale?: number;
  /** Decimals. Default 2. */
  digits?: number;
}

/** `71.23 ± 1.05`, with `(2/3 seeds)` when partial, `needs ontonotes`, or `pending`. */
export function formatSummary(s: EntrySummary, opts: FormatOptions = {}): string {
  const scale = opts.scale ?? 100, digits = opts.digits ?? 2;
  if (s.status === "needs") return `needs ${s.needs.join(", ")}`;
  if (!s.agg) return "pending";
  const mean = (s.agg.mean * scale).toFixed(digits);
  const text = s.planned > 1 ? `${mean} ± ${(s.agg.std * scale).toFixed(digits)}` : mean;
  return s.status === "partial" ? `${text} (${s.agg.n}/${s.planned} seeds)` : text;
}

/** A table ready to print: a header row, labelled rows of formatted cells, notes. */
export interface Table {
  name: TableName;
  title: string;
  rowHeader: string;
  columns: string[];
  rows: { label: string; cells: string[] }[];
  notes: string[];
  summaries: EntrySummary[];
}

const ROW_HEADERS: Record<TableName, string> = {
  lowResource: "Dataset, metric, training fraction",
  fewShot: "Setting",
  peft: "Dataset, metric, training fraction",
  ablationK: "k",
  ablationM: "m",
  ablationN: "n",
  fixedVsDynamic: "Mask",
  sparseMethods: "Dataset, metric, training fraction or episodes",
};

/** Lays out one table's summaries: rows and columns in the order the plan lists them. */
export function layoutTable(name: TableName, summaries: EntrySummary[], opts: FormatOptions = {}): Table {
  const mine = summaries.filter((s) => s.table === name);
  const rows: string[] = [], columns: string[] = [];
  for (const s of mine) {
    if (!rows.includes(s.row)) rows.push(s.row);
    if (!columns.includes(s.column)) columns.push(s.column);
  }
  const at = new Map(mine.map((s) => [`${s.row}\u0000${s.column}`, s]));
  // Notes about how a row was run are moot for rows that cannot run.
  const notes = [
    ...new Set(mine.filter((s) => s.status !== "needs").map((s) => s.note).filter((n): n is string => !!n)),
  ];
  notes.push(
    `mean ± population std over seeds (numpy), in %; "needs X": dataset X is not in the data directory; ` +
      `"pending": not run yet`,
  );
  return {
    name,
    title: TABLE_TITLES[name],
    rowHeader: ROW_HEADERS[name],
    columns,
    rows: rows.map((r) => ({
      label: r,
      cells: columns.map((c) => {
        const s = at.get(`${r}\u0000${c}`);
        return s ? formatSummary(s, opts) : "";
      }),
    })),
    notes,
    summaries: mine,
  };
}

/** Every table of a plan, in report order. */
export function buildTables(
  plan: Plan,
  records: RunRecord[] | Map<string, RunRecord>,
  opts: FormatOptions = {},
): Table[] {
  const summaries = summarize(plan.entries, records);
  return tablesOf(plan).map((t) => layoutTable(t, summaries, opts));
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows as CSV text (RFC 4180 quoting), one line each. */
export function csvLines(rows: string[][]): string {
  return rows.map((l) => l.map(csvField).join(",")).join("\n") + "\n";
}

/** The table as CSV (RFC 4180 quoting), the same cells as the Markdown. */
export function tableToCsv(t: Table): string {
  return csvLines([[t.rowHeader, ...t.columns], ...t.rows.map((r) => [r.label, ...r.cells])]);
}

/** One line per entry with raw numbers (fractions), for plotting or further analysis. */
export function summariesToCsv(summaries: EntrySummary[]): string {
  const head = [
    "table",
    "row",
    "column",
    "group",
    "x",
    "method",
    "metric",
    "status",
    "mean",
    "std",
    "n",
    "planned",
    "seeds",
    "needs",
  ];
  const lines = summaries.map((s) => [
    s.table,
    s.row,
    s.column,
    s.group,
    s.x === undefined ? "" : String(s.x),
    s.method,
    s.metric,
    s.status,
    s.agg ? String(s.agg.mean) : "",
    s.agg ? String(s.agg.std) : "",
    String(s.agg?.n ?? 0),
    String(s.planned),
    s.agg ? s.agg.seeds.join(" ") : "",
    s.needs.join(" "),
  ]);
  return csvLines([head, ...lines]);
}

function mdCell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** One row of a GitHub Markdown pipe table, its cells escaped. */
export function mdRow(cells: string[]): string {
  return `| ${cells.map(mdCell).join(" | ")} |`;
}

/** The table as GitHub Markdown: a heading, the pipe table, the notes as a list. */
export function tableToMarkdown(t: Table): string {
  const head = [t.rowHeader, ...t.columns];
  const out = [
    `### ${t.title}`,
    "",
    mdRow(head),
    `|${head.map((_, i) => (i === 0 ? " --- " : " ---: ")).join("|")}|`,
    ...t.rows.map((r) => mdRow([r.label, ...r.cells])),
    "",
    ...t.notes.map((n) => `- ${n}`),
  ];
  return out.join("\n") + "\n";
}

/** The table as an HTML `<table>` (for notebooks). */
export function tableToHtml(t: Table): string {
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const th = [t.rowHeader, ...t.columns].map((c) => `<th>${esc(c)}</th>`).join("");
  const trs = t.rows.map((r) =>
    `<tr><th style="text-align:left">${esc(r.label)}</th>${
      r.cells.map((c) => `<td style="text-align:right">${esc(c)}</td>`).join("")
    }</tr>`
  );
  const notes = t.notes.map((n) => `<li>${esc(n)}</li>`).join("");
  return `<div><h4>${esc(t.title)}</h4><table><thead><tr>${th}</tr></thead><tbody>${
    trs.join("")
  }</tbody></table><ul style="font-size:smaller">${notes}</ul></div>`;
}

/** Writes `DIR/NAME.csv`, `DIR/NAME.md` and `DIR/NAME.long.csv`; returns the paths. */
export function writeTable(t: Table, dir = "results/tables"): string[] {
  Deno.mkdirSync(dir, { recursive: true });
  const paths = [`${dir}/${t.name}.csv`, `${dir}/${t.name}.md`, `${dir}/${t.name}.long.csv`];
  Deno.writeTextFileSync(paths[0], tableToCsv(t));
  Deno.writeTextFileSync(paths[1], tableToMarkdown(t));
  Deno.writeTextFileSync(paths[2], summariesToCsv(t.summaries));
  return paths;
}

/** Mean training loss over a run's last `tail` logged steps (undefined for a run without losses). */
export function finalLoss(record: RunRecord, tail = 10): number | undefined {
  const losses = (record.losses ?? []).filter((l) => Number.isFinite(l.loss));
  if (losses.length === 0) return undefined;
  const last = [...losses].sort((a, b) => a.step - b.step).slice(-tail);
  return last.reduce((sum, l) => sum + l.loss, 0) / last.length;
}

/** One line of the diagnostics table: a table entry's score beside what the score hides. */
export interface Diagnostic {
  table: TableName;
  row: string;
  column: string;
  /** Seeds (episodes) found / planned. */
  n: number;
  planned: number;
  score?: { mean: number; std: number };
  reconstruction?: { mean: number; std: number };
  loss?: { mean: number; std: number };
  /** Share of the run's wall time spent choosing masks (scoring, gradients, selection). */
  maskShare?: { mean: number; std: number };
  /** Seconds spent choosing masks per run. */
  maskSeconds?: { mean: number; std: number };
}

/**
 * For every entry with results: its score, the reconstruction rate (TANL's share of outputs that
 * copy the input words) and the final training loss, each as mean and population std over the
 * seeds. Why: on a small backbone with a short budget most F1 scores are 0, and these two show how
 * far each method got (fitting the training data, keeping the pretrained copy behaviour). Entries
 * that share their cells and evaluation (entity and relation F1 of one run) appear once.
 */
export function diagnostics(plan: Plan, records: RunRecord[] | Map<string, RunRecord>): Diagnostic[] {
  const agg = (values: (number | undefined)[]) => {
    const found = values.filter((x): x is number => x !== undefined);
    return found.length ? aggregate(found) : undefined;
  };
  const byId = recordMap(records);
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const e of plan.entries) {
    if (e.needs.length) continue;
    const key = `${e.table}\u0000${e.key}\u0000${e.cells.map(cellId).join(",")}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const found = e.cells.map((c) => byId.get(cellId(c))).filter((r): r is RunRecord => r !== undefined);
    if (found.length === 0) continue;
    out.push({
      table: e.table,
      row: e.row,
      column: e.column,
      n: found.length,
      planned: e.cells.length,
      score: agg(found.map((r) => readMetric(r, e.key, e.metric))),
      reconstruction: agg(found.map((r) => readMetric(r, e.key, "reconstruction_rate"))),
      loss: agg(found.map((r) => finalLoss(r))),
      maskShare: agg(
        found.map((r) => r.timings.mask === undefined ? undefined : r.timings.mask / r.timings.total),
      ),
      maskSeconds: agg(found.map((r) => r.timings.mask)),
    });
  }
  return out;
}

/** Short table names for the diagnostics' first column. */
const SHORT_TITLES: Record<TableName, string> = {
  lowResource: "low-resource",
  fewShot: "few-shot",
  peft: "PEFT",
  ablationK: "ablation k",
  ablationM: "ablation m",
  ablationN: "ablation n",
  fixedVsDynamic: "fixed vs dynamic",
  sparseMethods: "sparse methods",
};

/** The diagnostics as GitHub Markdown (scores and reconstruction in %, losses as they are). */
export function diagnosticsToMarkdown(d: Diagnostic[]): string {
  const pct = (a?: { mean: number; std: number }) =>
    a ? `${(a.mean * 100).toFixed(1)} ± ${(a.std * 100).toFixed(1)}` : "-";
  const loss = (a?: { mean: number; std: number }) => a ? `${a.mean.toFixed(2)} ± ${a.std.toFixed(2)}` : "-";
  const lines = [
    "### Beside the scores: reconstruction rate, final training loss and the cost of choosing masks",
    "",
    "| table | row | column | seeds | score % | reconstruction % | final training loss | mask selection s (% of run) |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...d.map((x) =>
      mdRow([
        SHORT_TITLES[x.table],
        x.row,
        x.column,
        `${x.n}/${x.planned}`,
        pct(x.score),
        pct(x.reconstruction),
        loss(x.loss),
        x.maskSeconds && x.maskShare
          ? `${x.maskSeconds.mean.toFixed(1)} (${(x.maskShare.mean * 100).toFixed(0)} %)`
          : "-",
      ])
    ),
    "",
    "- score: the table's metric for that row; reconstruction: share of outputs whose words, brackets " +
    "removed, equal the input's (TANL's check); final training loss: mean cross-entropy of the last 10 " +
    "optimizer steps; mask selection: wall time spent choosing masks (scoring passes, per-sample or " +
    "warm-up gradients, drop and regrow, top-k), and its share of the run's time (training and " +
    "evaluation); all mean ± population std over the seeds found (mask selection: mean)",
  ];
  return lines.join("\n") + "\n";
}

/** The diagnostics as CSV, raw numbers (fractions). */
export function diagnosticsToCsv(d: Diagnostic[]): string {
  const num = (v?: number) => (v === undefined ? "" : String(v));
  const head = [
    "table",
    "row",
    "column",
    "n",
    "planned",
    "score_mean",
    "score_std",
    "reconstruction_mean",
    "reconstruction_std",
    "loss_mean",
    "loss_std",
    "mask_seconds_mean",
    "mask_share_mean",
  ];
  const lines = d.map((x) => [
    x.table,
    x.row,
    x.column,
    String(x.n),
    String(x.planned),
    num(x.score?.mean),
    num(x.score?.std),
    num(x.reconstruction?.mean),
    num(x.reconstruction?.std),
    num(x.loss?.mean),
    num(x.loss?.std),
    num(x.maskSeconds?.mean),
    num(x.maskShare?.mean),
  ]);
  return csvLines([head, ...lines]);
}

/** One line of the manifest: a planned cell and how (or whether) it ran. */
export interface ManifestCell {
  cellId: string;
  label: string;
  tables: TableName[];
  status: "done" | "pending" | "needs";
  needs?: string[];
  backbone: string;
  backend?: string;
  gitCommit?: string;
  preset?: string;
  started?: string;
  finished?: string;
  seconds?: number;
}

/** What ran, where and how long: backbone, git commit, backend, preset and time per cell. */
export interface Manifest {
  preset: string;
  backbone: string;
  generated: string;
  gitCommit: string;
  counts: { done: number; pending: number; needs: number };
  cells: ManifestCell[];
}

/** Builds the manifest of a plan from the store's records. */
export function buildManifest(
  plan: Plan,
  records: RunRecord[] | Map<string, RunRecord>,
  gitCommit = "unknown",
): Manifest {
  const byId = recordMap(records);
  const tablesOfCell = new Map<string, Set<TableName>>();
  for (const e of plan.entries) {
    for (const c of [...(e.requires ?? []), ...e.cells]) {
      const id = cellId(c);
      if (!tablesOfCell.has(id)) tablesOfCell.set(id, new Set());
      tablesOfCell.get(id)!.add(e.table);
    }
  }
  const line = (c: Cell, needs?: string[]): ManifestCell => {
    const id = cellId(c), r = byId.get(id);
    return {
      cellId: id,
      label: cellLabel(c),
      tables: [...(tablesOfCell.get(id) ?? [])],
      status: needs ? "needs" : r ? "done" : "pending",
      needs,
      backbone: r?.backbone ?? c.backbone,
      backend: r?.backend,
      gitCommit: r?.gitCommit,
      preset: r?.preset,
      started: r?.started,
      finished: r?.finished,
      seconds: r?.timings?.total,
    };
  };
  const cells = [...plan.cells.map((c) => line(c)), ...plan.blocked.map((b) => line(b.cell, b.needs))];
  const count = (s: ManifestCell["status"]) => cells.filter((c) => c.status === s).length;
  return {
    preset: plan.preset,
    backbone: plan.backbone,
    generated: new Date().toISOString(),
    gitCommit,
    counts: { done: count("done"), pending: count("pending"), needs: count("needs") },
    cells,
  };
}

/** The manifest as Markdown: a summary line and one table row per cell. */
export function manifestToMarkdown(m: Manifest): string {
  const lines = [
    `# Reproduction manifest (${m.preset})`,
    "",
    `Backbone${
      m.backbone.includes(",") ? "s" : ""
    } ${m.backbone}; generated ${m.generated} at commit ${m.gitCommit}. ` +
    `Cells: ${m.counts.done} done, ${m.counts.pending} pending, ${m.counts.needs} need data.`,
    "",
    "| cell | id | tables | backbone | status | backend | commit | seconds | finished |",
    "| --- | --- | --- | --- | --- | --- | --- | ---: | --- |",
    ...m.cells.map((c) =>
      mdRow([
        c.label,
        c.cellId,
        c.tables.join(" "),
        c.backbone,
        c.status === "needs" ? `needs ${c.needs!.join(", ")}` : c.status,
        c.backend ?? "",
        c.gitCommit ? c.gitCommit.slice(0, 12) : "",
        c.seconds !== undefined ? c.seconds.toFixed(1) : "",
        c.finished ?? "",
      ])
    ),
  ];
  return lines.join("\n") + "\n";
}

/** Writes `DIR/manifest.json` and `DIR/manifest.md`; returns the paths. */
export function writeManifest(m: Manifest, dir = "results"): string[] {
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(`${dir}/manifest.json`, JSON.stringify(m, null, 2) + "\n");
  Deno.writeTextFileSync(`${dir}/manifest.md`, manifestToMarkdown(m));
  return [`${dir}/manifest.json`, `${dir}/manifest.md`];
}
