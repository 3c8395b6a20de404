/**
 * `deno task finetune --dataset conll04 --fraction 0.01 --method fishdip [options]`
 *
 * Fine-tunes a backbone on one dataset with one method, with periodic checkpoints in `--run-dir`
 * (`--resume` continues a killed run to the same final weights), evaluates the final model, and
 * can export the change as a sparse delta (indices + values, about k % of the model) that
 * `applyDelta` turns back into the fine-tuned weights exactly.
 */
import { parseArgs } from "node:util";
import { initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { saveCheckpoint } from "../lib/checkpoint/checkpoint.ts";
import { DATASETS, isDatasetName } from "../lib/data/registry.ts";
import type { Cell } from "../lib/experiments/cells.ts";
import { METHOD_NAMES, type MethodConfig, METHODS, parseMethodConfig } from "../lib/methods/registry.ts";
import { exportT5Weights } from "../lib/t5/model.ts";
import { DownloadError } from "../lib/checkpoint/download.ts";
import { DEFAULT_BACKBONE, loadBackbone } from "../lib/train/backbone.ts";
import { deltaSize, sparseDelta, writeDelta } from "../lib/train/delta.ts";
import { runCell } from "../lib/reproduce/run_cell.ts";

/** Each method's settings and their defaults, one line per method, for the usage text. */
function methodKeys(): string {
  return METHOD_NAMES.map((name) => {
    const flags = Object.entries(METHODS[name].defaults).map(([k, v]) => `--${k} ${v}`).join(" ");
    return `                        ${name}: ${flags || "(none)"}`;
  }).join("\n");
}

const USAGE = `deno task finetune --dataset NAME [options]
  --dataset NAME      ${Object.values(DATASETS).filter((d) => !d.metaTraining).map((d) => d.name).join(", ")}
  --fraction P        share of the training split (default 0.01; 1 = all)
  --method M          ${METHOD_NAMES.join(" | ")} (default fishdip)
  --KEY VALUE         a setting of the method (its defaults: lib/methods/registry.ts):
${methodKeys()}
  --epochs E          passes over the subset (default 100)
  --batch B           batch size (default 8)
  --seed S            subset and run seed (default 1)
  --max-len L         maximum input/output length (default 256)
  --backbone ID       checkpoint folder, or hub name looked up in the Hugging Face cache, then
                      data/models/, then downloaded into the cache (default ${DEFAULT_BACKBONE})
  --revision REV      pin the hub name to a branch, tag or commit (same as --backbone ID@REV)
  --backend B         auto | webgpu | wasm | cpu | wasm+blas (default auto)
  --data DIR          data directory (default $FISHDIP_DATA or data/)
  --run-dir DIR       checkpoints and log.jsonl (default runs/DATASET-METHOD-sSEED)
  --checkpoint-every N  steps between checkpoints (default 100)
  --resume            continue from the newest checkpoint in --run-dir
  --eval-subsample N  score only N evaluation examples (fixed subset)
  --save              write the fine-tuned model (HF layout) to RUN_DIR/model
  --export-delta      write RUN_DIR/delta.safetensors (changed entries only)`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dataset: { type: "string" },
    fraction: { type: "string", default: "0.01" },
    method: { type: "string", default: "fishdip" },
    // Every method setting (k, m, n, rank, ...) as a flag; absent ones keep the registry's default.
    ...Object.fromEntries(
      METHOD_NAMES.flatMap((name) => Object.keys(METHODS[name].defaults)).map((
        key,
      ) => [key, { type: "string" }]),
    ) as Record<string, { type: "string" }>,
    epochs: { type: "string", default: "100" },
    batch: { type: "string", default: "8" },
    seed: { type: "string", default: "1" },
    "max-len": { type: "string", default: "256" },
    backbone: { type: "string", default: DEFAULT_BACKBONE },
    revision: { type: "string" },
    backend: { type: "string", default: "auto" },
    data: { type: "string" },
    "run-dir": { type: "string" },
    "checkpoint-every": { type: "string", default: "100" },
    resume: { type: "boolean", default: false },
    "eval-subsample": { type: "string" },
    save: { type: "boolean", default: false },
    "export-delta": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help || !values.dataset) {
  console.log(USAGE);
  Deno.exit(values.help ? 0 : 2);
}
const dataset = values.dataset;
if (!isDatasetName(dataset)) {
  console.error(`unknown dataset "${dataset}"\n\n${USAGE}`);
  Deno.exit(2);
}
function num(name: string, v: string | undefined): number {
  const x = Number(v);
  if (!Number.isFinite(x)) {
    console.error(`--${name} must be a number, got "${v}"`);
    Deno.exit(2);
  }
  return x;
}
let method: MethodConfig;
try {
  const given = Object.entries(values).filter((e): e is [string, string] => typeof e[1] === "string");
  method = parseMethodConfig(values.method!, Object.fromEntries(given));
} catch (e) {
  console.error(`${(e as Error).message}\n\n${USAGE}`);
  Deno.exit(2);
}
const info = DATASETS[dataset];
// NAME@REV everywhere the backbone is named, so the run's record and delta say which commit it was.
const backboneId = values.revision ? `${values.backbone}@${values.revision}` : values.backbone!;
const maxLen = num("max-len", values["max-len"]);
const seed = num("seed", values.seed);
const cell: Cell = {
  dataset,
  task: info.task,
  fraction: num("fraction", values.fraction),
  method,
  optimizer: { name: "adafactor", lr: 1e-2 },
  seed,
  epochs: num("epochs", values.epochs),
  batchSize: num("batch", values.batch),
  maxInputLength: maxLen,
  maxOutputLength: maxLen,
  maxOutputLengthEval: maxLen,
  decoding: "greedy",
  backbone: backboneId,
  evaluate: [{
    dataset,
    split: info.evalSplit,
    subsample: values["eval-subsample"] ? num("eval-subsample", values["eval-subsample"]) : undefined,
  }],
};
const runDir = values["run-dir"] ?? `runs/${dataset}-${method.name}-s${seed}`;
await initBackend(parseBackendName(values.backend!));
const backbone = await loadBackbone(backboneId, { dataDir: values.data, dropoutSeed: seed }).catch((e) => {
  if (!(e instanceof DownloadError)) throw e;
  console.error(`error: ${e.message}`); // where it looked and what to do; a stack trace adds nothing
  Deno.exit(1);
});
const base = await exportT5Weights(backbone.model);
const result = await runCell(cell, {
  dataDir: values.data,
  checkpointDir: `${runDir}/model`,
  log: (m) => console.error(m),
}, {
  backbone,
  runDir,
  checkpointEvery: num("checkpoint-every", values["checkpoint-every"]),
  resume: values.resume,
});
for (const [key, metrics] of Object.entries(result.metrics)) {
  const shown = Object.entries(metrics).map(([m, v]) => `${m} ${(100 * v).toFixed(2)}`).join(", ");
  console.log(`${key}: ${shown}`);
}
await Deno.writeTextFile(
  `${runDir}/metrics.json`,
  JSON.stringify({ cell, ...result, losses: undefined }, null, 2),
);
const tuned = await exportT5Weights(backbone.model);
if (values["export-delta"]) {
  const delta = sparseDelta(base, tuned);
  await writeDelta(`${runDir}/delta.safetensors`, delta, { base: backboneId, method: method.name });
  const total = [...base.values()].reduce((a, w) => a + w.length, 0);
  console.log(
    `sparse delta: ${deltaSize(delta).toLocaleString()} of ${total.toLocaleString()} entries changed ` +
      `(${(100 * deltaSize(delta) / total).toFixed(3)} %) -> ${runDir}/delta.safetensors`,
  );
}
if (values.save) {
  await saveCheckpoint(
    `${runDir}/model`,
    new Map([...tuned].map(([n, w]) => [n, { shape: [...backbone.model.param(n).shape], data: w }])),
    backbone.model.config as unknown as Record<string, unknown>,
    { tokenizer: `${backbone.dir}/spiece.model` },
  );
  console.log(`fine-tuned model -> ${runDir}/model`);
}
backbone.model.dispose();
