import { assertEquals, assertThrows } from "@std/assert";
import { ignoreWithoutData, ignoreWithoutFixtures } from "../../tests/support.ts";
import { fixturesDir } from "../config/paths.ts";
import {
  CONLL03_SCHEMA,
  loadConll03,
  loadOntonotes,
  ONTONOTES_SCHEMA,
  parseConll2012Ner,
  parseConllNer,
} from "./conll.ts";
import { DataFormatError } from "./io.ts";

const spans = (text: string) =>
  parseConllNer(text, "t.txt", "train", CONLL03_SCHEMA).map((e) =>
    e.entities.map((x) => `${x.type.short}:${x.start}-${x.end}`)
  );

Deno.test("conll: IOB1 - a new entity only at B- or a type change", () => {
  const text = [
    "-DOCSTART- -X- -X- O",
    "",
    "EU NNP I-NP I-ORG",
    "rejects VBZ I-VP O",
    "German JJ I-NP I-MISC",
    "Peter NNP I-NP I-PER",
    "Blackburn NNP I-NP I-PER",
    "Paul NNP I-NP B-PER",
    "Smith NNP I-NP I-PER",
    "",
  ].join("\n");
  assertEquals(spans(text), [["ORG:0-1", "MISC:2-3", "PER:3-5", "PER:5-7"]]);
});

Deno.test("conll: IOB2 and IOBES tags, CRLF line ends, sentences split by blank lines", () => {
  const text = "A B-LOC\r\nB I-LOC\r\nC E-LOC\r\nD S-PER\r\nE S-PER\r\nF O\r\n\r\nG B-ORG\r\n";
  assertEquals(spans(text), [["LOC:0-3", "PER:3-4", "PER:4-5"], ["ORG:0-1"]]);
  const ex = parseConllNer(text, "t.txt", "dev", CONLL03_SCHEMA);
  assertEquals(ex.map((e) => e.id), ["dev-0", "dev-1"]);
  assertEquals(ex[0].tokens, ["A", "B", "C", "D", "E", "F"]);
});

Deno.test("conll: DOCSTART ends a sentence even without a blank line; whitespace-only lines too", () => {
  assertEquals(spans("a O\n-DOCSTART- -X- O\nb I-PER\n   \nc I-LOC\n"), [[], ["PER:0-1"], ["LOC:0-1"]]);
});

Deno.test("conll: malformed tags name the file and line", () => {
  const text = "-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\nX NNP I-NP X-PER\n";
  const e = assertThrows(
    () => parseConllNer(text, "conll03/train.txt", "train", CONLL03_SCHEMA),
    DataFormatError,
  );
  assertEquals(e.message.startsWith('conll03/train.txt:4: tag "X-PER" is not IOB'), true, e.message);
  assertThrows(
    () => parseConllNer("a O\nb E-PER\n", "f.txt", "train", CONLL03_SCHEMA),
    DataFormatError,
    'f.txt:2: tag "E-PER" cannot begin an entity',
  );
  assertThrows(
    () => parseConllNer("a O\n\nb B-FOO\n", "f.txt", "train", CONLL03_SCHEMA),
    DataFormatError,
    'f.txt:3: unknown entity type "FOO"',
  );
  // A continuation with a non-IOB prefix is an error too (TANL would accept it silently).
  assertThrows(
    () => parseConllNer("a I-PER\nb Q-PER\n", "f.txt", "train", CONLL03_SCHEMA),
    DataFormatError,
    "f.txt:2:",
  );
});

Deno.test("conll: OntoNotes sample in TANL's token/tag layout", () => {
  const ex = loadOntonotes("train", {
    dataDir: new URL("../../tests/data_samples", import.meta.url).pathname,
  });
  assertEquals(ex.length > 0, true);
  for (const e of ex) for (const x of e.entities) assertEquals(x.end <= e.tokens.length, true);
});

const COUNTS = {
  train: [14041, 23499],
  dev: [3250, 5942],
  test: [3453, 5648],
} as const;

for (const split of ["train", "dev", "test"] as const) {
  Deno.test({
    name: `conll03 real ${split}: ${COUNTS[split][0]} sentences, ${COUNTS[split][1]} entities`,
    ignore: ignoreWithoutData(`conll03/${split}.txt`),
    fn() {
      const ex = loadConll03(split);
      assertEquals(ex.length, COUNTS[split][0]);
      assertEquals(ex.reduce((s, e) => s + e.entities.length, 0), COUNTS[split][1]);
      assertEquals(ex[0].id, `${split}-0`);
    },
  });
}

Deno.test({
  name: "conll03 real dev: first 30 sentences match TANL's CoNLL03Dataset (fixture)",
  ignore: ignoreWithoutData("conll03/dev.txt") || ignoreWithoutFixtures("tanl/conll03_dev.json"),
  fn() {
    const fx = JSON.parse(Deno.readTextFileSync(`${fixturesDir()}/tanl/conll03_dev.json`));
    assertEquals(
      Object.fromEntries(CONLL03_SCHEMA.entityTypes.map((t) => [t.short, t.natural])),
      fx.entity_types,
    );
    const ex = loadConll03("dev");
    for (const s of fx.sentences) {
      const e = ex[s.index];
      assertEquals(e.id, s.id);
      assertEquals(e.tokens, s.tokens);
      assertEquals(
        e.entities.map((x) => [x.type.natural, x.type.short, x.start, x.end]),
        s.gold_entities.map((x: Record<string, unknown>) => [x.type, x.type_short, x.start, x.end]),
      );
    }
  },
});

Deno.test("conll: OntoNotes in the CoNLL-2012 *_conll layout gives the same examples as the BIO export", () => {
  const samples = new URL("../../tests/data_samples", import.meta.url).pathname;
  const bio = loadOntonotes("train", { dataDir: samples });
  const conll2012 = loadOntonotes("train", { dataDir: `${samples}/conll2012` });
  assertEquals(conll2012, bio);
  const row = (ne: string) => `d 0 0 w NN * - - - - ${ne} -`;
  const parse = (...nes: string[]) =>
    parseConll2012Ner(nes.map(row).join("\n"), "on.txt", "dev", ONTONOTES_SCHEMA);
  assertThrows(
    () => parse("(PERSON*", "*"),
    DataFormatError,
    "on.txt:1: entity (PERSON opened here is not closed",
  );
  assertThrows(() => parse("(PERSON*", "(GPE)"), DataFormatError, "on.txt:2: entity (GPE starts inside");
  assertThrows(() => parse("*)"), DataFormatError, 'on.txt:1: "*)" closes an entity that was never opened');
  assertThrows(() => parse("(FOO)"), DataFormatError, 'on.txt:1: unknown entity type "FOO"');
  assertThrows(() => parse("PERSON"), DataFormatError, 'on.txt:1: named-entity cell "PERSON"');
  assertThrows(
    () => parseConll2012Ner("a b c\n", "on.txt", "dev", ONTONOTES_SCHEMA),
    DataFormatError,
    "on.txt:1: expected at least 11 columns",
  );
});
