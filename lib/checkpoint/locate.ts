/**
 * Finding a model by its hub name, the way a researcher's other tools would:
 *
 * 1. the Hugging Face cache (`HF_HUB_CACHE`): the snapshot that `refs/<revision>` names (or the
 *    commit itself), if it holds a complete checkpoint;
 * 2. the project's folders, `data/models/NAME` in the repository and in the data directory
 *    (skipped when a revision is pinned: they carry no revision);
 * 3. otherwise a download of what is missing, into the cache, unless offline (`HF_HUB_OFFLINE`).
 *
 * A cached snapshot is used as it is, without asking the hub whether the branch has moved;
 * `deno task download-model NAME` does ask, and fetches a newer commit.
 *
 * ```ts
 * const { dir, source } = await locateModel("t5-small"); // source: "cache" | "data" | "download"
 * ```
 *
 * @module
 */
import { WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from "./checkpoint.ts";
import { readShardIndex } from "./checkpoint.ts";
import { dataDir, REPO_ROOT } from "../config/paths.ts";
import { cachedCommit, checkRevision, repoCacheDir, snapshotDir } from "./hf_cache.ts";
import {
  checkModelName,
  DownloadError,
  downloadModel,
  type DownloadOptions,
  downloadSettings,
} from "./download.ts";
import { fileSize } from "./transfer.ts";

/** A model name with an optional pinned revision, as written `NAME@REVISION`. */
export interface ModelRef {
  name: string;
  revision?: string;
}

/** Splits `t5-small@<commit>` into name and revision (hub names never contain `@`). */
export function parseModelRef(spec: string): ModelRef {
  const at = spec.indexOf("@");
  if (at < 0) return { name: spec };
  const revision = spec.slice(at + 1);
  if (!revision) {
    throw new DownloadError(`"${spec}": nothing after "@"; write NAME@REVISION (a commit, branch or tag)`);
  }
  return { name: spec.slice(0, at), revision: checkRevision(revision) };
}

/** What a checkpoint folder holds, judged by file presence. */
export interface CheckpointStatus {
  /** config.json and all safetensors weights are there. */
  complete: boolean;
  /** What is missing for that. */
  missing: string[];
  /** It has PyTorch `.bin` weights (which this project cannot read) and no safetensors. */
  torchOnly: boolean;
}

/** Checks a checkpoint folder (a snapshot or a plain folder) without reading the weights. */
export async function checkpointStatus(dir: string): Promise<CheckpointStatus> {
  const has = async (f: string) => (await fileSize(`${dir}/${f}`)) !== undefined;
  const missing: string[] = [];
  if (!(await has("config.json"))) missing.push("config.json");
  let weights = await has(WEIGHTS_FILE);
  if (!weights && (await has(WEIGHTS_INDEX_FILE))) {
    const index = await readShardIndex(`${dir}/${WEIGHTS_INDEX_FILE}`);
    const shards = [...new Set(Object.values(index.weight_map))].sort();
    const absent = [];
    for (const s of shards) if (!(await has(s))) absent.push(s);
    missing.push(...absent);
    weights = absent.length === 0;
  } else if (!weights) {
    missing.push(WEIGHTS_FILE);
  }
  const torchOnly = !weights &&
    ((await has("pytorch_model.bin")) || (await has("pytorch_model.bin.index.json")));
  return { complete: missing.length === 0, missing, torchOnly };
}

/** Options for {@link locateModel}. */
export interface LocateOptions extends Omit<DownloadOptions, "out"> {
  /** Data directory whose `models/NAME` is searched (default `$FISHDIP_DATA` or `<repo>/data`). */
  dataDir?: string;
  /** Download what is missing (default true; offline mode never downloads). */
  download?: boolean;
}

/** Where {@link locateModel} found a model. */
export interface LocatedModel {
  name: string;
  /** The checkpoint folder (for `loadCheckpoint`). */
  dir: string;
  source: "cache" | "data" | "download";
  /** The commit, for a model from the cache. */
  commit?: string;
}

/** The project's own folders for a model, in search order. */
export function localModelDirs(name: string, opts: { dataDir?: string } = {}): string[] {
  return [...new Set([`${REPO_ROOT}/data/models/${name}`, `${dataDir(opts.dataDir)}/models/${name}`])];
}

function describe(dir: string, s: CheckpointStatus): string {
  if (s.torchOnly) return `${dir} (only PyTorch .bin weights, which this project cannot read)`;
  return `${dir} (missing ${s.missing.join(", ")})`;
}

/**
 * Finds a model in the Hugging Face cache, then in `data/models/`, else downloads it into the
 * cache (see the module comment). Throws a {@link DownloadError} that lists where it looked.
 */
export async function locateModel(name: string, opts: LocateOptions = {}): Promise<LocatedModel> {
  checkModelName(name);
  const settings = downloadSettings(opts);
  const revision = checkRevision(opts.revision ?? "main");
  const looked: string[] = [];

  const commit = await cachedCommit(settings.cacheDir, name, revision);
  if (commit) {
    const dir = snapshotDir(settings.cacheDir, name, commit);
    const status = await checkpointStatus(dir);
    if (status.complete) return { name, dir, source: "cache", commit };
    looked.push(describe(dir, status));
  } else {
    looked.push(`${repoCacheDir(settings.cacheDir, name)} (no snapshot for revision ${revision})`);
  }
  if (opts.revision === undefined) {
    for (const dir of localModelDirs(name, opts)) {
      const status = await checkpointStatus(dir);
      if (status.complete) return { name, dir, source: "data" };
      looked.push(
        (await fileSize(dir)) === undefined ? `${dir} (absent)` : describe(dir, status),
      );
    }
  }

  const where = `\n  looked in:\n    ${looked.join("\n    ")}`;
  const command = `deno task download-model ${name}${opts.revision ? ` --revision ${opts.revision}` : ""}`;
  if (settings.offline) {
    throw new DownloadError(
      `${name}: not available offline (HF_HUB_OFFLINE is set)${where}\n` +
        `  Unset HF_HUB_OFFLINE to download it into ${settings.cacheDir}, or run ` +
        `\`${command}\` where the hub is reachable (HF_HOME / HF_HUB_CACHE move the cache).`,
    );
  }
  if (opts.download === false) {
    throw new DownloadError(
      `${name}: not found${where}\n  Fetch it with \`deno task download-model ${name}\`.`,
    );
  }
  const log = opts.log ?? ((m: string) => opts.quiet || console.error(m));
  log(`${name}: not found locally; downloading into the Hugging Face cache ${settings.cacheDir}`);
  const res = await downloadModel(name, { ...opts, revision });
  return { name, dir: res.dir, source: "download", commit: res.commit };
}
