// Tests of the web app's parts that run without a browser (the session against the library's
// trainer, the server, the text helpers, the delta bytes), and the browser check itself where
// Debian's chromium-headless-shell is installed (FISHDIP_WEB_TESTS=0 skips it: it takes minutes).
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../lib/backend/mod.ts";
import { methodConfig } from "../lib/methods/registry.ts";
import { fineTune } from "../lib/train/fine_tune.ts";
import { loadBackbone } from "../lib/train/backbone.ts";
import { loadFineTuned } from "../lib/train/tuned_model.ts";
import { exportT5Weights } from "../lib/t5/model.ts";
import { deltaBytes, readDeltaFile, writeDelta } from "../lib/train/delta.ts";
import { loadBackboneBytes, maskByLayer, parseUserText, Session, tokenizeSentence } from "../web/session.ts";
import { haveChromium } from "./web_cdp.ts";
import { CHECK_RUN, fallbackCheck, LOSS_RTOL, webCheck } from "./web_check.ts";
import { WEB_BACKBONE } from "./web_build.ts";
import { serveFile } from "./web_serve.ts";

const SAMPLE = new URL("../tests/your_data/", import.meta.url).pathname;

Deno.test("web session: the same losses and mask as the library's fineTune (wasm, 2 steps)", async () => {
  await initBackend("wasm", { quiet: true });
  const text = (await Deno.readTextFile(`${SAMPLE}/train.jsonl`)).split("\n").slice(0, 4).join("\n");
  const data = parseUserText(text);
  const method = methodConfig("fishdip", { k: 0.01, m: 100, n: 1 });
  const lib = await loadBackbone(WEB_BACKBONE, { quiet: true });
  const tuned = await fineTune({
    backbone: lib,
    schema: data.schema,
    train: data.examples,
    method,
    seed: 1,
    batchSize: 2,
    maxSteps: 2,
    padLabels: "longest",
    progress: false,
  });
  tuned.setup.dispose();
  lib.model.dispose();

  const backbone = loadBackboneBytes({
    id: "fishdip-t5-mini-mt-conll03-ade",
    config: await Deno.readFile(`${WEB_BACKBONE}/config.json`),
    weights: await Deno.readFile(`${WEB_BACKBONE}/model.safetensors`),
    spiece: await Deno.readFile(`${WEB_BACKBONE}/spiece.model`),
  });
  const session = new Session(backbone, data, {
    method,
    seed: 1,
    epochs: 100,
    batchSize: 2,
    maxSteps: 2,
    maxInputLength: 256,
    maxOutputLength: 256,
    padLabels: "longest",
  });
  // Stopped after its first step and resumed: a page's stop must not change the run.
  await session.run({ onStep: () => session.stop() });
  assertEquals(session.step, 1);
  await session.run();
  assertEquals(session.losses, tuned.result.losses);
  assertEquals(session.masks[0].perParam, tuned.result.masks[0].perParam);
  assertEquals(session.masks[0].kept, Math.trunc(session.masks[0].total * 0.01));
  const d = await session.delta();
  assert(d.changed > 0 && d.changed <= session.masks[0].kept, `${d.changed} entries changed`);
  // The downloaded file is what `deno task predict --base DIR --delta FILE` loads.
  const file = await Deno.makeTempFile({ suffix: ".safetensors" });
  try {
    await Deno.writeFile(file, d.bytes);
    const loaded = await loadFineTuned({ base: WEB_BACKBONE, delta: file }, { quiet: true });
    assertEquals(loaded.info.schema, data.schema);
    assertEquals(await exportT5Weights(loaded.backbone.model), await exportT5Weights(backbone.model));
    loaded.dispose();
  } finally {
    await Deno.remove(file);
  }
  const [p] = await session.predict([tokenizeSentence("Mira Holt works for Tallow Robotics .")]);
  assertEquals(p.record.tokens[0], "Mira");
  session.dispose();
  backbone.model.dispose();
});

Deno.test("web server: MIME types, and nothing outside the build folder", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${root}/index.html`, "<p>hi</p>");
    await Deno.writeFile(`${root}/a.wasm`, new Uint8Array([0, 97, 115, 109]));
    const index = await serveFile(root, "/");
    assertEquals(index.headers.get("content-type"), "text/html; charset=utf-8");
    assertEquals(await index.text(), "<p>hi</p>");
    const wasm = await serveFile(root, "/a.wasm");
    assertEquals(wasm.headers.get("content-type"), "application/wasm");
    await wasm.body?.cancel();
    assertEquals((await serveFile(root, "/../etc/passwd")).status, 404);
    assertEquals((await serveFile(root, "/%2e%2e/x")).status, 404);
    assertEquals((await serveFile(root, "/missing.js")).status, 404);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("web helpers: typed sentences, pasted data, mask by layer", () => {
  assertEquals(tokenizeSentence("Anne-Marie O'Neil works for Acme, Inc. in Oslo."), [
    "Anne-Marie",
    "O'Neil",
    "works",
    "for",
    "Acme",
    ",",
    "Inc",
    ".",
    "in",
    "Oslo",
    ".",
  ]);
  const conll = parseUserText("Mira B-PER\nHolt I-PER\nworks O\n\nOslo B-LOC\n");
  assertEquals(conll.examples.length, 2);
  assertEquals(conll.schema.entityTypes.map((t) => t.short), ["PER", "LOC"]);
  const jsonl = parseUserText(
    '{"tokens": ["Mira", "Holt"], "entities": [{"start": 0, "end": 2, "type": "PER"}]}',
    "auto",
    '{"PER": "person"}',
  );
  assertEquals(jsonl.schema.entityTypes, [{ short: "PER", natural: "person" }]);
  assertEquals(
    maskByLayer({
      "shared.weight": 5,
      "encoder.block.0.layer.0.SelfAttention.q.weight": 2,
      "encoder.block.0.layer.1.DenseReluDense.wi.weight": 3,
      "decoder.block.1.layer.0.layer_norm.weight": 1,
    }),
    [{ layer: "shared", kept: 5 }, { layer: "encoder.block.0", kept: 5 }, {
      layer: "decoder.block.1",
      kept: 1,
    }],
  );
});

Deno.test("deltaBytes: the same bytes writeDelta writes", async () => {
  const delta = new Map([["w", { indices: Int32Array.from([1, 3]), values: Float32Array.from([0.5, -2]) }]]);
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  try {
    await writeDelta(path, delta, { base: "b" });
    assertEquals(deltaBytes(delta, { base: "b" }), await Deno.readFile(path));
    assertEquals((await readDeltaFile(path)).metadata.changed_entries, "2");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test({
  name: "web app in headless Chromium: WebGPU, Deno's losses, exact k %, delta, prediction",
  ignore: !haveChromium() || Deno.env.get("FISHDIP_WEB_TESTS") === "0",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await webCheck({ steps: 2, build: true, log: () => {} });
    assert(r.worst <= LOSS_RTOL);
    assertEquals(r.mask.kept, Math.trunc(r.mask.total * CHECK_RUN.k));
  },
});

Deno.test({
  name: "web app in headless Chromium without WebGPU: wasm, with a visible notice",
  ignore: !haveChromium() || Deno.env.get("FISHDIP_WEB_TESTS") === "0",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const notice = await fallbackCheck({ build: false });
    assert(notice.includes("running on WebAssembly"), notice);
  },
});
