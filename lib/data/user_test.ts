import { assert, assertEquals, assertThrows } from "@std/assert";
import { CONLL03_SCHEMA, parseConllNer } from "./conll.ts";
import { DataFormatError } from "./io.ts";
import {
  defaultNaturalName,
  loadUserDataset,
  loadUserFile,
  schemaFromJson,
  schemaToJson,
  unusedTypeNames,
  userSchema,
} from "./user.ts";
import {
  arrayItemLines,
  decodeUtf8,
  parseConllRecords,
  parseJsonlRecords,
  parseSpertRecords,
} from "./user_formats.ts";

const spans = (text: string) =>
  parseConllRecords(text, "f.conll").records.map((r) =>
    r.entities!.map((e) => `${e.type}:${e.start}-${e.end}`)
  );

/** Writes files into a fresh folder; returns their paths by name. */
function files(contents: Record<string, string | Uint8Array>): Record<string, string> {
  const dir = Deno.makeTempDirSync({ prefix: "user_data_" });
  return Object.fromEntries(
    Object.entries(contents).map(([name, c]) => {
      const path = `${dir}/${name}`;
      if (typeof c === "string") Deno.writeTextFileSync(path, c);
      else Deno.writeFileSync(path, c);
      return [name, path];
    }),
  );
}

const jsonl = (...rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

Deno.test("user conll: IOB1, IOB2 and BIOES are detected and read alike; -DOCSTART- skipped", () => {
  const iob1 = "-DOCSTART- O\n\nAnna I-PER\nKlein I-PER\nmet O\nBo I-PER\nLee B-PER\n";
  const iob2 = "Anna B-PER\nKlein I-PER\nmet O\nBo B-PER\nLee B-PER\n";
  const bioes = "Anna B-PER\nKlein E-PER\nmet O\nBo S-PER\nLee S-PER\n";
  for (const [text, scheme] of [[iob1, "IOB1"], [iob2, "IOB2"], [bioes, "BIOES"]]) {
    const parsed = parseConllRecords(text, "f.conll", true);
    assertEquals(parsed.scheme, scheme);
    assertEquals(spans(text), [["PER:0-2", "PER:3-4", "PER:4-5"]], scheme);
    assertEquals(parsed.records[0].tokens, ["Anna", "Klein", "met", "Bo", "Lee"]);
  }
  assertEquals(parseConllRecords("a O\nb O\n", "f", true).scheme, "none");
});

Deno.test("user conll: entities match the benchmark reader's (TANL's rule) on mixed tags", () => {
  const text = "a I-LOC\nb I-PER\nc B-PER\nd I-PER\ne O\nf B-LOC\ng I-LOC\n\nh I-MISC\ni B-MISC\n";
  const tanl = parseConllNer(text, "f", "train", CONLL03_SCHEMA).map((e) =>
    e.entities.map((x) => `${x.type.short}:${x.start}-${x.end}`)
  );
  assertEquals(spans(text), tanl);
  assertEquals(tanl[0].length, 4);
});

Deno.test("user conll: bad records name the file and line", () => {
  const bad = (text: string, msg: string, requireTags = true) =>
    assertThrows(() => parseConllRecords(text, "my.conll", requireTags), DataFormatError, msg);
  bad("a O\nb PER\n", 'my.conll:2: unknown tag "PER"');
  bad("a O\nb b-per\n", 'my.conll:2: unknown tag "b-per"');
  bad("a NN O\nb O\n", "my.conll:2: 2 columns, but line 1 has 3");
  bad("a O\nb E-PER\n", "my.conll:2: tag E-PER after O: in BIOES");
  bad("a\nb\n", "my.conll:1: no tag column");
  // BIOES is checked strictly once the file shows it uses S-/E- tags.
  bad("a S-PER\n\nb B-PER\nc O\n", "my.conll:3: tag B-PER before O: in BIOES");
  bad("a S-PER\n\nb O\nc I-LOC\nd E-LOC\n", "my.conll:4: tag I-LOC after O: in BIOES");
  // One column throughout is a file of tokens without tags (prediction input).
  assertEquals(parseConllRecords("a\nb\n\nc\n", "f").records.map((r) => r.entities), [undefined, undefined]);
});

Deno.test("user jsonl: a good record, optional relations, blank lines, ids kept", () => {
  const text = jsonl(
    {
      id: "s1",
      tokens: ["Ada", "works", "at", "Acme"],
      entities: [{ start: 0, end: 1, type: "PER" }, { start: 3, end: 4, type: "ORG", text: "Acme" }],
      relations: [{ head: 0, tail: 1, type: "works_for" }],
    },
  ) + "\n" + jsonl({ tokens: ["Hello"], entities: [] });
  const { records } = parseJsonlRecords(text, "d.jsonl");
  assertEquals(records.length, 2);
  assertEquals(records[0].id, "s1");
  assertEquals(records[0].relations, [{ type: "works_for", head: 0, tail: 1, line: 1 }]);
  assertEquals(records[1].line, 3);
  assertEquals(records[1].relations, []);
});

Deno.test("user jsonl: bad records name the file, line and what is wrong", () => {
  const ok = { tokens: ["a", "b"], entities: [] };
  const bad = (row: unknown, msg: string) =>
    assertThrows(() => parseJsonlRecords(jsonl(ok, row), "d.jsonl"), DataFormatError, msg);
  bad(
    { tokens: ["a", "b"], entities: [{ start: 1, end: 3, type: "X" }] },
    "d.jsonl:2: entity 0: span out of range",
  );
  bad(
    { tokens: ["a"], entities: [{ start: 0, end: 0, type: "X" }] },
    "d.jsonl:2: entity 0: span out of range",
  );
  bad(
    {
      tokens: ["a", "b"],
      entities: [{ start: 0, end: 1, type: "X" }],
      relations: [{ head: 0, tail: 1, type: "r" }],
    },
    "d.jsonl:2: relation 0: tail 1 is not an entity (the sentence has 1",
  );
  bad({ tokens: ["a", "b c"], entities: [] }, "d.jsonl:2: token 1");
  bad({ tokens: [], entities: [] }, '"tokens" must be a non-empty list');
  bad({ tokens: ["a"], entities: [{ start: 0, end: 1 }] }, 'entity 0: "type" must be a non-empty string');
  bad(
    { tokens: ["a", "b", "c"], entities: [{ start: 0, end: 2, type: "X" }, { start: 1, end: 3, type: "Y" }] },
    "d.jsonl:2: entities 0 [0, 2) and 1 [1, 3) cross",
  );
  bad(
    { tokens: ["a"], entities: [{ start: 0, end: 1, type: "X" }, { start: 0, end: 1, type: "X" }] },
    "entity 1 repeats entity 0",
  );
  assertThrows(
    () => parseJsonlRecords(jsonl(ok) + '{"tokens": ["a"],\n', "d.jsonl"),
    DataFormatError,
    "d.jsonl:2: invalid JSON",
  );
  // Nested spans are fine: TANL writes them as nested brackets.
  parseJsonlRecords(
    jsonl({
      tokens: ["a", "b"],
      entities: [{ start: 0, end: 2, type: "X" }, { start: 0, end: 1, type: "Y" }],
    }),
    "d",
  );
});

Deno.test("user spert: a JSON list whose bad items are reported at their line", () => {
  const text =
    '[\n  {"tokens": ["a"], "entities": []},\n  {"tokens": ["b"],\n   "entities": [{"type": "X", "start": 0, "end": 2}]}\n]\n';
  assertEquals(arrayItemLines(text), [2, 3]);
  assertThrows(
    () => parseSpertRecords(text, "s.json"),
    DataFormatError,
    "s.json:3: item 1: entity 0: span out of range",
  );
  assertEquals(arrayItemLines('[["[", "]"], {"a": "x\\"]"}, 3]'), [1, 1, 1]);
  assertThrows(() => parseSpertRecords('{"tokens": []}', "s.json"), DataFormatError, "expected a JSON list");
});

Deno.test("user data: a file that is not UTF-8 is an error at its line", () => {
  const latin1 = new Uint8Array([
    ...new TextEncoder().encode("a O\nCaf"),
    0xe9,
    ...new TextEncoder().encode(" O\n"),
  ]);
  assertThrows(
    () => decodeUtf8(latin1, "x.conll"),
    DataFormatError,
    "x.conll:2: not UTF-8 (byte 0xe9 at byte 4",
  );
  // Overlong and surrogate encodings are not UTF-8 either.
  assertThrows(() => decodeUtf8(new Uint8Array([0x61, 0xc0, 0xaf]), "x"), DataFormatError, "byte 0xc0");
  assertThrows(() => decodeUtf8(new Uint8Array([0xed, 0xa0, 0x80]), "x"), DataFormatError, "byte 0xed");
  assertEquals(decodeUtf8(new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xc3, 0xa9]), "x"), "aé");
});

Deno.test("user schema: natural names by default and from --type-names; clashes and typos are errors", () => {
  assertEquals(defaultNaturalName("Work_For"), "work for");
  assertEquals(defaultNaturalName("Adverse-Effect"), "adverse effect");
  const records = parseJsonlRecords(
    jsonl({
      tokens: ["Ada", "at", "Acme"],
      entities: [{ start: 0, end: 1, type: "PER" }, { start: 2, end: 3, type: "ORG" }],
      relations: [{ head: 0, tail: 1, type: "works_for" }],
    }),
    "d",
  ).records;
  const schema = userSchema([{ file: "d", records }], {
    entities: { PER: " Person  name " },
    relations: {},
  });
  assertEquals(schema.task, "joint_er");
  assertEquals(schema.entityTypes, [{ short: "PER", natural: "Person name" }, {
    short: "ORG",
    natural: "org",
  }]);
  assertEquals(schema.relationTypes, [{ short: "works_for", natural: "works for" }]);
  const typo = { entities: { PRE: "person" }, relations: {} };
  assertEquals(unusedTypeNames(typo, userSchema([{ file: "d", records }], typo)), ["PRE"]);
  const flat = { PER: "Person name", works_for: "works for", LOC: "location" };
  assertEquals(unusedTypeNames({ entities: flat, relations: flat }, schema), ["LOC"]);
  assertThrows(
    () => userSchema([{ file: "d", records }], { entities: { PER: "org" }, relations: {} }),
    Error,
    'entity types "PER" (d:1) and "ORG" (d:1) would both be called "org"',
  );
  assertThrows(
    () => userSchema([{ file: "d", records }], { entities: { PER: "a|b" }, relations: {} }),
    Error,
    "uses [ ] | or =",
  );
  assertEquals(schemaFromJson(JSON.parse(JSON.stringify(schemaToJson(schema))), "x"), schema);
  assertThrows(() => schemaFromJson({ task: "pos" }, "run.json"), Error, "run.json: not a label schema");
});

Deno.test("loadUserDataset: train/dev/test, types from all files, notes, formats from extensions", () => {
  const f = files({
    "train.conll": "Ada B-PER\nvisited O\nOslo B-LOC\n\nBo B-PER\n",
    "dev.conll": "Acme B-ORG\n",
    "names.json": JSON.stringify({ PER: "person", LOC: "location", ORG: "organization", PRE: "x" }),
  });
  const d = loadUserDataset({ train: f["train.conll"], dev: f["dev.conll"], typeNames: f["names.json"] });
  assertEquals(d.format, "conll");
  assertEquals(d.schema.task, "ner");
  assertEquals(d.schema.entityTypes.map((t) => t.natural), ["person", "location", "organization"]);
  assertEquals(d.train.map((e) => e.id), ["train-0", "train-1"]);
  assertEquals(d.train[0].entities.map((e) => [e.type.short, e.start, e.end]), [["PER", 0, 1], [
    "LOC",
    2,
    3,
  ]]);
  assertEquals(d.dev!.length, 1);
  assertEquals(d.test, undefined);
  assertEquals(d.schemes[f["train.conll"]], "IOB2");
  assertEquals(d.notes.length, 2);
  assert(d.notes[0].includes('--type-names names "PRE", which the data does not use (a typo?'), d.notes[0]);
  assert(d.notes[1].includes('type "ORG" occurs in dev/test but never in'), d.notes[1]);
  assertThrows(
    () => loadUserDataset({ train: f["names.json"] + ".missing" }),
    Error,
    "cannot tell the format",
  );
  assertThrows(() => loadUserDataset({ train: "/nonexistent/x.conll" }), DataFormatError, "file not found");
});

Deno.test("loadUserFile: .txt and .jsonl inputs, gold or not, types checked against the model's", () => {
  const f = files({
    "in.txt": "Ada visited Oslo\n\n  Bo  smiled \n",
    "gold.jsonl": jsonl({ tokens: ["Ada"], entities: [{ start: 0, end: 1, type: "PER" }] }),
    "mixed.jsonl": jsonl({ tokens: ["Ada"], entities: [] }, { tokens: ["Bo"] }),
    "unknown.jsonl": jsonl({ tokens: ["Ada"], entities: [{ start: 0, end: 1, type: "PERSON" }] }),
  });
  const schema = {
    name: "u",
    task: "ner" as const,
    entityTypes: [{ short: "PER", natural: "person" }],
    relationTypes: [],
  };
  const txt = loadUserFile(f["in.txt"], { schema });
  assertEquals(txt.examples.map((e) => e.tokens), [["Ada", "visited", "Oslo"], ["Bo", "smiled"]]);
  assertEquals([txt.gold, txt.lines, txt.format], [false, [1, 3], "txt"]);
  const gold = loadUserFile(f["gold.jsonl"], { schema });
  assertEquals(gold.gold, true);
  assertEquals(gold.examples[0].entities[0].type, schema.entityTypes[0]);
  assertThrows(
    () => loadUserFile(f["mixed.jsonl"], { schema }),
    DataFormatError,
    ':2: no "entities", unlike line 1',
  );
  assertThrows(
    () => loadUserFile(f["unknown.jsonl"], { schema }),
    DataFormatError,
    'unknown.jsonl:1: unknown entity type "PERSON" (the model\'s entity types: PER)',
  );
});
