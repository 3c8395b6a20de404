/**
 * Fine-tuning on examples in hand (a user's own data, or any list of examples with its schema):
 * the method from the registry, TANL features, the trainer, and a record of the run that lets
 * `predict` rebuild the fine-tuned model later.
 *
 * This is the training half of `runCell` (lib/reproduce/run_cell.ts) without a grid cell: no
 * dataset name, subset or episode, just examples. A run folder gets `run.json` ({@link RunInfo}:
 * backbone, method, seed, lengths, label schema), `log.jsonl` and the trainer's final checkpoint,
 * which together are enough to predict with; `saveFineTuned` writes a self-contained model folder.
 *
 * ```ts
 * const data = loadUserDataset({ train: "my/train.conll" });
 * const backbone = await loadBackbone();
 * const tuned = await fineTune({ backbone, schema: data.schema, train: data.train, epochs: 20, runDir: "runs/mine" });
 * // ... evaluate or predict with backbone.model (a PEFT method's hooks are still installed) ...
 * tuned.setup.dispose();
 * ```
 *
 * @module
 */
import { saveCheckpoint } from "../checkpoint/checkpoint.ts";
import { pathExists } from "../config/paths.ts";
import type { DatasetSchema, Example } from "../data/types.ts";
import { schemaFromJson, schemaToJson } from "../data/user.ts";
import { isObject } from "../data/io.ts";
import {
  createMethod,
  isMethodName,
  type MethodConfig,
  methodConfig,
  METHODS,
  type MethodSetup,
} from "../methods/registry.ts";
import { exportT5Weights } from "../t5/model.ts";
import type { Backbone } from "./backbone.ts";
import { buildFeatures, collate, type Feature } from "./features.ts";
import type { Progress } from "./progress.ts";
import { train, type TrainResult } from "./trainer.ts";

/** The file in a run folder (and a saved model folder) that describes the run. */
export const RUN_INFO_FILE = "run.json";
/** Its name inside a saved model folder, where `run.json` could be mistaken for the model's. */
export const MODEL_INFO_FILE = "fishdip.json";

/** What a fine-tuned model needs to be used again: where it started, how it was trained, its labels. */
export interface RunInfo {
  format: "fishdip-run-v1";
  /** The backbone (name or folder) training started from. */
  backbone: string;
  method: MethodConfig;
  seed: number;
  maxInputLength: number;
  maxOutputLength: number;
  schema: DatasetSchema;
  /** The data it was trained on, for people (file names, or a benchmark's name). */
  data?: Record<string, string>;
}

/** Settings of {@link fineTune}; defaults are `deno task finetune`'s. */
export interface FineTuneArgs {
  backbone: Backbone;
  schema: DatasetSchema;
  train: readonly Example[];
  /** Default FISH-DIP with the registry's defaults (k = 1 %, m = 100, n by the reference rule). */
  method?: MethodConfig;
  seed?: number;
  /** Passes over the data (default 100). */
  epochs?: number;
  batchSize?: number;
  /** Stop after this many optimizer steps (the schedule's length too). */
  maxSteps?: number;
  /** Token limits of inputs and targets (default 256 each, FISH-DIP's). */
  maxInputLength?: number;
  maxOutputLength?: number;
  /**
   * Labels padded to `maxOutputLength` with the pads counted in the loss, as TANL trains
   * (default), or to each batch's longest target (`longest`: much faster on a CPU).
   */
  padLabels?: "max" | "longest";
  /** Folder for `run.json`, `log.jsonl` and checkpoints (none: nothing is written). */
  runDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  /** Progress display (default a bar on stderr); `false` for none. */
  progress?: Progress | false;
  onStep?: (r: { step: number; loss: number }) => void;
  log?: (message: string) => void;
  /** Recorded in `run.json` (`{ train: "my/train.conll" }`). */
  data?: Record<string, string>;
}

/** A finished {@link fineTune}: dispose `setup` when done with the model (removes PEFT hooks). */
export interface FineTuned {
  setup: MethodSetup<Feature>;
  result: TrainResult;
  info: RunInfo;
  /** Targets longer than `maxOutputLength` that were cut (their ends are not learnt). */
  truncatedTargets: number;
}

/** Fine-tunes `backbone.model` in place on `train` (see the module notes). */
export async function fineTune(args: FineTuneArgs): Promise<FineTuned> {
  const { backbone, schema } = args;
  const { model, tokenizer } = backbone;
  const info: RunInfo = {
    format: "fishdip-run-v1",
    backbone: backbone.id,
    method: args.method ?? methodConfig("fishdip"),
    seed: args.seed ?? 1,
    maxInputLength: args.maxInputLength ?? 256,
    maxOutputLength: args.maxOutputLength ?? 256,
    schema,
    data: args.data,
  };
  if (args.runDir) await writeRunInfo(`${args.runDir}/${RUN_INFO_FILE}`, info);
  const features = buildFeatures(args.train, schema, tokenizer, {
    maxInputLength: info.maxInputLength,
    maxOutputLength: info.maxOutputLength,
  });
  // buildFeatures truncates silently (TANL does); count it here so a user learns their limit is short.
  const full = buildFeatures(args.train, schema, tokenizer, { maxInputLength: 1e9, maxOutputLength: 1e9 });
  const truncatedTargets = full.filter((f) => f.labelIds.length > info.maxOutputLength).length;
  const truncatedInputs = full.filter((f) => f.inputIds.length > info.maxInputLength).length;
  if (truncatedInputs + truncatedTargets > 0) {
    args.log?.(
      `warning: ${truncatedInputs} input(s) and ${truncatedTargets} target(s) of the ${features.length} ` +
        `training sentences are longer than the limits (${info.maxInputLength} / ${info.maxOutputLength} ` +
        `tokens) and were cut; raise --max-len to keep them whole`,
    );
  }
  const setup = createMethod<Feature>(info.method, { model, seed: info.seed });
  try {
    args.log?.(`training on ${features.length} examples (${schema.name}), method ${setup.summary}`);
    const result = await train({
      model: setup.trainable,
      method: setup.method,
      examples: features,
      collate: (fs) =>
        collate(fs, { padLabelsTo: args.padLabels === "longest" ? "longest" : info.maxOutputLength }),
      config: {
        epochs: args.epochs ?? 100,
        batchSize: args.batchSize ?? 8,
        maxSteps: args.maxSteps,
        seed: info.seed,
        runDir: args.runDir,
        checkpointEvery: args.checkpointEvery,
        resume: args.resume,
        adafactor: { ...setup.adafactor },
      },
      progress: args.progress,
      reseed: (s) => model.setDropoutSeed(s),
      onStep: args.onStep,
    });
    return { setup, result, info, truncatedTargets };
  } catch (e) {
    setup.dispose();
    throw e;
  }
}

/** Writes a {@link RunInfo} as JSON. */
export async function writeRunInfo(path: string, info: RunInfo): Promise<void> {
  await Deno.mkdir(path.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  await Deno.writeTextFile(path, runInfoJson(info) + "\n");
}

/** A {@link RunInfo} as JSON text (what `run.json` and a delta's metadata hold). */
export function runInfoJson(info: RunInfo): string {
  return JSON.stringify({ ...info, schema: schemaToJson(info.schema) }, null, 2);
}

/** Reads a {@link RunInfo} file, checking its shape; errors name the file. */
export async function readRunInfo(path: string): Promise<RunInfo> {
  return parseRunInfo(JSON.parse(await Deno.readTextFile(path)), path);
}

/** Checks parsed JSON as a {@link RunInfo}; `path` names its source in errors. */
export function parseRunInfo(x: unknown, path: string): RunInfo {
  const fail = (what: string) => new Error(`${path}: not a FISH-DIP run record (${what})`);
  if (!isObject(x) || x.format !== "fishdip-run-v1") throw fail("format");
  if (typeof x.backbone !== "string") throw fail("backbone");
  if (!isObject(x.method) || typeof x.method.name !== "string" || !isMethodName(x.method.name)) {
    throw fail("method");
  }
  for (const k of ["seed", "maxInputLength", "maxOutputLength"]) if (typeof x[k] !== "number") throw fail(k);
  return { ...(x as unknown as RunInfo), schema: schemaFromJson(x.schema, path) };
}

/**
 * Writes the fine-tuned model as a Hugging Face checkpoint folder (config, weights, tokenizer)
 * with its {@link RunInfo} as `fishdip.json`, so `predict --model DIR` needs nothing else. For a
 * mask method (FISH-DIP, full, fixed or random masks); a PEFT method's new parameters live outside
 * the T5 weights, so its run folder (the trainer's checkpoint) is what to predict from.
 */
export async function saveFineTuned(dir: string, backbone: Backbone, info: RunInfo): Promise<void> {
  if (METHODS[info.method.name].kind === "peft") {
    throw new Error(
      `${info.method.name} keeps its parameters outside the T5 weights: predict from the run folder`,
    );
  }
  const { model } = backbone;
  const weights = await exportT5Weights(model);
  await saveCheckpoint(
    dir,
    new Map([...weights].map(([n, w]) => [n, { shape: [...model.param(n).shape], data: w }])),
    model.config as unknown as Record<string, unknown>,
    // Without a vocabulary of its own the backbone used the data folder's; so will the copy.
    {
      tokenizer: (await pathExists(`${backbone.dir}/spiece.model`))
        ? `${backbone.dir}/spiece.model`
        : undefined,
    },
  );
  await writeRunInfo(`${dir}/${MODEL_INFO_FILE}`, info);
}
