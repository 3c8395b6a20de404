/**
 * `reproduce()`: run (the missing cells of) a preset's tables and write the report — the library
 * call behind `deno task reproduce` and the notebooks' "run what is missing" cell.
 *
 * ```ts
 * import { reproduce } from "./reproduce.ts";
 * await reproduce({ preset: "smoke", only: ["lowResource"] });
 * ```
 *
 * @module
 */
import { backendInfo, type BackendName, initBackend } from "../backend/mod.ts";
import { runGrid, type RunGridOptions, type RunGridSummary } from "../experiments/runner.ts";
import { runCell } from "./run_cell.ts";

/** Options of {@link reproduce}: those of `runGrid` plus the backend to initialise. */
export type ReproduceOptions = Omit<RunGridOptions, "backend"> & {
  /** tfjs backend; default: the one already initialised, else `auto` (or `$TF_BACKEND`). */
  backend?: BackendName;
  /** Hide per-step progress bars (notebooks). */
  quiet?: boolean;
};

/** Trains and evaluates every pending cell of the preset, then writes tables and figures. */
export async function reproduce(opts: ReproduceOptions): Promise<RunGridSummary> {
  const info = opts.backend || !backendInfo() ? await initBackend(opts.backend) : backendInfo()!;
  return await runGrid((cell, ctx) => runCell(cell, ctx, { quiet: opts.quiet }), {
    ...opts,
    backend: info.backend,
  });
}
