/**
 * The formats on the worked examples of the FISH-DIP digest (§5, produced by running TANL's code)
 * and on the edge cases of TANL's algorithms.
 */
import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import type { DatasetSchema, Example, LabelType } from "../data/types.ts";
import { augment, augmentSentence } from "./augment.ts";
import { beliefCorrect, dstFormat, formatBelief, parseBelief, splitBeliefItem } from "./dst.ts";
import { entityRelationFormat } from "./entity_relation.ts";
import { alignTokens, parseOutputSentence } from "./parse.ts";
import { pySlice, pySplit, pyStrip } from "./python.ts";
import {
  formatRelationInput,
  formatRelationOutput,
  parseRelation,
  rankRelationCandidates,
} from "./relation_classification.ts";
import { entityTypesFromExamples, srlFormat } from "./srl.ts";

const t = (short: string, natural = short): LabelType => ({ short, natural });
const PERSON = t("Peop", "person"), KILL = t("Kill", "kills");
const CONLL04: DatasetSchema = {
  name: "conll04",
  task: "joint_er",
  entityTypes: [t("Loc", "location"), t("Org", "organization"), PERSON, t("Other", "other")],
  relationTypes: [t("Work_For", "works for"), KILL, t("Live_In", "lives in")],
};

Deno.test("augmentSentence: TANL's docstring example, nesting, and crossing spans dropped", () => {
  const tokens = ["Tolkien", "was", "born", "here"];
  assertEquals(
    augmentSentence(tokens, [
      { tags: [["person"], ["born in", "here"]], start: 0, end: 1 },
      { tags: [["location"]], start: 3, end: 4 },
    ]),
    "[ Tolkien | person | born in = here ] was born [ here | location ]",
  );
  // Sorted by (start, -end): the outer span first, whatever the input order.
  assertEquals(
    augmentSentence(["a", "b", "c"], [{ tags: [["x"]], start: 1, end: 2 }, {
      tags: [["y"]],
      start: 0,
      end: 3,
    }]),
    "[ a [ b | x ] c | y ]",
  );
  // (1, 3) crosses (0, 2): dropped; an empty first tag writes only the `= x` parts.
  const out = augment(["a", "b", "c"], [
    { tags: [["x"]], start: 0, end: 2 },
    { tags: [["y"]], start: 1, end: 3 },
    { tags: [["", "z"]], start: 2, end: 3 },
  ]);
  assertEquals(out.sentence, "[ a b | x ] [ c = z ]");
  assertEquals(out.dropped, [{ tags: [["y"]], start: 1, end: 3 }]);
});

Deno.test("joint ER: the digest's target and its noisy prediction", () => {
  const ex: Example = {
    id: "toy",
    tokens: "John Wilkes Booth , who assassinated President Lincoln , was an actor .".split(" "),
    entities: [{ type: PERSON, start: 0, end: 3 }, { type: PERSON, start: 6, end: 8 }],
    relations: [{ type: KILL, head: 0, tail: 1 }],
  };
  const target = entityRelationFormat.formatOutput(ex, CONLL04);
  assertEquals(
    target,
    "[ John Wilkes Booth | person | kills = President Lincoln ] , who assassinated [ President Lincoln | person ] , was an actor .",
  );
  assertEquals(entityRelationFormat.parse(target, ex, CONLL04), {
    entities: [["person", 0, 3], ["person", 6, 8]],
    relations: [["kills", ["person", 0, 3], ["person", 6, 8]]],
    wrongReconstruction: false,
    labelError: false,
    entityError: false,
    formatError: false,
  });
  const noisy = "[ John Wilkes Booth | person | kills = Lincoln ] , who assasinated President " +
    "[ Lincoln | person ] , was an actor";
  assertEquals(parseOutputSentence(ex.tokens, noisy), {
    entities: [
      { name: "John Wilkes Booth", tags: [["person"], ["kills", "Lincoln"]], start: 0, end: 3 },
      { name: "Lincoln", tags: [["person"]], start: 7, end: 8 },
    ],
    wrongReconstruction: true,
  });
  assertEquals(entityRelationFormat.parse(noisy, ex, CONLL04).relations, [[
    "kills",
    ["person", 0, 3],
    ["person", 7, 8],
  ]]);
});

Deno.test("parser: unclosed bracket swallows the rest; stray ] is a word; NER relation tags are label errors", () => {
  const tokens = ["a", "b", "c", "d"];
  // The unclosed span is past its name, so every later word joins its tags, including the inner
  // span's words: the inner span covers no sentence word and is dropped; the outer never closes.
  assertEquals(parseOutputSentence(tokens, "[ a | x b [ c | y ] d"), {
    entities: [],
    wrongReconstruction: true,
  });
  assertEquals(parseOutputSentence(tokens, "a ] b c d").wrongReconstruction, true);
  const ner: DatasetSchema = { name: "n", task: "ner", entityTypes: [t("x")], relationTypes: [] };
  const ex: Example = { id: "n", tokens, entities: [], relations: [] };
  const p = entityRelationFormat.parse("[ a | x | r = b ] b c d", ex, ner);
  assertEquals([p.entities, p.labelError, p.formatError], [[["x", 0, 1]], true, false]);
});

Deno.test("alignment ties: match, then skip gold, then skip output", () => {
  // Gold "a b", output "b": skipping gold "a" and matching "b" costs 1, like substituting "a" by
  // "b" and skipping the other. Ties prefer the match at the last position.
  assertEquals([...alignTokens(["a", "b"], ["b"])], [[0, 1]]);
  assertEquals([...alignTokens(["a", "b"], ["x", "y"])], [[1, 1], [0, 0]]);
  assertEquals([...alignTokens([], ["x"])], []);
});

Deno.test("python helpers: whitespace, strip and slicing as Python's", () => {
  assertEquals(pySplit(" a\u0085b\u001fc\ufeffd "), ["a", "b", "c\ufeffd"]);
  assertEquals(pyStrip("\u3000x \u00a0"), "x");
  assertEquals(pySlice("[belief]", 7, -1), "");
  assertEquals(pySlice("abcdef", -3, 10), "def");
});

Deno.test("SRL: predicate bracketed in the input, arguments in the output", () => {
  const types = [t("ARG1", "second argument"), t("ARG2"), t("ARGM-TMP")];
  const schema: DatasetSchema = { name: "CoNLL2005-SRL", task: "srl", entityTypes: types, relationTypes: [] };
  const ex: Example = {
    id: "dev-0",
    tokens: "The economy 's temperature will be taken from several vantage points this week .".split(" "),
    entities: [
      { type: types[0], start: 0, end: 4 },
      { type: types[1], start: 7, end: 11 },
      { type: types[2], start: 11, end: 13 },
    ],
    relations: [],
    predicate: { start: 6, end: 7 },
  };
  assertEquals(
    srlFormat.formatInput(ex, schema),
    "The economy 's temperature will be [ taken ] from several vantage points this week .",
  );
  const target = srlFormat.formatOutput(ex, schema);
  assertEquals(
    target,
    "[ The economy 's temperature | second argument ] will be taken [ from several vantage points | ARG2 ] " +
      "[ this week | ARGM-TMP ] .",
  );
  assertEquals(srlFormat.parse(target, ex, schema).entities, [
    ["ARG2", 7, 11],
    ["ARGM-TMP", 11, 13],
    ["second argument", 0, 4],
  ]);
  assertThrows(() => srlFormat.formatInput({ ...ex, predicate: undefined }, schema));
  // TANL's SRL schema: the roles used by the split, first use first.
  const swapped = { ...ex, entities: [ex.entities[2], ex.entities[0], ex.entities[2]] };
  assertEquals(entityTypesFromExamples([swapped, ex]), [types[2], types[0], types[1]]);
});

const DST: DatasetSchema = { name: "multi_woz", task: "dst", entityTypes: [], relationTypes: [] };

Deno.test("DST: the digest's target; parse; both belief spellings", () => {
  const target = "[belief] hotel area north , hotel book day not given , hotel book people not given , " +
    "hotel book stay not given , hotel internet not given , hotel name not given , hotel parking not given , " +
    "hotel price range cheap , hotel stars not given , hotel type not given [belief]";
  assertEquals(formatBelief(["hotel-price range-cheap", "hotel-area-north"]), target);
  assertEquals(formatBelief(["hotel price range cheap", "hotel area north"]), target);
  assertEquals(new Set(parseBelief(target)), new Set(["hotel area north", "hotel price range cheap"]));
  assertEquals(splitBeliefItem("train book people 2"), ["train", "book people", "2"]);
  assertEquals(splitBeliefItem("taxi-leave at-17:15"), ["taxi", "leave at", "17:15"]);
  assertThrows(() => splitBeliefItem("police name x"));
  assertEquals(formatBelief([]), "[belief]  [belief]");
  assertEquals(parseBelief("[belief]  [belief]"), [""]);
  // Domains sorted, then slots.
  assertEquals(
    formatBelief(["taxi-leave at-17:15", "attraction-area-west"]),
    "[belief] attraction area west , attraction name not given , attraction type not given , " +
      "taxi arrive by not given , taxi departure not given , taxi destination not given , taxi leave at 17:15 [belief]",
  );
  const ex: Example = { id: "d", tokens: [], entities: [], relations: [], belief: ["hotel-area-north"] };
  assertEquals(beliefCorrect("[belief] hotel area north , hotel name not given [belief]", ex), true);
  assertEquals(beliefCorrect("hotel area north", ex), false);
  const loaded: Example = { ...ex, belief: ["hotel area north"], beliefRaw: ["hotel-area-north"] };
  assertEquals(dstFormat.formatOutput(loaded, DST), formatBelief(["hotel-area-north"]));
  assertEquals(dstFormat.evaluateExample("[belief] hotel area north [belief]", loaded, DST), {
    num_sentences: 1,
    correct_state: 1,
  });
});

Deno.test("relation classification: input, target, parse and loss ranking", async () => {
  const ex: Example = {
    id: "q",
    tokens: "Tolkien wrote The Lord of the Rings .".split(" "),
    entities: [{ type: t("head"), start: 0, end: 1 }, { type: t("tail"), start: 2, end: 7 }],
    relations: [{ type: t("P50", "author"), head: 0, tail: 1 }],
  };
  assertEquals(
    formatRelationInput(ex),
    "[ Tolkien ] wrote [ The Lord of the Rings ] . The relationship between [ Tolkien ] and " +
      "[ The Lord of the Rings ] is",
  );
  assertEquals(
    formatRelationOutput(ex),
    "relationship between [ Tolkien ] and [ The Lord of the Rings ] = author",
  );
  // Tail before head: brackets follow sentence order, the question keeps head then tail.
  const swapped: Example = { ...ex, entities: [ex.entities[1], ex.entities[0]] };
  assertEquals(
    formatRelationInput(swapped),
    "[ Tolkien ] wrote [ The Lord of the Rings ] . The relationship between [ The Lord of the Rings ] and " +
      "[ Tolkien ] is",
  );
  assertEquals(
    parseRelation("relationship between [ a ] and [ b ] = country of origin "),
    "country of origin",
  );

  const candidates = [t("P17", "country"), t("P50", "author"), t("P57", "director")];
  const seen: string[][] = [];
  const score = (_input: string, targets: string[]) => {
    seen.push(targets);
    return Promise.resolve([2.5, 0.75, 0.75]);
  };
  assertEquals(await rankRelationCandidates(ex, candidates, score), candidates[1]);
  assertEquals(seen[0][2], "relationship between [ Tolkien ] and [ The Lord of the Rings ] = director");
  assertEquals(
    await rankRelationCandidates(ex, candidates, () => Promise.resolve([1, NaN, 0])),
    candidates[1],
  );
  await assertRejects(() => rankRelationCandidates(ex, candidates, () => Promise.resolve([1])));
});
