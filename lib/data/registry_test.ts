import { assert, assertEquals, assertThrows } from "@std/assert";
import { ignoreWithoutData } from "../../tests/support.ts";
import { adeFoldForSeed, DATASET_NAMES, datasetAvailability, DATASETS, isDatasetName } from "./registry.ts";
import { loadDataset } from "./mod.ts";

Deno.test("datasetAvailability reads the data folder", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/conll04`);
    for (const f of DATASETS.conll04.files) Deno.writeTextFileSync(`${dir}/${f}`, "[]");
    const a = datasetAvailability(dir);
    assertEquals(a.conll04, { available: true, missing: [] });
    assertEquals(a.ontonotes.available, false);
    assertEquals(a.ontonotes.missing, DATASETS.ontonotes.files);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("registry: every entry is complete and names itself; quirks are fields", () => {
  for (const name of DATASET_NAMES) {
    const d = DATASETS[name];
    assertEquals(d.name, name);
    assert(d.files.length > 0 && d.layout.length > 0 && d.label.length > 0, name);
    if (d.schema) assertEquals(d.schema.task, d.task, name);
    assertEquals(d.evalSize > 0 || d.metaTraining === true || name === "fewrel", true, name);
  }
  assert(isDatasetName("conll04") && !isDatasetName("nope"));
  assertThrows(() => loadDataset("nope" as never, "train"), RangeError, "unknown dataset");
  assertEquals(DATASETS.multi_woz.lengthFactor, 2);
  assertEquals(DATASETS.conll05_srl.alsoScoredOn, ["conll05_srl_brown"]);
  assertEquals(DATASETS.ade.seedOptions!(13), { fold: adeFoldForSeed(13) });
  assertEquals(DATASETS.fewrel_standin.standIn, { of: "val_nyt+val_semeval+val_pubmed", for: "train_wiki" });
  assertEquals(DATASET_NAMES.filter((n) => DATASETS[n].metaTraining), [
    "fewrel_train_wiki",
    "fewrel_standin",
  ]);
});

Deno.test({
  name: "registry: the FewRel meta-training sources load as FewRel's meta-training split",
  ignore: ignoreWithoutData("fewrel/val_nyt.json"),
  fn() {
    const a = loadDataset("fewrel_standin", "train");
    const b = loadDataset("fewrel", "train");
    assertEquals(a.examples.length, b.examples.length);
    assertEquals(a.schema, b.schema);
    assert(a.examples.length <= DATASETS.fewrel_standin.trainSize);
  },
});
