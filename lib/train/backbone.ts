/**
 * Loading a backbone: a Hugging Face T5 checkpoint (config.json, model.safetensors, spiece.model)
 * by hub name or by folder. `fishdip-t5-mini`, the project's own pretrained model under
 * `data/models/`, is the default.
 *
 * A name (`t5-small`, `google/flan-t5-base`, `t5-large@<commit>` to pin a revision) is looked up
 * as `lib/checkpoint/locate.ts` describes: the user's Hugging Face cache first (`HF_HOME`,
 * `HF_HUB_CACHE`), then `data/models/NAME`, and only what is missing is downloaded, into that
 * cache (`HF_ENDPOINT`, `HF_TOKEN`; never with `HF_HUB_OFFLINE=1`). A path to an existing folder
 * is loaded as it is.
 *
 * @module
 */
import { CheckpointError, loadCheckpoint } from "../checkpoint/checkpoint.ts";
import { locateModel, type LocateOptions, parseModelRef } from "../checkpoint/locate.ts";
import { requireDataFile } from "../config/paths.ts";
import { parseT5Config, t5ParameterShapes } from "../t5/config.ts";
import { t5FromWeights, type T5Model } from "../t5/model.ts";
import { T5Tokenizer } from "../tokenizer/mod.ts";

/** The default backbone of every command and notebook. */
export const DEFAULT_BACKBONE = "fishdip-t5-mini";

/** A loaded backbone. */
export interface Backbone {
  /** The name or path it was loaded from. */
  id: string;
  dir: string;
  model: T5Model;
  tokenizer: T5Tokenizer;
}

/** Where to look for a backbone; see {@link backboneDir}. */
export interface BackboneOptions
  extends Pick<LocateOptions, "cacheDir" | "endpoint" | "token" | "offline" | "env"> {
  /** Data directory (its `models/NAME`, and the T5 vocabulary when a checkpoint has none). */
  dataDir?: string;
  /** Pins a revision (branch, tag or commit), like `NAME@REVISION`. */
  revision?: string;
  /** Print nothing while downloading. */
  quiet?: boolean;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * A folder path rather than a hub name: `./x`, `../x`, `/x`, `~/x`, or more than one `/` before
 * any `@REVISION` (a revision such as `refs/pr/1` has slashes of its own).
 */
function looksLikePath(id: string): boolean {
  const name = id.split("@")[0];
  return /^(\.{1,2}|~)?\//.test(id) || id === "." || id === ".." || name.split("/").length > 2;
}

/**
 * Where a backbone name or path points: an existing folder as it is (as transformers'
 * `from_pretrained` does), else a hub name found or fetched by `locateModel`.
 */
export async function backboneDir(idOrPath: string, opts: BackboneOptions = {}): Promise<string> {
  if (await isDir(idOrPath)) return idOrPath;
  if (looksLikePath(idOrPath)) {
    throw new Error(
      `backbone folder not found: ${idOrPath}. Pass an existing checkpoint folder, or a hub name ` +
        `such as t5-small (looked up in the Hugging Face cache, then data/models/, then downloaded).`,
    );
  }
  const ref = parseModelRef(idOrPath);
  const { dir } = await locateModel(ref.name, { ...opts, revision: opts.revision ?? ref.revision });
  return dir;
}

/** A NaN or infinite weight makes every loss NaN; refuse it at load, naming the tensor. */
export function checkFinite(dir: string, tensors: ReadonlyMap<string, Float32Array>): void {
  for (const [name, data] of tensors) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new CheckpointError(
          `${dir}: tensor "${name}" holds ${data[i]} at index ${i}; the weights are damaged`,
        );
      }
    }
  }
}

/**
 * Every id the tokenizer can produce must have a row in the embedding: a tokenizer from another
 * vocabulary (T5's 32k pieces beside a reduced model) would fail later, deep inside a gather.
 */
export function checkVocabulary(
  dir: string,
  modelVocab: number,
  tokenizerPath: string,
  tokenizerVocab: number,
): void {
  if (tokenizerVocab > modelVocab) {
    throw new CheckpointError(
      `${tokenizerPath} has ${tokenizerVocab} ids but the model in ${dir} has ${modelVocab} embedding rows: ` +
        `the tokenizer is not this model's (a checkpoint with its own vocabulary needs its spiece.model)`,
    );
  }
}

/**
 * Loads a backbone: weights checked tensor by tensor against the configuration, and the
 * tokenizer from the checkpoint's own `spiece.model` (else the data directory's T5 vocabulary).
 */
export async function loadBackbone(
  idOrPath: string = DEFAULT_BACKBONE,
  opts: BackboneOptions & { dropoutSeed?: number } = {},
): Promise<Backbone> {
  const dir = await backboneDir(idOrPath, opts);
  const cfgJson = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  const config = parseT5Config(cfgJson);
  const ckpt = await loadCheckpoint(dir, t5ParameterShapes(config));
  checkFinite(dir, ckpt.tensors);
  const tokenizerPath = ckpt.tokenizerPath ??
    requireDataFile("t5/spiece.model", "t5", { dataDir: opts.dataDir });
  const tokenizer = await T5Tokenizer.load(tokenizerPath);
  checkVocabulary(dir, config.vocab_size, tokenizerPath, tokenizer.vocabSize);
  const model = t5FromWeights(config, ckpt.tensors, { dropoutSeed: opts.dropoutSeed });
  return { id: idOrPath, dir, model, tokenizer };
}
