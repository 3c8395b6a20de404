/**
 * Loading a backbone: a Hugging Face T5 checkpoint directory (config.json, model.safetensors,
 * spiece.model) by name or path. `fishdip-t5-mini`, the project's own pretrained model under
 * `data/models/`, is the default; `t5-small`, `t5-large` or any other name resolves to
 * `<data dir>/models/NAME` (fetch it with `deno task download-model NAME`).
 *
 * @module
 */
import { loadCheckpoint } from "../checkpoint/checkpoint.ts";
import { dataDir, REPO_ROOT, requireDataFile } from "../config/paths.ts";
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

async function isDir(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isDirectory;
  } catch {
    return false;
  }
}

/** Where a backbone name or path points. */
export async function backboneDir(idOrPath: string, opts: { dataDir?: string } = {}): Promise<string> {
  if (idOrPath.includes("/") || idOrPath.startsWith(".")) return idOrPath;
  const own = `${REPO_ROOT}/data/models/${idOrPath}`;
  if (await isDir(own)) return own;
  const fetched = `${dataDir(opts.dataDir)}/models/${idOrPath}`;
  if (await isDir(fetched)) return fetched;
  throw new Error(
    `backbone "${idOrPath}" not found (looked in ${own} and ${fetched}). ` +
      `Fetch a Hugging Face T5 with \`deno task download-model ${idOrPath}\` (needs internet), ` +
      `or pass a checkpoint directory path.`,
  );
}

/**
 * Loads a backbone: weights checked tensor by tensor against the configuration, and the
 * tokenizer from the checkpoint's own `spiece.model` (else the data directory's T5 vocabulary).
 */
export async function loadBackbone(
  idOrPath: string = DEFAULT_BACKBONE,
  opts: { dataDir?: string; dropoutSeed?: number } = {},
): Promise<Backbone> {
  const dir = await backboneDir(idOrPath, opts);
  const cfgJson = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  const config = parseT5Config(cfgJson);
  const ckpt = await loadCheckpoint(dir, t5ParameterShapes(config));
  const model = t5FromWeights(config, ckpt.tensors, { dropoutSeed: opts.dropoutSeed });
  const tokenizer = await T5Tokenizer.load(
    ckpt.tokenizerPath ?? requireDataFile("t5/spiece.model", "t5", { dataDir: opts.dataDir }),
  );
  return { id: idOrPath, dir, model, tokenizer };
}
