import { assert, assertEquals } from "@std/assert";
import {
  detokenize,
  filterSentences,
  isHeldOut,
  matchKey,
  parseBrown,
  parseGcide,
  parseNlpCorpus,
} from "./corpus.ts";

Deno.test("parseBrown strips tags and joins words", () => {
  const text = "\n\n\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ,/, and/cc left/vbd ./.\n\n";
  assertEquals(parseBrown(text), ['The jury said " no ", and left.']);
  assertEquals(detokenize(["It", "is", "n't", "here", "."]), "Itisn't here.".replace("Itisn't", "It isn't"));
});

Deno.test("parseNlpCorpus reads a JSON array of sentences", () => {
  assertEquals(parseNlpCorpus('["a  b", "", "c"]'), ["a b", "c"]);
});

Deno.test("parseGcide turns entries into headword: sense lines", () => {
  const text = [
    'Abjure \\Ab*jure"\\, v. t. [imp. & p. p. {Abjured}.] [L. abjurare to deny upon oath.]',
    "   1. To renounce upon oath; to forswear; to disavow; as, to",
    "      abjure allegiance to a prince.",
    "      [1913 Webster]",
    "",
    "   2. To renounce or reject with solemnity; to recant. --Shak.",
    "      [1913 Webster]",
    "",
  ].join("\n");
  const out = parseGcide(text);
  assertEquals(out.length, 2);
  assertEquals(
    out[0],
    "Abjure: To renounce upon oath; to forswear; to disavow; as, to abjure allegiance to a prince.",
  );
  assert(out[1].startsWith("Abjure: To renounce or reject with solemnity"));
});

Deno.test("filterSentences drops evaluation sentences (by match key) and duplicates", () => {
  const exclude = new Set([matchKey("Peter Blackburn ( BRUSSELS )")]);
  const r = filterSentences(["peter blackburn brussels", "A new sentence .", "a new sentence"], exclude);
  assertEquals(r.kept, ["A new sentence ."]);
  assertEquals(r.excluded, 1);
  assertEquals(r.duplicates, 1);
});

Deno.test("isHeldOut is a stable ~0.5% split", () => {
  const n = 20000;
  let k = 0;
  for (let i = 0; i < n; i++) if (isHeldOut(`sentence number ${i}`)) k++;
  assert(k > 60 && k < 140, `${k}`);
  assertEquals(isHeldOut("The jury said no."), isHeldOut("the jury said no"));
});
