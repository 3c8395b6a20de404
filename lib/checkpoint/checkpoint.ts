/**
 * Checkpoint directories in Hugging Face layout: `config.json`, the weights as `model.safetensors`
 * or as shards listed in `model.safetensors.index.json`, and optionally the SentencePiece
 * tokenizer `spiece.model`.
 *
 * Loading is explicit (as nanoGPT's `from_pretrained`): the caller lists every parameter it
 * expects with its shape, and {@link loadCheckpoint} checks the files against that list before it
 * reads any tensor data, reporting every missing, unexpected, mis-shaped or non-float tensor by
 * name in one error.
 *
 * ```ts
 * import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * const { tensors, config } = await loadCheckpoint("data/models/t5-small", [
 *   { name: "shared.weight", shape: [32128, 512] },
 *   // ... every parameter of the model
 * ]);
 * await saveCheckpoint("out/copy", new Map([["shared.weight", { shape: [32128, 512], data: tensors.get("shared.weight")! }]]), config);
 * ```
 *
 * @module
 */

import {
  atomicWrite,
  DTYPE_BYTES,
  encodeSafetensors,
  FLOAT_DTYPES,
  type HeaderEntry,
  readEntry,
  readSafetensorsHeader,
  type SafetensorsDtype,
  type TensorInput,
} from "./safetensors.ts";

/** File names of the Hugging Face layout. */
export const CONFIG_FILE = "config.json";
/** Single-file weights. */
export const WEIGHTS_FILE = "model.safetensors";
/** Index of sharded weights. */
export const WEIGHTS_INDEX_FILE = "model.safetensors.index.json";
/** The T5 SentencePiece model. */
export const TOKENIZER_FILE = "spiece.model";

/** Thrown when a checkpoint directory does not match what the model expects. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/** A parameter the model expects. */
export interface ExpectedTensor {
  name: string;
  shape: number[];
}

/** The parsed `model.safetensors.index.json`. */
export interface ShardIndex {
  metadata: { total_size: number; [k: string]: unknown };
  /** Tensor name -> shard file name (relative to the directory). */
  weight_map: Record<string, string>;
}

/** What to do with tensors in the files that the model does not expect. */
export type UnexpectedPolicy = "error" | "warn" | "ignore";

/** Options for {@link loadCheckpoint}. */
export interface LoadOptions {
  /**
   * Tensors the model does not expect: `"error"` (default: a wrong architecture or config usually
   * shows up this way), `"warn"` (print their names and go on) or `"ignore"`. Hugging Face's tied
   * duplicates of `shared.weight` are always accepted silently.
   */
  unexpected?: UnexpectedPolicy;
  /** Where warnings go (default `console.warn`). */
  warn?: (message: string) => void;
}

/** What {@link loadCheckpoint} returns. */
export interface LoadedCheckpoint {
  /** Every expected tensor as float32, by name. */
  tensors: Map<string, Float32Array>;
  /** The parsed `config.json`. */
  config: Record<string, unknown>;
  /** Path of `spiece.model` when the directory has one. */
  tokenizerPath?: string;
  /** The weight files read. */
  files: string[];
  /** Stored dtype of each tensor read (before conversion to float32). */
  dtypes: Map<string, SafetensorsDtype>;
  /** Expected names served from a tied duplicate (e.g. `shared.weight` <- `encoder.embed_tokens.weight`). */
  aliased: Map<string, string>;
}

// Names under which Hugging Face checkpoints may carry copies of the shared embedding. Exports
// from `pytorch_model.bin` keep them; the safetensors conversion bot keeps the alphabetically
// first of the tied group, so `shared.weight` itself may be absent (safetensors issue #520).
const SHARED = "shared.weight";
const EMBED_ALIASES = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"];
const LM_HEAD = "lm_head.weight";

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function stripSlash(dir: string): string {
  return dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
}

/** Explains a directory without safetensors weights: what is there and how to convert it. */
async function noWeightsMessage(dir: string): Promise<string> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  names.sort();
  const torch = names.filter((n) => /^pytorch_model.*\.bin(\.index\.json)?$/.test(n));
  const other = names.filter((n) => /\.(h5|msgpack|ckpt|pt|pth)$/.test(n) || n.endsWith(".ckpt.index"));
  const stray = names.filter((n) => n.endsWith(".safetensors"));
  const partial = names.filter((n) => n.endsWith(".safetensors.part") || n.endsWith(".index.json.part"));
  let msg = `${dir}: no ${WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE} found`;
  if (partial.length) {
    msg += ` (found the unfinished download ${partial.join(", ")}).\n` +
      `  Rerun deno task download-model with the same arguments to resume it.`;
  } else if (torch.length || other.length) {
    msg += ` (found ${[...torch, ...other].join(", ")}).\n` +
      `  Only safetensors weights are supported: PyTorch .bin files are Python pickles, which cannot be read ` +
      `safely outside Python. Convert once with Python:\n` +
      `    python -c "from transformers import T5ForConditionalGeneration as M; ` +
      `M.from_pretrained('${dir}').save_pretrained('${dir}', safe_serialization=True)"\n` +
      `  or download the hub's safetensors export: deno task download-model NAME --out ${dir}`;
  } else if (stray.length) {
    msg += ` (found ${stray.join(", ")}; rename the weights file to ${WEIGHTS_FILE})`;
  } else {
    msg += `. Download a checkpoint with: deno task download-model NAME --out ${dir}`;
  }
  return msg;
}

/**
 * Reads and validates `model.safetensors.index.json`.
 *
 * ```ts
 * const index = await readShardIndex("data/models/t5-large/model.safetensors.index.json");
 * new Set(Object.values(index.weight_map)); // the shard files
 * ```
 */
export async function readShardIndex(path: string): Promise<ShardIndex> {
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new CheckpointError(`${path}: not found`);
    throw new CheckpointError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const idx = raw as Partial<ShardIndex> | null;
  if (!idx || typeof idx !== "object" || !idx.weight_map || typeof idx.weight_map !== "object") {
    throw new CheckpointError(`${path}: no "weight_map" object; not a safetensors shard index`);
  }
  for (const [name, file] of Object.entries(idx.weight_map)) {
    // Shards live beside the index; a path elsewhere is a broken or malicious index.
    if (typeof file !== "string" || file.includes("/") || file.includes("\\") || file.startsWith(".")) {
      throw new CheckpointError(
        `${path}: tensor "${name}" maps to an invalid shard file ${JSON.stringify(file)}`,
      );
    }
  }
  return { metadata: { total_size: 0, ...(idx.metadata ?? {}) }, weight_map: idx.weight_map };
}

/** One weight file's validated header. */
interface ShardHeader {
  path: string;
  entries: Map<string, HeaderEntry>;
}

/** Locates and reads the headers of the weight files of a checkpoint directory. */
async function weightHeaders(dir: string): Promise<ShardHeader[]> {
  const single = `${dir}/${WEIGHTS_FILE}`, indexPath = `${dir}/${WEIGHTS_INDEX_FILE}`;
  // Same precedence as transformers: the single file first, then the index.
  if (await exists(single)) return [{ path: single, entries: (await readSafetensorsHeader(single)).entries }];
  if (!(await exists(indexPath))) throw new CheckpointError(await noWeightsMessage(dir));
  const index = await readShardIndex(indexPath);
  const shards = [...new Set(Object.values(index.weight_map))].sort();
  const missing = [];
  for (const s of shards) if (!(await exists(`${dir}/${s}`))) missing.push(s);
  if (missing.length) {
    throw new CheckpointError(
      `${indexPath}: shard file(s) missing from ${dir}: ${missing.join(", ")} (an incomplete download? ` +
        `rerun deno task download-model to resume)`,
    );
  }
  const headers: ShardHeader[] = [];
  for (const s of shards) {
    const path = `${dir}/${s}`;
    const h = await readSafetensorsHeader(path);
    // Keep only what the index assigns to this shard, and check the index and the shard agree.
    const entries = new Map<string, HeaderEntry>();
    for (const [name, file] of Object.entries(index.weight_map)) {
      if (file !== s) continue;
      const e = h.entries.get(name);
      if (!e) {
        throw new CheckpointError(`${indexPath}: lists "${name}" in ${s}, but ${path} has no such tensor`);
      }
      entries.set(name, e);
    }
    headers.push({ path, entries });
  }
  return headers;
}

/**
 * Loads a checkpoint directory and checks it against the parameters the model expects.
 *
 * Every problem is collected before anything is read, and reported in one {@link CheckpointError}
 * that names each tensor: missing tensors, unexpected tensors (see {@link LoadOptions.unexpected}),
 * shape mismatches (expected vs stored) and non-float dtypes. F16/BF16/F64 weights are converted
 * to float32. Pass `expected = null` to load every float tensor without checks.
 *
 * ```ts
 * const expected = [{ name: "shared.weight", shape: [32128, 512] }]; // ... every parameter
 * const { tensors, config, tokenizerPath } = await loadCheckpoint("data/models/t5-small", expected);
 * ```
 */
export async function loadCheckpoint(
  dir: string,
  expected: ExpectedTensor[] | null,
  opts: LoadOptions = {},
): Promise<LoadedCheckpoint> {
  dir = stripSlash(dir);
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(dir);
  } catch {
    throw new CheckpointError(
      `checkpoint directory not found: ${dir}\n  Download one with: deno task download-model NAME --out ${dir}`,
    );
  }
  if (!stat.isDirectory) {
    throw new CheckpointError(`${dir}: not a directory (expected a checkpoint directory)`);
  }

  const configPath = `${dir}/${CONFIG_FILE}`;
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await Deno.readTextFile(configPath));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(
        `${configPath}: missing; a checkpoint directory needs the model's config.json`,
      );
    }
    throw new CheckpointError(`${configPath}: not valid JSON (${(e as Error).message})`);
  }
  if (!config || typeof config !== "object" || Array.isArray(config)) {
    throw new CheckpointError(`${configPath}: not a JSON object`);
  }

  const headers = await weightHeaders(dir);
  const where = new Map<string, { shard: ShardHeader; entry: HeaderEntry }>();
  for (const shard of headers) {
    for (const [name, entry] of shard.entries) where.set(name, { shard, entry });
  }

  const exp = expected ?? [...where].filter(([, w]) => FLOAT_DTYPES.includes(w.entry.dtype))
    .map(([name, w]) => ({ name, shape: w.entry.shape }));
  const expectedNames = new Set(exp.map((e) => e.name));
  const tied = config.tie_word_embeddings !== false; // absent means true in Hugging Face configs
  const sharedShape = exp.find((e) => e.name === SHARED)?.shape;
  const aliasesOfShared = sharedShape ? [...EMBED_ALIASES, ...(tied ? [LM_HEAD] : [])] : [];

  // Which stored tensor serves each expected name.
  const source = new Map<string, string>();
  const aliased = new Map<string, string>();
  const missing: string[] = [], shapes: string[] = [], dtypes: string[] = [];
  for (const e of exp) {
    let name = e.name;
    if (!where.has(name) && name === SHARED) {
      const alt = aliasesOfShared.find((a) => !expectedNames.has(a) && where.has(a));
      if (alt) {
        name = alt;
        aliased.set(e.name, alt);
      }
    } else if (!where.has(name) && name === LM_HEAD && tied) {
      // A model that keeps a separate lm_head for a tied config: it is the shared embedding.
      const alt = [SHARED, ...EMBED_ALIASES].find((a) => where.has(a));
      if (alt) {
        name = alt;
        aliased.set(e.name, alt);
      }
    }
    const w = where.get(name);
    if (!w) {
      missing.push(e.name);
      continue;
    }
    source.set(e.name, name);
    if (!sameShape(w.entry.shape, e.shape)) {
      const as = name === e.name ? "" : ` (for ${e.name})`;
      shapes.push(`${name}${as}: expected [${e.shape.join(", ")}], got [${w.entry.shape.join(", ")}]`);
    }
    if (!FLOAT_DTYPES.includes(w.entry.dtype)) {
      dtypes.push(`${name}: ${w.entry.dtype} (a weight must be F32, F16, BF16 or F64)`);
    }
  }
  const used = new Set(source.values());
  const unexpected: string[] = [];
  for (const [name, w] of where) {
    if (expectedNames.has(name) || used.has(name)) continue;
    if (sharedShape && aliasesOfShared.includes(name) && sameShape(w.entry.shape, sharedShape)) continue;
    unexpected.push(name);
  }

  const policy = opts.unexpected ?? "error";
  const problems: string[] = [];
  const files = headers.map((h) => h.path).join(", ");
  if (missing.length) problems.push(`missing ${missing.length} tensor(s): ${missing.join(", ")}`);
  if (shapes.length) {
    problems.push(`wrong shape for ${shapes.length} tensor(s):\n    ${shapes.join("\n    ")}`);
  }
  if (dtypes.length) {
    problems.push(`non-float dtype for ${dtypes.length} tensor(s):\n    ${dtypes.join("\n    ")}`);
  }
  const unexpectedMsg = `unexpected ${unexpected.length} tensor(s) not used by the model: ${
    unexpected.join(", ")
  }`;
  if (unexpected.length && policy === "error") {
    problems.push(`${unexpectedMsg}\n  (pass { unexpected: "warn" } to load anyway)`);
  }
  if (problems.length) {
    throw new CheckpointError(
      `${dir}: checkpoint does not match the model (${files}; config ${CONFIG_FILE}):\n  ${
        problems.join("\n  ")
      }\n` +
        `  Does config.json describe the same architecture as the weights?`,
    );
  }
  if (unexpected.length && policy === "warn") (opts.warn ?? console.warn)(`${dir}: ${unexpectedMsg}`);

  // Read the tensors, shard by shard, in file order.
  const tensors = new Map<string, Float32Array>();
  const storedDtypes = new Map<string, SafetensorsDtype>();
  const byShard = new Map<ShardHeader, [string, string][]>();
  for (const [want, stored] of source) {
    const w = where.get(stored)!;
    if (!byShard.has(w.shard)) byShard.set(w.shard, []);
    byShard.get(w.shard)!.push([want, stored]);
  }
  for (const [shard, list] of byShard) {
    list.sort((a, b) => shard.entries.get(a[1])!.start - shard.entries.get(b[1])!.start);
    const file = await Deno.open(shard.path, { read: true });
    try {
      for (const [want, stored] of list) {
        const entry = shard.entries.get(stored)!;
        const t = await readEntry(file, shard.path, stored, entry);
        tensors.set(
          want,
          t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Float64Array),
        );
        storedDtypes.set(want, entry.dtype);
      }
    } finally {
      file.close();
    }
  }
  const tok = `${dir}/${TOKENIZER_FILE}`;
  return {
    tensors,
    config,
    tokenizerPath: (await exists(tok)) ? tok : undefined,
    files: headers.map((h) => h.path),
    dtypes: storedDtypes,
    aliased,
  };
}

/** A tensor to save: float32 values and a shape. */
export interface SaveTensor {
  shape: number[];
  data: Float32Array;
}

/** Options for {@link saveCheckpoint}. */
export interface SaveOptions {
  /** Storage dtype of the weights (default F32; BF16/F16 round to nearest even). */
  dtype?: "F32" | "BF16" | "F16";
  /** Split into shards of at most this many bytes (default 5 GB, as current transformers). */
  maxShardSize?: number;
  /** Extra `__metadata__` strings (`format: "pt"` is always set). */
  metadata?: Record<string, string>;
  /** A `spiece.model` to copy into the directory. */
  tokenizer?: string;
}

/** Byte size of a tensor in a dtype. */
function byteSize(t: SaveTensor, dtype: SafetensorsDtype): number {
  return t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
}

/** Shard file name, as transformers names them. */
export function shardName(i: number, n: number): string {
  const p = (x: number) => String(x).padStart(5, "0");
  return `model-${p(i)}-of-${p(n)}.safetensors`;
}

/**
 * Groups tensor names (alphabetical) into shards of at most `maxBytes` each; a tensor larger than
 * the limit gets a shard of its own (as transformers does).
 */
export function planShards(sizes: [string, number][], maxBytes: number): string[][] {
  const sorted = [...sizes].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const shards: string[][] = [];
  let cur: string[] = [], curBytes = 0;
  for (const [name, size] of sorted) {
    if (cur.length && curBytes + size > maxBytes) {
      shards.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(name);
    curBytes += size;
  }
  if (cur.length) shards.push(cur);
  return shards;
}

/**
 * Writes a checkpoint directory: weights (one file, or shards plus index when larger than
 * `maxShardSize`), then `config.json`, then the tokenizer if given. Every file is written to a
 * temporary name in the same directory and renamed into place, so an interrupted save never
 * leaves a truncated file; stale weight files of a previous save in the other layout are removed
 * afterwards.
 *
 * ```ts
 * await saveCheckpoint("results/ckpt", new Map([["shared.weight", { shape: [8, 4], data: new Float32Array(32) }]]), { model_type: "t5" });
 * ```
 */
export async function saveCheckpoint(
  dir: string,
  tensors: Map<string, SaveTensor> | Record<string, SaveTensor>,
  config: Record<string, unknown>,
  opts: SaveOptions = {},
): Promise<{ files: string[] }> {
  dir = stripSlash(dir);
  const dtype = opts.dtype ?? "F32";
  const maxShard = opts.maxShardSize ?? 5_000_000_000;
  const all = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const metadata = { format: "pt", ...(opts.metadata ?? {}) };
  await Deno.mkdir(dir, { recursive: true });

  const input = (name: string): TensorInput => {
    const t = all.get(name)!;
    if (!(t.data instanceof Float32Array)) {
      throw new CheckpointError(`saveCheckpoint: tensor "${name}" must be a Float32Array`);
    }
    return { dtype, shape: t.shape, data: t.data };
  };
  const plan = planShards([...all].map(([n, t]) => [n, byteSize(t, dtype)]), maxShard);
  const written: string[] = [];
  const oldIndex = await exists(`${dir}/${WEIGHTS_INDEX_FILE}`)
    ? await readShardIndex(`${dir}/${WEIGHTS_INDEX_FILE}`).catch(() => undefined)
    : undefined;
  const oldShards = new Set(oldIndex ? Object.values(oldIndex.weight_map) : []);

  if (plan.length <= 1) {
    const enc = encodeSafetensors(new Map((plan[0] ?? []).map((n) => [n, input(n)])), metadata);
    await atomicWrite(`${dir}/${WEIGHTS_FILE}`, [enc.head, ...enc.chunks]);
    written.push(WEIGHTS_FILE);
    // The single file takes precedence, but a stale index would confuse people: remove it.
    if (oldIndex) {
      await Deno.remove(`${dir}/${WEIGHTS_INDEX_FILE}`).catch(() => {});
      for (const s of oldShards) await Deno.remove(`${dir}/${s}`).catch(() => {});
    }
  } else {
    const weightMap: Record<string, string> = {};
    let total = 0;
    for (let i = 0; i < plan.length; i++) {
      const file = shardName(i + 1, plan.length);
      const enc = encodeSafetensors(new Map(plan[i].map((n) => [n, input(n)])), metadata);
      await atomicWrite(`${dir}/${file}`, [enc.head, ...enc.chunks]);
      written.push(file);
      for (const n of plan[i]) {
        weightMap[n] = file;
        total += byteSize(all.get(n)!, dtype);
      }
    }
    const index: ShardIndex = { metadata: { total_size: total }, weight_map: weightMap };
    await atomicWrite(
      `${dir}/${WEIGHTS_INDEX_FILE}`,
      new TextEncoder().encode(JSON.stringify(index, null, 2) + "\n"),
    );
    written.push(WEIGHTS_INDEX_FILE);
    // A single file from an earlier save would shadow the new shards: remove it, then stale shards.
    await Deno.remove(`${dir}/${WEIGHTS_FILE}`).catch(() => {});
    for (const s of oldShards) if (!written.includes(s)) await Deno.remove(`${dir}/${s}`).catch(() => {});
  }
  await atomicWrite(
    `${dir}/${CONFIG_FILE}`,
    new TextEncoder().encode(JSON.stringify(config, null, 2) + "\n"),
  );
  written.push(CONFIG_FILE);
  if (opts.tokenizer && stripSlash(opts.tokenizer) !== `${dir}/${TOKENIZER_FILE}`) {
    await atomicWrite(`${dir}/${TOKENIZER_FILE}`, await Deno.readFile(opts.tokenizer));
    written.push(TOKENIZER_FILE);
  }
  return { files: written.map((f) => `${dir}/${f}`) };
}
