/**
 * `deno task finetune --dataset conll04 --fraction 0.01 --method fishdip [options]`
 * `deno task finetune --train FILE [--dev FILE] [--test FILE] [--format conll|jsonl|spert] [options]`
 *
 * Fine-tunes a backbone on one dataset (a benchmark of the registry, or the user's own files) with
 * one method, with periodic checkpoints in `--run-dir` (`--resume` continues a killed run to the
 * same final weights), evaluates the final model, and can export the change as a sparse delta
 * (indices + values, about k % of the model) that `applyDelta` turns back into the fine-tuned
 * weights exactly. The run folder records what `deno task predict --model RUN_DIR` needs.
 */
import { parseArgs } from "node:util";
import { initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { saveCheckpoint } from "../lib/checkpoint/checkpoint.ts";
import { DATASETS, isDatasetName, loadDataset } from "../lib/data/mod.ts";
import { PythonRandom } from "../lib/data/python_random.ts";
import { lowResourceSubset } from "../lib/data/sampling.ts";
import type { DatasetSchema, Example } from "../lib/data/types.ts";
import { loadUserDataset, USER_FORMATS, type UserDataset, type UserFormat } from "../lib/data/user.ts";
import { typeScoresTable } from "../lib/metrics/per_type.ts";
import type { Cell } from "../lib/experiments/cells.ts";
import { METHOD_NAMES, type MethodConfig, METHODS, parseMethodConfig } from "../lib/methods/registry.ts";
import { exportT5Weights } from "../lib/t5/model.ts";
import { DEFAULT_BACKBONE, loadBackbone } from "../lib/train/backbone.ts";
import { deltaSize, sparseDelta, weightsFingerprint, writeDelta } from "../lib/train/delta.ts";
import { fineTune, type RunInfo, saveFineTuned, writeRunInfo } from "../lib/train/fine_tune.ts";
import { scoreExamples } from "../lib/train/predict_file.ts";
import { DELTA_BASE_KEY, writeFineTunedDelta } from "../lib/train/tuned_model.ts";
import { runCell } from "../lib/reproduce/run_cell.ts";
import { checkRunIdentity, defaultRunDir, type RunIdentity } from "../lib/train/run_identity.ts";
import { fnv1a64 } from "../lib/experiments/cells.ts";
import { asUsage, runCommand, UsageError } from "../lib/config/cli.ts";
import { COUNT, FRACTION, type NumberRange, parseNumberFlag } from "../lib/config/flags.ts";

/** Each method's settings and their defaults, one line per method, for the usage text. */
function methodKeys(): string {
  return METHOD_NAMES.map((name) => {
    const flags = Object.entries(METHODS[name].defaults).map(([k, v]) => `--${k} ${v}`).join(" ");
    return `                        ${name}: ${flags || "(none)"}`;
  }).join("\n");
}

const USAGE = `deno task finetune --dataset NAME [options]
deno task finetune --train FILE [--dev FILE] [--test FILE] [options]
  --dataset NAME      ${Object.values(DATASETS).filter((d) => !d.metaTraining).map((d) => d.name).join(", ")}
  --train FILE        your own annotated sentences instead (label types are read from them)
  --dev FILE          annotated sentences scored per type after training
  --test FILE         scored too (without --dev: the only scores; with neither, no scores)
  --format F          ${USER_FORMATS.join(" | ")} (default from the extension: .jsonl, .json = spert,
                      .conll/.bio/.iob/.tsv/.txt = conll): CoNLL columns (token first, tag last,
                      IOB1/IOB2/BIOES), JSON lines {"tokens", "entities": [{"start", "end", "type"}],
                      "relations": [{"head", "tail", "type"}]} (end exclusive), or SpERT's JSON list
  --type-names FILE   JSON {"PER": "person", ...}: the words the model writes for your types
                      (default: the type lower-cased, _ and - as spaces)
  --fraction P        share of the training split (default 0.01 for --dataset, 1 for --train)
  --method M          ${METHOD_NAMES.join(" | ")} (default fishdip)
  --KEY VALUE         a setting of the method (its defaults: lib/methods/registry.ts):
${methodKeys()}
  --epochs E          passes over the subset (default 100)
  --max-steps N       stop after N optimizer steps (the schedule's length too)
  --pad-labels P      max (TANL: targets padded to --max-len, pads in the loss; default) |
                      longest (padded to each batch's longest: much faster on a CPU)
  --batch B           batch size (default 8)
  --seed S            subset and run seed (default 1)
  --max-len L         maximum input/output length (default 256)
  --backbone ID       checkpoint folder, or hub name looked up in the Hugging Face cache, then
                      data/models/, then downloaded into the cache (default ${DEFAULT_BACKBONE})
  --revision REV      pin the hub name to a branch, tag or commit (same as --backbone ID@REV)
  --backend B         auto | webgpu | wasm | cpu | wasm+blas (default auto)
  --data DIR          data directory (default $FISHDIP_DATA or data/)
  --run-dir DIR       checkpoints, log.jsonl, run.json and identity.json (default
                      runs/DATASET-FRACTION-METHOD-SETTINGS-sSEED-HASH, for --train TRAINFILE in place
                      of DATASET; HASH covers the other settings); deno task predict --model DIR uses it
                      (--resume refuses a folder of another run, naming the settings that differ)
  --checkpoint-every N  steps between checkpoints (default 100)
  --resume            continue from the newest checkpoint in --run-dir
  --eval-subsample N  score only N evaluation examples (fixed subset)
  --save              write the fine-tuned model (HF layout) to RUN_DIR/model
  --export-delta      write RUN_DIR/delta.safetensors (changed entries only; predict --delta)`;

// Every failure ends through one handler: the error's name, what to do, exit 1 (2 for a bad
// command line); a stack trace only with FISHDIP_DEBUG=1.
await runCommand(main, { usage: USAGE });

async function main(): Promise<number | void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      dataset: { type: "string" },
      train: { type: "string" },
      dev: { type: "string" },
      test: { type: "string" },
      format: { type: "string" },
      "type-names": { type: "string" },
      fraction: { type: "string" },
      method: { type: "string", default: "fishdip" },
      // Every method setting (k, m, n, rank, ...) as a flag; absent ones keep the registry's default.
      ...Object.fromEntries(
        METHOD_NAMES.flatMap((name) => Object.keys(METHODS[name].defaults)).map((
          key,
        ) => [key, { type: "string" }]),
      ) as Record<string, { type: "string" }>,
      epochs: { type: "string", default: "100" },
      "max-steps": { type: "string" },
      "pad-labels": { type: "string", default: "max" },
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
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  function usageError(message: string): never {
    throw new UsageError(message);
  }
  if (!values.dataset && !values.train) usageError("give --dataset NAME or --train FILE");
  if (values.dataset && values.train) usageError("give --dataset NAME or --train FILE, not both");
  if (!values.train) {
    for (const flag of ["dev", "test", "format", "type-names"] as const) {
      if (values[flag] !== undefined) usageError(`--${flag} goes with --train (your own data)`);
    }
  }
  if (values["pad-labels"] !== "max" && values["pad-labels"] !== "longest") {
    usageError(`--pad-labels must be max or longest, got "${values["pad-labels"]}"`);
  }
  // Every number is checked against what it means before anything loads: `--fraction 2` or
  // `--epochs 0` would otherwise train on everything or nothing and still write scores.
  const text = (name: string) => (values as Record<string, unknown>)[name] as string | undefined;
  const flag = (name: string, range: NumberRange) => parseNumberFlag(`--${name}`, text(name), range);
  const optional = (name: string, range: NumberRange) =>
    text(name) === undefined ? undefined : flag(name, range);
  const epochs = flag("epochs", COUNT);
  const batchSize = flag("batch", COUNT);
  const checkpointEvery = flag("checkpoint-every", COUNT);
  const fractionGiven = optional("fraction", FRACTION);
  const given = Object.entries(values).filter((e): e is [string, string] => typeof e[1] === "string");
  const method: MethodConfig = asUsage(() => parseMethodConfig(values.method!, Object.fromEntries(given)));
  // NAME@REV everywhere the backbone is named, so the run's record and delta say which commit it was.
  const backboneId = values.revision ? `${values.backbone}@${values.revision}` : values.backbone!;
  const backendName = asUsage(() => parseBackendName(values.backend!));
  const maxLen = flag("max-len", COUNT);
  const seed = flag("seed", { integer: true });
  const maxSteps = optional("max-steps", COUNT);
  const evalSubsample = optional("eval-subsample", COUNT);
  // Checked before training, not after: a PEFT method's parameters are not in the backbone's
  // weights, so neither a delta of those weights nor a copy of them holds what it learnt.
  for (const flag of ["export-delta", "save"] as const) {
    if (values[flag] && METHODS[method.name].kind === "peft") {
      usageError(
        `--${flag} needs a method that changes the backbone's weights; ${method.name} adds parameters ` +
          `of its own (predict --model RUN_DIR reads them from the run's checkpoint)`,
      );
    }
  }

  /**
   * Records the run's identity in its folder, refusing a folder that holds another run's checkpoints
   * (lib/train/run_identity.ts); notes a folder too old to carry one.
   */
  async function checkIdentity(runDir: string, identity: RunIdentity): Promise<void> {
    if ((await checkRunIdentity(runDir, identity)) === "unverified" && values.resume) {
      console.error(`note: ${runDir} records no identity (made by an older version): resuming unchecked`);
    }
  }

  /** Loads the backbone (a failed lookup's message says where it looked and what to do). */
  async function backbone() {
    await initBackend(backendName);
    return await loadBackbone(backboneId, { dataDir: values.data, dropoutSeed: seed });
  }

  /** The sparse delta and the saved model, each with the run's record so predict can use them alone. */
  async function exportRun(
    bb: Awaited<ReturnType<typeof backbone>>,
    base: Map<string, Float32Array>,
    runDir: string,
    info: RunInfo | undefined,
  ): Promise<void> {
    const tuned = await exportT5Weights(bb.model);
    if (values["export-delta"]) {
      const path = `${runDir}/delta.safetensors`;
      // With the run's record (a benchmark's SRL, DST or FewRel run has none), predict needs nothing else.
      let changed: number;
      if (info) changed = await writeFineTunedDelta(path, base, tuned, info);
      else {
        const delta = sparseDelta(base, tuned);
        await writeDelta(path, delta, {
          base: backboneId,
          method: method.name,
          [DELTA_BASE_KEY]: weightsFingerprint(base),
        });
        changed = deltaSize(delta);
      }
      const total = [...base.values()].reduce((a, w) => a + w.length, 0);
      console.log(
        `sparse delta: ${changed.toLocaleString()} of ${total.toLocaleString()} entries changed ` +
          `(${(100 * changed / total).toFixed(3)} %) -> ${path}`,
      );
    }
    if (values.save) {
      if (info) await saveFineTuned(`${runDir}/model`, bb, info);
      else {
        await saveCheckpoint(
          `${runDir}/model`,
          new Map([...tuned].map(([n, w]) => [n, { shape: [...bb.model.param(n).shape], data: w }])),
          bb.model.config as unknown as Record<string, unknown>,
          { tokenizer: `${bb.dir}/spiece.model` },
        );
      }
      console.log(`fine-tuned model -> ${runDir}/model`);
    }
  }

  if (values.train) return await fineTuneUserData(values.train);

  /** `--train FILE ...`: the user's own data, from files to a run folder that predict can read. */
  async function fineTuneUserData(trainFile: string): Promise<void> {
    // A bad file, type name or format is the user's to fix: the error handler prints where.
    const data: UserDataset = loadUserDataset({
      train: trainFile,
      dev: values.dev,
      test: values.test,
      format: values.format as UserFormat | undefined,
      typeNames: values["type-names"],
    });
    const { schema } = data;
    for (const split of ["train", "dev", "test"] as const) {
      const file = values[split], examples = data[split];
      if (!file || !examples) continue;
      const scheme = data.schemes[file] ? `, ${data.schemes[file]} tags` : "";
      const n = examples.reduce((a, e) => a + e.entities.length, 0);
      const r = examples.reduce((a, e) => a + e.relations.length, 0);
      console.error(
        `${split}: ${file}: ${examples.length} sentences, ${n} entities, ${r} relations${scheme}`,
      );
    }
    const types = (ts: DatasetSchema["entityTypes"]) =>
      ts.map((t) => `${t.short} ("${t.natural}")`).join(", ");
    console.error(`entity types: ${types(schema.entityTypes)}`);
    if (schema.relationTypes.length > 0) console.error(`relation types: ${types(schema.relationTypes)}`);
    for (const note of data.notes) console.error(`note: ${note}`);
    const evalSets = (["dev", "test"] as const).filter((s) => data[s] !== undefined);
    if (!data.dev) {
      console.error(
        data.test
          ? "no --dev file: the final model is scored on --test"
          : "no --dev or --test file: no scores after training (predict on annotated sentences to get them)",
      );
    }
    const fraction = fractionGiven ?? 1;
    const train = fraction < 1 ? lowResourceSubset(data.train, fraction, seed) : data.train;
    const name = trainFile.replace(/^.*\//, "").replace(/\.[^.]*$/, "");
    const bb = await backbone();
    const base = await exportT5Weights(bb.model);
    // Everything that shapes the trained weights; the files by content, so an edited file is another run.
    const identity: RunIdentity = {
      kind: "user",
      train: trainFile,
      trainContent: fnv1a64(await Deno.readTextFile(trainFile)),
      typeNames: values["type-names"] ? fnv1a64(await Deno.readTextFile(values["type-names"])) : undefined,
      format: data.format,
      fraction,
      method,
      seed,
      epochs,
      batchSize,
      maxSteps,
      maxLength: maxLen,
      padLabels: values["pad-labels"],
      backbone: backboneId,
      backboneWeights: weightsFingerprint(base),
    };
    const runDir = values["run-dir"] ?? defaultRunDir({ data: name, fraction, method, seed }, identity);
    await checkIdentity(runDir, identity);
    const t0 = performance.now();
    const tuned = await fineTune({
      backbone: bb,
      schema,
      train,
      method,
      seed,
      epochs,
      batchSize,
      maxSteps,
      maxInputLength: maxLen,
      maxOutputLength: maxLen,
      padLabels: values["pad-labels"] as "max" | "longest",
      runDir,
      checkpointEvery,
      resume: values.resume,
      log: (m) => console.error(m),
      data: Object.fromEntries(
        [["train", trainFile], ["dev", values.dev], ["test", values.test], ["format", data.format]]
          .filter((e): e is [string, string] => e[1] !== undefined),
      ),
    });
    const trainSeconds = (performance.now() - t0) / 1000;
    const metrics: Record<string, Record<string, number>> = {};
    for (const split of evalSets) {
      const examples = subsample(data[split]!, evalSubsample);
      console.error(`evaluating on ${split} (${examples.length} sentences)`);
      const scored = await scoreExamples({ backbone: bb, info: tuned.info }, examples);
      metrics[split] = scored.metrics;
      const long = scored.predictions.filter((p) => p.inputTokens !== undefined).length;
      const cut = scored.predictions.filter((p) => p.outputCut).length;
      if (long + cut > 0) {
        console.error(
          `note: ${long} ${split} sentence(s) over the input limit and ${cut} output(s) cut at the output ` +
            `limit (${maxLen} tokens); --max-len raises both`,
        );
      }
      console.log(`${split}:\n${typeScoresTable(scored.scores)}`);
    }
    tuned.setup.dispose();
    await Deno.writeTextFile(
      `${runDir}/metrics.json`,
      JSON.stringify(
        { metrics, steps: tuned.result.steps, trainSeconds, finalLoss: finalLoss(tuned.result) },
        null,
        2,
      ),
    );
    await exportRun(bb, base, runDir, tuned.info);
    bb.model.dispose();
    console.log(
      `run -> ${runDir}; predict with: deno task predict --model ${runDir} --input FILE --output FILE`,
    );
  }

  /** Mean training loss of the last 10 steps (what the README's diagnostics call the final loss). */
  function finalLoss(r: { losses: { loss: number }[] }): number | undefined {
    const last = r.losses.slice(-10);
    return last.length ? last.reduce((a, l) => a + l.loss, 0) / last.length : undefined;
  }

  /** The same fixed evaluation subset runCell uses: shuffled with Python's random.seed(0), first N. */
  function subsample(examples: Example[], n: number | undefined): Example[] {
    if (n === undefined || n >= examples.length) return examples;
    const order = examples.map((_, i) => i);
    new PythonRandom(0).shuffle(order);
    return order.slice(0, n).map((i) => examples[i]);
  }

  const dataset = values.dataset!;
  if (!isDatasetName(dataset)) usageError(`unknown dataset "${dataset}"`);
  const info = DATASETS[dataset];
  const cell: Cell = {
    dataset,
    task: info.task,
    fraction: fractionGiven ?? 0.01,
    method,
    optimizer: { name: "adafactor", lr: 1e-2 },
    seed,
    epochs,
    batchSize,
    maxInputLength: maxLen,
    maxOutputLength: maxLen,
    maxOutputLengthEval: maxLen,
    decoding: "greedy",
    backbone: backboneId,
    evaluate: [{ dataset, split: info.evalSplit, subsample: evalSubsample }],
  };
  // Only when given, so that a run without them keeps its cell (and its id) as before.
  if (maxSteps !== undefined) cell.maxSteps = maxSteps;
  if (values["pad-labels"] === "longest") cell.padLabels = "longest";
  const bb = await backbone();
  const base = await exportT5Weights(bb.model);
  // The cell without its evaluation (scoring settings may change on resume) and the weights it starts from.
  const { evaluate: _evaluate, ...training } = cell;
  const identity: RunIdentity = { kind: "benchmark", ...training, backboneWeights: weightsFingerprint(base) };
  const runDir = values["run-dir"] ??
    defaultRunDir({ data: dataset, fraction: cell.fraction, method, seed }, identity);
  await checkIdentity(runDir, identity);
  // The run's record for predict (entity and relation tasks; a benchmark's schema is fixed or read
  // with its data, as ADE's).
  const schema = info.task === "ner" || info.task === "joint_er"
    ? info.schema ??
      loadDataset(dataset, "train", { dataDir: values.data, ...info.seedOptions?.(seed) }).schema
    : undefined;
  const runInfo: RunInfo | undefined = schema && {
    format: "fishdip-run-v1",
    backbone: backboneId,
    method,
    seed,
    maxInputLength: maxLen,
    maxOutputLength: maxLen,
    schema,
    data: { dataset, fraction: String(cell.fraction) },
  };
  if (runInfo) await writeRunInfo(`${runDir}/run.json`, runInfo);
  const result = await runCell(cell, {
    dataDir: values.data,
    checkpointDir: `${runDir}/model`,
    log: (m) => console.error(m),
  }, {
    backbone: bb,
    runDir,
    checkpointEvery,
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
  await exportRun(bb, base, runDir, runInfo);
  bb.model.dispose();
}
