/**
 * Writes a Hugging Face cache by hand, the way `huggingface_hub` lays it out (its
 * "Manage huggingface_hub cache-system" guide and `file_download.py`), independently of
 * `lib/checkpoint/hf_cache.ts`, so that tests check the project against the documented layout
 * rather than against itself:
 *
 * ```
 * models--ORG--NAME/
 *   blobs/<sha256 of LFS files | git blob id of plain files>
 *   refs/main                                     the commit, no newline
 *   snapshots/<commit>/<file> -> ../../blobs/<id>  relative symlinks
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Files git keeps in LFS in a transformers model repository. */
function isLfs(path: string): boolean {
  return /\.(safetensors|bin|model)$/.test(path) || path === "tokenizer.json";
}

/** The blob name huggingface_hub gives a file: its etag on the hub. */
export function blobName(path: string, body: Uint8Array): string {
  if (isLfs(path)) return createHash("sha256").update(body).digest("hex");
  return createHash("sha1").update(`blob ${body.byteLength}\0`).update(body).digest("hex");
}

/** One snapshot to write. */
export interface FixtureSnapshot {
  commit: string;
  files: Map<string, Uint8Array>;
  /** Branches or tags that point at it (`refs/<ref>`). */
  refs?: string[];
}

/**
 * Writes snapshots of `name` into `cacheDir` (created as needed) and returns the repository's
 * cache folder.
 */
export async function writeCachedModel(
  cacheDir: string,
  name: string,
  snapshots: FixtureSnapshot[],
): Promise<string> {
  const repo = `${cacheDir}/models--${name.replaceAll("/", "--")}`;
  await Deno.mkdir(`${repo}/blobs`, { recursive: true });
  for (const snap of snapshots) {
    for (const [path, body] of snap.files) {
      const id = blobName(path, body);
      await Deno.writeFile(`${repo}/blobs/${id}`, body);
      const pointer = `${repo}/snapshots/${snap.commit}/${path}`;
      await Deno.mkdir(pointer.slice(0, pointer.lastIndexOf("/")), { recursive: true });
      const depth = path.split("/").length + 1; // snapshots/<commit>/[dirs/]file
      await Deno.symlink(`${"../".repeat(depth)}blobs/${id}`, pointer);
    }
    for (const ref of snap.refs ?? []) {
      await Deno.mkdir(`${repo}/refs/${ref}`.replace(/\/[^/]+$/, ""), { recursive: true });
      await Deno.writeTextFile(`${repo}/refs/${ref}`, snap.commit);
    }
  }
  return repo;
}

/** Reads every file of a folder into a map (for turning a saved checkpoint into fixture files). */
export async function readFolder(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile) files.set(e.name, await Deno.readFile(`${dir}/${e.name}`));
  }
  return files;
}
