/**
 * MultiWOZ 2.1 dialogue state tracking, five domains (hotel, train, restaurant, attraction,
 * taxi), in the files TANL's `preprocess_multiwoz/prepare_multi_woz.py` writes from TRADE-DST's
 * `create_data.py` output: `multi_woz_2.1/multi_woz_2.1_{split}_5_domain.json`, an object whose
 * `examples` list has one entry per dialogue turn:
 *
 * ```json
 * {"ID": "SNG0001.json", "turn_id": 0, "turn_domain": "hotel",
 *  "dialog_history": "[User]: i need a cheap hotel ;",
 *  "turn_belief": ["hotel-price range-cheap"], "turn_uttr": "[User]: i need a cheap hotel"}
 * ```
 *
 * As in TANL's `MultiWoz` dataset, an example is one turn named `turn_id-ID`, its tokens are the
 * dialogue history split on single spaces, and its belief state is `turn_belief`. `belief` holds
 * the `domain slot value` strings TANL scores with (`-` replaced by a space), `beliefRaw` the
 * `domain-slot-value` strings TANL's output format splits. The dialogues must be brought by the
 * user (preparation steps in data/README.md).
 *
 * @module
 */
import type { DatasetSchema, Example } from "./types.ts";
import {
  dataFile,
  DataFormatError,
  isObject,
  isStringArray,
  type LoadOptions,
  readJson,
  requireExamples,
  show,
} from "./io.ts";

/** MultiWOZ has no entity or relation types; the output format carries its own slot ontology. */
export const MULTIWOZ_SCHEMA: DatasetSchema = {
  name: "multi_woz",
  task: "dst",
  entityTypes: [],
  relationTypes: [],
};

/** Parses a prepared MultiWOZ split (already `JSON.parse`d). Errors name the turn's index. */
export function parseMultiWoz(data: unknown, file: string): Example[] {
  if (!isObject(data) || !Array.isArray(data.examples)) {
    throw new DataFormatError(file, "", 'expected an object with an "examples" list');
  }
  return data.examples.map((x: unknown, i: number): Example => {
    const fail = (msg: string) => DataFormatError.atItem(file, i, msg);
    if (!isObject(x)) throw fail(`expected an object, got ${show(x)}`);
    if (typeof x.dialog_history !== "string") throw fail(`"dialog_history" must be a string`);
    if (!isStringArray(x.turn_belief)) throw fail(`"turn_belief" must be a list of strings`);
    for (const b of x.turn_belief) {
      if (b.split("-").length !== 3) throw fail(`belief ${show(b)} is not "domain-slot-value"`);
    }
    if (typeof x.turn_id !== "number" && typeof x.turn_id !== "string") throw fail(`"turn_id" is missing`);
    if (typeof x.ID !== "string") throw fail(`"ID" (the dialogue id) is missing`);
    return {
      id: `${x.turn_id}-${x.ID}`,
      tokens: x.dialog_history.split(" "),
      entities: [],
      relations: [],
      belief: x.turn_belief.map((b) => b.replaceAll("-", " ")),
      beliefRaw: [...x.turn_belief],
    };
  });
}

/** Loads `multi_woz_2.1/multi_woz_2.1_{split}_5_domain.json`. */
export function loadMultiWoz(split: "train" | "dev" | "test", opts: LoadOptions = {}): Example[] {
  const file = dataFile(`multi_woz_2.1/multi_woz_2.1_${split}_5_domain.json`, "multi_woz", false, opts);
  return requireExamples(
    parseMultiWoz(readJson(file), file.display),
    file.display,
    "multi_woz",
    split,
    "an empty list",
  );
}
