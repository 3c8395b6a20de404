import { assertEquals, assertThrows } from "@std/assert";
import { buildFeatures, chunk, collate, type Feature } from "./features.ts";
import type { DatasetSchema, Example } from "../data/types.ts";
import { T5Tokenizer } from "../tokenizer/mod.ts";
import { ignoreWithoutData } from "../../tests/support.ts";
import { progressBar } from "./progress.ts";

const f = (index: number, inputIds: number[], labelIds: number[]): Feature => ({
  id: `train-${index}`,
  index,
  inputIds,
  labelIds,
});

Deno.test("collate pads inputs (masked) and labels with the pad id, to the longest or a fixed length", () => {
  const feats = [f(3, [5, 6, 1], [7, 1]), f(8, [9, 1], [4, 4, 4, 1])];
  const b = collate(feats);
  assertEquals(b.inputIds, [[5, 6, 1], [9, 1, 0]]);
  assertEquals(b.attentionMask, [[1, 1, 1], [1, 1, 0]]);
  assertEquals(b.labels, [[7, 1, 0, 0], [4, 4, 4, 1]]);
  assertEquals(b.indices, [3, 8]);
  // TANL pads labels to the maximum output length: the pads then count in the loss.
  const fixed = collate(feats, { padLabelsTo: 6, padInputsTo: 4 });
  assertEquals(fixed.labels, [[7, 1, 0, 0, 0, 0], [4, 4, 4, 1, 0, 0]]);
  assertEquals(fixed.attentionMask, [[1, 1, 1, 0], [1, 1, 0, 0]]);
});

Deno.test("chunk splits into consecutive batches and rejects a zero batch size", () => {
  assertEquals(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assertEquals(chunk([], 3), []);
  assertThrows(() => chunk([1], 0), Error, "batch size");
});

Deno.test("progressBar prints rate, ETA and status; in-place on a terminal", () => {
  let t = 0;
  const lines: string[] = [];
  const p = progressBar("train", 4, {
    write: (s) => lines.push(s),
    tty: false,
    every: 0,
    now: () => t,
    unit: "steps",
  });
  t = 2;
  p.advance(1, "loss 1.5");
  t = 4;
  p.advance(1);
  assertEquals(lines.length, 2);
  assertEquals(lines[1].includes("2/4 50%"), true);
  assertEquals(lines[1].includes("0.50 steps/s"), true);
  assertEquals(lines[1].includes("eta 0m04s"), true);
  assertEquals(lines[1].includes("loss 1.5"), true, "the last status stays shown");
  const tty: string[] = [];
  const q = progressBar("x", 2, { write: (s) => tty.push(s), tty: true, now: () => 1 });
  q.advance();
  assertEquals(tty[0].startsWith("\r"), true);
});

Deno.test({
  name: "buildFeatures: dialogue histories are truncated from the left (TANL), other tasks from the right",
  ignore: ignoreWithoutData("t5/spiece.model"),
  async fn() {
    const tok = await T5Tokenizer.load();
    const words = Array.from({ length: 60 }, (_, i) => `w${i}`);
    const example: Example = { id: "train-0", tokens: words, entities: [], relations: [], belief: [] };
    const dst: DatasetSchema = { name: "multi_woz", task: "dst", entityTypes: [], relationTypes: [] };
    const ner: DatasetSchema = { name: "conll03", task: "ner", entityTypes: [], relationTypes: [] };
    const [d] = buildFeatures([example], dst, tok, { maxInputLength: 16, maxOutputLength: 64 });
    const [n] = buildFeatures([example], ner, tok, { maxInputLength: 16, maxOutputLength: 64 });
    const full = tok.encode(words.join(" "));
    assertEquals(d.inputIds.length, 16);
    assertEquals(d.inputIds, full.slice(full.length - 16), "the last pieces and EOS");
    assertEquals(n.inputIds, tok.encode(words.join(" "), { maxLength: 16 }), "the first pieces and EOS");
  },
});
