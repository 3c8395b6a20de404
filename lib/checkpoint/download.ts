/**
 * Downloading a T5 checkpoint from the Hugging Face hub (or a mirror, `HF_ENDPOINT`) into the
 * user's Hugging Face cache (`HF_HUB_CACHE`), in the layout transformers reads, so that either
 * side uses what the other fetched: `refs/<revision>`, `snapshots/<commit>/<file>` symlinks and
 * `blobs/<sha256 or git id>` (see `hf_cache.ts`). With `out` it fills a plain folder instead.
 *
 * What is fetched: `config.json`; `model.safetensors`, else `model.safetensors.index.json` and
 * every shard it names; `spiece.model`; and, when the repository has them, the small files
 * transformers wants beside them (generation config, tokenizer config and `tokenizer.json`).
 * PyTorch `.bin` weights are never fetched: they are Python pickles, which this project does not
 * read.
 *
 * The hub is asked through `@huggingface/hub` (`hub_client.ts`); each file is resumable, checked
 * against the size and hash of the hub's listing, and shown with a progress line
 * (`transfer.ts`). Files already in the snapshot are not fetched again.
 *
 * ```ts
 * import { downloadModel } from "./download.ts";
 * const { dir } = await downloadModel("t5-small"); // ~/.cache/huggingface/hub/models--t5-small/snapshots/<commit>
 * ```
 *
 * @module
 */
import { TOKENIZER_FILE, WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from "./checkpoint.ts";
import { readShardIndex } from "./checkpoint.ts";
import { type EnvLookup, type HubSettings, hubSettings, processEnv } from "./hf_env.ts";
import {
  blobPath,
  checkRevision,
  linkSnapshotFile,
  snapshotDir,
  withBlobLock,
  writeRef,
} from "./hf_cache.ts";
import { fetchRepoSnapshot, openHubFile, type RepoFile, type RepoSnapshot } from "./hub_client.ts";
import { readSafetensorsHeader } from "./safetensors.ts";
import { DownloadError, fileSize, transferFile, type TransferOptions } from "./transfer.ts";

export { DEFAULT_ENDPOINT } from "./hf_env.ts";
export { DownloadError, type DownloadProgress, sha256File } from "./transfer.ts";

/** The small files transformers loads beside the weights; fetched when the repository has them. */
export const COMPANION_FILES = [
  "generation_config.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "tokenizer.json",
] as const;

/** Options for {@link downloadModel}. */
export interface DownloadOptions extends TransferOptions {
  /** A plain folder to fill instead of the Hugging Face cache. */
  out?: string;
  /** The cache (default `$HF_HUB_CACHE`, see `hf_env.ts`). */
  cacheDir?: string;
  /** Hub base URL (default `$HF_ENDPOINT`, else https://huggingface.co). */
  endpoint?: string;
  /** Branch, tag, commit, or `refs/pr/N` (default `main`). */
  revision?: string;
  /** Access token for gated/private repositories (default `$HF_TOKEN`, else the stored login). */
  token?: string;
  /** Refuse to use the network (default `$HF_HUB_OFFLINE`). */
  offline?: boolean;
  /** Where the HF_* variables are read (default the process environment; tests pass their own). */
  env?: EnvLookup;
}

/** What {@link downloadModel} did. */
export interface DownloadResult {
  /** The checkpoint directory (the snapshot folder, or `out`): pass it to `loadCheckpoint`. */
  dir: string;
  /** The commit the revision resolved to. */
  commit: string;
  /** Files now present, relative to `dir`. */
  files: string[];
  /** Files fetched in this run (the rest were already there). */
  downloaded: string[];
}

/** Checks a hub model name (`t5-small`, `google/t5-v1_1-base`): no path tricks. */
export function checkModelName(name: string): void {
  if (
    !/^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/.test(name) || name.includes("..") || name.includes("--")
  ) {
    throw new DownloadError(
      `invalid model name "${name}": expected NAME or OWNER/NAME as on the hub (e.g. t5-small, google/t5-v1_1-base)`,
    );
  }
}

/** The settings a download uses: explicit options first, then the HF_* environment. */
export function downloadSettings(opts: DownloadOptions = {}): HubSettings {
  const { cacheDir, endpoint, token, offline } = opts;
  return hubSettings({ cacheDir, endpoint, token, offline }, opts.env ?? processEnv);
}

/** The weights files to fetch first: the single file, else the shard index (its shards follow). */
function weightsFile(snapshot: RepoSnapshot): string {
  if (snapshot.files.has(WEIGHTS_FILE)) return WEIGHTS_FILE;
  if (snapshot.files.has(WEIGHTS_INDEX_FILE)) return WEIGHTS_INDEX_FILE;
  const torch = [...snapshot.files.keys()].filter((f) => /^pytorch_model.*\.bin(\.index\.json)?$/.test(f));
  throw new DownloadError(
    `${snapshot.name}: the repository has no ${WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE} at ${snapshot.commit}` +
      (torch.length ? ` (only ${torch.sort().join(", ")})` : "") +
      `. Only safetensors weights are supported (PyTorch .bin files are Python pickles). The hub's conversion ` +
      `bot often has them in a pull request: try --revision refs/pr/1; or convert once with Python: ` +
      `T5ForConditionalGeneration.from_pretrained(NAME).save_pretrained(DIR, safe_serialization=True), ` +
      `then pass DIR as the backbone`,
  );
}

/** Where files go: the cache's blobs and snapshot links, or a plain folder. */
interface Target {
  dir: string;
  /** Whether the file is already there, complete (by size; it was verified when it was written). */
  has(file: RepoFile): Promise<boolean>;
  fetch(file: RepoFile, snapshot: RepoSnapshot): Promise<void>;
}

function cacheTarget(settings: HubSettings, snapshot: RepoSnapshot, opts: DownloadOptions): Target {
  const { cacheDir } = settings;
  const { name, commit } = snapshot;
  const dir = snapshotDir(cacheDir, name, commit);
  return {
    dir,
    has: async (file) => (await fileSize(`${dir}/${file.path}`)) === file.size,
    fetch: async (file) => {
      const blob = blobPath(cacheDir, name, file.blobId);
      await Deno.mkdir(blob.slice(0, blob.lastIndexOf("/")), { recursive: true });
      await withBlobLock(cacheDir, name, file.blobId, async () => {
        // Another process (or another revision sharing the blob) may have finished it meanwhile.
        if ((await fileSize(blob)) !== file.size) {
          const paths = { part: `${blob}.incomplete`, dest: blob, label: file.path };
          await transferFile(openHubFile(snapshot, file, settings), paths, file, opts);
        }
      });
      await linkSnapshotFile(cacheDir, name, commit, file.path, file.blobId);
    },
  };
}

function folderTarget(out: string, settings: HubSettings, opts: DownloadOptions): Target {
  const dir = out.replace(/(.)\/+$/, "$1");
  return {
    dir,
    has: async (file) => (await fileSize(`${dir}/${file.path}`)) === file.size,
    fetch: async (file, snapshot) => {
      const dest = `${dir}/${file.path}`;
      await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
      const paths = { part: `${dest}.part`, dest, label: file.path };
      await transferFile(openHubFile(snapshot, file, settings), paths, file, opts);
    },
  };
}

/**
 * Downloads a hub T5 checkpoint into the Hugging Face cache (or `out`). Safe to rerun: files
 * already in the snapshot are skipped and interrupted ones resumed.
 *
 * ```ts
 * const { dir, commit } = await downloadModel("google/flan-t5-base", { revision: "main" });
 * ```
 */
export async function downloadModel(name: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  checkModelName(name);
  const revision = checkRevision(opts.revision ?? "main");
  const settings = downloadSettings(opts);
  if (settings.offline) {
    throw new DownloadError(
      `${name}: not downloading: offline mode is on (HF_HUB_OFFLINE). Unset it to fetch the model into ` +
        `${settings.cacheDir}`,
    );
  }
  const log = opts.log ?? ((m: string) => opts.quiet || console.error(m));
  const snapshot = await fetchRepoSnapshot(name, revision, settings);
  const target = opts.out === undefined
    ? cacheTarget(settings, snapshot, opts)
    : folderTarget(opts.out, settings, opts);
  // As huggingface_hub does: the branch's commit is recorded before its files arrive; a reader
  // checks that the snapshot is complete, not merely present.
  if (opts.out === undefined) await writeRef(settings.cacheDir, name, revision, snapshot.commit);

  const files: string[] = [], downloaded: string[] = [];
  const get = async (path: string) => {
    const file = snapshot.files.get(path);
    if (!file) {
      throw new DownloadError(`${name}: ${path} is not in the repository at ${snapshot.commit}`);
    }
    if (await target.has(file)) {
      log(`${path}: already complete, skipped`);
    } else {
      await target.fetch(file, snapshot);
      downloaded.push(path);
    }
    files.push(path);
  };

  if (!snapshot.files.has("config.json")) {
    throw new DownloadError(
      `${name}: no config.json at ${revision} (${snapshot.commit}): not a transformers checkpoint; ` +
        `check the model name (examples: t5-small, t5-large, google/t5-v1_1-base)`,
    );
  }
  await get("config.json");
  const weights = weightsFile(snapshot);
  await get(weights);
  if (weights === WEIGHTS_INDEX_FILE) {
    const index = await readShardIndex(`${target.dir}/${WEIGHTS_INDEX_FILE}`);
    for (const shard of [...new Set(Object.values(index.weight_map))].sort()) {
      if (!snapshot.files.has(shard)) {
        throw new DownloadError(
          `${name}: ${WEIGHTS_INDEX_FILE} lists ${shard}, but the repository has no such file`,
        );
      }
      await get(shard);
    }
  }
  if (snapshot.files.has(TOKENIZER_FILE)) await get(TOKENIZER_FILE);
  else log(`${name}: no ${TOKENIZER_FILE} in the repository; the tokenizer must come from elsewhere`);
  for (const extra of COMPANION_FILES) if (snapshot.files.has(extra)) await get(extra);

  // A cheap sanity check of what we got: parse config.json and every weight file's header.
  try {
    JSON.parse(await Deno.readTextFile(`${target.dir}/config.json`));
  } catch (e) {
    throw new DownloadError(`${target.dir}/config.json: not valid JSON (${(e as Error).message})`);
  }
  for (const f of files) if (f.endsWith(".safetensors")) await readSafetensorsHeader(`${target.dir}/${f}`);
  return { dir: target.dir, commit: snapshot.commit, files, downloaded };
}
