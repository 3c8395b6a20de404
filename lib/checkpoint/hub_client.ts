/**
 * The hub's side of a download, through `@huggingface/hub` (the hub's own JavaScript client):
 * which commit a revision is ({@link modelInfo}), which files that commit has with their sizes,
 * LFS SHA-256s and git ids (the tree API, {@link listFiles}, paginated), and each file's bytes from
 * any offset ({@link downloadFile}, a range request on `resolve/<commit>/<file>`). Its errors
 * become {@link DownloadError}s that say what to do.
 *
 * The client's own cache writer (`downloadFileToCacheDir`) is not used: it files each blob under
 * the commit that last changed the file rather than the revision's commit, writes no `refs/`,
 * and neither resumes nor verifies; `download.ts` writes the cache as huggingface_hub does.
 *
 * @module
 */
import { downloadFile, HubApiError, listFiles, modelInfo } from "@huggingface/hub";
import type { HubSettings } from "./hf_env.ts";
import { DownloadError, type OpenAt } from "./transfer.ts";

/** One file of a repository at a commit, as the tree API lists it. */
export interface RepoFile {
  path: string;
  size: number;
  /** Its name in the cache's `blobs/`: the LFS SHA-256, else the git blob id (huggingface_hub's etag). */
  blobId: string;
  /** SHA-256 of the content (LFS files). */
  sha256?: string;
  /** Git blob id of the content (plain files; for LFS files git stores only the pointer). */
  gitOid?: string;
}

/** A repository at one commit. */
export interface RepoSnapshot {
  name: string;
  /** The revision asked for (branch, tag, commit or refs/pr/N). */
  revision: string;
  /** The commit it resolved to. */
  commit: string;
  files: Map<string, RepoFile>;
}

function credentials(settings: HubSettings): { accessToken?: string } {
  if (!settings.token) return {};
  // The client refuses anything else with a bare TypeError; say which setting is wrong instead.
  if (!settings.token.startsWith("hf_")) {
    throw new DownloadError(
      `the Hugging Face token from ${settings.tokenSource} does not start with "hf_": ` +
        `create an access token at ${settings.endpoint}/settings/tokens`,
    );
  }
  return { accessToken: settings.token };
}

/** The hub's answer as an error that says what to do. */
function hubError(e: unknown, what: string, settings: HubSettings): Error {
  if (e instanceof DownloadError) return e;
  if (e instanceof HubApiError) {
    const status = e.statusCode;
    const detail = e.message.replace(/\. URL: .*$/, "");
    if (status === 401 || status === 403) {
      const fix = settings.token
        ? `the token from ${settings.tokenSource} was refused or has no access: accept the model's terms on ` +
          `its page and check the token's permissions`
        : `set HF_TOKEN to an access token (or log in with \`huggingface-cli login\`) and accept the model's ` +
          `terms on its page`;
      return new DownloadError(
        `${what}: HTTP ${status} (${detail}): the repository is gated or private, or has no such name; ${fix}`,
      );
    }
    if (status === 404) {
      return new DownloadError(
        `${what}: not found on ${settings.endpoint} (${detail}): check the model name ` +
          `(e.g. t5-small, google/flan-t5-base) and the revision`,
      );
    }
    return new DownloadError(`${what}: HTTP ${status} from ${settings.endpoint} (${detail})`);
  }
  if (e instanceof TypeError) {
    return new DownloadError(
      `${what}: cannot reach ${settings.endpoint} (${e.message}): no internet, or a wrong HF_ENDPOINT? ` +
        `A model already in the Hugging Face cache loads without the network (HF_HUB_OFFLINE=1)`,
    );
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** Resolves `revision` to a commit and lists that commit's files. */
export async function fetchRepoSnapshot(
  name: string,
  revision: string,
  settings: HubSettings,
): Promise<RepoSnapshot> {
  const common = { hubUrl: settings.endpoint, ...credentials(settings) };
  let commit: string;
  try {
    const info = await modelInfo({ name, revision, additionalFields: ["sha"], ...common });
    commit = info.sha;
  } catch (e) {
    throw hubError(e, `${name} at revision ${revision}`, settings);
  }
  if (!/^[0-9a-f]{40}$/.test(commit ?? "")) {
    throw new DownloadError(`${name}: ${settings.endpoint} did not say which commit ${revision} is`);
  }
  const files = new Map<string, RepoFile>();
  try {
    // The tree of the commit, not of the branch: a push during the download cannot mix versions.
    for await (const entry of listFiles({ repo: name, revision: commit, recursive: true, ...common })) {
      if (entry.type !== "file") continue;
      const sha256 = entry.lfs?.oid;
      files.set(entry.path, {
        path: entry.path,
        size: entry.lfs?.size ?? entry.size,
        blobId: sha256 ?? entry.oid ?? "",
        sha256,
        gitOid: sha256 ? undefined : entry.oid,
      });
    }
  } catch (e) {
    throw hubError(e, `${name}: listing the files of ${commit}`, settings);
  }
  for (const f of files.values()) {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(f.blobId)) {
      throw new DownloadError(
        `${name}: the file listing gives ${f.path} no usable object id ("${f.blobId}")`,
      );
    }
  }
  return { name, revision, commit, files };
}

/** The URL of one file at one commit. */
export function resolveUrl(endpoint: string, name: string, commit: string, path: string): string {
  return `${endpoint}/${name}/resolve/${encodeURIComponent(commit)}/${
    path.split("/").map(encodeURIComponent).join("/")
  }`;
}

/**
 * Opens a file's bytes from an offset, through the client's `downloadFile` (a range request that
 * follows the hub's redirect to its CDN). The response is watched on the way: a refused or missing
 * file ends the download with a {@link DownloadError}; a server that ignores the range sends the
 * whole file, whose first `from` bytes are then skipped rather than appended twice.
 */
export function openHubFile(snapshot: RepoSnapshot, file: RepoFile, settings: HubSettings): OpenAt {
  return async function* (from: number) {
    const seen: { status?: number; skip: number; badRange?: string } = { skip: 0 };
    const watched: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!res.ok) seen.status = res.status;
      else if (from > 0 && res.status === 200) seen.skip = from;
      else if (from > 0) {
        const range = res.headers.get("content-range") ?? "";
        if (!range.startsWith(`bytes ${from}-`)) seen.badRange = range;
      }
      return res;
    };
    const blob = await downloadFile({
      repo: snapshot.name,
      path: file.path,
      revision: snapshot.commit,
      hubUrl: settings.endpoint,
      ...credentials(settings),
      fetch: watched,
      // Plain HTTP, not the Xet protocol: the hub serves every file through resolve/ with range
      // requests, which is what resuming needs, and what mirrors (HF_ENDPOINT) also serve.
      xet: false,
      // What the listing already told, so the client makes no extra request to learn it.
      downloadInfo: {
        size: file.size,
        etag: file.blobId,
        url: resolveUrl(settings.endpoint, snapshot.name, snapshot.commit, file.path),
      },
    });
    if (!blob) throw new DownloadError(`${snapshot.name}: ${file.path}: not found at ${snapshot.commit}`);
    const reader = (from > 0 ? blob.slice(from) : blob).stream().getReader();
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (seen.status !== undefined && seen.status < 500 && seen.status !== 429) {
            throw hubError(
              new HubApiError(file.path, seen.status, undefined, String(e instanceof Error ? e.message : e)),
              `${snapshot.name}: ${file.path}`,
              settings,
            );
          }
          throw e;
        }
        if (seen.badRange !== undefined) {
          throw new DownloadError(
            `${file.path}: the server resumed at the wrong offset (Content-Range "${seen.badRange}" for byte ` +
              `${from}); delete the .incomplete/.part file and rerun`,
          );
        }
        if (chunk.done) return;
        let bytes = chunk.value;
        if (seen.skip > 0) {
          const drop = Math.min(seen.skip, bytes.byteLength);
          seen.skip -= drop;
          bytes = bytes.subarray(drop);
          if (bytes.byteLength === 0) continue;
        }
        yield bytes;
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
  };
}
