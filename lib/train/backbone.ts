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
import { CheckpointError, loadCheckpoint, TOKENIZER_FILE } from "../checkpoint/checkpoint.ts";
import { locateModel, type LocateOptions, parseModelRef } from "../checkpoint/locate.ts";
import { pathExists, requireDataFile } from "../config/paths.ts";
import { parseT5Config, type T5Config, T5ConfigError, t5ParameterShapes } from "../t5/config.ts";
import { t5FromWeights, type T5Model } from "../t5/model.ts";
import { SPIECE_RELATIVE_PATH, T5Tokenizer } from "../tokenizer/mod.ts";

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
  /** Data directory (its `models/NAME`, and the T5 vocabulary for a T5-sized checkpoint without one). */
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
 * A `config.json` that cannot describe the model: not JSON, or a field missing or invalid. The
 * message names the file and the field.
 */
export class ConfigFileError extends T5ConfigError {
  readonly hint = "restore the folder's config.json (download the model again, or copy it from where " +
    "the checkpoint came from), or pass --backbone with another checkpoint folder";
}

/**
 * Fields a backbone's `config.json` must state. They fix every weight's shape and the embedding
 * size; Hugging Face's defaults for them describe t5-small, so filling one in would load another
 * model's shapes (and fail on the weights with a message that points away from config.json).
 */
export const REQUIRED_CONFIG_FIELDS = [
  "vocab_size",
  "d_model",
  "d_kv",
  "d_ff",
  "num_layers",
  "num_heads",
] as const;

/** Reads and checks `DIR/config.json`; every error names the file, and the field at fault. */
export async function readBackboneConfig(dir: string): Promise<T5Config> {
  const path = `${dir}/config.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new CheckpointError(
      `${dir} has no config.json: not a T5 checkpoint folder (one holds config.json, model.safetensors ` +
        `and spiece.model)`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigFileError(`${path} is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new ConfigFileError(`${path} is not a JSON object`);
  }
  const fields = json as Record<string, unknown>;
  for (const field of REQUIRED_CONFIG_FIELDS) {
    if (fields[field] === undefined || fields[field] === null) {
      throw new ConfigFileError(
        `${path} lacks the required field "${field}" (a T5 config.json states ${
          REQUIRED_CONFIG_FIELDS.join(", ")
        })`,
      );
    }
  }
  try {
    return parseT5Config(fields);
  } catch (e) {
    if (e instanceof T5ConfigError) throw new ConfigFileError(`${path}: ${e.message}`);
    throw e;
  }
}

/**
 * Embedding rows of every T5 and Flan-T5 checkpoint: T5's 32,000 pieces and 100 sentinels,
 * padded to a multiple of 128. Only a model of this size may borrow the data directory's T5
 * vocabulary.
 */
export const T5_VOCAB_ROWS = 32128;

/**
 * The `spiece.model` of the backbone in `dir`: its own, else (for a T5-sized vocabulary only) the
 * data directory's T5 vocabulary. Hub repositories of T5 models sometimes ship only a
 * `tokenizer.json`, and their vocabulary is T5's; a model with another vocabulary size was trained
 * with another tokenizer, and T5's would give it wrong ids without any error, so it is refused.
 */
export async function backboneTokenizerPath(
  dir: string,
  vocabSize: number,
  opts: { dataDir?: string; quiet?: boolean } = {},
): Promise<string> {
  const own = `${dir}/${TOKENIZER_FILE}`;
  if (await pathExists(own)) return own;
  if (vocabSize !== T5_VOCAB_ROWS) {
    throw new CheckpointError(
      `${dir} has no ${TOKENIZER_FILE}, and its vocabulary (${vocabSize} embedding rows) is not T5's ` +
        `(${T5_VOCAB_ROWS}), so the T5 vocabulary of the data directory cannot stand in for it: put the ` +
        `model's own ${TOKENIZER_FILE} in ${dir}`,
    );
  }
  const path = requireDataFile(SPIECE_RELATIVE_PATH, "t5", { dataDir: opts.dataDir });
  if (!opts.quiet) {
    console.error(
      `note: ${dir} has no ${TOKENIZER_FILE}; using T5's vocabulary ${path} (the model has T5's size)`,
    );
  }
  return path;
}

/**
 * Loads a backbone: configuration and tokenizer first (cheap, and each error names its file),
 * then the weights, checked tensor by tensor against the configuration. The tokenizer is the
 * checkpoint's own `spiece.model`, else, for a T5-sized vocabulary only, the data directory's.
 */
export async function loadBackbone(
  idOrPath: string = DEFAULT_BACKBONE,
  opts: BackboneOptions & { dropoutSeed?: number } = {},
): Promise<Backbone> {
  const dir = await backboneDir(idOrPath, opts);
  const config = await readBackboneConfig(dir);
  const tokenizerPath = await backboneTokenizerPath(dir, config.vocab_size, opts);
  const tokenizer = await T5Tokenizer.load(tokenizerPath);
  checkVocabulary(dir, config.vocab_size, tokenizerPath, tokenizer.vocabSize);
  const ckpt = await loadCheckpoint(dir, t5ParameterShapes(config));
  checkFinite(dir, ckpt.tensors);
  const model = t5FromWeights(config, ckpt.tensors, { dropoutSeed: opts.dropoutSeed });
  return { id: idOrPath, dir, model, tokenizer };
}
