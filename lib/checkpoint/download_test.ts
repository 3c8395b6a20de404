import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { loadCheckpoint, saveCheckpoint, type SaveTensor } from "./checkpoint.ts";
import {
  checkModelName,
  DownloadError,
  downloadModel,
  type DownloadOptions,
  type DownloadProgress,
} from "./download.ts";
import {
  FAKE_TOKEN,
  fakeCommit,
  type FakeHubOptions,
  type FakeRepo,
  gitOid,
  lfsPointer,
  sha256Hex,
  startFakeHub,
} from "../../tests/fake_hub.ts";

const REPO = "test-org/tiny-t5";
const CONFIG = { model_type: "t5", d_model: 8 };
const COMMIT = fakeCommit(REPO);

/** A checkpoint written by our own writer, plus the other files a hub model repository holds. */
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
    const text = (s: string) => new TextEncoder().encode(s);
    files.set("tokenizer_config.json", text('{"model_max_length": 512}'));
    files.set("README.md", text("# tiny-t5\n"));
    files.set("pytorch_model.bin", new Uint8Array(64).fill(1)); // never to be fetched
    return files;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The environment of a test: nothing from the machine's HF_* variables leaks in. */
function env(vars: Record<string, string> = {}): (name: string) => string | undefined {
  return (name) => vars[name];
}

interface Ctx {
  endpoint: string;
  log: string[];
  cache: string;
  opts: DownloadOptions;
}

async function withHub(
  repos: Record<string, FakeRepo>,
  hubOpts: FakeHubOptions,
  fn: (ctx: Ctx) => Promise<void>,
) {
  const hub = startFakeHub(repos, hubOpts);
  const cache = await Deno.makeTempDir({ prefix: "dl_cache_" });
  try {
    await fn({
      endpoint: hub.endpoint,
      log: hub.log,
      cache,
      opts: { cacheDir: cache, endpoint: hub.endpoint, quiet: true, env: env() },
    });
  } finally {
    await hub.close();
    await Deno.remove(cache, { recursive: true });
  }
}

const EXPECTED = [
  { name: "encoder.final_layer_norm.weight", shape: [8] },
  { name: "lm.x", shape: [3000] },
  { name: "shared.weight", shape: [4000] },
];

const contentGets = (log: string[]) => log.filter((l) => /^GET \/(cdn\/|.*\/resolve\/)/.test(l));

Deno.test("downloadModel: lands in the Hugging Face cache in huggingface_hub's layout; rerun fetches nothing", async () => {
  const files = await repoFiles();
  await withHub({ [REPO]: { files } }, {}, async ({ log, cache, opts }) => {
    const events: DownloadProgress[] = [];
    const res = await downloadModel(REPO, { ...opts, onProgress: (p) => events.push(p) });
    const repoDir = `${cache}/models--test-org--tiny-t5`;
    const snap = `${repoDir}/snapshots/${COMMIT}`;
    assertEquals(res.dir, snap);
    assertEquals(res.commit, COMMIT);
    assertEquals(res.files, ["config.json", "model.safetensors", "spiece.model", "tokenizer_config.json"]);
    assertEquals(res.downloaded, res.files);
    assertEquals(await Deno.readTextFile(`${repoDir}/refs/main`), COMMIT); // no newline, as huggingface_hub
    for (const f of res.files) {
      // Each snapshot entry is a relative symlink to the blob named by the hub's etag:
      // the SHA-256 for LFS files, the git blob id for plain ones.
      const body = files.get(f)!;
      const id = f.endsWith(".json") ? gitOid(body) : sha256Hex(body);
      assertEquals(await Deno.readLink(`${snap}/${f}`), `../../blobs/${id}`, f);
      assertEquals(await Deno.readFile(`${repoDir}/blobs/${id}`), body, f);
      assert((await Deno.stat(`${cache}/.locks/models--test-org--tiny-t5/${id}.lock`)).isFile);
    }
    assertEquals([...Deno.readDirSync(`${repoDir}/blobs`)].length, 4); // no .incomplete left
    assert(!log.some((l) => l.includes("pytorch_model.bin") || l.includes("README.md")), log.join("\n"));
    assert(!log.some((l) => l.includes("/raw/")), "LFS pointers are never fetched");
    const last = events.filter((e) => e.file === "model.safetensors").at(-1)!;
    assertEquals([last.done, last.received, last.total], [
      true,
      files.get("model.safetensors")!.byteLength,
      last.received,
    ]);
    const ckpt = await loadCheckpoint(snap, EXPECTED);
    assertEquals(ckpt.config, CONFIG);
    assertEquals(ckpt.tokenizerPath, `${snap}/spiece.model`);

    log.length = 0;
    const again = await downloadModel(REPO, opts);
    assertEquals(again.downloaded, []);
    assertEquals(contentGets(log), [], log.join("\n"));
  });
});

Deno.test("downloadModel: sharded checkpoint via its index, file listing over several pages", async () => {
  const files = await repoFiles(20000);
  assert(files.has("model.safetensors.index.json") && !files.has("model.safetensors"));
  await withHub({ [REPO]: { files } }, { pageSize: 2 }, async ({ log, opts }) => {
    const res = await downloadModel(REPO, opts);
    assertEquals(res.files.filter((f) => f.startsWith("model-")).length, 2);
    assert(log.filter((l) => l.includes("/tree/")).length >= 3, "followed the Link header");
    const ckpt = await loadCheckpoint(res.dir, EXPECTED);
    assertEquals(ckpt.files.length, 2);
  });
});

Deno.test("downloadModel: an interrupted transfer resumes from blobs/<sha256>.incomplete", async () => {
  const files = await repoFiles();
  const weights = files.get("model.safetensors")!;
  const sha = sha256Hex(weights);
  const breakWeights = { breakFirst: new Set(["model.safetensors"]) };
  // No retries: the first run fails and keeps the partial blob; the second run resumes it.
  await withHub({ [REPO]: { files } }, breakWeights, async ({ log, cache, opts }) => {
    await assertRejects(
      () => downloadModel(REPO, { ...opts, retries: 0 }),
      DownloadError,
      "rerun the same command to resume",
    );
    const incomplete = `${cache}/models--test-org--tiny-t5/blobs/${sha}.incomplete`;
    const partSize = (await Deno.stat(incomplete)).size;
    assert(partSize > 0 && partSize < weights.byteLength, `part ${partSize}`);
    const res = await downloadModel(REPO, { ...opts, retries: 0 });
    assert(log.includes(`GET /cdn/${sha} bytes=${partSize}-${weights.byteLength - 1}`), log.join("\n"));
    assertEquals(res.downloaded, ["model.safetensors", "spiece.model", "tokenizer_config.json"]); // not config.json
    assertEquals(await Deno.readFile(`${res.dir}/model.safetensors`), weights);
  });
  // With retries (the default) one run recovers by itself.
  await withHub({ [REPO]: { files } }, breakWeights, async ({ log, opts }) => {
    const messages: string[] = [];
    const res = await downloadModel(REPO, { ...opts, quiet: true, log: (m) => messages.push(m) });
    assert(log.some((l) => new RegExp(`^GET /cdn/${sha} bytes=\\d+-\\d+$`).test(l)), log.join("\n"));
    assertStringIncludes(messages.join("\n"), "resuming");
    assertEquals(await Deno.readFile(`${res.dir}/model.safetensors`), weights);
  });
  // A server that ignores Range sends the whole file again: its first bytes are skipped, not appended.
  await withHub(
    { [REPO]: { files } },
    { ...breakWeights, ignoreRange: new Set(["model.safetensors"]) },
    async (c) => {
      const res = await downloadModel(REPO, c.opts);
      assertEquals(await Deno.readFile(`${res.dir}/model.safetensors`), weights);
    },
  );
});

Deno.test("downloadModel: a hash mismatch is an error and leaves neither blob nor partial file", async () => {
  const files = await repoFiles();
  for (const bad of ["model.safetensors", "config.json"]) {
    await withHub({ [REPO]: { files } }, { corrupt: new Set([bad]) }, async ({ cache, opts }) => {
      const err = await assertRejects(() => downloadModel(REPO, opts), DownloadError);
      const body = files.get(bad)!;
      assertStringIncludes(
        err.message,
        bad === "config.json"
          ? `git blob id mismatch: expected ${gitOid(body)}`
          : `sha256 mismatch: expected ${sha256Hex(body)}`,
      );
      const blobs = [...Deno.readDirSync(`${cache}/models--test-org--tiny-t5/blobs`)].map((e) => e.name);
      const id = bad === "config.json" ? gitOid(body) : sha256Hex(body);
      assert(!blobs.some((n) => n.startsWith(id)), blobs.join(","));
    });
  }
});

Deno.test("downloadModel: a mirror serving LFS pointers is named as such", async () => {
  const files = await repoFiles();
  await withHub({ [REPO]: { files } }, { servePointer: new Set(["model.safetensors"]) }, async ({ opts }) => {
    await assertRejects(
      () => downloadModel(REPO, opts),
      DownloadError,
      "Git LFS pointer instead of the file's content",
    );
  });
  assertStringIncludes(lfsPointer(files.get("model.safetensors")!), "oid sha256:");
});

Deno.test("downloadModel: tokens for private and gated repositories", async () => {
  const files = await repoFiles();
  const repos: Record<string, FakeRepo> = {
    "test-org/private-t5": { files, access: "private" },
    "test-org/gated-t5": { files, access: "gated" },
  };
  await withHub(repos, {}, async ({ log, opts }) => {
    // Without a token: the private repository is invisible (401), the gated one lists but refuses its files.
    for (const name of Object.keys(repos)) {
      const err = await assertRejects(() => downloadModel(name, opts), DownloadError, "HTTP 401");
      assertStringIncludes(err.message, "set HF_TOKEN");
    }
    assert(log.some((l) => l.startsWith("GET /test-org/gated-t5/resolve/")), "the gated listing succeeded");
    // HF_TOKEN from the environment is sent, and works.
    log.length = 0;
    const withToken = { ...opts, env: env({ HF_TOKEN: FAKE_TOKEN }) };
    for (const name of Object.keys(repos)) {
      const res = await downloadModel(name, withToken);
      assertEquals(await Deno.readFile(`${res.dir}/model.safetensors`), files.get("model.safetensors"));
    }
    assert(log.filter((l) => !l.startsWith("GET /cdn/")).every((l) => l.endsWith(" auth")), log.join("\n"));
    // A wrong token is refused with the variable named; a malformed one before any request.
    const wrong = await assertRejects(
      () => downloadModel("test-org/private-t5", { ...opts, env: env({ HF_TOKEN: "hf_wrong" }) }),
      DownloadError,
      "the token from HF_TOKEN was refused",
    );
    assertStringIncludes(wrong.message, "HTTP 401");
    await assertRejects(
      () => downloadModel("test-org/private-t5", { ...opts, env: env({ HF_TOKEN: "abc" }) }),
      DownloadError,
      'the Hugging Face token from HF_TOKEN does not start with "hf_"',
    );
  });
});

Deno.test("downloadModel: revisions (branch, commit id, refs/pr/N) and a renamed repository", async () => {
  const files = await repoFiles();
  const prFiles = new Map(files);
  prFiles.set("config.json", new TextEncoder().encode('{"model_type": "t5", "d_model": 8, "pr": 1}'));
  const prCommit = fakeCommit("pr1");
  const repos = { [REPO]: { files, revisions: { "refs/pr/1": { commit: prCommit, files: prFiles } } } };
  await withHub(repos, { renamed: { "old-org/tiny-t5": REPO } }, async ({ cache, opts }) => {
    const repoDir = `${cache}/models--test-org--tiny-t5`;
    const pr = await downloadModel(REPO, { ...opts, revision: "refs/pr/1" });
    assertEquals(pr.dir, `${repoDir}/snapshots/${prCommit}`);
    assertEquals(await Deno.readTextFile(`${repoDir}/refs/refs/pr/1`), prCommit);
    assertEquals(JSON.parse(await Deno.readTextFile(`${pr.dir}/config.json`)).pr, 1);
    // Pinned to the main commit by id: no ref is written, and the shared blobs are linked, not fetched again.
    const pinned = await downloadModel(REPO, { ...opts, revision: COMMIT });
    assertEquals(pinned.dir, `${repoDir}/snapshots/${COMMIT}`);
    assertEquals([...Deno.readDirSync(`${repoDir}/refs`)].map((e) => e.name), ["refs"]);
    assertEquals(pinned.downloaded, [
      "config.json",
      "model.safetensors",
      "spiece.model",
      "tokenizer_config.json",
    ]);
    await assertRejects(() => downloadModel(REPO, { ...opts, revision: "nope" }), DownloadError, "not found");
    await assertRejects(() => downloadModel(REPO, { ...opts, revision: "../x" }), Error, "invalid revision");
    // A renamed repository redirects; the cache keeps the name it was asked for, as huggingface_hub does.
    const old = await downloadModel("old-org/tiny-t5", opts);
    assertEquals(old.dir, `${cache}/models--old-org--tiny-t5/snapshots/${COMMIT}`);
  });
});

Deno.test("downloadModel: unknown repository, PyTorch-only repository, offline mode", async () => {
  const files = await repoFiles();
  const torchOnly = new Map([["config.json", files.get("config.json")!], [
    "pytorch_model.bin",
    new Uint8Array(8),
  ]]);
  await withHub(
    { [REPO]: { files }, "test-org/torch-t5": { files: torchOnly } },
    {},
    async ({ log, opts }) => {
      // Anonymous: the hub answers 401 for a name it does not have; with a token, 404.
      await assertRejects(() => downloadModel("test-org/nope", opts), DownloadError, "or has no such name");
      await assertRejects(
        () => downloadModel("test-org/nope", { ...opts, token: FAKE_TOKEN }),
        DownloadError,
        "not found on",
      );
      const err = await assertRejects(
        () => downloadModel("test-org/torch-t5", opts),
        DownloadError,
        "(only pytorch_model.bin)",
      );
      assertStringIncludes(err.message, "Only safetensors weights are supported");
      log.length = 0;
      await assertRejects(
        () => downloadModel(REPO, { ...opts, env: env({ HF_HUB_OFFLINE: "1" }) }),
        DownloadError,
        "offline mode is on (HF_HUB_OFFLINE)",
      );
      assertEquals(log, [], "offline: no request at all");
    },
  );
});

Deno.test("downloadModel: --out fills a plain folder, resuming FILE.part", async () => {
  const files = await repoFiles();
  await withHub(
    { [REPO]: { files } },
    { breakFirst: new Set(["model.safetensors"]) },
    async ({ cache, opts }) => {
      const out = `${cache}/plain`;
      await assertRejects(() => downloadModel(REPO, { ...opts, out, retries: 0 }), DownloadError, "resume");
      assert((await Deno.stat(`${out}/model.safetensors.part`)).size > 0);
      const res = await downloadModel(REPO, { ...opts, out, retries: 0 });
      assertEquals(res.dir, out);
      assertEquals([...Deno.readDirSync(out)].map((e) => e.name).sort(), [...res.files].sort());
      assert(!(await Deno.lstat(`${out}/model.safetensors`)).isSymlink);
      await loadCheckpoint(out, EXPECTED);
      assert(
        ![...Deno.readDirSync(cache)].some((e) => e.name.startsWith("models--")),
        "the cache is untouched",
      );
    },
  );
});

Deno.test("checkModelName: hub names only", () => {
  checkModelName("t5-small");
  checkModelName("google/t5-v1_1-base");
  for (const bad of ["../etc", "a/b/c", "", "a/..", "/abs", "a--b", "t5@main"]) {
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
    revision: undefined,
    cacheDir: undefined,
    endpoint: undefined,
    out: undefined,
    retries: undefined,
    quiet: false,
  });
  const a = parseArgs([
    "google/t5-v1_1-base",
    "--revision",
    "refs/pr/1",
    "--cache-dir=/c",
    "--endpoint=http://m",
    "--retries",
    "0",
    "--quiet",
  ]);
  assert(a !== "help");
  assertEquals([a.name, a.revision, a.cacheDir, a.endpoint, a.retries, a.quiet], [
    "google/t5-v1_1-base",
    "refs/pr/1",
    "/c",
    "http://m",
    0,
    true,
  ]);
  assertEquals(parseArgs(["--help"]), "help");
  for (
    const [argv, msg] of [
      [[], "exactly one model NAME"],
      [["a", "--bogus"], "unknown option --bogus"],
      [["a", "--data", "x"], "unknown option --data"],
      [["a", "--out"], "--out needs a value"],
      [["a", "--retries", "-1"], "--retries must be"],
    ] as const
  ) {
    try {
      parseArgs([...argv]);
      throw new Error(`accepted ${argv}`);
    } catch (e) {
      assertStringIncludes((e as Error).message, msg);
    }
  }
});
