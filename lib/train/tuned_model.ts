/**
 * A fine-tuned model back from disk, in any of the three forms a run leaves:
 *
 * - a run folder (`finetune --run-dir`): `run.json` and the trainer's final checkpoint. The
 *   backbone is loaded, the method rebuilt (so a PEFT method's hooks are back), and every
 *   trainable parameter set from the checkpoint;
 * - a saved model (`finetune --save`, `saveFineTuned`): a Hugging Face folder with `fishdip.json`;
 * - a base checkpoint plus the sparse delta a mask method exported (`finetune --export-delta`):
 *   the delta carries the run's record and a fingerprint of its base, checked before it is applied.
 *
 * ```ts
 * const tuned = await loadFineTuned({ model: "runs/mine" });
 * tuned.info.schema.entityTypes;      // the labels it was trained with
 * // ... tuned.backbone.model, tuned.backbone.tokenizer ...
 * tuned.dispose();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { readSafetensors } from "../checkpoint/safetensors.ts";
import { pathExists } from "../config/paths.ts";
import { createMethod, type MethodSetup } from "../methods/registry.ts";
import { exportT5Weights, loadT5Weights } from "../t5/model.ts";
import { type Backbone, type BackboneOptions, loadBackbone } from "./backbone.ts";
import {
  applyDelta,
  deltaSize,
  readDeltaFile,
  sparseDelta,
  weightsFingerprint,
  writeDelta,
} from "./delta.ts";
import {
  MODEL_INFO_FILE,
  parseRunInfo,
  readRunInfo,
  RUN_INFO_FILE,
  type RunInfo,
  runInfoJson,
} from "./fine_tune.ts";
import { newestVerifiedCheckpoint } from "./training_checkpoint.ts";

/** Where the fine-tuned model is: `model`, or `delta` (with `base`, default the delta's own record). */
export interface FineTunedSource {
  /** A run folder or a saved model folder. */
  model?: string;
  /** A base checkpoint (name or folder) for `delta`; default the backbone the delta records. */
  base?: string;
  /** A sparse delta file (`delta.safetensors`). */
  delta?: string;
}

/** A loaded fine-tuned model. */
export interface FineTunedModel {
  backbone: Backbone;
  info: RunInfo;
  /** What was loaded, in words (for logs). */
  source: string;
  /** Frees the model (and removes a PEFT method's hooks). */
  dispose(): void;
}

/** The metadata key under which a delta carries its run's {@link RunInfo} (JSON). */
export const DELTA_RUN_KEY = "fishdip_run";
/** The metadata key of the base's {@link weightsFingerprint}. */
export const DELTA_BASE_KEY = "base_fingerprint";

/**
 * Writes the sparse delta between `base` and `tuned` weights with what {@link loadFineTuned} needs
 * to use it alone: the run's record and the base's fingerprint. Returns the changed entries.
 */
export async function writeFineTunedDelta(
  path: string,
  base: ReadonlyMap<string, Float32Array>,
  tuned: ReadonlyMap<string, Float32Array>,
  info: RunInfo,
): Promise<number> {
  const delta = sparseDelta(base, tuned);
  await writeDelta(path, delta, {
    base: info.backbone,
    method: info.method.name,
    [DELTA_BASE_KEY]: weightsFingerprint(base),
    [DELTA_RUN_KEY]: runInfoJson(info),
  });
  return deltaSize(delta);
}

/** Loads a fine-tuned model (see the module notes); errors say what the folder or file lacks. */
export async function loadFineTuned(
  src: FineTunedSource,
  opts: BackboneOptions & { log?: (message: string) => void } = {},
): Promise<FineTunedModel> {
  if (src.delta !== undefined) {
    if (src.model !== undefined) throw new Error("give either --model, or --delta (with --base), not both");
    return await fromDelta(src.delta, src.base, opts);
  }
  if (src.base !== undefined) throw new Error("--base needs --delta (the sparse delta to apply to it)");
  if (src.model === undefined) {
    throw new Error("nothing to load: give --model DIR, or --base DIR --delta FILE");
  }
  const dir = src.model.replace(/\/+$/, "");
  if (await pathExists(`${dir}/${RUN_INFO_FILE}`)) return await fromRunDir(dir, opts);
  if (await pathExists(`${dir}/config.json`)) return await fromSaved(dir, opts);
  throw new Error(
    (await pathExists(dir))
      ? `${dir}: neither a run folder (no ${RUN_INFO_FILE}) nor a saved model (no config.json); ` +
        `give the --run-dir of a finetune run, its model/ folder (--save), or --base and --delta`
      : `${dir}: no such folder`,
  );
}

function plain(
  backbone: Backbone,
  info: RunInfo,
  source: string,
  setup?: MethodSetup<unknown>,
): FineTunedModel {
  return {
    backbone,
    info,
    source,
    dispose: () => {
      setup?.dispose();
      backbone.model.dispose();
    },
  };
}

async function fromSaved(dir: string, opts: BackboneOptions): Promise<FineTunedModel> {
  const infoPath = [`${dir}/${MODEL_INFO_FILE}`, `${dir}/../${RUN_INFO_FILE}`];
  const found = (await Promise.all(infoPath.map(pathExists))).indexOf(true);
  if (found < 0) {
    throw new Error(
      `${dir} is a T5 checkpoint without ${MODEL_INFO_FILE}: predict needs the label types it was ` +
        `fine-tuned with. Use the run folder, or a model saved by finetune --save.`,
    );
  }
  const info = await readRunInfo(infoPath[found]);
  const backbone = await loadBackbone(dir, { ...opts, quiet: true });
  return plain(backbone, info, `saved model ${dir}`);
}

async function fromRunDir(
  dir: string,
  opts: BackboneOptions & { log?: (message: string) => void },
): Promise<FineTunedModel> {
  const info = await readRunInfo(`${dir}/${RUN_INFO_FILE}`);
  const found = await newestVerifiedCheckpoint(dir, opts.log);
  if (found === undefined) {
    if (await pathExists(`${dir}/model/config.json`)) return await fromSaved(`${dir}/model`, opts);
    throw new Error(`${dir}: the run has no checkpoint that passes its checks (did training start?)`);
  }
  const { path: ckpt, state } = found;
  if (typeof state.step === "number" && state.step < state.total && state.stoppedEarly === undefined) {
    opts.log?.(
      `warning: ${ckpt} is step ${state.step} of ${state.total}: the run did not finish ` +
        `(finetune --resume with the same --run-dir completes it)`,
    );
  }
  const backbone = await loadBackbone(info.backbone, { ...opts, quiet: true });
  // The method rebuilt as in training: for PEFT this reinstalls the hooks its parameters live in.
  const setup = createMethod(info.method, { model: backbone.model, seed: info.seed });
  try {
    const saved = await readSafetensors(`${ckpt}/model.safetensors`);
    for (const [name, v] of setup.trainable.parameters()) {
      const t = saved.tensors.get(name);
      if (!t) throw new Error(`${ckpt}/model.safetensors lacks "${name}" (a checkpoint of another method?)`);
      const x = tf.tensor(t.data as Float32Array, v.shape, "float32");
      v.assign(x);
      x.dispose();
    }
  } catch (e) {
    setup.dispose();
    backbone.model.dispose();
    throw e;
  }
  return plain(backbone, info, `run ${dir} (${ckpt.slice(dir.length + 1)})`, setup);
}

async function fromDelta(
  path: string,
  base: string | undefined,
  opts: BackboneOptions & { log?: (message: string) => void },
): Promise<FineTunedModel> {
  const { delta, metadata } = await readDeltaFile(path);
  const run = metadata[DELTA_RUN_KEY];
  if (run === undefined) {
    throw new Error(`${path} does not record its run (labels, lengths); export it again with this finetune`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(run);
  } catch {
    throw new Error(`${path}: its run record is not JSON`);
  }
  const info = parseRunInfo(parsed, path);
  const backbone = await loadBackbone(base ?? info.backbone, { ...opts, quiet: true });
  try {
    const weights = await exportT5Weights(backbone.model);
    const expected = metadata[DELTA_BASE_KEY];
    if (expected !== undefined && weightsFingerprint(weights) !== expected) {
      throw new Error(
        `${path} was made from another base than ${backbone.dir} (weights fingerprint ${expected}, ` +
          `this base ${weightsFingerprint(weights)}); the run started from ${info.backbone}`,
      );
    }
    loadT5Weights(backbone.model, applyDelta(weights, delta));
  } catch (e) {
    backbone.model.dispose();
    throw e;
  }
  return plain(backbone, info, `${backbone.id} + delta ${path}`);
}
