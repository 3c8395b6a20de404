import { assert, assertEquals, assertNotEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { saveCheckpoint, type SaveTensor } from "../checkpoint/checkpoint.ts";
import { REPO_ROOT } from "../config/paths.ts";
import type { Example } from "../data/types.ts";
import { loadUserDataset, loadUserFile, parseJsonlRecords } from "../data/user.ts";
import { runEntityRelationInference } from "../formats/mod.ts";
import { methodConfig } from "../methods/registry.ts";
import { typeScores } from "../metrics/mod.ts";
import { parseT5Config, t5ParameterShapes } from "../t5/config.ts";
import { exportT5Weights } from "../t5/model.ts";
import { loadBackbone } from "./backbone.ts";
import { fineTune, saveFineTuned } from "./fine_tune.ts";
import { iob2, predictExamples, predictFile, predictionRecord, scoresPathFor } from "./predict_file.ts";
import { loadFineTuned, writeFineTunedDelta } from "./tuned_model.ts";

await initBackend("cpu", { quiet: true });

const DATA = `${REPO_ROOT}/tests/your_data`;
const data = loadUserDataset({ train: `${DATA}/train.jsonl`, dev: `${DATA}/dev.jsonl` });
const schema = data.schema;

Deno.test("predictionRecord: entities in sentence order with the user's type names, relations into them", () => {
  const ex: Example = {
    id: "x",
    tokens: ["Ada", "Brenner", "joined", "Cobalt", "Works", "."],
    entities: [],
    relations: [],
  };
  const out = "[ Ada Brenner | PER | works for = Cobalt Works ] joined [ Cobalt Works | ORG ] .";
  // Natural names: the default of the schema read from the data (PER -> "per", works_for -> "works for").
  const parsed = runEntityRelationInference(
    out.replace("| PER", "| per").replace("| ORG", "| org"),
    ex,
    schema,
  );
  const rec = predictionRecord(ex, parsed, schema);
  assertEquals(rec.entities, [
    { start: 0, end: 2, type: "PER", text: "Ada Brenner" },
    { start: 3, end: 5, type: "ORG", text: "Cobalt Works" },
  ]);
  assertEquals(rec.relations, [{ head: 0, tail: 1, type: "works_for" }]);
  // Python's tuple order would put ORG first; the record keeps the sentence's order instead.
  assertEquals(parsed.entities[0][0], "org");
  // A record is itself a valid JSON-lines training record.
  const [again] = parseJsonlRecords(JSON.stringify(rec), "r").records;
  assertEquals(again.entities!.map((e) => [e.type, e.start, e.end]), [["PER", 0, 2], ["ORG", 3, 5]]);
});

Deno.test("iob2: IOB2 columns, nested spans left out and counted; scoresPathFor", () => {
  const spans = [{ start: 0, end: 3, type: "ORG" }, { start: 1, end: 2, type: "LOC" }, {
    start: 4,
    end: 5,
    type: "PER",
  }];
  assertEquals(iob2(5, spans), { tags: ["B-ORG", "I-ORG", "I-ORG", "O", "B-PER"], dropped: 1 });
  assertEquals(scoresPathFor("out/preds.jsonl"), "out/preds.scores.json");
  assertEquals(scoresPathFor("preds"), "preds.scores.json");
});

/** A tiny random T5 with the offline backbone's vocabulary, saved as a Hugging Face folder. */
async function tinyBase(dir: string): Promise<void> {
  const config = {
    model_type: "t5",
    vocab_size: 24960,
    d_model: 16,
    d_kv: 8,
    d_ff: 32,
    num_layers: 1,
    num_decoder_layers: 1,
    num_heads: 2,
    relative_attention_num_buckets: 8,
    dropout_rate: 0,
  };
  const tensors = new Map<string, SaveTensor>();
  let seed = 7;
  for (const { name, shape } of t5ParameterShapes(parseT5Config(config))) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from(
      { length: n },
      () => ((seed = (seed * 48271) % 2147483647) / 2147483647) - 0.5,
    );
    tensors.set(name, { shape, data });
  }
  await saveCheckpoint(dir, tensors, config, {
    tokenizer: `${REPO_ROOT}/data/models/fishdip-t5-mini/spiece.model`,
  });
}

function sameWeights(a: Map<string, Float32Array>, b: Map<string, Float32Array>): boolean {
  if (a.size !== b.size) return false;
  for (const [n, w] of a) {
    const v = b.get(n);
    if (!v || v.length !== w.length || v.some((x, i) => !Object.is(x, w[i]))) return false;
  }
  return true;
}

Deno.test({
  name:
    "fine-tuned model from a run folder, a saved model and base + delta: the same weights and predictions",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "predict_test_" });
    try {
      await tinyBase(`${dir}/base`);
      const bb = await loadBackbone(`${dir}/base`);
      const base = await exportT5Weights(bb.model);
      const tuned = await fineTune({
        backbone: bb,
        schema,
        train: data.train.slice(0, 8),
        method: methodConfig("fishdip", { k: 0.05, m: 2 }),
        epochs: 1,
        batchSize: 4,
        maxInputLength: 32,
        maxOutputLength: 24,
        padLabels: "longest",
        runDir: `${dir}/run`,
        progress: false,
      });
      tuned.setup.dispose();
      const weights = await exportT5Weights(bb.model);
      const dev = data.dev!.slice(0, 4);
      const expected = (await predictExamples({ backbone: bb, info: tuned.info }, dev, { progress: false }))
        .map((p) => p.output);
      await saveFineTuned(`${dir}/run/model`, bb, tuned.info);
      const changed = await writeFineTunedDelta(`${dir}/delta.safetensors`, base, weights, tuned.info);
      assert(
        changed > 0 && changed < 0.2 * [...base.values()].reduce((a, w) => a + w.length, 0),
        `${changed}`,
      );
      bb.model.dispose();

      for (
        const src of [{ model: `${dir}/run` }, { model: `${dir}/run/model` }, {
          delta: `${dir}/delta.safetensors`,
        }]
      ) {
        // The delta records its base by the path training started from.
        const loaded = await loadFineTuned(src);
        try {
          assertEquals(loaded.info.schema, schema);
          assertEquals(loaded.info.maxInputLength, 32);
          assert(
            await sameWeights(await exportT5Weights(loaded.backbone.model), weights),
            JSON.stringify(src),
          );
          const got = await predictExamples(loaded, dev, { progress: false });
          assertEquals(got.map((p) => p.output), expected, JSON.stringify(src));
        } finally {
          loaded.dispose();
        }
      }
      // Not the base it was made from: refused, not silently applied.
      await tinyBase(`${dir}/other`);
      const other = `${dir}/other/model.safetensors`;
      const bytes = await Deno.readFile(other);
      bytes[bytes.length - 1] ^= 0x40;
      await Deno.writeFile(other, bytes);
      await assertRejects(
        () => loadFineTuned({ base: `${dir}/other`, delta: `${dir}/delta.safetensors` }),
        Error,
        "was made from another base",
      );
      await assertRejects(() => loadFineTuned({ model: `${dir}/base` }), Error, "without fishdip.json");
      await assertRejects(() => loadFineTuned({ model: dir }), Error, "neither a run folder");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a PEFT run folder predicts as the model did in memory (its hooks and parameters come back)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "predict_peft_" });
    try {
      await tinyBase(`${dir}/base`);
      const bb = await loadBackbone(`${dir}/base`);
      const base = await predictExamples(
        { backbone: bb, info: dummyInfo(`${dir}/base`) },
        data.dev!.slice(0, 3),
        { progress: false },
      );
      const tuned = await fineTune({
        backbone: bb,
        schema,
        train: data.train.slice(0, 8),
        method: methodConfig("lora", { rank: 2 }),
        maxSteps: 3,
        batchSize: 4,
        maxInputLength: 32,
        maxOutputLength: 24,
        padLabels: "longest",
        runDir: `${dir}/run`,
        progress: false,
      });
      const inMemory = await predictExamples({ backbone: bb, info: tuned.info }, data.dev!.slice(0, 3), {
        progress: false,
      });
      tuned.setup.dispose();
      bb.model.dispose();
      // LoRA changed the outputs (else this test could not tell whether the hooks came back).
      assertNotEquals(inMemory.map((p) => p.output), base.map((p) => p.output));
      const loaded = await loadFineTuned({ model: `${dir}/run` });
      try {
        const got = await predictExamples(loaded, data.dev!.slice(0, 3), { progress: false });
        assertEquals(got.map((p) => p.output), inMemory.map((p) => p.output));
      } finally {
        loaded.dispose();
      }
      await assertRejects(
        () => saveFineTuned(`${dir}/x`, bb, tuned.info),
        Error,
        "predict from the run folder",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A record for the untrained base itself (predicting with it needs lengths and a schema). */
function dummyInfo(backbone: string) {
  return {
    format: "fishdip-run-v1" as const,
    backbone,
    method: methodConfig("full"),
    seed: 1,
    maxInputLength: 32,
    maxOutputLength: 24,
    schema,
  };
}

Deno.test({
  name: "predictFile: gold input scored per type and written beside the output; long sentences reported",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "predict_file_" });
    try {
      await tinyBase(`${dir}/base`);
      const bb = await loadBackbone(`${dir}/base`);
      const tuned = { backbone: bb, info: dummyInfo(`${dir}/base`), source: "tiny", dispose: () => {} };
      const long = ["Ada", ...Array(30).fill("and"), "Bo", "."].join(" ");
      await Deno.writeTextFile(`${dir}/in.txt`, `Ada met Bo in Dunmere .\n\n${long}\n`);
      const logs: string[] = [];
      const plain = await predictFile({
        tuned,
        input: `${dir}/in.txt`,
        output: `${dir}/out.jsonl`,
        log: (m) => logs.push(m),
        progress: false,
      });
      assertEquals(plain.sentences, 2);
      assertEquals(plain.scores, undefined);
      assertEquals(plain.overLong, [3]); // the input's line number
      assertStringIncludes(logs.join("\n"), "1 sentence(s) are longer than the input limit of 32 tokens");
      const rows = (await Deno.readTextFile(`${dir}/out.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(rows.length, 2);
      assertEquals(rows[0].tokens, ["Ada", "met", "Bo", "in", "Dunmere", "."]);
      assertStringIncludes(rows[1].warnings[0], "over the limit of 32");

      const scored = await predictFile({
        tuned,
        input: `${DATA}/dev.jsonl`,
        output: `${dir}/dev.pred.conll`,
        outputFormat: "conll",
        log: () => {},
        progress: false,
      });
      assertEquals(scored.scoresPath, `${dir}/dev.pred.scores.json`);
      const written = JSON.parse(await Deno.readTextFile(scored.scoresPath!));
      assertEquals(written.entities.gold, 20);
      assertEquals(written.byType.map((r: { type: string }) => r.type), [
        "PER",
        "ORG",
        "LOC",
        "works_for",
        "based_in",
      ]);
      // The file's numbers are the scorer's on the same outputs.
      const gold = loadUserFile(`${DATA}/dev.jsonl`, { schema });
      const outs = (await predictExamples(tuned, gold.examples, { progress: false })).map((p) => p.output);
      assertEquals(written.byType, typeScores(outs, gold.examples, schema).byType);
      // CoNLL output with gold: token, gold tag, predicted tag; a blank line between sentences.
      const conll = (await Deno.readTextFile(`${dir}/dev.pred.conll`)).split("\n\n");
      assertEquals(conll.length, 10);
      assertEquals(conll[0].split("\n")[0].split(" ").slice(0, 2), ["Hanne", "B-PER"]);
      bb.model.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
