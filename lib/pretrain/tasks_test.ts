import { assertEquals, assertThrows } from "@std/assert";
import type { Example } from "../data/types.ts";
import {
  filterTokenSource,
  renamedTypesObjective,
  sentenceKey,
  tanlObjective,
  vocabularyWords,
  withoutSentences,
} from "./tasks.ts";
import { Rng } from "./span_corruption.ts";
import { T5Tokenizer } from "../tokenizer/mod.ts";
import { REPO_ROOT } from "../config/paths.ts";
import type { DatasetSchema } from "../data/types.ts";
import { pickObjective } from "./loop.ts";
import { BACKBONE_RECIPES, type BackboneRecipe, checkLeakageRule, type ServedDataset } from "./recipes.ts";
import { DATASETS } from "../data/registry.ts";
import type { Objective } from "./tasks.ts";

const ex = (id: string, words: string): Example => ({
  id,
  tokens: words.split(" "),
  entities: [],
  relations: [],
});

Deno.test("tasks: evaluation sentences are dropped by their letters and digits, case and punctuation aside", () => {
  const forbidden = new Set([sentenceKey(ex("dev-0", "LONDON 1996-08-30"))]);
  const { kept, dropped } = withoutSentences(
    [ex("train-0", "London 1996-08-30 ."), ex("train-1", "London calling")],
    forbidden,
  );
  assertEquals(dropped, 1);
  assertEquals(kept.map((e) => e.id), ["train-1"]);
});

Deno.test("tasks: a corpus source loses exactly the forbidden sentences and keeps the others' ids", () => {
  const src = {
    name: "s",
    ids: Uint16Array.from([5, 6, 7, 8, 9, 10]),
    offsets: Uint32Array.from([0, 2, 3, 6]),
  };
  const lines = ["a b", "LONDON 1996", "c d e"];
  const r = filterTokenSource(src, lines, new Set(["london1996"]));
  assertEquals(r.dropped, 1);
  assertEquals([...r.source.ids], [5, 6, 8, 9, 10]);
  assertEquals([...r.source.offsets], [0, 2, 5]);
  assertEquals(filterTokenSource(src, lines, new Set(["zzz"])).source, src);
  assertThrows(() => filterTokenSource(src, lines.slice(1), new Set()), Error, "2 text lines for 3");
});

Deno.test("pretraining mixture: [copy c, span 1 - c] draws as u < c ? copy : span; weights pick in order", () => {
  const o = (name: string): Objective => ({ name, sample: () => ({ inputs: [], targets: [] }) });
  const mix = [{ objective: o("copy"), weight: 0.75 }, { objective: o("span"), weight: 0.25 }];
  for (const u of [0, 0.3, 0.7499, 0.75, 0.9, 0.99999]) {
    assertEquals(pickObjective(mix, u).name, u < 0.75 ? "copy" : "span");
  }
  const three = [
    { objective: o("copy"), weight: 0 },
    { objective: o("span"), weight: 0.2 },
    { objective: o("conll04"), weight: 0.8 },
  ];
  assertEquals(pickObjective(three, 0.1).name, "span");
  assertEquals(pickObjective(three, 0.2).name, "conll04");
  assertEquals(pickObjective(three, 0.99).name, "conll04");
});

Deno.test("recipes: no backbone trains on the labels of a dataset it serves", () => {
  const served = new Set<string>();
  for (const r of Object.values(BACKBONE_RECIPES)) {
    checkLeakageRule(r);
    for (const d of r.serves) served.add(d);
  }
  // Every dataset of the offline tables has a backbone.
  assertEquals([...served].sort(), ["ade", "conll03", "conll04", "fewrel"]);
  const bad: BackboneRecipe = { ...BACKBONE_RECIPES["fishdip-t5-mini-mt-conll04"], serves: ["conll04"] };
  assertThrows(() => checkLeakageRule(bad), Error, "trains on its labels");
});

Deno.test("recipes: every dataset's offline backbone is a recipe that serves it", () => {
  for (const d of Object.values(DATASETS)) {
    if (!d.offlineBackbone) continue;
    const recipe = BACKBONE_RECIPES[d.offlineBackbone];
    assertEquals(recipe?.name, d.offlineBackbone, d.name);
    const served = d.name === "fewrel_standin" || d.name === "fewrel_train_wiki" ? "fewrel" : d.name;
    assertEquals(recipe.serves.includes(served as ServedDataset), true, `${d.name} served by ${recipe.name}`);
  }
});

Deno.test("tasks: renamed types keep the sentence, spans and tags, one random word per type", async () => {
  const tok = await T5Tokenizer.load(`${REPO_ROOT}/data/models/fishdip-t5-mini-mt-conll04/spiece.model`);
  const words = vocabularyWords(tok);
  assertEquals(words.length > 1000, true);
  assertEquals(words.every((w) => /^[a-z]{3,12}$/.test(w)), true);
  const people = { short: "Peop", natural: "people" }, works = { short: "Work_For", natural: "works for" };
  const org = { short: "Org", natural: "organization" };
  const schema: DatasetSchema = {
    name: "t",
    task: "joint_er",
    entityTypes: [people, org],
    relationTypes: [works],
  };
  const e: Example = {
    id: "train-0",
    tokens: "Anna and Ben work for Acme".split(" "),
    entities: [{ start: 0, end: 1, type: people }, { start: 2, end: 3, type: people }, {
      start: 5,
      end: 6,
      type: org,
    }],
    relations: [{ head: 0, tail: 2, type: works }],
  };
  const base = tanlObjective("t", [e], schema, tok, 64);
  // share 0: the base pairs, untouched
  const never = renamedTypesObjective(base, [e], schema, tok, 64, 0, words);
  assertEquals(never.sample(new Rng(3)), base.pairs[0]);
  // share 1: same input; the target differs only in the names, the same type always the same word
  const always = renamedTypesObjective(base, [e], schema, tok, 64, 1, words);
  const rng = new Rng(5);
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const pair = always.sample(rng);
    assertEquals(pair.inputs, base.pairs[0].inputs);
    const target = tok.decode(pair.targets, { skipSpecialTokens: true });
    const m = /^\[ Anna \| (\w+) \| (\w+) = Acme \] and \[ Ben \| (\w+) \] work for \[ Acme \| (\w+) \]$/
      .exec(target);
    assertEquals(m !== null, true, target);
    const [, p1, w, p2, o] = m!;
    assertEquals(p1, p2); // both people entities share their new name
    for (const name of [p1, w, o]) assertEquals(words.includes(name), true, name);
    seen.add(p1);
  }
  assertEquals(seen.size > 10, true); // a fresh name per draw
  assertThrows(
    () => renamedTypesObjective(base, [e], { ...schema, task: "relation_classification" }, tok, 64, 1, words),
    Error,
    "only for ner and joint_er",
  );
});
