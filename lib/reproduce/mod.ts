/**
 * The reproduction pipeline: the one folder that joins the experiments (what to run), the trainer
 * (how to run one cell) and the report (what to write). `reproduce()` runs the missing cells of a
 * preset and writes the report; `runGrid` is its model-independent bookkeeping; `runCell` trains
 * and scores one cell; `reproduceCommand` is `deno task reproduce`; the workers run shards side by
 * side; `tableNotebook` is what each table's notebook calls.
 *
 * @module
 */
export * from "./runner.ts";
export * from "./run_cell.ts";
export * from "./reproduce.ts";
export * from "./workers.ts";
export * from "./cli.ts";
export * from "./notebook.ts";
