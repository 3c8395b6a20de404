/**
 * The paper's experiments as data: what one run is (`cells.ts`), the presets (`presets.ts`), the
 * tables and a preset expanded into them (`plan.ts`), time estimates and shards (`estimate.ts`),
 * and the results store of finished runs (`store.ts`). Nothing here trains or writes a report;
 * `lib/reproduce/` does.
 *
 * @module
 */
export * from "./cells.ts";
export * from "./presets.ts";
export * from "./plan.ts";
export * from "./estimate.ts";
export * from "./store.ts";
