import { assertEquals, assertThrows } from "@std/assert";
import { ignoreWithoutData } from "../../tests/support.ts";
import { MissingDataError } from "../config/paths.ts";
import { adeFoldForSeed, loadDataset, lowResourceSubset } from "./mod.ts";

const SAMPLES = { dataDir: new URL("../../tests/data_samples", import.meta.url).pathname };

Deno.test("registry: the licensed datasets load from the samples", () => {
  assertEquals(loadDataset("ontonotes", "dev", SAMPLES).examples.length, 1);
  assertEquals(loadDataset("ace2005_joint_er", "test", SAMPLES).schema.relationTypes.length, 6);
  assertEquals(loadDataset("conll05_srl", "dev", SAMPLES).schema.task, "srl");
  assertEquals(loadDataset("conll05_srl_brown", "test", SAMPLES).examples[0].id, "test-0");
  assertEquals(loadDataset("multi_woz", "test", SAMPLES).examples.length, 4);
  assertThrows(
    () => loadDataset("conll04", "train", SAMPLES),
    MissingDataError,
    "deno task download conll04",
  );
  assertThrows(() => loadDataset("conll03", "train", SAMPLES), MissingDataError, "bring your own");
  assertEquals([adeFoldForSeed(1), adeFoldForSeed(10), adeFoldForSeed(13)], [1, 0, 3]);
});

Deno.test({
  name: "registry real: conll04 1% subsets of episodes 1-3, ADE folds, FewRel episode splits",
  ignore: ignoreWithoutData("conll04/conll04_train.json") || ignoreWithoutData("fewrel/val_wiki.json") ||
    ignoreWithoutData("ade/ade_split_0_train.json"),
  fn() {
    const { examples } = loadDataset("conll04", "train");
    const subsets = [1, 2, 3].map((seed) => lowResourceSubset(examples, 0.01, seed));
    assertEquals(subsets.map((s) => s.length), [9, 9, 9]);
    assertEquals(new Set(subsets.map((s) => s.map((e) => e.id).join())).size, 3);
    const ade = loadDataset("ade", "train", { fold: adeFoldForSeed(2) });
    assertEquals(ade.examples[0].id, "split_2_train-0");
    assertEquals(ade.schema.entityTypes.map((t) => t.natural).sort(), ["disease", "drug"]);
    const episode = { ways: 5, shots: 5, seed: 4 };
    const support = loadDataset("fewrel", "train", { episode });
    const query = loadDataset("fewrel", "test", { episode });
    assertEquals([support.examples.length, query.examples.length], [25, 25]);
    assertEquals(support.schema.relationTypes, query.schema.relationTypes);
    const supportIds = new Set(support.examples.map((e) => e.id));
    assertEquals(query.examples.some((e) => supportIds.has(e.id)), false);
  },
});
