/**
 * Tables, figures, the manifest and notebook display helpers, all computed from a plan and the
 * results store's records.
 *
 * @module
 */

export * from "./tables.ts";
export * from "./direction.ts";
export * from "./plots.ts";
export * from "./report.ts";
export * from "./notebook.ts";
export * from "./table_notebook.ts";
