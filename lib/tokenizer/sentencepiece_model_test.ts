/**
 * A damaged `spiece.model` is an error naming the file and what is wrong, never a smaller or
 * scrambled vocabulary: garbage, a file cut off inside a field or exactly between two pieces, and a
 * model without T5's special pieces.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { describeError } from "../config/cli.ts";
import { REPO_ROOT } from "../config/paths.ts";
import { parseSentencePieceModel, SentencePieceModelError, T5Tokenizer } from "./mod.ts";

// The project's own vocabulary is committed with its backbone, so these tests always run.
const SPIECE = `${REPO_ROOT}/data/models/fishdip-t5-mini/spiece.model`;
const bytes = await Deno.readFile(SPIECE);

/** Top-level protobuf fields of `buf`: field number and the byte range of the whole field. */
function topLevelFields(buf: Uint8Array): { field: number; start: number; end: number }[] {
  let pos = 0;
  const varint = () => {
    let v = 0, scale = 1;
    for (;;) {
      const b = buf[pos++];
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 128;
    }
  };
  const out = [];
  while (pos < buf.length) {
    const start = pos, key = varint();
    assertEquals(key & 7, 2, "every top-level field of a ModelProto is length-delimited");
    const len = varint();
    pos += len;
    out.push({ field: Math.floor(key / 8), start, end: pos });
  }
  return out;
}

const fields = topLevelFields(bytes);
const pieces = fields.filter((f) => f.field === 1);

Deno.test("an intact spiece.model loads; its layout is pieces, trainer_spec, normalizer_spec", () => {
  assertEquals(fields.map((f) => f.field).filter((f) => f !== 1), [2, 3]);
  assertEquals(parseSentencePieceModel(bytes, SPIECE).pieces.length, pieces.length);
  assertEquals(T5Tokenizer.fromBytes(bytes, SPIECE).pieceCount, pieces.length);
});

Deno.test("a spiece.model cut exactly between two pieces is refused, naming the file", async () => {
  const cut = bytes.subarray(0, pieces[1000].start);
  assertThrows(
    () => parseSentencePieceModel(cut, "x/spiece.model"),
    SentencePieceModelError,
    "not a SentencePiece model: x/spiece.model: no trainer_spec after its 1000 pieces: the file is truncated",
  );
  // Through the loader, as a backbone reads it.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/spiece.model`, cut);
    const e = await assertRejects(
      () => T5Tokenizer.load(`${dir}/spiece.model`),
      SentencePieceModelError,
      `not a SentencePiece model: ${dir}/spiece.model: no trainer_spec`,
    );
    // The command-line handler prints the file and what to do.
    const { text } = describeError(e);
    assertStringIncludes(
      text,
      `error (SentencePieceModelError): not a SentencePiece model: ${dir}/spiece.model`,
    );
    assertStringIncludes(text, "what to do: replace the spiece.model named above");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // Cut after every piece but before the normalizer.
  const spec = fields.find((f) => f.field === 2)!;
  assertThrows(
    () => parseSentencePieceModel(bytes.subarray(0, spec.end), "x/spiece.model"),
    SentencePieceModelError,
    "x/spiece.model: no normalizer_spec",
  );
});

Deno.test("a spiece.model cut inside a field, or garbage, is refused naming the file and the reason", () => {
  for (const end of [pieces[5].start + 1, pieces[5].start + 3, fields.at(-1)!.end - 1]) {
    const e = assertThrows(
      () => parseSentencePieceModel(bytes.subarray(0, end), "x/spiece.model"),
      SentencePieceModelError,
      "not a SentencePiece model: x/spiece.model: protobuf:",
    );
    assertEquals(e.path, "x/spiece.model");
  }
  let s = 12345;
  const noise = Uint8Array.from({ length: 4096 }, () => (s = (s * 48271) % 2147483647) & 0xff);
  assertThrows(() => parseSentencePieceModel(noise, "g.model"), SentencePieceModelError, "g.model: ");
  assertThrows(
    () => T5Tokenizer.fromBytes(new TextEncoder().encode("<html>not found</html>"), "h.model"),
    SentencePieceModelError,
    "not a SentencePiece model: h.model: ",
  );
  assertThrows(
    () => parseSentencePieceModel(new Uint8Array(0), "e.model"),
    SentencePieceModelError,
    "no pieces",
  );
});

Deno.test("a piece that is not UTF-8, or a vocabulary without T5's special pieces, is named", () => {
  // Piece 3's text with its first byte replaced by 0xff (never valid in UTF-8).
  const bad = bytes.slice();
  const p = pieces[3];
  // key (1 byte), length, then the SentencePiece message: key 0x0a, length, text.
  const textAt = p.start + 1 + (bad[p.start + 1] < 0x80 ? 1 : 2) + 2;
  bad[textAt] = 0xff;
  assertThrows(
    () => parseSentencePieceModel(bad, "u.model"),
    SentencePieceModelError,
    "u.model: piece 3 is not valid UTF-8",
  );
  // Without its first piece (<pad>), the model parses but is not a T5 vocabulary.
  const noPad = new Uint8Array(bytes.length - (pieces[0].end - pieces[0].start));
  noPad.set(bytes.subarray(pieces[0].end));
  assertEquals(parseSentencePieceModel(noPad).pieces[0].piece, "</s>");
  const e = assertThrows(
    () => T5Tokenizer.fromBytes(noPad, "p.model"),
    SentencePieceModelError,
    "not a SentencePiece model: p.model: lacks the special piece <pad>",
  );
  assert(e instanceof Error);
});
