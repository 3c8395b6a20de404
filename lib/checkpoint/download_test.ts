import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { createHash } from "node:crypto";
import { loadCheckpoint, saveCheckpoint, type SaveTensor } from "./checkpoint.ts";
import {
  checkModelName,
  DownloadError,
  downloadModel,
  type DownloadProgress,
  remoteFile,
} from "./download.ts";

const REPO = "test-org/tiny-t5";
const CONFIG = { model_type: "t5", d_model: 8 };

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** A checkpoint written by our own writer, as the files a hub repository would hold. */
async function repoFiles(maxShardSize?: number): Promise<Map<string, Uint8Array>> {
  const dir = await Deno.makeTempDir({ prefix: "dl_src_" });
  try {
    const tensors = new Map<string, SaveTensor>();
    for (
      const [name, n] of [["shared.weight", 4000], ["encoder.final_layer_norm.weight", 8], [
        "lm.x",
        3000,
      ]] as const
    ) {
      tensors.set(name, { shape: [n], data: Float32Array.from({ length: n }, (_, i) => Math.cos(i + n)) });
    }
    await Deno.writeFile(`${dir}/spiece.model`, new Uint8Array(1000).map((_, i) => i * 7));
    await saveCheckpoint(dir, tensors, CONFIG, { maxShardSize, tokenizer: `${dir}/spiece.model` });
    const files = new Map<string, Uint8Array>();
    for (const e of Deno.readDirSync(dir)) files.set(e.name, await Deno.readFile(`${dir}/${e.name}`));
    return files;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface ServerOptions {
  /** Files whose first GET sends half the bytes and then breaks the connection. */
  breakFirst?: Set<string>;
  /** Files served with different bytes than the hash the HEAD advertises. */
  corrupt?: Set<string>;
}

/**
 * A tiny stand-in for the hub on 127.0.0.1: HEAD on an LFS file (safetensors, spiece.model)
 * answers 302 to a "CDN" path with X-Linked-Etag/X-Linked-Size, as huggingface.co does; GET
 * supports Range.
 */
function hub(files: Map<string, Uint8Array>, opts: ServerOptions = {}) {
  const log: string[] = [];
  const broken = new Set<string>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    onError: () => new Response(null, { status: 500 }),
  }, (req) => {
    const path = new URL(req.url).pathname;
    const m = /^\/(.+)\/resolve\/main\/([^/]+)$/.exec(path) ?? /^\/cdn\/()([^/]+)$/.exec(path);
    const file = m?.[2] ?? "";
    const repoOk = m && (m[1] === REPO || m[1] === "");
    const range = req.headers.get("range");
    log.push(`${req.method} ${path}${range ? ` ${range}` : ""}`);
    const body = files.get(file);
    if (!repoOk || !body) return new Response("not found", { status: 404 });
    const lfs = file.endsWith(".safetensors") || file === "spiece.model";
    if (lfs && m[1] !== "") {
      // Like huggingface.co: LFS files redirect to a CDN; the redirect carries size and sha256.
      const headers = {
        location: `${new URL(req.url).origin}/cdn/${file}`,
        "x-linked-etag": `"${sha256(body)}"`,
        "x-linked-size": `${body.byteLength}`,
      };
      return new Response(null, { status: 302, headers });
    }
    if (req.method === "HEAD") {
      const headers = { etag: `"${sha256(body).slice(0, 40)}"`, "content-length": `${body.byteLength}` };
      return new Response(null, { headers });
    }
    let data = body;
    if (opts.corrupt?.has(file)) {
      data = body.slice();
      data[data.length - 1] ^= 0xff;
    }
    let start = 0, status = 200;
    const headers: Record<string, string> = {};
    const r = range && /^bytes=(\d+)-$/.exec(range);
    if (r) {
      start = Number(r[1]);
      if (start >= data.byteLength) return new Response(null, { status: 416 });
      status = 206;
      headers["content-range"] = `bytes ${start}-${data.byteLength - 1}/${data.byteLength}`;
    }
    const rest = data.subarray(start);
    if (opts.breakFirst?.has(file) && !broken.has(file)) {
      broken.add(file);
      const half = rest.subarray(0, rest.byteLength >> 1);
      let sent = false;
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (!sent) {
            sent = true;
            c.enqueue(half.slice());
          } else c.error(new Error("simulated network failure"));
        },
      });
      return new Response(stream, { status, headers });
    }
    return new Response(rest.slice(), { status, headers });
  });
  return { log, endpoint: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

async function withHub(
  files: Map<string, Uint8Array>,
  opts: ServerOptions,
  fn: (endpoint: string, log: string[], out: string) => Promise<void>,
) {
  const h = hub(files, opts);
  const out = await Deno.makeTempDir({ prefix: "dl_out_" });
  try {
    await fn(h.endpoint, h.log, out);
  } finally {
    await h.close();
    await Deno.remove(out, { recursive: true });
  }
}

const EXPECTED = [
  { name: "encoder.final_layer_norm.weight", shape: [8] },
  { name: "lm.x", shape: [3000] },
  { name: "shared.weight", shape: [4000] },
];

Deno.test("downloadModel: single-file checkpoint, verified, loadable; rerun skips", async () => {
  const files = await repoFiles();
  await withHub(files, {}, async (endpoint, log, out) => {
    const events: DownloadProgress[] = [];
    const res = await downloadModel(REPO, { out, endpoint, quiet: true, onProgress: (p) => events.push(p) });
    assertEquals(res.files, ["config.json", "model.safetensors", "spiece.model"]);
    assertEquals(res.downloaded, res.files);
    for (const f of res.files) assertEquals(await Deno.readFile(`${out}/${f}`), files.get(f), f);
    assertEquals([...Deno.readDirSync(out)].length, 3); // no .part files
    const last = events.filter((e) => e.file === "model.safetensors").at(-1)!;
    assertEquals([last.done, last.received, last.total], [
      true,
      files.get("model.safetensors")!.byteLength,
      last.received,
    ]);
    // The LFS metadata comes from the redirect of the HEAD, not from following it.
    assert(log.includes(`HEAD /${REPO}/resolve/main/model.safetensors`));
    assert(!log.some((l) => l.startsWith("HEAD /cdn/")));
    const ckpt = await loadCheckpoint(out, EXPECTED);
    assertEquals(ckpt.config, CONFIG);
    assertEquals(ckpt.tokenizerPath, `${out}/spiece.model`);

    log.length = 0;
    const again = await downloadModel(REPO, { out, endpoint, quiet: true });
    assertEquals(again.downloaded, []);
    assert(!log.some((l) => l.startsWith("GET")), log.join("\n"));
  });
});

Deno.test("downloadModel: sharded checkpoint via the index", async () => {
  const files = await repoFiles(20000);
  assert(files.has("model.safetensors.index.json"));
  await withHub(files, {}, async (endpoint, _log, out) => {
    const res = await downloadModel(REPO, { out, endpoint, quiet: true });
    assertEquals(res.files.filter((f) => f.startsWith("model-")).length, 2);
    const ckpt = await loadCheckpoint(out, EXPECTED);
    assertEquals(ckpt.files.length, 2);
  });
});

Deno.test("downloadModel: an interrupted download resumes with a Range request", async () => {
  const files = await repoFiles();
  const weights = files.get("model.safetensors")!;
  // No retries: the first run fails and keeps the .part; the second run resumes it.
  await withHub(files, { breakFirst: new Set(["model.safetensors"]) }, async (endpoint, log, out) => {
    await assertRejects(
      () => downloadModel(REPO, { out, endpoint, quiet: true, retries: 0 }),
      DownloadError,
      "rerun the same command to resume",
    );
    const partSize = (await Deno.stat(`${out}/model.safetensors.part`)).size;
    assert(partSize > 0 && partSize < weights.byteLength, `part ${partSize}`);
    await downloadModel(REPO, { out, endpoint, quiet: true, retries: 0 });
    assert(log.includes(`GET /cdn/model.safetensors bytes=${partSize}-`), log.join("\n"));
    assertEquals(await Deno.readFile(`${out}/model.safetensors`), weights);
  });
  // With retries (the default) one run recovers by itself.
  await withHub(files, { breakFirst: new Set(["model.safetensors"]) }, async (endpoint, log, out) => {
    const messages: string[] = [];
    await downloadModel(REPO, { out, endpoint, quiet: true, log: (m) => messages.push(m) });
    assert(log.some((l) => /^GET \/cdn\/model\.safetensors bytes=\d+-$/.test(l)), log.join("\n"));
    assertStringIncludes(messages.join("\n"), "resuming");
    assertEquals(await Deno.readFile(`${out}/model.safetensors`), weights);
  });
});

Deno.test("downloadModel: sha256 mismatch is an error and leaves no file", async () => {
  const files = await repoFiles();
  await withHub(files, { corrupt: new Set(["model.safetensors"]) }, async (endpoint, _log, out) => {
    await assertRejects(
      () => downloadModel(REPO, { out, endpoint, quiet: true }),
      DownloadError,
      `model.safetensors: sha256 mismatch: expected ${sha256(files.get("model.safetensors")!)}`,
    );
    const names = [...Deno.readDirSync(out)].map((e) => e.name);
    assert(!names.some((n) => n.startsWith("model.safetensors")), names.join(","));
  });
});

Deno.test("downloadModel: unknown repository and PyTorch-only repository", async () => {
  const files = await repoFiles();
  await withHub(files, {}, async (endpoint, _log, out) => {
    await assertRejects(
      () => downloadModel("test-org/nope", { out, endpoint, quiet: true }),
      DownloadError,
      "no config.json at",
    );
  });
  const torchOnly = new Map([["config.json", files.get("config.json")!], [
    "pytorch_model.bin",
    new Uint8Array(8),
  ]]);
  await withHub(torchOnly, {}, async (endpoint, _log, out) => {
    const err = await assertRejects(
      () => downloadModel(REPO, { out, endpoint, quiet: true }),
      DownloadError,
      "(only pytorch_model.bin)",
    );
    assertStringIncludes(err.message, "Only safetensors weights are supported");
  });
});

Deno.test("remoteFile: metadata from HEAD; model names are checked", async () => {
  const files = await repoFiles();
  await withHub(files, {}, async (endpoint) => {
    const cfg = await remoteFile(`${endpoint}/${REPO}/resolve/main/config.json`);
    assertEquals(cfg?.size, files.get("config.json")!.byteLength);
    assertEquals(cfg?.sha256, undefined); // a git-blob ETag (40 hex) is not a sha256
    const w = await remoteFile(`${endpoint}/${REPO}/resolve/main/model.safetensors`);
    assertEquals(w?.sha256, sha256(files.get("model.safetensors")!));
    assertEquals(await remoteFile(`${endpoint}/${REPO}/resolve/main/absent.bin`), undefined);
  });
  checkModelName("t5-small");
  checkModelName("google/t5-v1_1-base");
  for (const bad of ["../etc", "a/b/c", "", "a/..", "/abs"]) {
    try {
      checkModelName(bad);
      throw new Error(`accepted ${bad}`);
    } catch (e) {
      assert(e instanceof DownloadError, `${bad}: ${e}`);
    }
  }
});

Deno.test("download-model command line parsing", async () => {
  const { parseArgs } = await import("../../scripts/download_model.ts");
  assertEquals(parseArgs(["t5-small"]), {
    name: "t5-small",
    out: undefined,
    data: undefined,
    endpoint: undefined,
    revision: undefined,
    retries: undefined,
    quiet: false,
  });
  const a = parseArgs([
    "google/t5-v1_1-base",
    "--out",
    "/x",
    "--endpoint=http://m",
    "--retries",
    "0",
    "--quiet",
  ]);
  assert(a !== "help");
  assertEquals([a.name, a.out, a.endpoint, a.retries, a.quiet], [
    "google/t5-v1_1-base",
    "/x",
    "http://m",
    0,
    true,
  ]);
  assertEquals(parseArgs(["--help"]), "help");
  for (
    const [argv, msg] of [[[], "exactly one model NAME"], [["a", "--bogus"], "unknown option --bogus"], [
      ["a", "--out"],
      "--out needs a value",
    ], [["a", "--retries", "-1"], "--retries must be"]] as const
  ) {
    try {
      parseArgs([...argv]);
      throw new Error(`accepted ${argv}`);
    } catch (e) {
      assertStringIncludes((e as Error).message, msg);
    }
  }
});
