/**
 * Is a pretrained backbone worth having? Full fine-tuning from it vs from a random initialisation
 * of the same shape and vocabulary (issue #6), same data, steps and seeds, scored on the test
 * split (lib/pretrain/downstream.ts has the settings).
 *
 *   deno task eval-backbone [--backbone fishdip-t5-mini] [--seeds 1,2,3] [--inits pretrained,random]
 *   deno task eval-backbone --table            # the model card's table from the results file
 *
 * One JSON line per run goes to `--out` (default `<backbone dir>/downstream_results.jsonl`) as soon
 * as the run ends; runs already there are skipped, so an interrupted evaluation continues.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { cellLabel } from "../lib/experiments/cells.ts";
import {
  DOWNSTREAM_BUDGET,
  DOWNSTREAM_SETTINGS,
  downstreamCell,
  type DownstreamRecord,
  downstreamTable,
} from "../lib/pretrain/downstream.ts";
import { createT5 } from "../lib/t5/model.ts";
import { type Backbone, backboneDir, DEFAULT_BACKBONE, loadBackbone } from "../lib/train/backbone.ts";
import { runCell } from "../lib/reproduce/run_cell.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    backbone: { type: "string", default: DEFAULT_BACKBONE },
    seeds: { type: "string", default: "1,2,3" },
    inits: { type: "string", default: "pretrained,random" },
    datasets: { type: "string" },
    steps: { type: "string", default: String(DOWNSTREAM_BUDGET.steps) },
    backend: { type: "string", default: "auto" },
    data: { type: "string" },
    out: { type: "string" },
    table: { type: "boolean", default: false },
  },
});

const dir = await backboneDir(values.backbone!, { dataDir: values.data });
const out = values.out ?? `${dir}/downstream_results.jsonl`;

async function readRecords(): Promise<DownstreamRecord[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(out);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return text.split("\n").map((l, i) => [l.trim(), i + 1] as const).filter(([l]) => l).map(([l, n]) => {
    try {
      return JSON.parse(l) as DownstreamRecord;
    } catch {
      throw new Error(`${out}:${n}: not a JSON line`);
    }
  });
}

if (values.table) {
  console.log(downstreamTable(await readRecords()));
  Deno.exit(0);
}

const seeds = values.seeds!.split(",").map(Number);
const inits = values.inits!.split(",");
for (const i of inits) {
  if (i !== "pretrained" && i !== "random") throw new Error(`--inits: "${i}" is not pretrained or random`);
}
const wanted = values.datasets?.split(",");
const settings = DOWNSTREAM_SETTINGS.filter((s) => !wanted || wanted.includes(s.dataset));
const budget = { ...DOWNSTREAM_BUDGET, steps: Number(values.steps) };
const backend = await initBackend(parseBackendName(values.backend!));

const key = (
  r: Pick<DownstreamRecord, "init" | "seed" | "dataset" | "fraction" | "steps" | "test_subsample">,
) => [r.init, r.seed, r.dataset, r.fraction, r.steps, r.test_subsample ?? "all"].join("|");
const done = new Set((await readRecords()).map(key));
const jobs = settings.flatMap((s) => seeds.flatMap((seed) => inits.map((init) => ({ s, seed, init }))));
console.error(`${jobs.length} runs (${done.size} records in ${out}); backend ${backend.backend}`);

let n = 0;
for (const { s, seed, init } of jobs) {
  n++;
  const cell = downstreamCell(s, seed, values.backbone!, budget);
  const record = { init, seed, dataset: s.dataset, fraction: s.fraction, steps: budget.steps };
  if (done.has(key({ ...record, test_subsample: s.testSubsample ?? null }))) continue;
  const prefix = `[${n}/${jobs.length}] ${init} ${cellLabel(cell)}`;
  console.error(`${prefix}: running`);
  const t0 = performance.now();
  const pretrained = await loadBackbone(dir, { dataDir: values.data, dropoutSeed: seed });
  let backbone: Backbone = pretrained;
  if (init === "random") {
    // Same shape and vocabulary, weights drawn as Hugging Face's T5 initialises them.
    backbone = {
      ...pretrained,
      id: "random",
      model: createT5(pretrained.model.config, { seed: 1000 + seed, dropoutSeed: seed }),
    };
    pretrained.model.dispose();
  }
  try {
    const result = await runCell(cell, {
      dataDir: values.data,
      checkpointDir: "",
      log: (m) => console.error(`${prefix}: ${m}`),
    }, { backbone });
    const losses = result.losses ?? [];
    const line: DownstreamRecord = {
      ...record,
      batch: budget.batchSize,
      test_subsample: s.testSubsample ?? null,
      metrics: result.metrics,
      first_loss: losses[0]?.loss,
      last_losses: losses.slice(-10).map((l) => l.loss),
      seconds: (performance.now() - t0) / 1000,
    };
    await Deno.writeTextFile(out, JSON.stringify(line) + "\n", { append: true });
    const m = Object.values(result.metrics)[0] ?? {};
    console.error(
      `${prefix}: entity F1 ${(100 * (m.entity_f1 ?? 0)).toFixed(1)} %, reconstruction ${
        (100 * (m.reconstruction_rate ?? 0)).toFixed(1)
      } %, ${line.seconds.toFixed(0)} s`,
    );
  } finally {
    backbone.model.dispose();
  }
}
console.log(downstreamTable((await readRecords()).filter((r) => r.steps === budget.steps)));
