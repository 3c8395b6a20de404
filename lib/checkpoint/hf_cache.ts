/**
 * The Hugging Face model cache, in the layout `huggingface_hub` writes and transformers reads
 * (`file_download.py`; "Manage huggingface_hub cache-system" in its docs):
 *
 * ```
 * <cache>/models--ORG--NAME/
 *   refs/main                        the commit that `main` pointed to when last resolved
 *   refs/refs/pr/1                   (a revision named refs/pr/1 keeps its slashes)
 *   blobs/<sha256>                   an LFS file's content, named by its SHA-256
 *   blobs/<git blob sha1>            a plain git file's content, named by its git object id
 *   blobs/<id>.incomplete            a download in progress (resumed by either client)
 *   snapshots/<commit>/config.json -> ../../blobs/<id>     relative symlinks
 * <cache>/.locks/models--ORG--NAME/<id>.lock               one writer per blob
 * ```
 *
 * A name without an owner (`t5-small`) is stored as `models--t5-small`, as transformers does.
 *
 * @module
 */

/** A full commit id, the only revision that names a snapshot folder. */
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** The cache's folder name for a model repository: `google/flan-t5-base` -> `models--google--flan-t5-base`. */
export function repoFolderName(name: string): string {
  return ["models", ...name.split("/")].join("--");
}

/** Where one model's cache lives. */
export function repoCacheDir(cacheDir: string, name: string): string {
  return `${cacheDir}/${repoFolderName(name)}`;
}

/** The snapshot folder of one commit: what `from_pretrained` returns as the model directory. */
export function snapshotDir(cacheDir: string, name: string, commit: string): string {
  return `${repoCacheDir(cacheDir, name)}/snapshots/${commit}`;
}

/** Where a blob lives; `id` is the SHA-256 (LFS) or the git blob id (plain files). */
export function blobPath(cacheDir: string, name: string, id: string): string {
  return `${repoCacheDir(cacheDir, name)}/blobs/${id}`;
}

/**
 * Checks that a revision (branch, tag, commit or `refs/pr/N`) cannot step outside `refs/` when
 * used as a path; returns it unchanged.
 */
export function checkRevision(revision: string): string {
  if (
    !revision || revision.startsWith("/") ||
    revision.split("/").some((s) => s === "" || s === "." || s === "..")
  ) {
    throw new Error(`invalid revision "${revision}": expected a branch, tag, commit id or refs/pr/N`);
  }
  return revision;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * The commit a revision stands for in the cache, if that commit's snapshot folder exists: a
 * 40-hex commit id names its folder directly; a branch or tag goes through `refs/<revision>`.
 * Like `huggingface_hub.try_to_load_from_cache`, no other snapshot is ever substituted.
 */
export async function cachedCommit(
  cacheDir: string,
  name: string,
  revision = "main",
): Promise<string | undefined> {
  checkRevision(revision);
  const repo = repoCacheDir(cacheDir, name);
  let commit = revision;
  if (!COMMIT_HASH.test(revision)) {
    try {
      commit = (await Deno.readTextFile(`${repo}/refs/${revision}`)).trim();
    } catch {
      return undefined;
    }
  }
  return (await isDir(`${repo}/snapshots/${commit}`)) ? commit : undefined;
}

/**
 * Records which commit a branch or tag resolved to (`refs/<revision>`), as huggingface_hub does
 * after asking the hub; nothing is written for a commit id. Written to a temporary file and
 * renamed, so a concurrent reader never sees half a commit id.
 */
export async function writeRef(
  cacheDir: string,
  name: string,
  revision: string,
  commit: string,
): Promise<void> {
  checkRevision(revision);
  if (revision === commit) return;
  const path = `${repoCacheDir(cacheDir, name)}/refs/${revision}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, commit); // no newline: huggingface_hub writes none
  await Deno.rename(tmp, path);
}

/**
 * Points `snapshots/<commit>/<file>` at `blobs/<id>` with a relative symlink (the cache stays
 * valid when moved), replacing what was there. Where symlinks cannot be made, the blob is copied,
 * which is huggingface_hub's fallback too.
 */
export async function linkSnapshotFile(
  cacheDir: string,
  name: string,
  commit: string,
  file: string,
  id: string,
): Promise<string> {
  const pointer = `${snapshotDir(cacheDir, name, commit)}/${file}`;
  await Deno.mkdir(pointer.slice(0, pointer.lastIndexOf("/")), { recursive: true });
  // snapshots/<commit>/a/b.json sits 2 + 1 folders below the repository folder.
  const target = `${"../".repeat(2 + file.split("/").length - 1)}blobs/${id}`;
  await Deno.remove(pointer).catch(() => {});
  try {
    await Deno.symlink(target, pointer);
  } catch {
    await Deno.copyFile(blobPath(cacheDir, name, id), pointer);
  }
  return pointer;
}

/**
 * Runs `fn` holding the blob's lock file (`.locks/models--ORG--NAME/<id>.lock`, an flock, the
 * kind Python's `filelock` takes), so that two processes fetching the same model (for example
 * `reproduce --workers 2`, or this project beside transformers) never write one blob at once.
 */
export async function withBlobLock<T>(
  cacheDir: string,
  name: string,
  id: string,
  fn: () => Promise<T>,
): Promise<T> {
  const dir = `${cacheDir}/.locks/${repoFolderName(name)}`;
  await Deno.mkdir(dir, { recursive: true });
  const lock = await Deno.open(`${dir}/${id}.lock`, { write: true, create: true });
  try {
    await lock.lock(true);
    return await fn();
  } finally {
    lock.close(); // closing releases the lock
  }
}
