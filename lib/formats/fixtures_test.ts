/**
 * The formats against TANL's own output on the reference fixtures: input and target strings,
 * and the full parse record (raw spans, inference tuples and flags, counters) of every gold target
 * and every corrupted prediction.
 */
import { assertEquals, assertGreater } from "@std/assert";
import { ignoreWithoutFixtures } from "../../tests/support.ts";
import type { DatasetSchema, Example } from "../data/types.ts";
import { formatFor } from "./mod.ts";
import { parseOutputSentence } from "./parse.ts";
import { loadTanlFixture, type ParseRecord, tanlFixtureFiles } from "../../tests/tanl_fixtures.ts";

const ignore = ignoreWithoutFixtures("tanl");

function checkParse(
  output: string,
  example: Example,
  schema: DatasetSchema,
  want: ParseRecord,
  what: string,
) {
  const format = formatFor(schema.task as "ner" | "joint_er");
  const parsed = parseOutputSentence(example.tokens, output);
  assertEquals(
    {
      entities: parsed.entities.map((e) => [e.name, e.tags, e.start, e.end]),
      wrong_reconstruction: parsed.wrongReconstruction,
    },
    want.parse_output_sentence,
    `${what}: parse_output_sentence`,
  );
  const p = format.parse(output, example, schema);
  assertEquals(
    {
      predicted_entities: p.entities,
      predicted_relations: p.relations,
      wrong_reconstruction: p.wrongReconstruction,
      label_error: p.labelError,
      entity_error: p.entityError,
      format_error: p.formatError,
    },
    want.run_inference,
    `${what}: run_inference`,
  );
  assertEquals(
    format.evaluateExample(output, example, schema),
    want.evaluate_example,
    `${what}: evaluate_example`,
  );
}

Deno.test({
  name: "fixture tanl: input, target and gold-target parse of every sentence",
  ignore,
  fn() {
    let sentences = 0;
    for (const path of tanlFixtureFiles()) {
      const fx = loadTanlFixture(path);
      const format = formatFor(fx.schema.task as "ner" | "joint_er");
      for (const s of fx.sentences) {
        const ex = fx.examples.get(s.index)!;
        const what = `${fx.file} ${s.id}`;
        assertEquals(format.formatInput(ex, fx.schema), s.input, `${what}: input`);
        assertEquals(format.formatOutput(ex, fx.schema), s.target, `${what}: target`);
        checkParse(s.target, ex, fx.schema, s.gold_target_parse, `${what} gold target`);
        sentences++;
      }
    }
    console.log(`  ${sentences} sentences matched (input, target, parse record)`);
    assertGreater(sentences, 0);
  },
});

Deno.test({
  name: "fixture tanl: parse record of every corrupted prediction",
  ignore,
  fn() {
    let predictions = 0;
    for (const path of tanlFixtureFiles()) {
      const fx = loadTanlFixture(path);
      for (const c of fx.corrupted_predictions) {
        const ex = fx.examples.get(c.index)!;
        checkParse(c.prediction, ex, fx.schema, c.parse, `${fx.file} #${c.index} ${c.kind}`);
        predictions++;
      }
    }
    console.log(`  ${predictions} corrupted predictions matched`);
    assertGreater(predictions, 0);
  },
});
