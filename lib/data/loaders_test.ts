/** Tests of the loaders for the licensed datasets, on the hand-written samples in tests/data_samples. */
import { assertEquals, assertThrows } from "@std/assert";
import { DataFormatError } from "./io.ts";
import { loadAce2005, parseAce2005 } from "./ace2005.ts";
import { loadConll05Srl, loadConll05SrlBrown, parseConll05Srl } from "./srl.ts";
import { loadMultiWoz, parseMultiWoz } from "./multiwoz.ts";
import { loadOntonotes, ONTONOTES_SCHEMA } from "./conll.ts";
import { MissingDataError } from "../config/paths.ts";

const SAMPLES = new URL("../../tests/data_samples", import.meta.url).pathname;
const opts = { dataDir: SAMPLES };

Deno.test("ace2005 sample: entity-bearing sentences only, relative offsets, ambiguous relation skips", () => {
  const ex = loadAce2005("train", opts);
  assertEquals(ex.map((e) => e.id), ["train-0-0", "train-0-2", "train-1-0"]);
  const s = ex[1];
  assertEquals(s.tokens.join(" "), "The Northwind Guild hired her in Riga .");
  assertEquals(s.entities.map((e) => [e.type.natural, e.start, e.end]), [
    ["organization", 0, 3],
    ["person", 4, 5],
    ["geographical entity", 6, 7],
  ]);
  assertEquals(s.relations.map((r) => [r.type.natural, r.head, r.tail]), [["employer", 1, 0], [
    "affiliation",
    0,
    2,
  ]]);
  assertEquals(ex[0].relations.map((r) => r.type.natural), ["artifact", "located in"]);
});

Deno.test("ace2005: malformed lines name the file and line", () => {
  const doc = { sentences: [["a", "b"]], ner: [[[0, 0, "PER"]]], relations: [[]] };
  const line = JSON.stringify(doc);
  const bad = (d: unknown, msg: string) =>
    assertThrows(
      () => parseAce2005(`${line}\n${JSON.stringify(d)}\n`, "ace/train.json", "train"),
      DataFormatError,
      msg,
    );
  bad(
    { ...doc, ner: [[[0, 0, "PERSON"]]] },
    'ace/train.json:2: sentence 0: entity 0: unknown entity type "PERSON"',
  );
  bad({ ...doc, ner: [[[0, 5, "PER"]]] }, 'ace/train.json:2: sentence 0: entity 0 [0,5,"PER"] is outside');
  bad(
    { ...doc, relations: [[[0, 0, 1, 1, "PHYS"]]] },
    'ace/train.json:2: sentence 0: relation 0 [0,0,1,1,"PHYS"]: its tail',
  );
  bad({ ...doc, ner: [] }, 'ace/train.json:2: "ner" must be a list with one list per sentence');
  assertThrows(
    () => parseAce2005(`${line}\n{"sentences": [}\n`, "f.json", "dev"),
    DataFormatError,
    "f.json:2: invalid JSON",
  );
  assertThrows(
    () => parseAce2005(`${line}\n\n${line}\n`, "f.json", "dev"),
    DataFormatError,
    "f.json:2: empty line",
  );
});

Deno.test("srl sample: FISH-DIP's 3-field and TANL's 2-field lines give the same examples", () => {
  const a = loadConll05Srl("train", opts), b = loadConll05Srl("test", opts);
  assertEquals(a.examples.map((e) => ({ ...e, id: "" })), b.examples.map((e) => ({ ...e, id: "" })));
  const [first, , third, fourth] = a.examples;
  assertEquals(first.id, "train-0");
  assertEquals(first.tokens[0], "The");
  assertEquals(first.predicate, { start: 2, end: 3 });
  assertEquals(first.entities.map((e) => [e.type.short, e.type.natural, e.start, e.end]), [
    ["ARG0", "first argument", 0, 2],
    ["ARG1", "second argument", 3, 6],
    ["ARGM-LOC", "ARGM-LOC", 6, 9],
    ["ARGM-TMP", "ARGM-TMP", 9, 11],
  ]);
  assertEquals(third.predicate, { start: 5, end: 6 });
  assertEquals(fourth.entities.map((e) => e.type.short), ["ARG1", "R-ARG1", "ARG0"]);
  assertEquals(a.schema.entityTypes.map((t) => t.short), ["ARG0", "ARG1", "ARGM-LOC", "ARGM-TMP", "R-ARG1"]);
  assertEquals(a.schema.task, "srl");
  const brown = loadConll05SrlBrown("test", opts);
  assertEquals(brown.examples.length, 1);
  assertEquals(brown.schema.name, "conll05_srl_brown");
});

Deno.test("srl: malformed lines name the file and line", () => {
  const ok = "1 a b ||| B-ARG0 B-V |||";
  const bad = (line: string, msg: string) =>
    assertThrows(
      () => parseConll05Srl(`${ok}\n${line}\n`, "srl/conll05.train.txt", "train"),
      DataFormatError,
      msg,
    );
  bad("1 a b B-ARG0 B-V", 'srl/conll05.train.txt:2: expected "INDEX TOKENS ||| TAGS"');
  bad("1 a b ||| B-ARG0 |||", "srl/conll05.train.txt:2: 1 tags for 2 tokens");
  bad(
    "1 a b ||| I-ARG0 B-V |||",
    'srl/conll05.train.txt:2: tag 0 "I-ARG0" continues a span that was never opened',
  );
  bad("1 a b ||| B-ARG0 V |||", 'srl/conll05.train.txt:2: tag 1 "V" is not O, B-ROLE or I-ROLE');
  // TANL keeps a span open across O and lets I- of another role extend it.
  const [ex] = parseConll05Srl("0 a b c d ||| B-ARG0 O I-ARG0 B-V\n", "f", "dev").examples;
  assertEquals(ex.entities.map((e) => [e.start, e.end]), [[0, 3]]);
});

Deno.test("multiwoz sample: one example per turn, TANL ids, history split on spaces, belief both ways", () => {
  const ex = loadMultiWoz("train", opts);
  assertEquals(ex.map((e) => e.id), [
    "0-SAMPLE0001.json",
    "1-SAMPLE0001.json",
    "2-SAMPLE0001.json",
    "0-SAMPLE0002.json",
  ]);
  assertEquals(ex[1].tokens.slice(0, 3), ["[User]:", "i", "am"]);
  assertEquals(ex[1].tokens.join(" ").includes(" ; [Agent]: the maple lodge fits"), true);
  assertEquals(ex[2].belief?.slice(-2), ["taxi leave at 17:15", "taxi departure maple lodge"]);
  assertEquals(ex[2].beliefRaw?.slice(-2), ["taxi-leave at-17:15", "taxi-departure-maple lodge"]);
  assertThrows(
    () =>
      parseMultiWoz(
        { examples: [{ ID: "d", turn_id: 0, dialog_history: "x", turn_belief: ["hotel-area"] }] },
        "m.json",
      ),
    DataFormatError,
    'm.json: item 0: belief "hotel-area" is not "domain-slot-value"',
  );
  assertThrows(
    () => parseMultiWoz([], "m.json"),
    DataFormatError,
    'm.json: expected an object with an "examples" list',
  );
});

Deno.test("ontonotes sample: 18 types, spans from the token/tag columns", () => {
  assertEquals(ONTONOTES_SCHEMA.entityTypes.length, 18);
  const ex = loadOntonotes("train", opts);
  assertEquals(ex.length, 3);
  assertEquals(ex[0].entities.map((e) => [e.type.natural, e.start, e.end]), [
    ["person", 0, 2],
    ["country city state", 4, 5],
    ["date", 6, 10],
  ]);
  assertEquals(ex[2].entities.map((e) => e.type.natural), [
    "nationality religious political group",
    "law",
    "time",
  ]);
});

Deno.test("licensed datasets missing from the data directory: MissingDataError says to bring your own", () => {
  const e = assertThrows(() => loadAce2005("train", { dataDir: "/nonexistent" }), MissingDataError);
  assertEquals(e.message.includes("ace2005_joint_er/train.json"), true);
  assertEquals(e.message.includes("bring your own"), true);
});
