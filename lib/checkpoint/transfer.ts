/**
 * One file's transfer, made safe to interrupt: bytes go to a side file (`blobs/<id>.incomplete`
 * in the Hugging Face cache, `FILE.part` in a plain folder) that a broken connection leaves in
 * place and the next attempt (in this run, or a later one) continues from its end. Only when the
 * side file has the expected size and hash is it renamed to its final name, so a file under its
 * final name is always complete and verified.
 *
 * Where the bytes come from is the caller's business (the hub client opens a stream at a byte
 * offset); this module does the bookkeeping, verification and progress display.
 *
 * @module
 */
import { createHash } from "node:crypto";

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
  /** Expected size. */
  total?: number;
  /** Average speed of this run's transfer, bytes per second. */
  bytesPerSecond: number;
  done: boolean;
}

/** What the finished file must be; the hashes come from the hub's file listing. */
export interface ExpectedFile {
  size: number;
  /** Lower-case hex SHA-256 (the LFS object id of large files). */
  sha256?: string;
  /** Git blob id (SHA-1 of `blob <size>\0<content>`), which is how plain git files are named. */
  gitOid?: string;
}

/** Options of {@link transferFile}. */
export interface TransferOptions {
  /** Resume attempts after a broken connection (default 3). */
  retries?: number;
  /** Progress callback; the default prints to stderr unless `quiet`. */
  onProgress?: (p: DownloadProgress) => void;
  /** Print nothing. */
  quiet?: boolean;
  /** Where messages go (default stderr). */
  log?: (message: string) => void;
}

/**
 * Opens the file's bytes from offset `from`. A {@link DownloadError} it throws (a refused token,
 * a missing file) ends the transfer; any other error counts as a broken connection and is retried.
 */
export type OpenAt = (from: number) => AsyncIterable<Uint8Array>;

/** Size of a file, or undefined when it does not exist. Follows symlinks. */
export async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

async function hashFile(path: string, algorithm: "sha256" | "sha1", prefix?: string): Promise<string> {
  const hash = createHash(algorithm);
  if (prefix !== undefined) hash.update(prefix);
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

/** SHA-256 of a file, streamed in 8 MB chunks. */
export function sha256File(path: string): Promise<string> {
  return hashFile(path, "sha256");
}

/** The git blob id of a file (what `git hash-object` prints). */
export async function gitBlobId(path: string): Promise<string> {
  return hashFile(path, "sha1", `blob ${(await Deno.stat(path)).size}\0`);
}

const LFS_POINTER = "version https://git-lfs.github.com/spec/";

/** Whether a (small) file is a Git LFS pointer rather than the content it points to. */
async function isLfsPointer(path: string): Promise<boolean> {
  const size = await fileSize(path);
  if (size === undefined || size > 1024) return false;
  return (await Deno.readTextFile(path)).startsWith(LFS_POINTER);
}

function lfsPointerError(label: string): DownloadError {
  return new DownloadError(
    `${label}: the server sent a Git LFS pointer instead of the file's content; the endpoint ` +
      `(HF_ENDPOINT) serves the raw git tree. Point HF_ENDPOINT at the hub or at a mirror that resolves LFS files`,
  );
}

function mb(n: number): string {
  return (n / 1e6).toFixed(1);
}

/** Default progress display: one updating line on a terminal, a line every few seconds otherwise. */
export function stderrProgress(): (p: DownloadProgress) => void {
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
 * Appends the bytes from offset `have` to `part`. Returns undefined when the stream ended, or a
 * description of the broken connection; a {@link DownloadError} from `open` propagates.
 */
async function receive(
  open: OpenAt,
  part: string,
  have: number,
  label: string,
  total: number,
  progress: (p: DownloadProgress) => void,
): Promise<string | undefined> {
  const file = await Deno.open(part, { write: true, create: true, append: have > 0, truncate: have === 0 });
  let received = have;
  const start = performance.now();
  const report = (done: boolean) =>
    progress({
      file: label,
      received,
      total,
      bytesPerSecond: (received - have) / Math.max(1e-3, (performance.now() - start) / 1000),
      done,
    });
  try {
    for await (const chunk of open(have)) {
      let off = 0;
      while (off < chunk.byteLength) off += await file.write(chunk.subarray(off));
      received += chunk.byteLength;
      report(false);
    }
    report(true);
    return undefined;
  } catch (e) {
    if (e instanceof DownloadError) throw e;
    return `connection lost at ${received} bytes: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    file.close();
  }
}

/** Where {@link transferFile} writes. */
export interface TransferPaths {
  /** The side file that collects the bytes. */
  part: string;
  /** The final name. */
  dest: string;
  /** The file's name in messages and progress (default: the last part of `dest`). */
  label?: string;
}

/**
 * Downloads one file to `dest` through `part`: resumes what `part` already holds, retries a broken
 * connection `retries` times, checks size and hashes, then renames `part` to `dest`. A hash
 * mismatch deletes `part` (its bytes are wrong, so resuming it cannot help) and throws.
 */
export async function transferFile(
  open: OpenAt,
  { part, dest, label = dest.slice(dest.lastIndexOf("/") + 1) }: TransferPaths,
  expected: ExpectedFile,
  opts: TransferOptions = {},
): Promise<void> {
  const progress = opts.onProgress ?? (opts.quiet ? () => {} : stderrProgress());
  const log = opts.log ?? ((m: string) => opts.quiet || console.error(m));
  const retries = opts.retries ?? 3;

  for (let attempt = 0;; attempt++) {
    let have = (await fileSize(part)) ?? 0;
    if (have > expected.size) {
      await Deno.remove(part); // longer than the file: not a prefix of it
      have = 0;
    }
    let failure: string | undefined;
    if (have < expected.size || (await fileSize(part)) === undefined) {
      failure = await receive(open, part, have, label, expected.size, progress);
    }
    const size = (await fileSize(part)) ?? 0;
    if (failure === undefined && size < expected.size) {
      if (await isLfsPointer(part)) {
        await Deno.remove(part);
        throw lfsPointerError(label);
      }
      failure = `connection closed at ${size} of ${expected.size} bytes`;
    }
    if (failure === undefined) {
      await verify(part, label, expected, size);
      await Deno.rename(part, dest);
      return;
    }
    if (attempt >= retries) {
      throw new DownloadError(
        `${label}: download interrupted (${failure}); ${size} bytes kept in ${part}: ` +
          `rerun the same command to resume`,
      );
    }
    log(`${label}: ${failure}; resuming (attempt ${attempt + 2} of ${retries + 1})`);
    await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5000)));
  }
}

/** Size and hash checks of a finished side file; deletes it and throws on a mismatch. */
async function verify(part: string, label: string, expected: ExpectedFile, size: number): Promise<void> {
  let problem: string | undefined;
  if (size !== expected.size) {
    problem = `got ${size} bytes, expected ${expected.size}`;
  } else if (expected.sha256) {
    const got = await sha256File(part);
    if (got !== expected.sha256) problem = `sha256 mismatch: expected ${expected.sha256}, got ${got}`;
  } else if (expected.gitOid) {
    const got = await gitBlobId(part);
    if (got !== expected.gitOid) problem = `git blob id mismatch: expected ${expected.gitOid}, got ${got}`;
  }
  if (problem === undefined) return;
  const pointer = await isLfsPointer(part);
  await Deno.remove(part);
  if (pointer) throw lfsPointerError(label);
  throw new DownloadError(
    `${label}: ${problem} (corrupted download or a file changed on the server); ` +
      `the partial file was deleted, rerun to download it again`,
  );
}
