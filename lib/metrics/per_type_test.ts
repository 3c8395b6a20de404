import { assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import type { DatasetSchema, Example } from "../data/types.ts";
import { evaluateDataset } from "./evaluate_dataset.ts";
import { typeScores, typeScoresTable } from "./per_type.ts";

const PER = { short: "PER", natural: "person" }, ORG = { short: "ORG", natural: "organization" };
const WORKS = { short: "works_for", natural: "works for" };
const schema: DatasetSchema = {
  name: "u",
  task: "joint_er",
  entityTypes: [PER, ORG],
  relationTypes: [WORKS],
};
const examples: Example[] = [
  {
    id: "a",
    tokens: ["Ada", "joined", "Acme"],
    entities: [{ type: PER, start: 0, end: 1 }, { type: ORG, start: 2, end: 3 }],
    relations: [{ type: WORKS, head: 0, tail: 1 }],
  },
  { id: "b", tokens: ["Bo", "left", "Zed"], entities: [{ type: PER, start: 0, end: 1 }], relations: [] },
];

Deno.test("typeScores: per-type counts and P/R/F1; overall rows equal evaluateDataset's", () => {
  const predictions = [
    "[ Ada | person | works for = Acme ] joined [ Acme | organization ]", // all right
    "[ Bo | organization ] left [ Zed | person ]", // Bo mistyped, Zed spurious
  ];
  const s = typeScores(predictions, examples, schema);
  const per = s.byType.find((r) => r.type === "PER")!, org = s.byType.find((r) => r.type === "ORG")!;
  assertEquals([per.gold, per.predicted, per.correct], [2, 2, 1]);
  assertEquals([org.gold, org.predicted, org.correct], [1, 2, 1]);
  assertEquals([per.precision, per.recall, per.f1], [0.5, 0.5, 0.5]);
  assertAlmostEquals(org.f1, 2 / 3);
  const rel = s.byType.find((r) => r.kind === "relation")!;
  assertEquals([rel.type, rel.natural, rel.gold, rel.predicted, rel.correct], [
    "works_for",
    "works for",
    1,
    1,
    1,
  ]);
  const tanl = evaluateDataset(predictions, examples, schema);
  assertEquals([s.entities.precision, s.entities.recall, s.entities.f1], [
    tanl.entity_precision,
    tanl.entity_recall,
    tanl.entity_f1,
  ]);
  assertEquals(s.relations!.f1, tanl.relation_f1);
  assertEquals(s.sentences, 2);
  const table = typeScoresTable(s);
  assertStringIncludes(table, "all entities");
  const perLine = table.split("\n").find((l) => l.startsWith("PER "))!;
  assertEquals(perLine.trim().split(/\s+/), ["PER", "entity", "50.00", "50.00", "50.00", "2", "2", "1"]);
});

Deno.test("typeScores: no relation row for an NER schema; nothing predicted scores 0, not NaN", () => {
  const ner: DatasetSchema = { ...schema, task: "ner", relationTypes: [] };
  const plain = examples.map((e) => ({ ...e, relations: [] }));
  const s = typeScores(plain.map((e) => e.tokens.join(" ")), plain, ner);
  assertEquals(s.relations, undefined);
  assertEquals(s.byType.map((r) => [r.type, r.f1]), [["PER", 0], ["ORG", 0]]);
  assertEquals(s.entities.gold, 3);
});
