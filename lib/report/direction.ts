/**
 * FISH-DIP against every other method of a table, next to the direction the paper reports: FISH-DIP
 * at least as good as full fine-tuning in low-resource and few-shot settings ("up to 40 %
 * improvements"), comparable or better than other parameter-efficient methods, and its dynamic
 * mask better than a fixed one (the paper's premise). Each comparison says whether this run shows
 * that direction, the opposite, or no difference beyond the seeds' spread — so a README can quote
 * the verdicts instead of eyeballing tables.
 *
 * ```ts
 * const rows = paperDirection(buildTables(plan, records).flatMap((t) => t.summaries));
 * console.log(directionToMarkdown(rows));
 * ```
 *
 * @module
 */
import type { TableName } from "../experiments/plan.ts";
import { type MethodName, METHODS } from "../methods/registry.ts";
import { type Aggregate, csvLines, type EntrySummary, mdRow } from "./tables.ts";

/** How one comparison came out. */
export type Verdict =
  | "pending"
  | "both zero"
  | "within seed spread"
  | "FISH-DIP higher (as the paper)"
  | "FISH-DIP lower (against the paper)"
  | "FISH-DIP higher"
  | "FISH-DIP lower";

/**
 * The methods the paper compares FISH-DIP with. Against the others (the sparse methods published
 * after it) the paper claims nothing, so a difference is reported without a paper direction.
 */
export const PAPER_BASELINES: ReadonlySet<MethodName> = new Set<MethodName>([
  "full",
  "fish",
  "random",
  "lora",
  "adapter",
  "prefix",
]);

/** FISH-DIP and one other method on the same setting and metric. */
export interface Direction {
  table: TableName;
  /** The setting, e.g. "CoNLL04 entity F1, 1%" or "5-way 1-shot". */
  setting: string;
  baseline: MethodName;
  fishdip?: Aggregate;
  other?: Aggregate;
  /** FISH-DIP's mean minus the baseline's (fractions). */
  delta?: number;
  verdict: Verdict;
}

/**
 * The comparison's verdict: a difference counts only when it exceeds the larger seed std; `claim`
 * says whether the paper states a direction for this baseline.
 */
export function verdict(fishdip?: Aggregate, other?: Aggregate, claim = true): Verdict {
  if (!fishdip || !other) return "pending";
  if (fishdip.mean === 0 && other.mean === 0) return "both zero";
  const delta = fishdip.mean - other.mean;
  // The tolerance keeps a difference equal to the spread (0.18 − 0.20 vs std 0.02) inside it.
  if (Math.abs(delta) <= Math.max(fishdip.std, other.std) + 1e-9) return "within seed spread";
  if (!claim) return delta > 0 ? "FISH-DIP higher" : "FISH-DIP lower";
  return delta > 0 ? "FISH-DIP higher (as the paper)" : "FISH-DIP lower (against the paper)";
}

/**
 * Pairs every FISH-DIP entry with the other methods' entries of the same setting. A setting is a
 * row when a table's methods are its columns (low-resource, few-shot, PEFT) and a column when its
 * methods are rows (fixed vs dynamic); settings with several FISH-DIP variants (the k, m, n
 * ablations) have no other method and give nothing. Rows without data ("needs") are left out.
 */
export function paperDirection(summaries: EntrySummary[]): Direction[] {
  const runnable = summaries.filter((s) => s.status !== "needs");
  const methodsOfRow = new Map<string, Set<MethodName>>();
  for (const s of runnable) {
    const k = `${s.table}\u0000${s.row}`;
    if (!methodsOfRow.has(k)) methodsOfRow.set(k, new Set());
    methodsOfRow.get(k)!.add(s.method);
  }
  const settingOf = (s: EntrySummary) =>
    methodsOfRow.get(`${s.table}\u0000${s.row}`)!.size > 1 ? s.row : s.column;
  const slots = new Map<string, EntrySummary[]>();
  for (const s of runnable) {
    const k = `${s.table}\u0000${settingOf(s)}`;
    if (!slots.has(k)) slots.set(k, []);
    slots.get(k)!.push(s);
  }
  const out: Direction[] = [];
  for (const entries of slots.values()) {
    const fd = entries.filter((s) => s.method === "fishdip");
    if (fd.length !== 1) continue;
    for (const o of entries) {
      if (o.method === "fishdip") continue;
      out.push({
        table: o.table,
        setting: settingOf(o),
        baseline: o.method,
        fishdip: fd[0].agg,
        other: o.agg,
        delta: fd[0].agg && o.agg ? fd[0].agg.mean - o.agg.mean : undefined,
        verdict: verdict(fd[0].agg, o.agg, PAPER_BASELINES.has(o.method)),
      });
    }
  }
  return out;
}

/** Counts of each verdict. */
export function tallyVerdicts(rows: Direction[]): Record<Verdict, number> {
  const t: Record<Verdict, number> = {
    "pending": 0,
    "both zero": 0,
    "within seed spread": 0,
    "FISH-DIP higher (as the paper)": 0,
    "FISH-DIP lower (against the paper)": 0,
    "FISH-DIP higher": 0,
    "FISH-DIP lower": 0,
  };
  for (const r of rows) t[r.verdict]++;
  return t;
}

function fmt(a?: Aggregate): string {
  if (!a) return "pending";
  return a.n > 1 ? `${(a.mean * 100).toFixed(2)} ± ${(a.std * 100).toFixed(2)}` : (a.mean * 100).toFixed(2);
}

/** The comparisons as GitHub Markdown, with the tally of verdicts. */
export function directionToMarkdown(rows: Direction[]): string {
  const tally = tallyVerdicts(rows);
  const lines = [
    "### FISH-DIP against each other method, next to the paper's direction",
    "",
    "| table | setting | other method | other | FISH-DIP | difference (points) | here |",
    "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ...rows.map((r) =>
      mdRow([
        r.table,
        r.setting,
        METHODS[r.baseline].label,
        fmt(r.other),
        fmt(r.fishdip),
        r.delta === undefined ? "" : `${r.delta >= 0 ? "+" : ""}${(r.delta * 100).toFixed(2)}`,
        r.verdict,
      ])
    ),
    "",
    `- verdicts: ${Object.entries(tally).filter(([, n]) => n > 0).map(([v, n]) => `${v}: ${n}`).join("; ")}`,
    "- the paper (abstract): FISH-DIP up to 40 % better than full fine-tuning depending on the setting, " +
    "comparable or better than other PEFT methods, notably in extreme low-resource settings; its dynamic " +
    "mask is the point of the method (fixed FISH and random masks are its ablations)",
    "- a difference counts only beyond the larger of the two seed standard deviations (population std); " +
    "one-seed rows have no spread, so any difference counts there",
  ];
  return lines.join("\n") + "\n";
}

/** The comparisons as CSV (fractions). */
export function directionToCsv(rows: Direction[]): string {
  const n = (v?: number) => (v === undefined ? "" : String(v));
  const head = [
    "table",
    "setting",
    "baseline",
    "other_mean",
    "other_std",
    "fishdip_mean",
    "fishdip_std",
    "delta",
    "verdict",
  ];
  return csvLines([
    head,
    ...rows.map((r) => [
      r.table,
      r.setting,
      r.baseline,
      n(r.other?.mean),
      n(r.other?.std),
      n(r.fishdip?.mean),
      n(r.fishdip?.std),
      n(r.delta),
      r.verdict,
    ]),
  ]);
}
