/**
 * A stand-in for the Hugging Face hub on 127.0.0.1, for tests: the parts of its HTTP interface a
 * model download touches, shaped as huggingface.co answers them.
 *
 * - `GET /api/models/NAME/revision/REV`: the model's info with `sha` (the commit);
 * - `GET /api/models/NAME/tree/REV?recursive=true`: the file listing, paginated with a `Link`
 *   header, with `oid` (git blob id) and `lfs: { oid (sha256), size, pointerSize }` for LFS files;
 * - `GET|HEAD /NAME/resolve/REV/FILE`: plain files directly (ETag = git blob id); LFS files by a
 *   302 to `/cdn/SHA256` carrying `X-Linked-Etag` / `X-Linked-Size`; `X-Repo-Commit` on both;
 * - `GET /NAME/raw/REV/FILE`: the git content, so an LFS pointer for LFS files;
 * - `GET /cdn/SHA256`: the content, with byte ranges;
 * - 401 for a private repository without the token (and for a gated one's files), 404 with
 *   `X-Error-Code` for unknown repositories, revisions and files, a 307 from a renamed
 *   repository's old name to its new one.
 *
 * Faults for the tests: a transfer that breaks halfway, a corrupted byte, a server that ignores
 * `Range`, a mirror that serves LFS pointers instead of content.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The token the fake hub accepts. */
export const FAKE_TOKEN = "hf_fake_test_token";

/** One repository of the fake hub. */
export interface FakeRepo {
  /** Files of the default commit (`main`). */
  files: Map<string, Uint8Array>;
  /** Commit of `main` (default: derived from the name). */
  commit?: string;
  /** Other revisions: name (branch, tag, `refs/pr/N` or a commit id) -> commit and files. */
  revisions?: Record<string, { commit: string; files: Map<string, Uint8Array> }>;
  /** `private`: everything needs the token; `gated`: the files do. Default public. */
  access?: "public" | "gated" | "private";
}

/** Faults to inject, by file path. */
export interface FakeHubFaults {
  /** The first GET of the content sends half of what it should and then breaks the connection. */
  breakFirst?: Set<string>;
  /** The content is served with its last byte flipped (the listing keeps the true hash). */
  corrupt?: Set<string>;
  /** Range requests are answered 200 with the whole file. */
  ignoreRange?: Set<string>;
  /** `resolve/` serves the LFS pointer instead of the content (a mirror without LFS). */
  servePointer?: Set<string>;
}

/** Options of {@link startFakeHub}. */
export interface FakeHubOptions extends FakeHubFaults {
  /** Entries per page of the tree listing (default: all on one page). */
  pageSize?: number;
  /** Old name -> new name: requests for the old one are redirected (a renamed repository). */
  renamed?: Record<string, string>;
}

/** A running fake hub. */
export interface FakeHub {
  endpoint: string;
  /** Every request as `METHOD PATH[?QUERY][ RANGE][ auth]`. */
  log: string[];
  close(): Promise<void>;
}

/** Whether the hub keeps a file in LFS (large binaries), as `.gitattributes` of model repos say. */
export function isLfsPath(path: string): boolean {
  return /\.(safetensors|bin|model|h5|msgpack)$/.test(path) || path === "tokenizer.json";
}

/** Lower-case hex SHA-256. */
export function sha256Hex(b: Uint8Array | string): string {
  return createHash("sha256").update(b).digest("hex");
}

/** Git blob id of some content. */
export function gitOid(b: Uint8Array | string): string {
  const bytes = typeof b === "string" ? new TextEncoder().encode(b) : b;
  return createHash("sha1").update(`blob ${bytes.byteLength}\0`).update(bytes).digest("hex");
}

/** The Git LFS pointer git stores for an LFS file. */
export function lfsPointer(content: Uint8Array): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${
    sha256Hex(content)
  }\nsize ${content.byteLength}\n`;
}

/** A 40-hex commit id derived from a label. */
export function fakeCommit(label: string): string {
  return createHash("sha1").update(label).digest("hex");
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function notFound(code: string, message: string): Response {
  return json({ error: message }, 404, { "x-error-code": code });
}

/** Starts the fake hub; `close()` stops it. */
export function startFakeHub(repos: Record<string, FakeRepo>, opts: FakeHubOptions = {}): FakeHub {
  const log: string[] = [];
  const broken = new Set<string>();
  // Content by sha256, for the CDN.
  const blobs = new Map<string, { path: string; body: Uint8Array }>();
  for (const repo of Object.values(repos)) {
    for (const files of [repo.files, ...Object.values(repo.revisions ?? {}).map((r) => r.files)]) {
      for (const [path, body] of files) blobs.set(sha256Hex(body), { path, body });
    }
  }

  const revisionOf = (name: string, repo: FakeRepo, rev: string) => {
    const main = { commit: repo.commit ?? fakeCommit(name), files: repo.files };
    if (rev === "main" || rev === main.commit) return main;
    const other = repo.revisions?.[rev];
    if (other) return other;
    return Object.values(repo.revisions ?? {}).find((r) => r.commit === rev);
  };

  const serveBytes = (req: Request, path: string, body: Uint8Array, headers: Record<string, string>) => {
    let data = body;
    if (opts.corrupt?.has(path)) {
      data = body.slice();
      data[data.length - 1] ^= 0xff;
    }
    if (req.method === "HEAD") {
      return new Response(null, { headers: { ...headers, "content-length": `${data.byteLength}` } });
    }
    const range = req.headers.get("range");
    const r = range && !opts.ignoreRange?.has(path) ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
    let start = 0, end = data.byteLength, status = 200;
    if (r) {
      start = Number(r[1]);
      end = r[2] ? Math.min(Number(r[2]) + 1, data.byteLength) : data.byteLength;
      if (start >= data.byteLength) return new Response(null, { status: 416 });
      status = 206;
      headers = { ...headers, "content-range": `bytes ${start}-${end - 1}/${data.byteLength}` };
    }
    const rest = data.subarray(start, end);
    if (opts.breakFirst?.has(path) && !broken.has(path) && rest.byteLength > 1) {
      broken.add(path);
      const half = rest.slice(0, rest.byteLength >> 1);
      let sent = false;
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (!sent) {
            sent = true;
            c.enqueue(half);
          } else c.error(new Error("simulated network failure"));
        },
      });
      return new Response(stream, { status, headers });
    }
    return new Response(rest.slice(), { status, headers });
  };

  const handler = (req: Request): Response => {
    const url = new URL(req.url);
    const path = decodeURIComponent(url.pathname);
    const authorized = req.headers.get("authorization") === `Bearer ${FAKE_TOKEN}`;
    const range = req.headers.get("range");
    log.push(
      `${req.method} ${url.pathname}${url.search}${range ? ` ${range}` : ""}${
        req.headers.has("authorization") ? " auth" : ""
      }`,
    );

    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      const blob = blobs.get(cdn[1]);
      return blob
        ? serveBytes(req, blob.path, blob.body, {})
        : new Response("no such object", { status: 404 });
    }

    // /api/models/NAME/(revision|tree)/REV or /NAME/(resolve|raw)/REV/FILE; NAME is ORG/NAME or NAME.
    const api = /^\/api\/models\/(.+?)\/(revision|tree)\/(.+)$/.exec(path);
    const file = api ? null : /^\/(.+?)\/(resolve|raw)\/(refs\/pr\/\d+|[^/]+)\/(.+)$/.exec(path);
    const m = api ?? file;
    if (!m) return new Response("not found", { status: 404 });
    const [, name, kind, rev] = m;
    const newName = opts.renamed?.[name];
    if (newName) {
      const location = url.pathname.replace(`/${name}/`, `/${newName}/`) + url.search;
      return new Response(null, { status: 307, headers: { location } });
    }
    const repo = repos[name];
    // Like the hub, an anonymous caller is not told whether a private repository exists: unknown
    // and private repositories both answer 401 without the token.
    if ((!repo || repo.access === "private") && !authorized) {
      return json({ error: "Invalid username or password." }, 401, { "x-error-code": "RepoNotFound" });
    }
    if (!repo) return notFound("RepoNotFound", "Repository not found");
    const revision = revisionOf(name, repo, rev);
    if (!revision) return notFound("RevisionNotFound", `Invalid rev id: ${rev}`);

    if (kind === "revision") {
      return json({
        _id: revision.commit.slice(0, 24),
        id: name,
        modelId: name,
        sha: revision.commit,
        private: repo.access === "private",
        gated: repo.access === "gated" ? "auto" : false,
        downloads: 0,
        likes: 0,
        tags: ["transformers", "safetensors", "t5"],
        pipeline_tag: "text2text-generation",
        library_name: "transformers",
        lastModified: "2024-01-01T00:00:00.000Z",
        createdAt: "2024-01-01T00:00:00.000Z",
      });
    }
    if (kind === "tree") {
      const entries = [...revision.files].sort(([a], [b]) => a < b ? -1 : 1).map(([p, body]) =>
        isLfsPath(p)
          ? {
            type: "file",
            path: p,
            size: body.byteLength,
            oid: gitOid(lfsPointer(body)),
            lfs: { oid: sha256Hex(body), size: body.byteLength, pointerSize: lfsPointer(body).length },
          }
          : { type: "file", path: p, size: body.byteLength, oid: gitOid(body) }
      );
      const cursor = Number(url.searchParams.get("cursor") ?? "0");
      const size = opts.pageSize ?? entries.length;
      const page = entries.slice(cursor, cursor + size);
      const headers: Record<string, string> = {};
      if (cursor + size < entries.length) {
        const next = new URL(url);
        next.searchParams.set("cursor", `${cursor + size}`);
        headers.link = `<${next.href}>; rel="next"`;
      }
      return json(page, 200, headers);
    }

    const fileName = m[4];
    const body = revision.files.get(fileName);
    if (!body) return notFound("EntryNotFound", `${fileName} does not exist on "${rev}"`);
    if (repo.access === "gated" && !authorized) {
      return json({ error: `Access to model ${name} is restricted. You must be authenticated.` }, 401, {
        "x-error-code": "GatedRepo",
      });
    }
    const headers: Record<string, string> = { "x-repo-commit": revision.commit };
    if (kind === "raw" || !isLfsPath(fileName) || opts.servePointer?.has(fileName)) {
      const content = (isLfsPath(fileName) && kind === "raw") || opts.servePointer?.has(fileName)
        ? new TextEncoder().encode(lfsPointer(body))
        : body;
      return serveBytes(req, fileName, content, { ...headers, etag: `"${gitOid(content)}"` });
    }
    return new Response(null, {
      status: 302,
      headers: {
        ...headers,
        location: `/cdn/${sha256Hex(body)}`,
        "x-linked-etag": `"${sha256Hex(body)}"`,
        "x-linked-size": `${body.byteLength}`,
      },
    });
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { endpoint: `http://127.0.0.1:${server.addr.port}`, log, close: () => server.shutdown() };
}
