/**
 * The experiment grid and the results store: what to run (presets expanded into cells, table
 * entries and shards) and what has run (one JSON line per finished cell).
 *
 * @module
 */

export * from "./datasets.ts";
export * from "./grid.ts";
export * from "./store.ts";
