/**
 * Everything `deno task reproduce` writes after running cells: each table as CSV and Markdown,
 * each figure as SVG and PNG, and the manifest. Pure function of a plan and the store's records,
 * so it can be re-run at any time (for example while shards are still running) to see progress.
 *
 * ```ts
 * import { planPreset } from "../experiments/plan.ts";
 * import { ResultsStore } from "../experiments/store.ts";
 * const plan = planPreset("quick");
 * const store = new ResultsStore("results/runs");
 * const written = await writeReport(plan, store.records(), { dir: "results" });
 * ```
 *
 * @module
 */

import { REPO_ROOT } from "../config/paths.ts";
import { cellId } from "../experiments/cells.ts";
import { type Plan, planPreset, type TableName } from "../experiments/plan.ts";
import type { PresetName, PresetSpec } from "../experiments/presets.ts";
import { type MaskSnapshot, ResultsStore, type RunRecord } from "../experiments/store.ts";
import { directionToCsv, directionToMarkdown, paperDirection } from "./direction.ts";
import { mergeRawRecords } from "./raw_records.ts";
import { ablationCurve, barsWithSpread, fractionLines, maskHeatmap, writeFigure } from "./plots.ts";
import {
  buildManifest,
  buildTables,
  diagnostics,
  diagnosticsToCsv,
  diagnosticsToMarkdown,
  type EntrySummary,
  recordMap,
  type Table,
  tableToMarkdown,
  writeManifest,
  writeTable,
} from "./tables.ts";

/** A figure of the report: its file name and SVG. */
export interface Figure {
  name: string;
  svg: string;
}

/**
 * The mask history to draw: the FISH-DIP run of the ablation setting with the lowest seed that
 * has one (the k = default row), else any FISH-DIP record with masks.
 */
export function pickMaskRecord(
  plan: Plan,
  records: RunRecord[] | Map<string, RunRecord>,
): RunRecord | undefined {
  const list = records instanceof Map ? [...records.values()] : records;
  const byId = new Map(list.map((r) => [r.cellId, r]));
  const wanted = plan.entries.filter((e) =>
    e.table === "ablationM" || e.table === "fixedVsDynamic" || e.table === "lowResource"
  )
    .filter((e) => e.method === "fishdip");
  for (const e of wanted) {
    for (const c of e.cells) {
      const r = byId.get(cellId(c));
      if (r?.masks?.length) return r;
    }
  }
  return list.find((r) => r.cell.method.name === "fishdip" && r.masks?.length);
}

/** The report's figures for the tables present (empty figures are skipped). */
export function buildFigures(tables: Table[], maskRecord?: RunRecord): Figure[] {
  const figs: Figure[] = [];
  const of = (name: TableName): EntrySummary[] => tables.find((t) => t.name === name)?.summaries ?? [];
  const has = (s: EntrySummary[]) => s.some((x) => x.agg);
  const low = of("lowResource");
  if (has(low)) {
    figs.push({
      name: "lowResource_bars",
      svg: barsWithSpread(low, { title: "Low-resource results by method" }),
    });
    figs.push({
      name: "lowResource_fractions",
      svg: fractionLines(low, { title: "FISH-DIP vs full fine-tuning across training fractions" }),
    });
  }
  for (
    const [name, title] of [
      ["fewShot", "FewRel few-shot accuracy"],
      ["peft", "FISH-DIP vs PEFT methods"],
      ["sparseMethods", "Which sparse mask? FISH-DIP and the sparse methods after it"],
    ] as const
  ) {
    if (has(of(name))) {
      figs.push({ name: `${name}_bars`, svg: barsWithSpread(of(name), { title, yLabel: "score (%)" }) });
    }
  }
  const abl: [TableName, string, boolean, boolean][] = [
    ["ablationK", "k: trainable parameters (%)", true, true],
    ["ablationM", "m: refresh interval (steps)", true, false],
    ["ablationN", "n: regressing samples", true, false],
  ];
  for (const [name, xLabel, log, percentX] of abl) {
    if (has(of(name))) {
      figs.push({
        name,
        svg: ablationCurve(of(name), {
          title: tables.find((t) => t.name === name)!.title,
          xLabel,
          log,
          percentX,
        }),
      });
    }
  }
  if (has(of("fixedVsDynamic"))) {
    // Rows are mask kinds here; plot them as bar groups of one column each.
    const s = of("fixedVsDynamic").map((x) => ({ ...x, row: x.column, column: x.row }));
    figs.push({ name: "fixedVsDynamic_bars", svg: barsWithSpread(s, { title: "Fixed vs dynamic mask" }) });
  }
  if (maskRecord?.masks?.length) {
    const m: MaskSnapshot[] = maskRecord.masks;
    figs.push({
      name: "mask_movement",
      svg: maskHeatmap(m, {
        title: "How the FISH-DIP mask moves across layers",
        subtitle: `selected entries per layer at each mask computation; ${maskLabel(maskRecord)}`,
      }),
    });
  }
  return figs;
}

function maskLabel(r: RunRecord): string {
  const c = r.cell;
  const m = c.method.name === "fishdip" ? `k=${c.method.k}, m=${c.method.m}, n=${c.method.n}` : "";
  return `${c.dataset} ${
    c.fraction !== undefined ? `${+(c.fraction * 100).toFixed(3)}%` : ""
  } ${m} seed ${c.seed}`;
}

/** What {@link writeReport} wrote. */
export interface ReportFiles {
  tables: string[];
  figures: string[];
  manifest: string[];
  /** `raw/PRESET-runs.jsonl`: every done cell's whole record, one per line. */
  raw: string[];
  /** Records the store lacked and the previous raw file had: kept, and reported (raw_records.ts). */
  kept: RunRecord[];
}

/**
 * The folder of a preset's tables, figures and manifest: `DIR/PRESET`, so that each preset's report
 * has its own and running one preset never rewrites another's.
 */
export function reportDir(resultsDir: string, preset: string): string {
  return `${resultsDir}/${preset}`;
}

/**
 * Writes, under `DIR/PRESET/` ({@link reportDir}), `tables/NAME.{csv,md,long.csv}`,
 * `figures/NAME.{svg,png}` and `manifest.{json,md}`, plus `tables/README.md` with every table in one
 * file, `tables/diagnostics.{md,csv}` (reconstruction rate and final training loss beside each
 * score), `tables/paper_direction.{md,csv}` (FISH-DIP against each other method, with a verdict); and
 * `DIR/raw/PRESET-runs.jsonl`: the store's record of each of the plan's cells that is done (all
 * metrics, timings, losses, masks), in plan order — the store itself (`runs/`) is not committed.
 * Records of that file the store lacks are kept and reported with the store's (`kept`); records of
 * cells outside this plan (another backbone, data now missing) stay at its end. A raw file that
 * cannot be read stops the report before anything is written.
 */
export async function writeReport(
  plan: Plan,
  records: RunRecord[] | Map<string, RunRecord>,
  opts: { dir?: string; gitCommit?: string; png?: boolean } = {},
): Promise<ReportFiles> {
  const root = opts.dir ?? "results";
  const raw = `${root}/raw/${plan.preset}-runs.jsonl`;
  const dir = reportDir(root, plan.preset);
  const merged = mergeRawRecords(recordMap(records), raw);
  records = merged.records;
  const tables = buildTables(plan, records);
  const out: ReportFiles = { tables: [], figures: [], manifest: [], raw: [], kept: merged.kept };
  for (const t of tables) out.tables.push(...writeTable(t, `${dir}/tables`));
  Deno.writeTextFileSync(
    `${dir}/tables/README.md`,
    `# Tables (${plan.preset} preset, backbone ${plan.backbone})\n\n` +
      tables.map(tableToMarkdown).join("\n"),
  );
  out.tables.push(`${dir}/tables/README.md`);
  const diag = diagnostics(plan, records);
  Deno.writeTextFileSync(`${dir}/tables/diagnostics.md`, diagnosticsToMarkdown(diag));
  Deno.writeTextFileSync(`${dir}/tables/diagnostics.csv`, diagnosticsToCsv(diag));
  out.tables.push(`${dir}/tables/diagnostics.md`, `${dir}/tables/diagnostics.csv`);
  const direction = paperDirection(tables.flatMap((t) => t.summaries));
  Deno.writeTextFileSync(`${dir}/tables/paper_direction.md`, directionToMarkdown(direction));
  Deno.writeTextFileSync(`${dir}/tables/paper_direction.csv`, directionToCsv(direction));
  out.tables.push(`${dir}/tables/paper_direction.md`, `${dir}/tables/paper_direction.csv`);
  for (const f of buildFigures(tables, pickMaskRecord(plan, records))) {
    if (opts.png === false) {
      Deno.mkdirSync(`${dir}/figures`, { recursive: true });
      Deno.writeTextFileSync(`${dir}/figures/${f.name}.svg`, f.svg);
      out.figures.push(`${dir}/figures/${f.name}.svg`);
    } else out.figures.push(...(await writeFigure(f.name, f.svg, `${dir}/figures`)));
  }
  out.manifest = writeManifest(buildManifest(plan, records, opts.gitCommit), dir);
  const byId = recordMap(records);
  const done = plan.cells.map((c) => byId.get(cellId(c))).filter((r) => r !== undefined);
  const planned = new Set(plan.cells.map(cellId));
  const others = merged.kept.filter((r) => !planned.has(r.cellId));
  Deno.mkdirSync(`${root}/raw`, { recursive: true });
  Deno.writeTextFileSync(raw, [...done, ...others].map((r) => JSON.stringify(r) + "\n").join(""));
  out.raw.push(raw);
  return out;
}

/** Everything a notebook shows: the plan, the store's records, the tables and the figures. */
export interface LoadedReport {
  plan: Plan;
  records: RunRecord[];
  tables: Table[];
  figures: Figure[];
}

/**
 * Reads the results store and builds the tables and figures of a preset, without writing
 * anything: the one call a notebook needs. Records of `raw/PRESET-runs.jsonl` that the store
 * lacks count too, as in {@link writeReport}, so a fresh clone (whose store is empty) shows the
 * committed results.
 *
 * ```ts
 * import { show, toDataFrame } from "./notebook.ts";
 * const r = loadReport({ preset: "quick" });
 * for (const t of r.tables) await show(await toDataFrame(t));
 * for (const f of r.figures) await show(f.svg);
 * ```
 */
export function loadReport(
  opts: {
    /** A preset, or a copy with another budget (`withStepBudget(PRESET_SPECS.cpu, 600)`). */
    preset?: PresetName | PresetSpec;
    resultsDir?: string;
    dataDir?: string;
    only?: TableName[];
    backbone?: string;
  } = {},
): LoadedReport {
  const plan = planPreset(opts.preset ?? "quick", {
    dataDir: opts.dataDir,
    only: opts.only,
    backbone: opts.backbone,
  });
  const root = opts.resultsDir ?? `${REPO_ROOT}/results`;
  const store = new ResultsStore(`${root}/runs`).load({ quiet: true });
  const records = [
    ...mergeRawRecords(recordMap(store), `${root}/raw/${plan.preset}-runs.jsonl`).records.values(),
  ];
  const tables = buildTables(plan, records);
  return { plan, records, tables, figures: buildFigures(tables, pickMaskRecord(plan, records)) };
}
