/**
 * TANL's `evaluate_dataset` results on the reference fixtures, for the three prediction sets
 * (all gold targets; gold with the corrupted predictions substituted; the corrupted sentences
 * alone), each with macro false and true.
 */
import { assertEquals } from "@std/assert";
import { ignoreWithoutFixtures } from "../../tests/support.ts";
import type { Example } from "../data/types.ts";
import { loadTanlFixture, tanlFixtureFiles } from "../../tests/tanl_fixtures.ts";
import { evaluateDataset } from "./evaluate_dataset.ts";

Deno.test({
  name: "fixture tanl: dataset_scores of the three prediction sets, macro false and true",
  ignore: ignoreWithoutFixtures("tanl"),
  fn() {
    let matched = 0;
    for (const path of tanlFixtureFiles()) {
      const fx = loadTanlFixture(path);
      const corrupted = new Map(fx.corrupted_predictions.map((c) => [c.index, c.prediction]));
      const sets: Record<string, { predictions: string[]; examples: Example[] }> = {
        all_gold_targets: {
          predictions: fx.sentences.map((s) => s.target),
          examples: fx.sentences.map((s) => fx.examples.get(s.index)!),
        },
        gold_targets_with_corruptions_substituted: {
          predictions: fx.sentences.map((s) => corrupted.get(s.index) ?? s.target),
          examples: fx.sentences.map((s) => fx.examples.get(s.index)!),
        },
        corrupted_sentences_only: {
          predictions: fx.corrupted_predictions.map((c) => c.prediction),
          examples: fx.corrupted_predictions.map((c) => fx.examples.get(c.index)!),
        },
      };
      assertEquals(Object.keys(fx.dataset_scores).sort(), Object.keys(sets).sort(), `${fx.file}: score sets`);
      for (const [name, { predictions, examples }] of Object.entries(sets)) {
        for (const macro of [false, true]) {
          const want = fx.dataset_scores[name][macro ? "macro_true" : "macro_false"];
          assertEquals(
            evaluateDataset(predictions, examples, fx.schema, { macro }),
            want,
            `${fx.file} ${name} macro=${macro}`,
          );
          matched++;
        }
      }
    }
    console.log(`  ${matched} score sets matched exactly`);
  },
});
