/**
 * How does the score move with the fine-tuning budget? Runs one low-resource setting of a CPU
 * preset (same backbone, batch, lengths, evaluation subset and method settings as the preset's
 * cells) at several step budgets, FISH-DIP refreshing about the same number of times in each, and
 * prints a table of the scores and final training losses. Results go to a JSON-lines file, one
 * line per run, as each run ends; runs already there are skipped, so a killed probe continues.
 *
 *   deno task budget-probe --dataset conll03 --fraction 0.01 --steps 60,200 [--methods full,fishdip]
 *     [--preset cpu] [--seeds 1] [--refreshes 6] [--out .cache/budget-probe.jsonl] [--backend B]
 *     [--backbone NAME]   (a folder under data/models/ instead of the preset's backbone for the dataset)
 *
 * @module
 */
import { parseArgs } from "node:util";
import { initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { isDatasetName } from "../lib/data/registry.ts";
import { cellId, cellLabel } from "../lib/experiments/cells.ts";
import { planPreset } from "../lib/experiments/plan.ts";
import { PRESET_SPECS, type PresetName, PRESETS } from "../lib/experiments/presets.ts";
import { REPO_ROOT } from "../lib/config/paths.ts";
import { runCell } from "../lib/reproduce/run_cell.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dataset: { type: "string" },
    fraction: { type: "string" },
    steps: { type: "string", default: "60,200" },
    methods: { type: "string", default: "full,fishdip" },
    preset: { type: "string", default: "cpu" },
    seeds: { type: "string", default: "1" },
    refreshes: { type: "string", default: "6" },
    out: { type: "string", default: `${REPO_ROOT}/.cache/budget-probe.jsonl` },
    backend: { type: "string", default: "auto" },
    data: { type: "string" },
    backbone: { type: "string" },
  },
});
const usage =
  "usage: deno task budget-probe --dataset NAME --fraction P [--steps 60,200] [--methods full,fishdip]";
const list = (s: string, what: string) =>
  s.split(",").map((x) => {
    const v = Number(x);
    if (!(v > 0)) throw new Error(`--${what}: "${x}" is not a positive number\n${usage}`);
    return v;
  });
if (!values.dataset || !isDatasetName(values.dataset) || !values.fraction) throw new Error(usage);
if (!PRESETS.includes(values.preset as PresetName)) throw new Error(`--preset: one of ${PRESETS.join(", ")}`);
const dataset = values.dataset, fraction = Number(values.fraction);
const methods = values.methods!.split(",");
const seeds = list(values.seeds!, "seeds"), budgets = list(values.steps!, "steps");
const refreshes = list(values.refreshes!, "refreshes")[0];
const base = PRESET_SPECS[values.preset as PresetName];

const cells = budgets.flatMap((steps) => {
  const spec = {
    ...base,
    epochs: { steps },
    maxSteps: steps,
    m: Math.max(1, Math.round(steps / refreshes)),
    seeds,
    lowResource: [{ dataset, fractions: [fraction] }],
    lowResourceMethods: methods as typeof base.lowResourceMethods,
  };
  return planPreset(spec, { dataDir: values.data, only: ["lowResource"] }).cells
    .map((c) => values.backbone ? { ...c, backbone: values.backbone } : c);
});
if (!cells.length) throw new Error(`no runnable cell for ${dataset} ${fraction} (data missing?)`);

const out = values.out!;
const done = new Set<string>();
try {
  for (const l of (await Deno.readTextFile(out)).split("\n")) if (l.trim()) done.add(JSON.parse(l).cellId);
} catch (e) {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
}
await initBackend(parseBackendName(values.backend!));
for (const [i, cell] of cells.entries()) {
  const id = cellId(cell);
  if (done.has(id)) continue;
  const prefix = `[${i + 1}/${cells.length}] ${cellLabel(cell)} (${cell.maxSteps} steps, ${cell.backbone})`;
  console.error(`${prefix}: running`);
  const t0 = performance.now();
  const r = await runCell(cell, {
    dataDir: values.data,
    checkpointDir: "",
    log: (m) => console.error(`${prefix}: ${m}`),
  });
  const last = (r.losses ?? []).slice(-10).map((l) => l.loss);
  const line = {
    cellId: id,
    label: cellLabel(cell),
    backbone: cell.backbone,
    steps: r.steps,
    metrics: r.metrics,
    finalLoss: last.length ? last.reduce((a, b) => a + b, 0) / last.length : null,
    seconds: (performance.now() - t0) / 1000,
  };
  await Deno.writeTextFile(out, JSON.stringify(line) + "\n", { append: true });
  console.error(`${prefix}: ${JSON.stringify(Object.values(r.metrics)[0])}`);
}

// The table of every run of this setting in the file.
const rows = (await Deno.readTextFile(out)).trim().split("\n").map((l) => JSON.parse(l))
  .filter((r) => cells.some((c) => cellId(c) === r.cellId));
console.log("| run | backbone | steps | entity F1 % | relation F1 % | final train loss | seconds |");
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const r of rows) {
  const m = Object.values(r.metrics)[0] as Record<string, number>;
  const pct = (v: number | undefined) => v === undefined ? "-" : (100 * v).toFixed(2);
  console.log(
    `| ${r.label} | ${r.backbone} | ${r.steps} | ${pct(m.entity_f1)} | ${pct(m.relation_f1)} | ${
      r.finalLoss?.toFixed(3) ?? "-"
    } | ${r.seconds.toFixed(0)} |`,
  );
}
