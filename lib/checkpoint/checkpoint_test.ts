import { ignoreWithoutFixtures } from "../../tests/support.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { fixturesDir } from "../config/paths.ts";
import {
  CheckpointError,
  type ExpectedTensor,
  loadCheckpoint,
  planShards,
  readShardIndex,
  saveCheckpoint,
  type SaveTensor,
  WEIGHTS_FILE,
  WEIGHTS_INDEX_FILE,
} from "./checkpoint.ts";
import {
  readSafetensorsHeader,
  SafetensorsError,
  type TensorInput,
  writeSafetensorsFile,
} from "./safetensors.ts";

const CONFIG = { model_type: "t5", d_model: 4, vocab_size: 6 };

/** A small T5-like parameter set with deterministic values. */
function params(): Map<string, SaveTensor> {
  const shapes: [string, number[]][] = [
    ["shared.weight", [6, 4]],
    ["encoder.block.0.layer.0.SelfAttention.q.weight", [4, 4]],
    ["encoder.block.0.layer.0.layer_norm.weight", [4]],
    ["encoder.final_layer_norm.weight", [4]],
    ["decoder.final_layer_norm.weight", [4]],
  ];
  let seed = 1;
  const m = new Map<string, SaveTensor>();
  for (const [name, shape] of shapes) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(seed++) * 3.7;
    m.set(name, { shape, data });
  }
  return m;
}

function expectedOf(m: Map<string, SaveTensor>): ExpectedTensor[] {
  return [...m].map(([name, t]) => ({ name, shape: t.shape }));
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ckpt_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes a checkpoint directory by hand (any dtypes, any names). */
async function writeDir(dir: string, tensors: Record<string, TensorInput>, config: unknown = CONFIG) {
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  await writeSafetensorsFile(`${dir}/${WEIGHTS_FILE}`, tensors, { format: "pt" });
}

function f32(shape: number[], fill = 0.5): TensorInput {
  return { dtype: "F32", shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) };
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

Deno.test("saveCheckpoint/loadCheckpoint round trip: identical tensor bytes, config, tokenizer", async () => {
  await withDir(async (dir) => {
    const m = params();
    await Deno.writeFile(`${dir}/spm`, new Uint8Array([1, 2, 3]));
    const out = `${dir}/ckpt`;
    const { files } = await saveCheckpoint(out, m, CONFIG, { tokenizer: `${dir}/spm` });
    assertEquals(files.map((f) => f.slice(out.length + 1)), [WEIGHTS_FILE, "config.json", "spiece.model"]);
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assertEquals(names, ["config.json", WEIGHTS_FILE, "spiece.model"]); // no temporary files left
    const got = await loadCheckpoint(out, expectedOf(m));
    assertEquals(got.config, CONFIG);
    assertEquals(got.tokenizerPath, `${out}/spiece.model`);
    assertEquals(got.tensors.size, m.size);
    for (const [name, t] of m) assertEquals(bytesOf(got.tensors.get(name)!), bytesOf(t.data), name);
    assertEquals(got.dtypes.get("shared.weight"), "F32");
    // Without an expected list every float tensor is loaded.
    assertEquals((await loadCheckpoint(out, null)).tensors.size, m.size);
  });
});

Deno.test("sharded checkpoints: index written and read, stale layouts cleaned up", async () => {
  await withDir(async (dir) => {
    const m = params();
    await saveCheckpoint(dir, m, CONFIG, { maxShardSize: 100 });
    const index = await readShardIndex(`${dir}/${WEIGHTS_INDEX_FILE}`);
    const shards = [...new Set(Object.values(index.weight_map))].sort();
    assert(shards.length > 1, `expected several shards, got ${shards}`);
    assertEquals(shards[0], `model-00001-of-${String(shards.length).padStart(5, "0")}.safetensors`);
    assertEquals(index.metadata.total_size, [...m.values()].reduce((a, t) => a + 4 * t.data.length, 0));
    for (const s of shards) assert((await Deno.stat(`${dir}/${s}`)).size <= 100 + 512);
    const got = await loadCheckpoint(dir, expectedOf(m));
    for (const [name, t] of m) assertEquals(bytesOf(got.tensors.get(name)!), bytesOf(t.data), name);
    assertEquals(got.files.length, shards.length);

    // Saving again as one file removes the index and the shards (they would confuse loaders).
    await saveCheckpoint(dir, m, CONFIG);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["config.json", WEIGHTS_FILE]);

    // A missing shard is named.
    await saveCheckpoint(dir, m, CONFIG, { maxShardSize: 100 });
    await Deno.remove(`${dir}/${shards[1]}`);
    await assertRejects(
      () => loadCheckpoint(dir, expectedOf(m)),
      CheckpointError,
      `missing from ${dir}: ${shards[1]}`,
    );
  });
});

Deno.test("planShards: greedy by name, oversized tensor alone", () => {
  assertEquals(planShards([["c", 5], ["a", 4], ["b", 4], ["d", 20]], 10), [["a", "b"], ["c"], ["d"]]);
  assertEquals(planShards([], 10), []);
});

Deno.test("BF16 storage: values rounded once, loaded as float32", async () => {
  await withDir(async (dir) => {
    const m = params();
    await saveCheckpoint(dir, m, CONFIG, { dtype: "BF16" });
    const got = await loadCheckpoint(dir, expectedOf(m));
    assertEquals(got.dtypes.get("shared.weight"), "BF16");
    const a = got.tensors.get("shared.weight")!, b = m.get("shared.weight")!.data;
    for (let i = 0; i < a.length; i++) assert(Math.abs(a[i] - b[i]) <= Math.abs(b[i]) * 2 ** -8);
  });
});

Deno.test({
  name: "reference fixture t5-tiny-v1_0 loads with its named_parameters",
  ignore: ignoreWithoutFixtures("t5/t5-tiny-v1_0/outputs.json"),
}, async () => {
  const dir = `${fixturesDir()}/t5/t5-tiny-v1_0`;
  const outputs = JSON.parse(await Deno.readTextFile(`${dir}/outputs.json`));
  const expected: ExpectedTensor[] = outputs.named_parameters.map((p: ExpectedTensor) => ({
    name: p.name,
    shape: p.shape,
  }));
  const got = await loadCheckpoint(dir, expected);
  assertEquals(got.tensors.size, expected.length);
  assertEquals(got.config.feed_forward_proj, "relu");
  assertEquals(got.tensors.get("shared.weight")!.length, 32128 * 64);
});

Deno.test("missing tensors are all named in one error", async () => {
  await withDir(async (dir) => {
    await writeDir(dir, { "shared.weight": f32([6, 4]) });
    const err = await assertRejects(
      () =>
        loadCheckpoint(dir, [
          { name: "shared.weight", shape: [6, 4] },
          { name: "encoder.final_layer_norm.weight", shape: [4] },
          { name: "decoder.final_layer_norm.weight", shape: [4] },
        ]),
      CheckpointError,
      "missing 2 tensor(s): encoder.final_layer_norm.weight, decoder.final_layer_norm.weight",
    );
    assertStringIncludes(err.message, dir);
  });
});

Deno.test("shape mismatch names the tensor, expected and stored shapes", async () => {
  await withDir(async (dir) => {
    await writeDir(dir, { "shared.weight": f32([6, 4]), "enc.w": f32([4, 3]) });
    await assertRejects(
      () => loadCheckpoint(dir, [{ name: "shared.weight", shape: [6, 4] }, { name: "enc.w", shape: [4, 4] }]),
      CheckpointError,
      "enc.w: expected [4, 4], got [4, 3]",
    );
  });
});

Deno.test("non-float dtype for a weight is rejected with name and dtype", async () => {
  await withDir(async (dir) => {
    await writeDir(dir, { "w": { dtype: "I32", shape: [2], data: new Int32Array([1, 2]) } });
    await assertRejects(
      () => loadCheckpoint(dir, [{ name: "w", shape: [2] }]),
      CheckpointError,
      "non-float dtype for 1 tensor(s):\n    w: I32",
    );
  });
});

Deno.test("unexpected tensors: error by default, warning or silence on request", async () => {
  await withDir(async (dir) => {
    await writeDir(dir, { "w": f32([2]), "extra.a": f32([1]), "extra.b": f32([1]) });
    const exp = [{ name: "w", shape: [2] }];
    await assertRejects(
      () => loadCheckpoint(dir, exp),
      CheckpointError,
      "unexpected 2 tensor(s) not used by the model: extra.a, extra.b",
    );
    const warnings: string[] = [];
    const got = await loadCheckpoint(dir, exp, { unexpected: "warn", warn: (m) => warnings.push(m) });
    assertEquals([...got.tensors.keys()], ["w"]);
    assertEquals(warnings.length, 1);
    assertStringIncludes(warnings[0], "extra.a, extra.b");
    await loadCheckpoint(dir, exp, { unexpected: "ignore", warn: () => warnings.push("no") });
    assertEquals(warnings.length, 1);
  });
});

Deno.test("Hugging Face tied duplicates of shared.weight are accepted; shared.weight may come from them", async () => {
  await withDir(async (dir) => {
    const exp = [{ name: "shared.weight", shape: [6, 4] }, { name: "w", shape: [2] }];
    await writeDir(dir, {
      "shared.weight": f32([6, 4], 1),
      "encoder.embed_tokens.weight": f32([6, 4], 1),
      "decoder.embed_tokens.weight": f32([6, 4], 1),
      "lm_head.weight": f32([6, 4], 1),
      "w": f32([2]),
    });
    const got = await loadCheckpoint(dir, exp);
    assertEquals(got.aliased.size, 0);
    assertEquals(got.tensors.size, 2);

    // Untied model: an unexpected lm_head.weight is a real mismatch.
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...CONFIG, tie_word_embeddings: false }));
    await assertRejects(
      () => loadCheckpoint(dir, exp),
      CheckpointError,
      "not used by the model: lm_head.weight",
    );

    // The conversion bot may keep only encoder.embed_tokens.weight (safetensors issue #520).
    await writeDir(dir, { "encoder.embed_tokens.weight": f32([6, 4], 2), "w": f32([2]) });
    const alias = await loadCheckpoint(dir, exp);
    assertEquals(alias.aliased.get("shared.weight"), "encoder.embed_tokens.weight");
    assertEquals(alias.tensors.get("shared.weight")![0], 2);

    // A model with its own lm_head under a tied config gets the shared embedding.
    await writeDir(dir, { "shared.weight": f32([6, 4], 3), "w": f32([2]) });
    const head = await loadCheckpoint(dir, [...exp, { name: "lm_head.weight", shape: [6, 4] }]);
    assertEquals(head.aliased.get("lm_head.weight"), "shared.weight");
    assertEquals(head.tensors.get("lm_head.weight")![5], 3);

    // A duplicate with a different shape is not a tied copy.
    await writeDir(dir, {
      "shared.weight": f32([6, 4]),
      "decoder.embed_tokens.weight": f32([5, 4]),
      "w": f32([2]),
    });
    await assertRejects(() => loadCheckpoint(dir, exp), CheckpointError, "decoder.embed_tokens.weight");
  });
});

Deno.test("damaged weight files: truncated, header length beyond the file, bad JSON", async () => {
  await withDir(async (dir) => {
    await writeDir(dir, { "w": f32([64]) });
    const path = `${dir}/${WEIGHTS_FILE}`;
    const bytes = await Deno.readFile(path);
    const exp = [{ name: "w", shape: [64] }];

    await Deno.writeFile(path, bytes.subarray(0, bytes.byteLength - 10));
    await assertRejects(
      () => loadCheckpoint(dir, exp),
      SafetensorsError,
      `${path}: truncated: tensor "w" ends at byte`,
    );

    const long = bytes.slice();
    new DataView(long.buffer).setBigUint64(0, 1_000_000n, true);
    await Deno.writeFile(path, long);
    await assertRejects(
      () => loadCheckpoint(dir, exp),
      SafetensorsError,
      `${path}: header length 1000000 runs past the end of the file`,
    );

    const bad = bytes.slice();
    bad[8] = 0x21; // "!" instead of "{"
    await Deno.writeFile(path, bad);
    await assertRejects(
      () => loadCheckpoint(dir, exp),
      SafetensorsError,
      `${path}: header is not valid JSON`,
    );

    await Deno.writeFile(path, bytes.subarray(0, 3));
    await assertRejects(() => loadCheckpoint(dir, exp), SafetensorsError, `${path}: truncated: 3 bytes`);
  });
});

Deno.test("directory problems: missing dir, missing config, PyTorch-only weights", async () => {
  await withDir(async (dir) => {
    await assertRejects(
      () => loadCheckpoint(`${dir}/nope`, []),
      CheckpointError,
      "checkpoint directory not found",
    );
    await assertRejects(() => loadCheckpoint(dir, []), CheckpointError, "config.json: missing");
    await Deno.writeTextFile(`${dir}/config.json`, "{oops");
    await assertRejects(() => loadCheckpoint(dir, []), CheckpointError, "config.json: not valid JSON");
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(CONFIG));
    await assertRejects(() => loadCheckpoint(dir, []), CheckpointError, "deno task download-model");
    await Deno.writeFile(`${dir}/pytorch_model.bin`, new Uint8Array(16));
    const err = await assertRejects(
      () => loadCheckpoint(dir, []),
      CheckpointError,
      "found pytorch_model.bin",
    );
    assertStringIncludes(err.message, "Only safetensors weights are supported");
    assertStringIncludes(err.message, "safe_serialization=True");
  });
});

Deno.test("a killed save leaves the previous checkpoint or the new one, never a torn file", async () => {
  await withDir(async (dir) => {
    const small = new Map([["w", { shape: [4], data: new Float32Array([1, 2, 3, 4]) }]]);
    await saveCheckpoint(dir, small, CONFIG);
    // A child process overwrites it with ~24 MB and is killed part-way.
    const script = `${dir}/save.ts`;
    await Deno.writeTextFile(
      script,
      `import { saveCheckpoint } from ${
        JSON.stringify(new URL("./checkpoint.ts", import.meta.url).href)
      };\n` +
        `const big = new Map([["w", { shape: [6_000_000], data: new Float32Array(6_000_000).fill(7) }]]);\n` +
        `console.log("start");\n` +
        `for (let i = 0; i < 20; i++) await saveCheckpoint(${JSON.stringify(dir)}, big, { i });\n`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", script],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    await reader.read(); // "start"
    // Kill while a temporary weights file exists, i.e. in the middle of writing one.
    const writing = () =>
      [...Deno.readDirSync(dir)].some((e) => e.name.startsWith(".model.safetensors.tmp-"));
    for (let i = 0; i < 2000 && !writing(); i++) await new Promise((r) => setTimeout(r, 5));
    child.kill("SIGKILL");
    await reader.cancel();
    await child.status;
    // (The gap between two files is microseconds against ~50 ms of writing each, so a temporary
    // file of some kind is left behind.)
    const torn = [...Deno.readDirSync(dir)].some((e) => e.name.includes(".tmp-"));
    assert(torn, "the child was not killed mid-write");
    const h = await readSafetensorsHeader(`${dir}/${WEIGHTS_FILE}`); // validates sizes against the header
    const n = h.entries.get("w")!.shape[0];
    assert(n === 4 || n === 6_000_000, `unexpected shape ${n}`);
    const got = await loadCheckpoint(dir, [{ name: "w", shape: [n] }]);
    assertEquals(got.tensors.get("w")![0], n === 4 ? 1 : 7);
  });
});
