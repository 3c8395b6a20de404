import { assert, assertEquals } from "@std/assert";
import { dataDir } from "../config/paths.ts";
import { parseSentencePieceModel } from "../tokenizer/sentencepiece_model.ts";
import { T5Tokenizer } from "../tokenizer/mod.ts";
import { ignoreWithoutData } from "../../tests/support.ts";
import { encodeVarint, paddedVocabSize, reduceSentencePieceModel } from "./vocab.ts";

Deno.test("encodeVarint and paddedVocabSize", () => {
  assertEquals(encodeVarint(1), [1]);
  assertEquals(encodeVarint(300), [0xac, 0x02]);
  assertEquals(paddedVocabSize(32000), 32128);
  assertEquals(paddedVocabSize(24736), 24960);
});

Deno.test({
  name: "a reduced spiece.model round-trips through T5Tokenizer with the same segmentation",
  ignore: ignoreWithoutData("t5/spiece.model"),
  async fn() {
    const bytes = await Deno.readFile(`${dataDir()}/t5/spiece.model`);
    const full = T5Tokenizer.fromBytes(bytes);
    const texts = [
      "John Wilkes Booth , who assassinated President Lincoln , was an actor .",
      "[ John Wilkes Booth | person | killed by = Lincoln ] , who assassinated [ President Lincoln | person ] .",
      "EU rejects German call to boycott British lamb .",
    ];
    const used = new Set(texts.flatMap((t) => full.tokenize(t)));
    const reduced = reduceSentencePieceModel(bytes, (p) => used.has(p));
    const tok = T5Tokenizer.fromBytes(reduced.bytes);
    assertEquals(reduced.originalCount, 32000);
    assert(tok.pieceCount < 2000, `${tok.pieceCount} pieces`); // mostly single characters
    assertEquals([tok.padId, tok.eosId, tok.unkId], [0, 1, 2]);
    assertEquals(tok.pieceToId("<extra_id_0>"), tok.pieceCount + 99);
    for (const t of texts) {
      assertEquals(tok.tokenize(t), full.tokenize(t));
      assertEquals(
        tok.decode(tok.encode(t), { skipSpecialTokens: true }),
        full.decode(full.encode(t), { skipSpecialTokens: true }),
      );
    }
    // Unseen words fall back to smaller pieces, never <unk>, for characters the original knows.
    const unseen = tok.encode("Zanzibar quarterbacks vexed 1,234 jumpy wolves !");
    assert(!unseen.includes(tok.unkId));
    // The scores, normalizer and types are the original's; the trainer spec states the new size.
    const m = parseSentencePieceModel(reduced.bytes), o = parseSentencePieceModel(bytes);
    const byPiece = new Map(o.pieces.map((p) => [p.piece, p]));
    for (const p of m.pieces) assertEquals(p, byPiece.get(p.piece));
    assertEquals(m.normalizer, o.normalizer);
  },
});
