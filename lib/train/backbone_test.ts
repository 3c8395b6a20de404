import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { CheckpointError, saveCheckpoint, type SaveTensor } from "../checkpoint/checkpoint.ts";
import { REPO_ROOT } from "../config/paths.ts";
import { describeError } from "../config/cli.ts";
import { parseT5Config, T5ConfigError, t5ParameterCount, t5ParameterShapes } from "../t5/config.ts";
import { SentencePieceModelError } from "../tokenizer/mod.ts";
import { backboneDir, checkFinite, checkVocabulary, loadBackbone } from "./backbone.ts";
import { fakeCommit, startFakeHub } from "../../tests/fake_hub.ts";
import { readFolder, writeCachedModel } from "../../tests/hf_cache_fixture.ts";

await initBackend("cpu", { quiet: true });

/** A T5 small enough for a test, in transformers' config.json vocabulary. */
const TINY = {
  model_type: "t5",
  architectures: ["T5ForConditionalGeneration"],
  vocab_size: 24960, // every id of the real tokenizer below has a row
  d_model: 8,
  d_kv: 4,
  d_ff: 16,
  num_layers: 1,
  num_decoder_layers: 1,
  num_heads: 2,
  relative_attention_num_buckets: 8,
};
const COMMIT = fakeCommit("t5-small tiny");

/** The files of a tiny T5 checkpoint as a hub repository holds them, with a real SentencePiece model. */
async function tinyT5Files(): Promise<Map<string, Uint8Array>> {
  const dir = await Deno.makeTempDir({ prefix: "bb_src_" });
  try {
    const tensors = new Map<string, SaveTensor>();
    let seed = 1;
    for (const { name, shape } of t5ParameterShapes(parseT5Config(TINY))) {
      const n = shape.reduce((a, b) => a * b, 1);
      tensors.set(name, {
        shape,
        data: Float32Array.from(
          { length: n },
          () => ((seed = (seed * 48271) % 2147483647) / 2147483647) - 0.5,
        ),
      });
    }
    await saveCheckpoint(dir, tensors, TINY, {
      tokenizer: `${REPO_ROOT}/data/models/fishdip-t5-mini/spiece.model`,
    });
    return await readFolder(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadBackbone: t5-small from a hand-made Hugging Face cache, offline, no request", async () => {
  const home = await Deno.makeTempDir({ prefix: "bb_hf_home_" });
  const hub = startFakeHub({}); // would log any request
  try {
    await writeCachedModel(`${home}/hub`, "t5-small", [{
      commit: COMMIT,
      files: await tinyT5Files(),
      refs: ["main"],
    }]);
    const vars: Record<string, string> = { HF_HOME: home, HF_HUB_OFFLINE: "1", HF_ENDPOINT: hub.endpoint };
    const b = await loadBackbone("t5-small", { env: (n) => vars[n], dataDir: `${home}/no-data` });
    const snapshot = `${home}/hub/models--t5-small/snapshots/${COMMIT}`;
    assertEquals([b.id, b.dir], ["t5-small", snapshot]);
    assertEquals(b.model.config.d_model, 8);
    assertEquals(
      [...b.model.params.values()].reduce((n, p) => n + p.size, 0),
      t5ParameterCount(parseT5Config(TINY)),
    );
    assert(
      b.tokenizer.encode("hello world").length > 0,
      "the tokenizer came from the snapshot's spiece.model",
    );
    assertEquals(hub.log, []);
    // Pinned to a commit the cache does not have: offline, that is an error naming the cache.
    const err = await assertRejects(
      () =>
        loadBackbone(`t5-small@${fakeCommit("other")}`, { env: (n) => vars[n], dataDir: `${home}/no-data` }),
      Error,
      "not available offline",
    );
    assertStringIncludes(err.message, `${home}/hub/models--t5-small`);
  } finally {
    await hub.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("loadBackbone: HF_HUB_OFFLINE=1 in the real environment of a fresh process (what finetune --backbone does)", async () => {
  const home = await Deno.makeTempDir({ prefix: "bb_hf_proc_" });
  const hub = startFakeHub({});
  try {
    await writeCachedModel(`${home}/hub`, "t5-small", [{
      commit: COMMIT,
      files: await tinyT5Files(),
      refs: ["main"],
    }]);
    const keep = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]
      .map((k) => [k, Deno.env.get(k)] as const)
      .filter((kv): kv is readonly [string, string] => kv[1] !== undefined);
    const code = `
      import { initBackend } from "./lib/backend/mod.ts";
      import { loadBackbone } from "./lib/train/backbone.ts";
      await initBackend("cpu", { quiet: true });
      const b = await loadBackbone("t5-small");
      console.log(JSON.stringify({ dir: b.dir, dModel: b.model.config.d_model }));`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      cwd: REPO_ROOT,
      clearEnv: true,
      env: { ...Object.fromEntries(keep), HF_HOME: home, HF_HUB_OFFLINE: "1", HF_ENDPOINT: hub.endpoint },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert(out.success, stderr);
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
    assertEquals(JSON.parse(line), { dir: `${home}/hub/models--t5-small/snapshots/${COMMIT}`, dModel: 8 });
    assertEquals(hub.log, [], "no request reached the hub");
  } finally {
    await hub.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("loadBackbone: downloads a missing model into the cache, then finds it there", async () => {
  const files = await tinyT5Files();
  const hub = startFakeHub({ "test-org/tiny-t5": { files } });
  const root = await Deno.makeTempDir({ prefix: "bb_dl_" });
  try {
    const opts = {
      cacheDir: `${root}/hub`,
      endpoint: hub.endpoint,
      env: () => undefined,
      quiet: true,
      dataDir: `${root}/data`,
    };
    const first = await loadBackbone("test-org/tiny-t5", opts);
    const commit = fakeCommit("test-org/tiny-t5");
    assertEquals(first.dir, `${root}/hub/models--test-org--tiny-t5/snapshots/${commit}`);
    assertEquals(await Deno.readTextFile(`${root}/hub/models--test-org--tiny-t5/refs/main`), commit);
    assert(hub.log.some((l) => l.startsWith("GET /cdn/")));
    hub.log.length = 0;
    const second = await loadBackbone("test-org/tiny-t5", opts);
    assertEquals([second.dir, hub.log], [first.dir, []]);
  } finally {
    await hub.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("backboneDir: folders as they are, names through the cache", async () => {
  const own = `${REPO_ROOT}/data/models/fishdip-t5-mini`;
  const offline = { offline: true, cacheDir: "/nonexistent-hf-cache", env: () => undefined };
  assertEquals(await backboneDir(own, offline), own);
  // The project's own backbone is found in data/models when the cache does not have it.
  assertEquals(await backboneDir("fishdip-t5-mini", offline), own);
  await assertRejects(() => backboneDir("./no/such/folder", offline), Error, "backbone folder not found");
  await assertRejects(() => backboneDir("a/b/c", offline), Error, "backbone folder not found");
  await assertRejects(
    () => backboneDir("t5-small@refs/pr/1", offline),
    Error,
    "no snapshot for revision refs/pr/1",
  );
});

Deno.test("loadBackbone's checks: a non-finite weight and a tokenizer larger than the embedding are named", () => {
  const ok = new Map([["a", Float32Array.of(1, 2)], ["b", Float32Array.of(0)]]);
  checkFinite("dir", ok);
  const bad = new Map([...ok, ["encoder.block.0.layer.0.SelfAttention.q.weight", Float32Array.of(0, NaN)]]);
  assertThrows(
    () => checkFinite("dir", bad),
    CheckpointError,
    'tensor "encoder.block.0.layer.0.SelfAttention.q.weight" holds NaN',
  );
  checkVocabulary("dir", 24960, "spiece.model", 24836);
  assertThrows(
    () => checkVocabulary("dir", 24960, "t5/spiece.model", 32100),
    CheckpointError,
    "32100 ids but the model",
  );
});

/** A backbone folder holding only `files` (name -> text or bytes). */
async function folderWith(files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "bb_inputs_" });
  for (const [name, content] of Object.entries(files)) {
    if (typeof content === "string") await Deno.writeTextFile(`${dir}/${name}`, content);
    else await Deno.writeFile(`${dir}/${name}`, content);
  }
  return dir;
}

Deno.test("loadBackbone: a config.json that is not JSON, or lacks or mistypes a field, is named with the field", async () => {
  const dirs: string[] = [];
  const load = async (files: Record<string, string | Uint8Array>) => {
    const dir = await folderWith(files);
    dirs.push(dir);
    return { dir, load: () => loadBackbone(dir, { dataDir: `${dir}/no-data` }) };
  };
  try {
    let c = await load({ "config.json": '{"d_model": 8,' });
    const e = await assertRejects(c.load, T5ConfigError, `${c.dir}/config.json is not valid JSON`);
    assertStringIncludes(describeError(e).text, "what to do: restore the folder's config.json");
    c = await load({ "config.json": "[1, 2]" });
    await assertRejects(c.load, T5ConfigError, `${c.dir}/config.json is not a JSON object`);
    for (const field of ["d_model", "num_layers", "num_heads", "d_kv", "d_ff", "vocab_size"]) {
      c = await load({ "config.json": JSON.stringify({ ...TINY, [field]: undefined }) });
      await assertRejects(c.load, T5ConfigError, `${c.dir}/config.json lacks the required field "${field}"`);
    }
    c = await load({ "config.json": JSON.stringify({ ...TINY, d_ff: "16" }) });
    await assertRejects(
      c.load,
      T5ConfigError,
      `${c.dir}/config.json: config field "d_ff" must be an integer`,
    );
    c = await load({});
    await assertRejects(c.load, CheckpointError, `${c.dir} has no config.json`);
  } finally {
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("loadBackbone: no silent stand-in vocabulary; a damaged spiece.model is named", async () => {
  const own = await Deno.readFile(`${REPO_ROOT}/data/models/fishdip-t5-mini/spiece.model`);
  // A data directory that does have a T5 vocabulary, so a fallback would have been possible.
  const data = await folderWith({});
  await Deno.mkdir(`${data}/t5`);
  await Deno.writeFile(`${data}/t5/spiece.model`, own);
  const dirs = [data];
  try {
    const noVocab = await folderWith({ "config.json": JSON.stringify(TINY) });
    dirs.push(noVocab);
    await assertRejects(
      () => loadBackbone(noVocab, { dataDir: data }),
      CheckpointError,
      `${noVocab} has no spiece.model, and its vocabulary (24960 embedding rows) is not T5's (32128)`,
    );
    // Truncated, and garbage (a Git LFS pointer where the file should be).
    for (const bytes of [own.subarray(0, 4096 * 10), new TextEncoder().encode("version https://git-lfs")]) {
      const damaged = await folderWith({ "config.json": JSON.stringify(TINY), "spiece.model": bytes });
      dirs.push(damaged);
      await assertRejects(
        () => loadBackbone(damaged, { dataDir: data }),
        SentencePieceModelError,
        `not a SentencePiece model: ${damaged}/spiece.model: `,
      );
    }
    // A model of T5's size still borrows the data directory's T5 vocabulary.
    const t5Sized = await Deno.makeTempDir({ prefix: "bb_t5_sized_" });
    dirs.push(t5Sized);
    const config = { ...TINY, vocab_size: 32128 };
    const tensors = new Map<string, SaveTensor>();
    for (const { name, shape } of t5ParameterShapes(parseT5Config(config))) {
      const n = shape.reduce((a, b) => a * b, 1);
      tensors.set(name, { shape, data: Float32Array.from({ length: n }, (_, i) => ((i % 17) - 8) / 100) });
    }
    await saveCheckpoint(t5Sized, tensors, config);
    const b = await loadBackbone(t5Sized, { dataDir: data, quiet: true });
    assertEquals(b.tokenizer.pieceCount, 24736);
    b.model.dispose();
  } finally {
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
});
