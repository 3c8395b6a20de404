/**
 * Datasets: one registry over the loaders (`registry.ts`), and TANL's low-resource sampling.
 *
 * ```ts
 * import { loadDataset, lowResourceSubset } from "./mod.ts";
 * const { examples, schema } = loadDataset("conll04", "train", { dataDir: "../shared/data" });
 * const train = lowResourceSubset(examples, 0.01, 1); // FISH-DIP's 1% subset, episode 1
 * ```
 *
 * Names are FISH-DIP's job names (`config.ini` sections). Files are read from the data directory
 * (`dataDir`, else `$FISHDIP_DATA`, else `<repo>/data`); its layout is described in
 * `data/README.md`. A missing file raises `MissingDataError` saying how to get it; a malformed one
 * raises `DataFormatError` naming the file and line. Nothing is read at import time.
 *
 * @module
 */
import {
  DATASET_NAMES,
  type DatasetName,
  DATASETS,
  isDatasetName,
  type LoadDatasetOptions,
  type Split,
} from "./registry.ts";
import type { DatasetSchema, Example } from "./types.ts";
import { CONLL03_SCHEMA, ONTONOTES_SCHEMA } from "./conll.ts";
import { CONLL04_SCHEMA } from "./spert.ts";
import { ACE2005_SCHEMA } from "./ace2005.ts";
import { MULTIWOZ_SCHEMA } from "./multiwoz.ts";

export type { DatasetSchema, Entity, Example, LabelType, Relation, Task } from "./types.ts";
export { DataFormatError, type LoadOptions } from "./io.ts";
export { lowResourceSubset, shuffledIndices, subsetSize } from "./sampling.ts";
export { PythonRandom, pythonRound } from "./python_random.ts";
export { type Episode, fewRelEpisode, loadFewRelMetaTrain, sampleEpisode } from "./fewrel.ts";
export * from "./registry.ts";
export * from "./user.ts";
export { CONLL03_SCHEMA, CONLL04_SCHEMA, ONTONOTES_SCHEMA };
export { ACE2005_SCHEMA, MULTIWOZ_SCHEMA };

/** A loaded split: its examples (ids `split-index` as TANL names them) and the dataset's schema. */
export interface LoadedDataset {
  name: DatasetName;
  split: Split;
  schema: DatasetSchema;
  examples: Example[];
}

/**
 * Loads one split of a dataset (its registry entry's loader).
 *
 * ```ts
 * const dev = loadDataset("conll03", "dev");            // 3,250 sentences
 * const ade = loadDataset("ade", "train", { fold: 3 }); // TANL's split_3_train
 * const ep = loadDataset("fewrel", "test", { episode: { ways: 5, shots: 1, seed: 1 } }); // 25 queries
 * ```
 */
export function loadDataset(name: DatasetName, split: Split, opts: LoadDatasetOptions = {}): LoadedDataset {
  if (!isDatasetName(name)) {
    throw new RangeError(`unknown dataset ${JSON.stringify(name)} (known: ${DATASET_NAMES.join(", ")})`);
  }
  const { schema, examples } = DATASETS[name].load(split, opts);
  return { name, split, schema, examples };
}
