/**
 * Dialogue state tracking (MultiWOZ 2.1), TANL's `MultiWozOutputFormat`.
 *
 * The input is the dialogue history as is. The target lists, for every domain present in the gold
 * state (domains sorted), every ontology slot of that domain (slots sorted) with its value or
 * "not given": `[belief] hotel area north , hotel book day not given , ... [belief]`.
 *
 * @module
 */

import type { DatasetSchema, Example } from "../data/types.ts";
import { formatPlainInput } from "./entity_relation.ts";
import { pyCompare, pySlice, pyStrip } from "./python.ts";
import type { Counts, TaskFormat } from "./types.ts";

/** The value TANL writes for an ontology slot the state does not fill. */
export const NONE_SLOT_VALUE = "not given";

/** TANL's `MultiWozOutputFormat.domain_ontology` (slot names naturalised as in the data). */
export const MULTIWOZ_ONTOLOGY: Readonly<Record<string, readonly string[]>> = {
  hotel: [
    "price range",
    "type",
    "parking",
    "book stay",
    "book day",
    "book people",
    "area",
    "stars",
    "internet",
    "name",
  ],
  train: ["destination", "day", "departure", "arrive by", "book people", "leave at"],
  attraction: ["type", "area", "name"],
  restaurant: ["book people", "book day", "book time", "food", "price range", "name", "area"],
  taxi: ["leave at", "destination", "departure", "arrive by"],
  bus: ["people", "leave at", "destination", "day", "arrive by", "departure"],
  hospital: ["department"],
};

/**
 * Splits a belief item into (domain, slot, value).
 *
 * TRADE's form `hotel-price range-cheap` is split on `-` exactly as TANL does (which requires
 * exactly three parts). The space form `hotel price range cheap` (see `Example.belief`) is split
 * by the ontology: the first word is the domain, the slot is the ontology slot of that domain the
 * rest starts with (no slot of a domain is a word-prefix of another, so this is unambiguous).
 */
export function splitBeliefItem(item: string): [domain: string, slot: string, value: string] {
  if (item.includes("-")) {
    const parts = item.split("-");
    if (parts.length !== 3) {
      throw new Error(`belief item ${JSON.stringify(item)} does not split into domain-slot-value`);
    }
    return [parts[0], parts[1], parts[2]];
  }
  const space = item.indexOf(" ");
  const domain = space < 0 ? item : item.slice(0, space);
  const rest = space < 0 ? "" : item.slice(space + 1);
  const slots = MULTIWOZ_ONTOLOGY[domain];
  const slot = slots?.filter((s) => rest.startsWith(`${s} `)).sort((a, b) => b.length - a.length)[0];
  if (slot === undefined) {
    throw new Error(`belief item ${JSON.stringify(item)}: no ontology slot of domain "${domain}"`);
  }
  return [domain, slot, rest.slice(slot.length + 1)];
}

/**
 * The DST target sentence.
 *
 * ```ts
 * formatBelief(["hotel-price range-cheap", "hotel-area-north"])
 * // "[belief] hotel area north , hotel book day not given , ... , hotel type not given [belief]"
 * ```
 */
export function formatBelief(belief: readonly string[]): string {
  const domains = new Map<string, Map<string, string>>();
  for (const item of belief) {
    const [domain, slot, value] = splitBeliefItem(item);
    if (!domains.has(domain)) domains.set(domain, new Map());
    domains.get(domain)!.set(slot, value);
  }
  for (const [domain, slots] of domains) {
    const ontology = MULTIWOZ_ONTOLOGY[domain];
    if (!ontology) throw new Error(`domain "${domain}" is not in the MultiWOZ ontology`);
    for (const slot of ontology) if (!slots.has(slot)) slots.set(slot, NONE_SLOT_VALUE);
  }
  const items: string[] = [];
  for (const [domain, slots] of [...domains].sort((a, b) => pyCompare(a[0], b[0]))) {
    for (const [slot, value] of [...slots].sort((a, b) => pyCompare(a[0], b[0]))) {
      items.push(`${domain} ${slot} ${value}`);
    }
  }
  // With an empty state this is "[belief]  [belief]" (two spaces), as in TANL.
  return `[belief] ${items.join(" , ")} [belief]`;
}

/**
 * TANL's `MultiWozOutputFormat.run_inference`: the items between the first and the last
 * `[belief]`, split on commas and stripped, without those containing "not given".
 *
 * Quirk kept from TANL: an empty state `[belief]  [belief]` parses to `{""}`, not to the empty
 * set, so a turn whose gold state is empty never counts as correct.
 */
export function parseBelief(outputSentence: string): string[] {
  const marker = "[belief]";
  const start = outputSentence.indexOf(marker), end = outputSentence.lastIndexOf(marker);
  // Python slicing: with no marker start is -1 and end is -1, which slices from 7 to the last char.
  const span = pySlice(outputSentence, start + marker.length, end);
  const items = new Set<string>();
  for (const piece of span.split(",")) {
    if (!piece.includes(NONE_SLOT_VALUE)) items.add(pyStrip(piece));
  }
  return [...items];
}

/** TANL's `MultiWoz.evaluate`: whether the predicted state equals the gold one (with `-` as space). */
export function beliefCorrect(outputSentence: string, example: Example): boolean {
  const norm = (xs: Iterable<string>) => new Set([...xs].map((x) => x.replaceAll("-", " ")));
  const predicted = norm(parseBelief(outputSentence));
  const gold = norm(example.beliefRaw ?? example.belief ?? []);
  return predicted.size === gold.size && [...predicted].every((x) => gold.has(x));
}

/** Dialogue state tracking: plain dialogue-history input, `[belief] ... [belief]` output. */
export const dstFormat: TaskFormat<string[]> = {
  name: "multi_woz",
  formatInput: (example) => formatPlainInput(example),
  // TANL splits TRADE's `domain-slot-value` strings; the space form is the fallback.
  formatOutput: (example) => formatBelief(example.beliefRaw ?? example.belief ?? []),
  parse: (output) => parseBelief(output),
  evaluateExample: (output, example, _schema: DatasetSchema): Counts => ({
    num_sentences: 1,
    correct_state: beliefCorrect(output, example) ? 1 : 0,
  }),
};
