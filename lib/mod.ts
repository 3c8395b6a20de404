/**
 * FISH-DIP for Deno: the one import for notebooks and commands.
 *
 * Each part of the library is available as a namespace (`fd.t5`, `fd.data`, ...), and the calls
 * a notebook needs most are exported directly.
 *
 * ```ts
 * import * as fd from "../lib/mod.ts";
 * await fd.initBackend("auto");
 * const { model, tokenizer } = await fd.loadBackbone();          // data/models/fishdip-t5-mini
 * const { examples, schema } = fd.loadDataset("conll04", "train");
 * const subset = fd.lowResourceSubset(examples, 0.01, 1);       // the reference's 1 %, seed 1
 * console.log(fd.formatFor(schema.task).formatOutput(subset[0], schema));
 * ```
 *
 * Nothing heavy happens at import time: backends start in `initBackend`, files are read when a
 * function is called.
 *
 * @module
 */
export * as backend from "./backend/mod.ts";
export * as checkpoint from "./checkpoint/mod.ts";
export * as t5 from "./t5/mod.ts";
export * as tokenizer from "./tokenizer/mod.ts";
export * as data from "./data/mod.ts";
export * as formats from "./formats/mod.ts";
export * as metrics from "./metrics/mod.ts";
export * as optim from "./optim/mod.ts";
export * as methods from "./methods/mod.ts";
export * as train from "./train/mod.ts";
export * as experiments from "./experiments/mod.ts";
export * as report from "./report/mod.ts";
export * as pipeline from "./reproduce/mod.ts";

export { backendInfo, initBackend } from "./backend/mod.ts";
export { T5Tokenizer } from "./tokenizer/mod.ts";
export { loadDataset, loadUserDataset, loadUserFile, lowResourceSubset } from "./data/mod.ts";
export { formatFor } from "./formats/mod.ts";
export { createMethod, methodConfig, METHODS } from "./methods/mod.ts";
export {
  buildFeatures,
  collate,
  DEFAULT_BACKBONE,
  evaluateGeneration,
  fineTune,
  loadBackbone,
  loadFineTuned,
  predict,
  predictExamples,
  predictFile,
  saveFineTuned,
  train as trainModel,
} from "./train/mod.ts";
export { typeScores, typeScoresTable } from "./metrics/mod.ts";
export { reproduce, tableNotebook } from "./reproduce/mod.ts";
export { planPreset, PRESET_SPECS, TABLE_TITLES } from "./experiments/mod.ts";
export {
  diagnostics,
  diagnosticsToMarkdown,
  loadReport,
  show,
  showMarkdown,
  showSvg,
  showTable,
  toDataFrame,
} from "./report/mod.ts";
