import { assertEquals, assertThrows } from "@std/assert";
import { ignoreWithoutData } from "../../tests/support.ts";
import { DataFormatError } from "./io.ts";
import {
  fewRelEpisode,
  loadFewRelEval,
  loadFewRelFile,
  loadFewRelMetaTrain,
  naturalRelationName,
  parseFewRel,
  sampleEpisode,
} from "./fewrel.ts";

const PID = new Map([["P1", "father"], ["P2", "mother"]]);
const inst = (n: number) => ({
  tokens: ["a", "b", "c", "d", "e"],
  h: ["x", "Q1", [[n]]],
  t: ["y", "Q2", [[2, 3, 4]]],
});

Deno.test("fewrel: TANL's spans (first two positions), ids numbered across relations, one relation each", () => {
  const g = parseFewRel({ P1: [inst(0), inst(1)], P2: [inst(0)] }, "f.json", "dev", PID);
  const all = [...g.byRelation.values()].flat();
  assertEquals(all.map((e) => e.id), ["dev-0", "dev-1", "dev-2"]);
  assertEquals(all[1].entities.map((e) => [e.type.natural, e.start, e.end]), [["head", 1, 2], [
    "tail",
    2,
    4,
  ]]);
  assertEquals(all[2].relations.map((r) => [r.type.short, r.type.natural, r.head, r.tail]), [[
    "P2",
    "mother",
    0,
    1,
  ]]);
  const full = parseFewRel({ P1: [inst(0)] }, "f.json", "dev", PID, { fullSpans: true });
  assertEquals(full.byRelation.get("P1")![0].entities[1], {
    type: { short: "tail", natural: "tail" },
    start: 2,
    end: 5,
  });
  assertThrows(
    () =>
      parseFewRel(
        { P1: [inst(0), { tokens: ["a"], h: ["x", "Q", [[3]]], t: ["y", "Q", [[0]]] }] },
        "f.json",
        "dev",
        PID,
      ),
    DataFormatError,
    'f.json: relation "P1", item 1: "h" must be',
  );
});

Deno.test("fewrel: natural names for relations outside pid2name", () => {
  assertEquals(naturalRelationName("Component-Whole(e2,e1)", PID), "whole component");
  assertEquals(naturalRelationName("Cause-Effect(e1,e2)", PID), "cause effect");
  assertEquals(naturalRelationName("gene_found_in_organism", PID), "gene found in organism");
  assertEquals(naturalRelationName("P1", PID), "father");
});

Deno.test({
  name: "fewrel real: val_wiki has 16 relations x 700 with pid2name names",
  ignore: ignoreWithoutData("fewrel/val_wiki.json"),
  fn() {
    const g = loadFewRelFile("val_wiki", "dev");
    assertEquals(g.byRelation.size, 16);
    for (const ex of g.byRelation.values()) assertEquals(ex.length, 700);
    assertEquals(g.relationTypes.find((t) => t.short === "P177")?.natural, "crosses");
    assertEquals(loadFewRelEval().examples.length, 11200);
  },
});

// Expected ids computed with CPython 3.11: random.seed(s); random.sample(list(keys), N); then
// random.sample(instances, K + 5) per relation, over val_wiki.json.
const EPISODES = [
  {
    seed: 1,
    ways: 5,
    shots: 1,
    rels: ["P641", "P155", "P463", "P25", "P364"],
    support: [3061, 6688, 9543, 9005, 1365],
    query10: [2920, 3307, 3260, 3283, 3467, 6514, 6396, 6799, 6329, 6699],
    sums: [29662, 143674],
  },
  {
    seed: 2,
    ways: 10,
    shots: 5,
    rels: ["P364", "P921", "P40", "P59", "P2094", "P26", "P641", "P155", "P361", "P412"],
    support: [736, 1295, 1397, 862, 1141, 10955, 11014, 10774, 10536, 10528],
    query10: [1353, 1102, 1221, 1080, 1257, 10872, 10976, 10826, 10889, 10933],
    sums: [267304, 269648],
  },
  {
    seed: 10,
    ways: 5,
    shots: 5,
    rels: ["P364", "P413", "P206", "P155", "P177"],
    support: [911, 1173, 1203, 984, 1369, 4277, 4455, 4569, 4245, 4630],
    query10: [864, 735, 1233, 1201, 1035, 4342, 4817, 4563, 4590, 4631],
    sums: [89984, 88657],
  },
];

Deno.test({
  name: "fewrel real: episodes equal CPython's random.sample draws (5/10-way, 1/5-shot)",
  ignore: ignoreWithoutData("fewrel/val_wiki.json"),
  fn() {
    const g = loadFewRelFile("val_wiki", "dev");
    const num = (id: string) => Number(id.slice("dev-".length));
    for (const c of EPISODES) {
      const ep = sampleEpisode(g, c);
      assertEquals(ep.relationTypes.map((t) => t.short), c.rels);
      assertEquals(ep.support.length, c.ways * c.shots);
      assertEquals(ep.query.length, c.ways * 5);
      assertEquals(ep.support.slice(0, 10).map((e) => num(e.id)), c.support);
      assertEquals(ep.query.slice(0, 10).map((e) => num(e.id)), c.query10);
      const sum = (xs: typeof ep.support) => xs.reduce((s, e) => s + num(e.id), 0);
      assertEquals([sum(ep.support), sum(ep.query)], c.sums);
      for (const [k, e] of ep.query.entries()) {
        assertEquals(e.relations[0].type, ep.relationTypes[Math.floor(k / 5)]);
      }
    }
    assertEquals(
      fewRelEpisode({ ways: 5, shots: 1, seed: 1 }).relationTypes.map((t) => t.short),
      EPISODES[0].rels,
    );
  },
});

Deno.test({
  name: "fewrel real: meta-training stand-in is disjoint from the episode relations",
  ignore: ignoreWithoutData("fewrel/val_nyt.json"),
  fn() {
    const meta = loadFewRelMetaTrain();
    const evalIds = new Set(loadFewRelFile("val_wiki", "dev").byRelation.keys());
    assertEquals(meta.sources, ["val_nyt", "val_semeval", "val_pubmed"]);
    assertEquals(meta.excluded.sort(), ["P2094", "P25", "P40", "P410", "P412", "P413", "P463", "P921"]);
    assertEquals(meta.schema.relationTypes.length, 25 - 8 + 17 + 10);
    for (const t of meta.schema.relationTypes) assertEquals(evalIds.has(t.short), false, t.short);
    assertEquals(
      new Set(meta.schema.relationTypes.map((t) => t.natural)).size,
      meta.schema.relationTypes.length,
    );
    assertEquals(meta.examples.length, 17 * 100 + 8851 + 1000);
    assertEquals(meta.examples.at(-1)!.id, `train-${meta.examples.length - 1}`);
  },
});
