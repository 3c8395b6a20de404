/**
 * What every table's notebook (`notebooks/01_*` to `07_*`) does, in one place: read its settings
 * from the environment, train the table's missing cells, then show the table with its notes, the
 * diagnostics beside the scores, and the figures. A notebook is its prose and one call per step:
 *
 * ```ts
 * const nb = fd.tableNotebook("lowResource"); // lib/reproduce/notebook.ts supplies the runner
 * await nb.run();              // train what the results store lacks (FISHDIP_RUN=0: nothing)
 * await nb.showTable();        // the table as a DataFrame, and its notes
 * await nb.showDiagnostics();  // reconstruction rate and final training loss per entry
 * await nb.showFigures();      // the table's figures
 * ```
 *
 * @module
 */
import { relative } from "node:path";
import { REPO_ROOT } from "../config/paths.ts";
import type { TableName } from "../experiments/plan.ts";
import {
  PRESET_SPECS,
  type PresetName,
  PRESETS,
  type PresetSpec,
  withStepBudget,
} from "../experiments/presets.ts";
import { show, showMarkdown, showSvg, toDataFrame } from "./notebook.ts";
import { type LoadedReport, loadReport } from "./report.ts";
import { diagnostics, diagnosticsToMarkdown } from "./tables.ts";
import { regressingSamples, trainSteps } from "../experiments/cells.ts";

/** A notebook's settings. */
export interface NotebookSettings {
  /** `FISHDIP_PRESET` (smoke | quick | cpu | paper), default quick. */
  preset: PresetName;
  /** `FISHDIP_RESULTS`, default the repository's `results/` (relative to the kernel's folder). */
  resultsDir: string;
  /** Train the cells missing from the results store; `FISHDIP_RUN=0` only shows. */
  run: boolean;
  /** `FISHDIP_BACKBONE`: a backbone id or folder instead of the preset's. */
  backbone?: string;
  /**
   * `FISHDIP_STEPS`: this many optimizer steps per run instead of the preset's, m scaled alike, as
   * `deno task reproduce --steps N` (its records and report are `PRESET-Nsteps`).
   */
  steps?: number;
}

/** The preset a notebook plans with: the named one, or its copy with {@link NotebookSettings.steps}. */
export function notebookPreset(
  settings: Pick<NotebookSettings, "preset" | "steps">,
): PresetName | PresetSpec {
  return settings.steps === undefined
    ? settings.preset
    : withStepBudget(PRESET_SPECS[settings.preset], settings.steps);
}

/** The settings from the environment (see {@link NotebookSettings}). */
export function notebookSettings(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): NotebookSettings {
  const preset = env("FISHDIP_PRESET") ?? "quick";
  if (!(PRESETS as readonly string[]).includes(preset)) {
    throw new Error(`FISHDIP_PRESET=${preset}: expected one of ${PRESETS.join(", ")}`);
  }
  const stepsText = env("FISHDIP_STEPS") || undefined;
  const steps = stepsText === undefined ? undefined : Number(stepsText);
  if (steps !== undefined && !(Number.isInteger(steps) && steps > 0)) {
    throw new Error(`FISHDIP_STEPS=${stepsText}: expected a positive whole number of optimizer steps`);
  }
  const settings: NotebookSettings = {
    preset: preset as PresetName,
    resultsDir: env("FISHDIP_RESULTS") ?? relative(Deno.cwd(), `${REPO_ROOT}/results`),
    run: (env("FISHDIP_RUN") ?? "1") !== "0",
    backbone: env("FISHDIP_BACKBONE") || undefined,
    steps,
  };
  notebookPreset(settings); // the paper preset takes no step budget: say so before any cell runs
  return settings;
}

/** What {@link TableNotebook.run} needs from `reproduce()` (lib/reproduce), which this layer cannot import. */
export type NotebookRunner = (opts: {
  preset: PresetName | PresetSpec;
  only: TableName[];
  resultsDir: string;
  backbone?: string;
  quiet: boolean;
}) => Promise<
  { ran: unknown[]; skipped: unknown[]; failed: { label: string; error: string }[]; blocked: number }
>;

/** One table's notebook. */
export class TableNotebook {
  #report?: LoadedReport;

  constructor(
    readonly table: TableName,
    readonly settings: NotebookSettings,
    private readonly runner: NotebookRunner,
  ) {}

  /**
   * Trains and evaluates the table's cells that are not in the results store yet (finished ones are
   * skipped); throws, naming the first, when any of them failed.
   */
  async run(): Promise<void> {
    if (!this.settings.run) return;
    const { resultsDir, backbone } = this.settings;
    const preset = notebookPreset(this.settings);
    const summary = await this.runner({ preset, only: [this.table], resultsDir, backbone, quiet: true });
    this.#report = undefined; // read the store again: the settings cell loaded it before these runs
    console.log(
      `ran ${summary.ran.length} cells, ${summary.skipped.length} already done, ${summary.failed.length} failed, ` +
        `${summary.blocked} need data we do not have`,
    );
    // A failed cell stops the notebook here, so that no table below is read as complete.
    if (summary.failed.length) {
      const [first] = summary.failed;
      throw new Error(
        `${summary.failed.length} cell(s) of this table failed (first: ${first.label}: ${first.error}); ` +
          `the others' results are stored, and running this cell again retries only the failed ones`,
      );
    }
  }

  /** The plan, records, tables and figures of this table (read from the store once, on first use). */
  get report(): LoadedReport {
    const { resultsDir, backbone } = this.settings;
    this.#report ??= loadReport({
      preset: notebookPreset(this.settings),
      only: [this.table],
      resultsDir,
      backbone,
    });
    return this.#report;
  }

  /**
   * The settings this table actually runs with in the chosen preset: backbones, steps, batch,
   * seeds, and FISH-DIP's k, m and n (the rule's n worked out for each setting), so the narrative
   * never has to guess them.
   */
  settingsMarkdown(): string {
    const cells = [...new Map(
      this.report.plan.entries.filter((e) => e.table === this.table && !e.needs.length).flatMap((e) =>
        e.cells
      ).map((
        c,
      ) => [c, c]),
    ).keys()];
    if (!cells.length) {
      return `Preset \`${this.report.plan.preset}\`: no runnable cells in this table (data missing).`;
    }
    const list = <T extends string | number>(xs: T[]) =>
      [...new Set(xs)].sort((a, b) =>
        typeof a === "number" ? a - (b as number) : String(a).localeCompare(String(b))
      )
        .join(", ");
    const lines = [
      `Preset \`${this.report.plan.preset}\`: backbone ${list(cells.map((c) => c.backbone))}; ` +
      `${list(cells.map(trainSteps))} optimizer steps of batch ${list(cells.map((c) => c.batchSize))}; ` +
      `seeds ${list(cells.map((c) => c.seed))}.`,
    ];
    const fishdip = cells.filter((c) => c.method.name === "fishdip");
    if (fishdip.length) {
      const k = list(fishdip.map((c) =>
        c.method.name === "fishdip" ? 100 * c.method.k : 0
      )).replaceAll(",", " %,") + " %";
      const m = list(fishdip.map((c) => c.method.name === "fishdip" ? c.method.m : 0));
      const n = list(fishdip.map((c) => regressingSamples(c)!));
      const rule = fishdip.some((c) => c.method.name === "fishdip" && c.method.n === "rule");
      lines.push(
        `FISH-DIP: k = ${k}, m = ${m}, n = ${n}${rule ? " (the reference rule where not fixed)" : ""}.`,
      );
    }
    return lines.join(" ");
  }

  /** Shows {@link settingsMarkdown}. */
  async showSettings(): Promise<void> {
    await showMarkdown(this.settingsMarkdown());
  }

  /** Shows the table (mean ± std over seeds, `needs DATASET` where data is missing) and its notes. */
  async showTable(): Promise<void> {
    const table = this.report.tables.find((t) => t.name === this.table)!;
    await show(await toDataFrame(table));
    if (table.notes?.length) await showMarkdown(table.notes.map((n: string) => `- ${n}`).join("\n"));
  }

  /** Shows each entry's reconstruction rate, final training loss and mask-selection time beside its score. */
  async showDiagnostics(): Promise<void> {
    const diag = diagnostics(this.report.plan, this.report.records).filter((d) => d.table === this.table);
    if (diag.length) await showMarkdown(diagnosticsToMarkdown(diag));
    else console.log("no finished runs yet");
  }

  /** Shows the table's figures (the low-resource table also shows how the FISH-DIP mask moves). */
  async showFigures(): Promise<void> {
    const mine = (name: string) =>
      name.startsWith(this.table) || (this.table === "lowResource" && name === "mask_movement");
    for (const f of this.report.figures.filter((f) => mine(f.name))) await showSvg(f.svg, f.name);
  }
}
