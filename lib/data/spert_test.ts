import { assertEquals, assertThrows } from "@std/assert";
import { ignoreWithoutData, ignoreWithoutFixtures } from "../../tests/support.ts";
import { fixturesDir } from "../config/paths.ts";
import { DataFormatError, parseJson } from "./io.ts";
import { CONLL04_SCHEMA, loadAde, loadAdeFull, loadAdeSchema, loadConll04, parseSpert } from "./spert.ts";

const good = {
  tokens: ["John", "works", "for", "Acme", "."],
  entities: [{ type: "Peop", start: 0, end: 1 }, { type: "Org", start: 3, end: 4 }],
  relations: [{ type: "Work_For", head: 0, tail: 1 }],
  orig_id: 7,
};

Deno.test("spert: parses sentences, entities, relations, ids and orig_id", () => {
  const [ex] = parseSpert([good], "f.json", "train", CONLL04_SCHEMA);
  assertEquals(ex.id, "train-0");
  assertEquals(ex.origId, 7);
  assertEquals(ex.entities.map((e) => [e.type.natural, e.start, e.end]), [["person", 0, 1], [
    "organization",
    3,
    4,
  ]]);
  assertEquals(ex.relations.map((r) => [r.type.natural, r.head, r.tail]), [["works for", 0, 1]]);
});

Deno.test("spert: malformed items name the file and the item index", () => {
  const bad = (patch: Record<string, unknown>, msg: string) =>
    assertThrows(
      () => parseSpert([good, { ...good, ...patch }], "conll04/conll04_train.json", "train", CONLL04_SCHEMA),
      DataFormatError,
      `conll04/conll04_train.json: item 1: ${msg}`,
    );
  bad({ entities: [{ type: "Person", start: 0, end: 1 }] }, 'entity 0: unknown entity type "Person"');
  bad({ entities: [{ type: "Peop", start: 4, end: 9 }] }, "entity 0: span [4, 9) is not inside the 5 tokens");
  bad({ relations: [{ type: "Work_For", head: 0, tail: 2 }] }, "relation 0: tail 2 is not an index");
  bad(
    { relations: [{ type: "Works_For", head: 0, tail: 1 }] },
    'relation 0: unknown relation type "Works_For"',
  );
  bad({ tokens: "John works" }, '"tokens" must be a list of strings');
  assertThrows(
    () => parseSpert({}, "x.json", "train", CONLL04_SCHEMA),
    DataFormatError,
    "x.json: expected a JSON list",
  );
  assertThrows(
    () => parseJson('[\n{"a": 1},\n{"a": }\n]', "x.json"),
    DataFormatError,
    "x.json:3: invalid JSON",
  );
});

const C04 = { train: [922, 1283], dev: [231, 343], test: [288, 422] } as const;
for (const split of ["train", "dev", "test"] as const) {
  Deno.test({
    name: `conll04 real ${split}: ${C04[split][0]} sentences, ${C04[split][1]} relations`,
    ignore: ignoreWithoutData(`conll04/conll04_${split}.json`),
    fn() {
      const ex = loadConll04(split);
      assertEquals(ex.length, C04[split][0]);
      assertEquals(ex.reduce((s, e) => s + e.relations.length, 0), C04[split][1]);
    },
  });
}

for (const split of ["train", "test"] as const) {
  Deno.test({
    name: `conll04 real ${split}: first 30 sentences match TANL's Conll04Dataset (fixture)`,
    ignore: ignoreWithoutData(`conll04/conll04_${split}.json`) ||
      ignoreWithoutFixtures(`tanl/conll04_${split}.json`),
    fn() {
      const fx = JSON.parse(Deno.readTextFileSync(`${fixturesDir()}/tanl/conll04_${split}.json`));
      const nat = (ts: { short: string; natural: string }[]) =>
        Object.fromEntries(ts.map((t) => [t.short, t.natural]));
      assertEquals(nat(CONLL04_SCHEMA.entityTypes), fx.entity_types);
      assertEquals(nat(CONLL04_SCHEMA.relationTypes), fx.relation_types);
      const ex = loadConll04(split);
      for (const s of fx.sentences) {
        const e = ex[s.index];
        assertEquals(e.id, s.id);
        assertEquals(e.tokens, s.tokens);
        assertEquals(
          e.entities.map((x) => [x.type.natural, x.type.short, x.start, x.end]),
          s.gold_entities.map((x: Record<string, unknown>) => [x.type, x.type_short, x.start, x.end]),
        );
        assertEquals(
          e.relations.map((r) => [r.type.natural, r.type.short, r.head, r.tail]),
          s.gold_relations.map((r: Record<string, unknown>) => [r.type, r.type_short, r.head, r.tail]),
        );
      }
    },
  });
}

Deno.test({
  name: "ade real: 4,272 sentences in ade_full, in the union of the 10 test folds, and in each fold",
  ignore: ignoreWithoutData("ade/ade_full.json"),
  fn() {
    const schema = loadAdeSchema();
    assertEquals(schema.entityTypes.map((t) => [t.short, t.natural]), [["Drug", "drug"], [
      "Adverse-Effect",
      "disease",
    ]]);
    assertEquals(schema.relationTypes.map((t) => [t.short, t.natural]), [["Adverse-Effect", "effect"]]);
    const full = loadAdeFull();
    assertEquals(full.length, 4272);
    assertEquals(full.reduce((s, e) => s + e.relations.length, 0), 6821);
    let tests = 0;
    for (let fold = 0; fold < 10; fold++) {
      const test = loadAde("test", { fold });
      const train = loadAde("train", { fold });
      assertEquals(train.length + test.length, 4272);
      assertEquals(loadAde("dev", { fold }), []);
      tests += test.length;
      if (fold === 3) assertEquals([train[0].id, test[0].id], ["split_3_train-0", "split_3_test-0"]);
    }
    assertEquals(tests, 4272);
  },
});
