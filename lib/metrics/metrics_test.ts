import { assertEquals, assertThrows } from "@std/assert";
import type { DatasetSchema, Example, LabelType } from "../data/types.ts";
import { formatBelief } from "../formats/dst.ts";
import { evaluateDataset } from "./evaluate_dataset.ts";
import { fewShotAccuracy, fewShotScores } from "./few_shot.ts";
import { npMean, npStd, npSum } from "./numpy_stats.ts";
import { precisionRecallF1 } from "./prf.ts";
import { averageOverSeeds } from "./seeds.ts";

Deno.test("precisionRecallF1 follows TANL's formula and asserts", () => {
  assertEquals(precisionRecallF1(2, 2, 3), { precision: 1, recall: 2 / 3, f1: 2 / (1 / 1 + 1 / (2 / 3)) });
  assertEquals(precisionRecallF1(0, 0, 0), { precision: 0, recall: 0, f1: 0 });
  assertEquals(precisionRecallF1(0, 4, 5).f1, 0);
  assertThrows(() => precisionRecallF1(3, 2, 5));
});

Deno.test("numpy sum/mean/std reproduce pairwise summation bit for bit (values from numpy 2.4.6)", () => {
  // Ten equal episodes: numpy's mean is exactly 0.1, a plain loop gives 0.09999999999999999.
  assertEquals(npMean(Array(10).fill(0.1)), 0.1);
  assertEquals(npStd(Array(10).fill(0.1)), 0);
  assertEquals(npMean([0.5, 0.7]), 0.6);
  assertEquals(npStd([0.5, 0.7]), 0.09999999999999998);
  const xs8 = [
    0.0009562672548360985,
    0.0002842011637487915,
    0.000648547207079825,
    69621.59966701554,
    0.2927207490124871,
    0.0014900835088361708,
    0.0009734602747664127,
    0.29840122301687566,
  ];
  assertEquals(npSum(xs8), 69622.195141547); // sequential: 69622.19514154698
  assertEquals(npMean(xs8), 8702.774392693374);
  assertEquals(npStd(xs8), 23025.15169148717);
  const xs18 = [
    0.29675776838944945,
    0.0004928469789243326,
    84946.04111895368,
    0.9652314208373755,
    70814.47706872417,
    0.21368721943054814,
    54498.26814580041,
    70595.90429868869,
    0.05188252772662516,
    0.6798841672240714,
    36828.18351390811,
    0.0005897002867792083,
    0.6695332811416651,
    0.6691274961459358,
    0.0005230497755258565,
    0.0005547374324650893,
    0.00019814971361353296,
    49518.73915354021,
  ];
  assertEquals(npSum(xs18), 367205.16176198033); // sequential: 367205.1617619804
  assertEquals(npMean(xs18), 20400.28676455446);
  assertEquals(npStd(xs18), 30278.05680346448);
});

Deno.test("averageOverSeeds: numpy mean and population std per key of the first episode", () => {
  const avg = averageOverSeeds([{ entity_f1: 0.5, relation_f1: 0.1 }, { entity_f1: 0.7 }]);
  assertEquals(avg, { numEpisodes: 2, scores: { entity_f1: { mean: 0.6, std: 0.09999999999999998 } } });
  assertEquals(averageOverSeeds([]), { numEpisodes: 0, scores: {} });
});

const t = (short: string, natural = short): LabelType => ({ short, natural });

Deno.test("evaluateDataset: NER keeps entity keys only; macro averages over the schema's types", () => {
  const schema: DatasetSchema = {
    name: "toy",
    task: "ner",
    entityTypes: [t("ORG", "organization"), t("MISC", "miscellaneous"), t("PER", "person")],
    relationTypes: [],
  };
  const ex: Example = {
    id: "dev-0",
    tokens: "EU rejects German call to boycott British lamb .".split(" "),
    entities: [
      { type: schema.entityTypes[0], start: 0, end: 1 },
      { type: schema.entityTypes[1], start: 2, end: 3 },
      { type: schema.entityTypes[1], start: 6, end: 7 },
    ],
    relations: [],
  };
  const pred = "[ EU | organization ] rejects [ German | miscellaneous ] call to boycott " +
    "[ British | nationality ] lamb .";
  const res = evaluateDataset([pred], [ex], schema, { macro: true });
  assertEquals(Object.keys(res), [
    "entity_precision",
    "entity_recall",
    "entity_f1",
    "entity_precision_no_type",
    "entity_recall_no_type",
    "entity_f1_no_type",
    "entity_macro_precision",
    "entity_macro_recall",
    "entity_macro_f1",
  ]);
  assertEquals([res.entity_precision, res.entity_recall], [1, 2 / 3]);
  // Per type P/R: organization 1/1, miscellaneous 1/0.5, person 0/0 (no gold, no prediction).
  assertEquals(res.entity_macro_precision, (1 + 1 + 0) / 3);
  assertEquals(res.entity_macro_recall, (1 + 0.5 + 0) / 3);
});

Deno.test("evaluateDataset: DST joint accuracy, with TANL's empty-state quirk", () => {
  const schema: DatasetSchema = { name: "multi_woz", task: "dst", entityTypes: [], relationTypes: [] };
  const ex = (belief: string[]): Example => ({
    id: "x",
    tokens: ["hi"],
    entities: [],
    relations: [],
    belief,
  });
  const a = ex(["hotel-price range-cheap", "hotel-area-north"]), b = ex(["taxi-leave at-17:15"]), c = ex([]);
  const preds = [formatBelief(a.belief!), "[belief] taxi leave at 17:30 [belief]", formatBelief([])];
  // The empty state parses to {""}, so even a perfect output for c is wrong (as in TANL).
  assertEquals(evaluateDataset(preds, [a, b, c], schema), { joint_accuracy: 1 / 3 });
});

Deno.test("fewShotScores: accuracy of the ranked candidates", () => {
  const rel = (r: LabelType): Example => ({
    id: "q",
    tokens: ["a", "b"],
    entities: [{ type: t("head"), start: 0, end: 1 }, { type: t("tail"), start: 1, end: 2 }],
    relations: [{ type: r, head: 0, tail: 1 }],
  });
  const p17 = t("P17", "country"), p27 = t("P27", "country of citizenship");
  const queries = [rel(p17), rel(p27), rel(p27)];
  assertEquals(fewShotAccuracy([p17, p17, p27], queries), 2 / 3);
  const s = fewShotScores([p17, p17, p27], queries);
  assertEquals([s.relation_precision, s.relation_recall], [2 / 3, 2 / 3]);
  assertEquals(s.relation_f1, 2 / (1 / (2 / 3) + 1 / (2 / 3)));
});
