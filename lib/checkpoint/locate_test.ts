import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { saveCheckpoint, type SaveTensor } from "./checkpoint.ts";
import { cachedCommit, checkRevision, linkSnapshotFile, writeRef } from "./hf_cache.ts";
import { checkpointStatus, locateModel, type LocateOptions, parseModelRef } from "./locate.ts";
import { DownloadError } from "./transfer.ts";
import { fakeCommit, startFakeHub } from "../../tests/fake_hub.ts";
import { readFolder, writeCachedModel } from "../../tests/hf_cache_fixture.ts";

const NAME = "test-org/tiny-t5";
const C_OLD = fakeCommit("old"), C_MAIN = fakeCommit(NAME); // fake_hub's main commit of NAME

async function checkpointFiles(tag: number): Promise<Map<string, Uint8Array>> {
  const dir = await Deno.makeTempDir({ prefix: "loc_src_" });
  try {
    const t: SaveTensor = { shape: [4], data: Float32Array.of(tag, 2, 3, 4) };
    await saveCheckpoint(dir, new Map([["shared.weight", t]]), { model_type: "t5", tag });
    return await readFolder(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A temporary cache and data directory; the machine's own HF_* variables never leak in. */
async function withDirs(fn: (cache: string, data: string, base: LocateOptions) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "loc_" });
  try {
    const base: LocateOptions = {
      cacheDir: `${root}/hub`,
      dataDir: `${root}/data`,
      quiet: true,
      env: () => undefined,
      endpoint: "http://127.0.0.1:9", // nothing listens: a test that reaches it fails loudly
    };
    await fn(`${root}/hub`, `${root}/data`, base);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("cache lookup: refs -> snapshot, a commit id directly, nothing substituted", async () => {
  await withDirs(async (cache) => {
    const files = await checkpointFiles(1);
    await writeCachedModel(cache, NAME, [
      { commit: C_OLD, files },
      { commit: C_MAIN, files, refs: ["main", "v1.0"] },
    ]);
    assertEquals(await cachedCommit(cache, NAME), C_MAIN);
    assertEquals(await cachedCommit(cache, NAME, "v1.0"), C_MAIN);
    assertEquals(await cachedCommit(cache, NAME, C_OLD), C_OLD);
    assertEquals(await cachedCommit(cache, NAME, "dev"), undefined);
    assertEquals(await cachedCommit(cache, NAME, fakeCommit("never")), undefined);
    assertEquals(await cachedCommit(cache, "test-org/other"), undefined);
    for (const bad of ["../x", "/abs", "a//b", ""]) {
      assertThrows(() => checkRevision(bad), Error, "invalid revision");
    }
  });
});

Deno.test("cache writing: refs and nested snapshot links as huggingface_hub writes them", async () => {
  await withDirs(async (cache) => {
    const repo = `${cache}/models--${NAME.replace("/", "--")}`;
    await writeRef(cache, NAME, "refs/pr/3", C_OLD);
    assertEquals(await Deno.readTextFile(`${repo}/refs/refs/pr/3`), C_OLD);
    await writeRef(cache, NAME, C_MAIN, C_MAIN); // a commit id needs no ref
    assertEquals([...Deno.readDirSync(`${repo}/refs`)].map((e) => e.name), ["refs"]);
    await Deno.mkdir(`${repo}/blobs`, { recursive: true });
    await Deno.writeTextFile(`${repo}/blobs/abc`, "{}");
    const pointer = await linkSnapshotFile(cache, NAME, C_OLD, "onnx/sub/x.json", "abc");
    assertEquals(await Deno.readLink(pointer), "../../../../blobs/abc");
    assertEquals(await Deno.readTextFile(pointer), "{}");
  });
});

Deno.test("locateModel: the Hugging Face cache first, offline, without a request", async () => {
  await withDirs(async (cache, data, base) => {
    const cached = await checkpointFiles(1);
    await writeCachedModel(cache, NAME, [
      { commit: C_OLD, files: await checkpointFiles(0) },
      { commit: C_MAIN, files: cached, refs: ["main"] },
    ]);
    // The same name in data/models loses against the cache.
    await saveCheckpoint(`${data}/models/${NAME}`, new Map(), { model_type: "t5" });
    const offline = { ...base, env: (n: string) => (n === "HF_HUB_OFFLINE" ? "1" : undefined) };
    const found = await locateModel(NAME, offline);
    assertEquals(found, {
      name: NAME,
      dir: `${cache}/models--test-org--tiny-t5/snapshots/${C_MAIN}`,
      source: "cache",
      commit: C_MAIN,
    });
    const pinned = await locateModel(NAME, { ...offline, revision: C_OLD });
    assertEquals([pinned.source, pinned.commit], ["cache", C_OLD]);
    assertEquals(parseModelRef(`${NAME}@${C_OLD}`), { name: NAME, revision: C_OLD });
    assertEquals(parseModelRef("t5-small@refs/pr/1"), { name: "t5-small", revision: "refs/pr/1" });
    assertThrows(() => parseModelRef("t5-small@"), DownloadError, "NAME@REVISION");
  });
});

Deno.test("locateModel: data/models when the cache lacks it; offline failures say where it looked", async () => {
  await withDirs(async (cache, data, base) => {
    const offline = { ...base, offline: true };
    await saveCheckpoint(`${data}/models/${NAME}`, new Map(), { model_type: "t5" });
    assertEquals(await locateModel(NAME, offline), {
      name: NAME,
      dir: `${data}/models/${NAME}`,
      source: "data",
    });
    // A pinned revision never takes the unversioned data/models folder.
    const err = await assertRejects(() => locateModel(NAME, { ...offline, revision: "dev" }), DownloadError);
    assertStringIncludes(err.message, "not available offline (HF_HUB_OFFLINE is set)");
    assertStringIncludes(err.message, `models--test-org--tiny-t5 (no snapshot for revision dev)`);
    assert(!err.message.includes(`${data}/models`), err.message);

    // A cache that transformers filled with PyTorch weights only.
    const torch = new Map([["config.json", new TextEncoder().encode("{}")], [
      "pytorch_model.bin",
      new Uint8Array(8),
    ]]);
    await writeCachedModel(cache, "t5-small", [{ commit: C_OLD, files: torch, refs: ["main"] }]);
    const torchErr = await assertRejects(() => locateModel("t5-small", offline), DownloadError);
    assertStringIncludes(torchErr.message, "only PyTorch .bin weights, which this project cannot read");
    assertStringIncludes(torchErr.message, "Unset HF_HUB_OFFLINE");
    assertEquals((await checkpointStatus(`${cache}/models--t5-small/snapshots/${C_OLD}`)).torchOnly, true);
    await assertRejects(
      () => locateModel("t5-small", { ...base, download: false }),
      DownloadError,
      "deno task download-model",
    );
  });
});

Deno.test("locateModel: online, a partly cached snapshot gets only its missing files", async () => {
  const files = await checkpointFiles(7);
  const hub = startFakeHub({ [NAME]: { files } });
  try {
    await withDirs(async (cache, _data, base) => {
      // What `AutoConfig.from_pretrained` leaves behind: the config alone.
      await writeCachedModel(cache, NAME, [
        { commit: C_MAIN, files: new Map([["config.json", files.get("config.json")!]]), refs: ["main"] },
      ]);
      const status = await checkpointStatus(`${cache}/models--test-org--tiny-t5/snapshots/${C_MAIN}`);
      assertEquals([status.complete, status.missing], [false, ["model.safetensors"]]);
      const found = await locateModel(NAME, { ...base, endpoint: hub.endpoint });
      assertEquals([found.source, found.commit], ["download", C_MAIN]);
      assertEquals(await Deno.readFile(`${found.dir}/model.safetensors`), files.get("model.safetensors"));
      assert(!hub.log.some((l) => l.includes("/resolve/") && l.includes("config.json")), hub.log.join("\n"));
      // Now complete: the next lookup asks nobody.
      hub.log.length = 0;
      assertEquals((await locateModel(NAME, { ...base, endpoint: hub.endpoint })).source, "cache");
      assertEquals(hub.log, []);
    });
  } finally {
    await hub.close();
  }
});
