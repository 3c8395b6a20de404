/**
 * Fixture tests: the tokenizer must equal Hugging Face's slow `T5Tokenizer` (v4.20) on every case
 * stored in `fixtures/tokenizer/t5_tokenizer_cases.json` and on TANL's features in
 * `fixtures/tanl/*.json`. Cases are discovered from the files, never listed here.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { dataDir, fixturesDir, MissingDataError } from "../config/paths.ts";
import { SPIECE_RELATIVE_PATH, T5Tokenizer } from "./mod.ts";
import { ignoreWithoutData, ignoreWithoutFixtures } from "../../tests/support.ts";

// Without the fixtures or the vocabulary (a user's clone), these tests are skipped with a note;
// CI (FISHDIP_REQUIRE_DATA=1) fails instead.
const noVocab = ignoreWithoutData(SPIECE_RELATIVE_PATH);
const noCases = ignoreWithoutFixtures("tokenizer/t5_tokenizer_cases.json") || noVocab;
const noTanl = ignoreWithoutFixtures("tanl") || noVocab;

interface TokenizerCase {
  kind: string;
  text: string;
  input_ids: number[];
  tokens: string[];
  tokenize: string[];
  decode_skip_special_no_cleanup: string;
  decode_keep_special_no_cleanup: string;
}

interface TokenizerFixture {
  tokenizer: {
    len: number;
    vocab_size_property: number;
    eos_token_id: number;
    pad_token_id: number;
    unk_token_id: number;
    extra_ids: number;
    extra_id_0: number;
    extra_id_99: number;
    spiece_model_sha256: string;
  };
  cases: TokenizerCase[];
  truncation_examples: {
    text: string;
    max_length: number;
    truncation: boolean;
    input_ids: number[];
    input_ids_untruncated: number[];
  }[];
  batch_padding_example: { texts: string[]; input_ids: number[][]; attention_mask: number[][] };
}

const fixture: TokenizerFixture = noCases
  ? {
    tokenizer: {} as TokenizerFixture["tokenizer"],
    cases: [],
    truncation_examples: [],
    batch_padding_example: {} as TokenizerFixture["batch_padding_example"],
  }
  : JSON.parse(await Deno.readTextFile(`${fixturesDir()}/tokenizer/t5_tokenizer_cases.json`));

let cached: T5Tokenizer | undefined;
async function tokenizer(): Promise<T5Tokenizer> {
  return cached ??= await T5Tokenizer.load();
}

Deno.test({
  name: "fixture: tokenizer facts (length, special ids, sentinels, vocab file SHA-256)",
  ignore: noCases,
}, async () => {
  const tok = await tokenizer();
  const facts = fixture.tokenizer;
  assertEquals(tok.vocabSize, facts.len);
  assertEquals(tok.vocabSize, facts.vocab_size_property);
  assertEquals(tok.eosId, facts.eos_token_id);
  assertEquals(tok.padId, facts.pad_token_id);
  assertEquals(tok.unkId, facts.unk_token_id);
  assertEquals(tok.extraIds, facts.extra_ids);
  assertEquals(tok.pieceToId("<extra_id_0>"), facts.extra_id_0);
  assertEquals(tok.pieceToId(`<extra_id_${facts.extra_ids - 1}>`), facts.extra_id_99);
  assertEquals(tok.idToPiece(facts.extra_id_0), "<extra_id_0>");
  const bytes = await Deno.readFile(`${dataDir()}/${SPIECE_RELATIVE_PATH}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  assertEquals(hex, facts.spiece_model_sha256);
});

Deno.test(
  { name: `fixture: all ${fixture.cases.length} tokenizer cases match exactly`, ignore: noCases },
  async (t) => {
    const tok = await tokenizer();
    assert(fixture.cases.length > 0, "no cases in the fixture file");
    for (const [i, c] of fixture.cases.entries()) {
      await t.step(`case ${i} (${c.kind}): ${JSON.stringify(c.text).slice(0, 60)}`, () => {
        const ids = tok.encode(c.text);
        assertEquals(ids, c.input_ids, "input_ids");
        assertEquals(tok.convertIdsToTokens(ids), c.tokens, "tokens");
        assertEquals(tok.tokenize(c.text), c.tokenize, "tokenize");
        // `tokenize` followed by id lookup gives the same ids, before the appended `</s>`.
        assertEquals(tok.convertTokensToIds(c.tokenize), ids.slice(0, c.tokenize.length), "tokenize -> ids");
        assertEquals(tok.decode(c.input_ids), c.decode_skip_special_no_cleanup, "decode, specials skipped");
        assertEquals(
          tok.decode(c.input_ids, { skipSpecialTokens: false }),
          c.decode_keep_special_no_cleanup,
          "decode, specials kept",
        );
      });
    }
  },
);

Deno.test({ name: "fixture: truncation examples keep EOS last", ignore: noCases }, async () => {
  const tok = await tokenizer();
  assert(fixture.truncation_examples.length > 0);
  for (const ex of fixture.truncation_examples) {
    assertEquals(tok.encode(ex.text), ex.input_ids_untruncated, ex.text);
    assertEquals(tok.encode(ex.text, { maxLength: ex.max_length }), ex.input_ids, ex.text);
  }
});

Deno.test(
  { name: "fixture: batch padding example (right padding with 0, attention masks)", ignore: noCases },
  async () => {
    const tok = await tokenizer();
    const ex = fixture.batch_padding_example;
    const batch = tok.batchEncode(ex.texts);
    assertEquals(batch.inputIds, ex.input_ids);
    assertEquals(batch.attentionMask, ex.attention_mask);
  },
);

interface TanlFixture {
  feature_max_length: number;
  sentences: { id: string; input: string; target: string; input_ids: number[]; label_ids: number[] }[];
}

const tanlDir = `${fixturesDir()}/tanl`;
const tanlFiles = noTanl ? [] : [...Deno.readDirSync(tanlDir)]
  .filter((e) => e.isFile && e.name.endsWith(".json"))
  .map((e) => e.name)
  .sort();

for (const name of tanlFiles) {
  Deno.test(`fixture: TANL features of ${name} (input_ids and label_ids)`, async () => {
    const tok = await tokenizer();
    const data: TanlFixture = JSON.parse(await Deno.readTextFile(`${tanlDir}/${name}`));
    assert(data.sentences.length > 0, `${name} has no sentences`);
    const maxLength = data.feature_max_length;
    // TANL pads to max_length with 0; the fixture stores the ids with that padding removed.
    const unpad = (ids: number[]) => ids.slice(0, ids.length - countTrailing(ids, tok.padId));
    const batchIn = tok.batchEncode(data.sentences.map((s) => s.input), { maxLength, padTo: maxLength });
    const batchOut = tok.batchEncode(data.sentences.map((s) => s.target), { maxLength, padTo: maxLength });
    data.sentences.forEach((s, i) => {
      assertEquals(unpad(batchIn.inputIds[i]), s.input_ids, `${s.id} input`);
      assertEquals(unpad(batchOut.inputIds[i]), s.label_ids, `${s.id} target`);
      assertEquals(batchIn.inputIds[i].length, maxLength);
    });
  });
}

function countTrailing(ids: number[], value: number): number {
  let n = 0;
  while (n < ids.length && ids[ids.length - 1 - n] === value) n++;
  return n;
}

Deno.test("a missing spiece.model names the file and says how to get it", async () => {
  const err = await assertRejects(
    () => T5Tokenizer.load("/nonexistent/t5/spiece.model"),
    MissingDataError,
    "/nonexistent/t5/spiece.model",
  );
  assert(err.message.includes("download"), err.message);
});

Deno.test(
  { name: "decode names ids above the tokenizer's range as Hugging Face does", ignore: noVocab },
  async () => {
    const tok = await tokenizer();
    // The T5 model has 32128 rows; HF names 32100 `<extra_id_-1>` and does not treat it as special.
    assertEquals(tok.idToPiece(32100), "<extra_id_-1>");
    assertEquals(tok.decode([8774, 32100, 1]), "Hello<extra_id_-1>");
  },
);
