/**
 * Downloading a T5 checkpoint from the Hugging Face hub (or a mirror) into a local directory in
 * the layout {@link loadCheckpoint} reads: `config.json`, `model.safetensors` (or the shard index
 * and its shards) and `spiece.model`.
 *
 * Each file is fetched from `{endpoint}/{name}/resolve/{revision}/{file}` into `file.part`, which
 * is resumed with an HTTP Range request after an interruption (in the same run, up to `retries`
 * times, or in a later run). A finished file is checked against the size and, for the hub's LFS
 * files, the SHA-256 that the hub reports in `X-Linked-Size` / `X-Linked-Etag` of a HEAD request,
 * and only then renamed to its final name. So a file under its final name is always complete.
 *
 * ```ts
 * import { downloadModel } from "./download.ts";
 * const { dir } = await downloadModel("google-t5/t5-small"); // -> data/models/google-t5/t5-small
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { dataDir } from "../config/paths.ts";
import { TOKENIZER_FILE, WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from "./checkpoint.ts";
import { readShardIndex } from "./checkpoint.ts";
import { readSafetensorsHeader } from "./safetensors.ts";

/** The public hub. */
export const DEFAULT_ENDPOINT = "https://huggingface.co";

/** Thrown when a download cannot complete; the message says what to do. */
export class DownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DownloadError";
  }
}

/** One progress report. */
export interface DownloadProgress {
  file: string;
  /** Bytes of the file on disk so far (including what an earlier run left). */
  received: number;
  /** Expected size, when the server said. */
  total?: number;
  /** Average speed of this run's transfer, bytes per second. */
  bytesPerSecond: number;
  done: boolean;
}

/** Options for {@link downloadModel} and {@link downloadFile}. */
export interface DownloadOptions {
  /** Target directory (default `<data dir>/models/<name>`). */
  out?: string;
  /** Data directory for the default `out` (default: `$FISHDIP_DATA` or `<repo>/data`). */
  dataDir?: string;
  /** Hub base URL (default `$HF_ENDPOINT`, else https://huggingface.co). */
  endpoint?: string;
  /** Branch, tag, commit, or `refs/pr/N` (default `main`). */
  revision?: string;
  /** Resume attempts per file after a broken connection (default 3). */
  retries?: number;
  /** Access token for gated/private repositories (default `$HF_TOKEN`). */
  token?: string;
  /** Progress callback; the default prints to stderr unless `quiet`. */
  onProgress?: (p: DownloadProgress) => void;
  /** Print nothing (progress or messages). */
  quiet?: boolean;
  /** Where messages go (default stderr). */
  log?: (message: string) => void;
}

/** What a HEAD request tells about a remote file. */
export interface RemoteFile {
  /** URL to GET (after same-host redirects, e.g. a renamed repository). */
  url: string;
  size?: number;
  /** Lower-case hex SHA-256, when the server's ETag is one (the hub's LFS files). */
  sha256?: string;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

function authHeaders(opts: DownloadOptions): Record<string, string> {
  const token = opts.token ?? env("HF_TOKEN");
  return token ? { authorization: `Bearer ${token}` } : {};
}

function mb(n: number): string {
  return (n / 1e6).toFixed(1);
}

/** The URL of one file of a hub repository. */
export function resolveUrl(
  name: string,
  file: string,
  opts: Pick<DownloadOptions, "endpoint" | "revision"> = {},
) {
  const endpoint = (opts.endpoint ?? env("HF_ENDPOINT") ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
  return `${endpoint}/${name}/resolve/${encodeURIComponent(opts.revision ?? "main")}/${file}`;
}

/** Checks a hub model name (`t5-small`, `google/t5-v1_1-base`): no path tricks. */
export function checkModelName(name: string): void {
  if (!/^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/.test(name) || name.includes("..")) {
    throw new DownloadError(
      `invalid model name "${name}": expected NAME or OWNER/NAME as on the hub (e.g. t5-small, google/t5-v1_1-base)`,
    );
  }
}

function statusError(url: string, status: number): DownloadError {
  if (status === 401 || status === 403) {
    return new DownloadError(
      `${url}: HTTP ${status}: the repository is gated or private; accept its terms on the hub and set HF_TOKEN`,
    );
  }
  return new DownloadError(`${url}: HTTP ${status}`);
}

/**
 * Asks the server about a file with HEAD requests. Returns undefined when it does not exist.
 * Redirects are followed by hand: a relative one (a renamed repository) is followed; at an
 * absolute one (the hub's CDN) we stop, because the hub puts `X-Linked-Size` and `X-Linked-Etag`
 * (the LFS SHA-256) on that redirect, not on the CDN's answer.
 */
export async function remoteFile(url: string, opts: DownloadOptions = {}): Promise<RemoteFile | undefined> {
  let current = url;
  for (let hop = 0; hop < 10; hop++) {
    let res: Response;
    try {
      res = await fetch(current, { method: "HEAD", redirect: "manual", headers: authHeaders(opts) });
    } catch (e) {
      throw new DownloadError(`${current}: ${(e as Error).message} (no internet, or a wrong --endpoint?)`);
    }
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    const h = res.headers;
    const linked = h.get("x-linked-etag") ?? h.get("x-linked-size");
    if (res.status >= 300 && res.status < 400 && !linked) {
      const loc = h.get("location");
      if (!loc) throw new DownloadError(`${current}: HTTP ${res.status} without a Location header`);
      const next = new URL(loc, current);
      if (next.origin === new URL(current).origin) {
        current = next.href;
        continue;
      }
      return { url: current }; // an external redirect without metadata: nothing to verify against
    }
    if (res.status >= 400) throw statusError(current, res.status);
    const etag = (h.get("x-linked-etag") ?? h.get("etag") ?? "").replace(/^W\//, "").replace(/"/g, "");
    const sizeHeader = h.get("x-linked-size") ??
      (res.status === 200 && !h.get("content-encoding") ? h.get("content-length") : null);
    const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
    return { url: current, size, sha256: /^[0-9a-f]{64}$/i.test(etag) ? etag.toLowerCase() : undefined };
  }
  throw new DownloadError(`${url}: too many redirects`);
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** SHA-256 of a file, streamed in 8 MB chunks. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(8 << 20);
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    file.close();
  }
  return hash.digest("hex");
}

/** Default progress display: one updating line on a terminal, a line every few seconds otherwise. */
function stderrProgress(): (p: DownloadProgress) => void {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let last = 0;
  return (p) => {
    if (p.total !== undefined && p.total < 1e6) return; // config files: a progress line is noise
    const now = performance.now();
    if (!p.done && now - last < (tty ? 200 : 5000)) return;
    last = now;
    const pct = p.total ? ` ${(100 * p.received / p.total).toFixed(1).padStart(5)}%` : "";
    const line = `${p.file}: ${mb(p.received)}${p.total !== undefined ? `/${mb(p.total)}` : ""} MB${pct} ` +
      `${mb(p.bytesPerSecond)} MB/s`;
    Deno.stderr.writeSync(enc.encode(tty ? `\r${line}\x1b[K${p.done ? "\n" : ""}` : `${line}\n`));
  };
}

/**
 * Downloads one URL to `dest` through `dest.part`, resuming a partial file with a Range request,
 * then checks size and SHA-256 (when `remote` gives them) before renaming it into place.
 * Returns false when `dest` already existed with the right size (nothing downloaded).
 */
export async function downloadFile(
  remote: RemoteFile,
  dest: string,
  opts: DownloadOptions = {},
): Promise<boolean> {
  const label = dest.slice(dest.lastIndexOf("/") + 1);
  const existing = await fileSize(dest);
  if (existing !== undefined && (remote.size === undefined || existing === remote.size)) return false;
  const part = `${dest}.part`;
  const progress = opts.onProgress ?? (opts.quiet ? () => {} : stderrProgress());
  const log = opts.log ?? ((m: string) => opts.quiet || console.error(m));
  const retries = opts.retries ?? 3;

  for (let attempt = 0;; attempt++) {
    let have = (await fileSize(part)) ?? 0;
    if (remote.size !== undefined && have > remote.size) {
      await Deno.remove(part); // longer than the file: not a prefix of it
      have = 0;
    }
    let failure: string | undefined;
    if (remote.size === undefined || have < remote.size) {
      failure = await fetchInto(remote, part, have, label, progress, opts);
    }
    if (failure === undefined) {
      const size = (await fileSize(part)) ?? 0;
      if (remote.size !== undefined && size < remote.size) {
        failure = `connection closed at ${size} of ${remote.size} bytes`;
      } else if (remote.size !== undefined && size > remote.size) {
        await Deno.remove(part);
        throw new DownloadError(
          `${label}: got ${size} bytes, expected ${remote.size}; deleted, rerun to retry`,
        );
      } else {
        if (remote.sha256) {
          const got = await sha256File(part);
          if (got !== remote.sha256) {
            await Deno.remove(part);
            throw new DownloadError(
              `${label}: sha256 mismatch: expected ${remote.sha256}, got ${got} (corrupted download or a ` +
                `changed file); the partial file was deleted, rerun to download it again`,
            );
          }
        }
        await Deno.rename(part, dest);
        return true;
      }
    }
    if (attempt >= retries) {
      const have2 = (await fileSize(part)) ?? 0;
      throw new DownloadError(
        `${label}: download interrupted (${failure}); ${have2} bytes kept in ${part}: ` +
          `rerun the same command to resume`,
      );
    }
    log(`${label}: ${failure}; resuming (attempt ${attempt + 2} of ${retries + 1})`);
    await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5000)));
  }
}

/**
 * One GET into the `.part` file, from byte `have`. Returns undefined when the body ended
 * normally, or a description of the network failure (which the caller retries).
 */
async function fetchInto(
  remote: RemoteFile,
  part: string,
  have: number,
  label: string,
  progress: (p: DownloadProgress) => void,
  opts: DownloadOptions,
): Promise<string | undefined> {
  const headers: Record<string, string> = { "accept-encoding": "identity", ...authHeaders(opts) };
  if (have > 0) headers.range = `bytes=${have}-`;
  let res: Response;
  try {
    res = await fetch(remote.url, { headers });
  } catch (e) {
    return `request failed: ${(e as Error).message}`;
  }
  let append = have > 0;
  if (res.status === 416 && have > 0) {
    // Nothing left to send: either the part is complete (checked by the caller) or stale.
    await res.body?.cancel();
    if (remote.size === undefined || have === remote.size) return undefined;
    await Deno.remove(part);
    return "server refused to resume (HTTP 416); starting over";
  }
  if (res.status === 206) {
    const m = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "");
    if (!m || Number(m[1]) !== have) {
      await res.body?.cancel();
      await Deno.remove(part).catch(() => {});
      return `server resumed at the wrong offset (${res.headers.get("content-range")}); starting over`;
    }
  } else if (res.status === 200) {
    append = false; // the server ignored the Range header: start from the beginning
  } else {
    await res.body?.cancel();
    throw statusError(remote.url, res.status);
  }
  const file = await Deno.open(part, { write: true, create: true, append, truncate: !append });
  let received = append ? have : 0;
  const start = performance.now(), startBytes = received;
  const report = (done: boolean) =>
    progress({
      file: label,
      received,
      total: remote.size,
      bytesPerSecond: (received - startBytes) / Math.max(1e-3, (performance.now() - start) / 1000),
      done,
    });
  try {
    const reader = res.body!.getReader();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        return `connection lost at ${received} bytes: ${(e as Error).message}`;
      }
      if (chunk.done) break;
      let off = 0;
      while (off < chunk.value.byteLength) off += await file.write(chunk.value.subarray(off));
      received += chunk.value.byteLength;
      report(false);
    }
    report(true);
    return undefined;
  } finally {
    file.close();
  }
}

/** What {@link downloadModel} did. */
export interface DownloadResult {
  /** The checkpoint directory (pass it to `loadCheckpoint`). */
  dir: string;
  /** Files now present, relative to `dir`. */
  files: string[];
  /** Files fetched in this run (the rest were already there). */
  downloaded: string[];
}

/**
 * Downloads a hub T5 checkpoint: `config.json`, then `model.safetensors` or the shard index and
 * its shards, then `spiece.model` when the repository has one. Safe to rerun: complete files are
 * skipped and partial ones resumed.
 *
 * ```ts
 * const { dir } = await downloadModel("t5-small", { out: "data/models/t5-small" });
 * ```
 */
export async function downloadModel(name: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  checkModelName(name);
  const dir = (opts.out ?? `${dataDir(opts.dataDir)}/models/${name}`).replace(/\/+$/, "");
  const log = opts.log ?? ((m: string) => opts.quiet || console.error(m));
  const url = (file: string) => resolveUrl(name, file, opts);
  await Deno.mkdir(dir, { recursive: true });
  const files: string[] = [], downloaded: string[] = [];
  const get = async (file: string, remote: RemoteFile) => {
    if (await downloadFile(remote, `${dir}/${file}`, opts)) downloaded.push(file);
    else log(`${file}: already complete, skipped`);
    files.push(file);
  };

  const config = await remoteFile(url("config.json"), opts);
  if (!config) {
    throw new DownloadError(
      `${name}: no config.json at ${url("config.json")}: check the model name and --revision ` +
        `(examples: t5-small, t5-base, t5-large, google/t5-v1_1-base)`,
    );
  }
  await get("config.json", config);

  const single = await remoteFile(url(WEIGHTS_FILE), opts);
  if (single) {
    await get(WEIGHTS_FILE, single);
  } else {
    const indexInfo = await remoteFile(url(WEIGHTS_INDEX_FILE), opts);
    if (!indexInfo) {
      const bin = await remoteFile(url("pytorch_model.bin"), opts);
      throw new DownloadError(
        `${name}: the repository has no ${WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE}` +
          (bin ? " (only pytorch_model.bin)" : "") + `. Only safetensors weights are supported. ` +
          `The hub's conversion bot often has them in a pull request: try --revision refs/pr/1, or ` +
          `convert locally with Python: T5ForConditionalGeneration.from_pretrained(...).save_pretrained(dir, ` +
          `safe_serialization=True)`,
      );
    }
    await get(WEIGHTS_INDEX_FILE, indexInfo);
    const index = await readShardIndex(`${dir}/${WEIGHTS_INDEX_FILE}`);
    for (const shard of [...new Set(Object.values(index.weight_map))].sort()) {
      const info = await remoteFile(url(shard), opts);
      if (!info) {
        throw new DownloadError(
          `${name}: ${WEIGHTS_INDEX_FILE} lists ${shard}, but the hub has no such file`,
        );
      }
      await get(shard, info);
    }
  }

  const spm = await remoteFile(url(TOKENIZER_FILE), opts);
  if (spm) await get(TOKENIZER_FILE, spm);
  else log(`${name}: no ${TOKENIZER_FILE} in the repository; the tokenizer must come from elsewhere`);

  // A cheap sanity check of what we got: parse config.json and every weight file's header.
  try {
    JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  } catch (e) {
    throw new DownloadError(`${dir}/config.json: not valid JSON (${(e as Error).message})`);
  }
  for (const f of files) if (f.endsWith(".safetensors")) await readSafetensorsHeader(`${dir}/${f}`);
  return { dir, files, downloaded };
}
