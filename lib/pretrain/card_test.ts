import { assertStringIncludes } from "@std/assert";
import { backboneCard, type LeakageReport } from "./card.ts";
import { BACKBONE_RECIPES } from "./recipes.ts";

Deno.test("backbone card: the recipe, the served datasets and every leakage count appear", () => {
  const leakage: LeakageReport = {
    recipe: BACKBONE_RECIPES["fishdip-t5-mini-mt-conll04"],
    rule: "no label of a served dataset",
    evaluation_sentences: { "conll03/dev": 3250, "fewrel/val_wiki": 11200 },
    distinct_evaluation_keys: 14321,
    tasks: {
      conll04: {
        examples: 1153,
        dropped_as_evaluation_sentences: 2,
        kept: 1151,
        truncated_at_max_length: 68,
        target_tokens: 81088,
      },
    },
    corpus_dropped_as_evaluation_sentences: { conll03_train: 116 },
  };
  const card = backboneCard(leakage, {
    summary: "| loss table |",
    minutes: 61.4,
    steps: 1600,
    tokens: 2e6,
    command: "x",
  });
  assertStringIncludes(card, "# fishdip-t5-mini-mt-conll04");
  assertStringIncludes(card, "may serve the rows of: conll03, ade, fewrel");
  assertStringIncludes(card, "start the rows of conll03, ade, fewrel from it");
  assertStringIncludes(card, "| CoNLL04 train + dev (entities, relations) | 1153 | 2 | 1151 | 68 | 81,088 |");
  assertStringIncludes(card, "| conll03_train | 116 |");
  assertStringIncludes(card, "| distinct sentences | 14321 |");
  assertStringIncludes(card, "span 20 %, conll04 50 %, fewrel_meta 30 %");
  assertStringIncludes(card, "| steps | 1,600 |");
  assertStringIncludes(card, "| loss table |");
});

Deno.test("backbone card: a continued recipe names its initial backbone, its seed and where it trained", () => {
  const recipe = BACKBONE_RECIPES["fishdip-t5-mini-mt-conll03-ade-long"];
  const leakage: LeakageReport = {
    recipe,
    rule: "no label of a served dataset",
    evaluation_sentences: { "conll04/test": 288 },
    distinct_evaluation_keys: 288,
    tasks: {},
    corpus_dropped_as_evaluation_sentences: {},
  };
  const opts = { summary: "", minutes: 30.6, steps: 1600, tokens: 1e6, command: "x" };
  const card = backboneCard(leakage, { ...opts, compute: "wasm+blas, 2 BLAS thread(s)" });
  assertStringIncludes(card, "`fishdip-t5-mini-mt-conll03-ade` (itself a multi-task backbone, see its card)");
  assertStringIncludes(card, "`data/models/fishdip-t5-mini-mt-conll03-ade` must be there first");
  assertStringIncludes(card, "| seed of the draws | 2 |");
  assertStringIncludes(card, "| time | 31 min of one process (wasm+blas, 2 BLAS thread(s)) |");
  assertStringIncludes(backboneCard(leakage, opts), "(backend not recorded)");
});
