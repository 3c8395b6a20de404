/**
 * A table's notebook with its runner: {@link TableNotebook} (lib/report) shows, `reproduce()`
 * trains what is missing.
 *
 * ```ts
 * const nb = tableNotebook("peft");
 * await nb.run();
 * await nb.showTable();
 * ```
 *
 * @module
 */
import type { TableName } from "../experiments/plan.ts";
import { type NotebookSettings, notebookSettings, TableNotebook } from "../report/table_notebook.ts";
import { reproduce } from "./reproduce.ts";

/** The notebook of `table`, with settings from the environment (`FISHDIP_PRESET`, ...) unless given. */
export function tableNotebook(
  table: TableName,
  settings: NotebookSettings = notebookSettings(),
): TableNotebook {
  return new TableNotebook(table, settings, (opts) => reproduce(opts));
}
