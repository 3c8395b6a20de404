/**
 * How does the score move with the fine-tuning budget? Runs one low-resource setting of an offline
 * preset at several step budgets, each as `deno task reproduce --steps N` runs it (same backbone,
 * batch, lengths, evaluation subset and method settings, FISH-DIP's m scaled with the budget), and
 * prints a table of the scores and final training losses.
 *
 * The runs go to the results store that `deno task reproduce` uses (`--results`, default
 * `<repo>/results`), as the grid's own records: a run already there, from a probe or a grid, is not
 * run again, a killed probe continues, and a later `reproduce --steps N` skips what a probe ran.
 *
 *   deno task budget-probe --dataset conll03 --fraction 0.01 --steps 60,200 [--methods full,fishdip]
 *     [--preset cpu] [--seeds 1] [--results DIR] [--backend B] [--data DIR]
 *     [--backbone NAME]   (a folder under data/models/ instead of the preset's backbone for the dataset)
 *
 * @module
 */
import { parseArgs } from "node:util";
import { initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { isDatasetName } from "../lib/data/registry.ts";
import { cellId, cellLabel } from "../lib/experiments/cells.ts";
import { isMethodName } from "../lib/methods/registry.ts";
import { PRESET_SPECS, type PresetName, PRESETS, withStepBudget } from "../lib/experiments/presets.ts";
import { ResultsStore } from "../lib/experiments/store.ts";
import { REPO_ROOT } from "../lib/config/paths.ts";
import { reproduce } from "../lib/reproduce/reproduce.ts";
import { COUNT, FRACTION, parseNumberFlag } from "../lib/config/flags.ts";
import { asUsage, CommandError, runCommand, UsageError } from "../lib/config/cli.ts";

const USAGE =
  "deno task budget-probe --dataset NAME --fraction P [--steps 60,200] [--methods full,fishdip]\n" +
  "  [--preset cpu] [--seeds 1] [--results DIR] [--backend B] [--data DIR] [--backbone NAME]";

async function main() {
  const { values } = asUsage(() =>
    parseArgs({
      args: Deno.args,
      options: {
        dataset: { type: "string" },
        fraction: { type: "string" },
        steps: { type: "string", default: "60,200" },
        methods: { type: "string", default: "full,fishdip" },
        preset: { type: "string", default: "cpu" },
        seeds: { type: "string", default: "1" },
        results: { type: "string", default: `${REPO_ROOT}/results` },
        backend: { type: "string", default: "auto" },
        data: { type: "string" },
        backbone: { type: "string" },
      },
    })
  );
  const list = (s: string, what: string) => s.split(",").map((x) => parseNumberFlag(`--${what}`, x, COUNT));
  if (!values.dataset) throw new UsageError("--dataset NAME is required");
  if (!isDatasetName(values.dataset)) throw new UsageError(`--dataset: unknown dataset "${values.dataset}"`);
  if (!values.fraction) throw new UsageError("--fraction P is required");
  const fraction = parseNumberFlag("--fraction", values.fraction, FRACTION);
  if (!PRESETS.includes(values.preset as PresetName)) {
    throw new UsageError(`--preset: one of ${PRESETS.join(", ")}, got "${values.preset}"`);
  }
  const methods = values.methods!.split(",");
  for (const m of methods) if (!isMethodName(m)) throw new UsageError(`--methods: unknown method "${m}"`);
  const dataset = values.dataset;
  const seeds = list(values.seeds!, "seeds"), budgets = list(values.steps!, "steps");
  const base = PRESET_SPECS[values.preset as PresetName];
  const presets = budgets.map((steps) => ({
    ...asUsage(() => withStepBudget(base, steps)),
    seeds,
    lowResource: [{ dataset, fractions: [fraction] }],
    lowResourceMethods: methods as typeof base.lowResourceMethods,
  }));

  // Initialised once: each budget's reproduce() then runs on it and records it with every cell.
  await initBackend(asUsage(() => parseBackendName(values.backend!)));
  const ids: string[] = [];
  for (const preset of presets) {
    const summary = await reproduce({
      preset,
      only: ["lowResource"],
      dataDir: values.data,
      resultsDir: values.results,
      backbone: values.backbone,
      noReport: true,
      stopOnError: true,
    });
    if (!summary.plan.cells.length) {
      throw new CommandError(
        `no runnable cell for ${dataset} at ${fraction}`,
        "check that the dataset is in the data directory (--data or $FISHDIP_DATA)",
      );
    }
    ids.push(...summary.plan.cells.map(cellId));
  }

  // The table of every run of this setting, from the store.
  const store = new ResultsStore(`${values.results}/runs`);
  store.load({ quiet: true });
  console.log("| run | backbone | steps | entity F1 % | relation F1 % | final train loss | seconds |");
  console.log("|---|---|---:|---:|---:|---:|---:|");
  for (const id of ids) {
    const r = store.get(id);
    if (!r) continue;
    const m = Object.values(r.metrics)[0] as Record<string, number>;
    const pct = (v: number | undefined) => v === undefined ? "-" : (100 * v).toFixed(2);
    const last = (r.losses ?? []).slice(-10).map((l) => l.loss);
    const loss = last.length ? (last.reduce((a, b) => a + b, 0) / last.length).toFixed(3) : "-";
    console.log(
      `| ${cellLabel(r.cell)} | ${r.cell.backbone} | ${r.steps ?? r.cell.maxSteps} | ${pct(m.entity_f1)} | ${
        pct(m.relation_f1)
      } | ${loss} | ${r.timings.total.toFixed(0)} |`,
    );
  }
}

await runCommand(main, { usage: USAGE });
