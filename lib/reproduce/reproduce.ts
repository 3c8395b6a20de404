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
import { runGrid, type RunGridOptions, type RunGridSummary } from "./runner.ts";
import { dataDir, pathExists } from "../config/paths.ts";
import { DEFAULT_DOWNLOADS, downloadFiles, filesFor } from "../data/download.ts";
import { runCell } from "./run_cell.ts";

/** Options of {@link reproduce}: those of `runGrid` plus the backend to initialise. */
export type ReproduceOptions = Omit<RunGridOptions, "backend"> & {
  /** tfjs backend; default: the one already initialised, else `auto` (or `$TF_BACKEND`). */
  backend?: BackendName;
  /** Hide per-step progress bars (notebooks). */
  quiet?: boolean;
  /**
   * First fetch the freely available datasets (CoNLL04, ADE, FewRel, the T5 vocabulary) that are
   * missing from the data directory. Offline, the attempt fails quickly and the affected rows show
   * "needs DATASET".
   */
  download?: boolean;
};

/** Downloads the default datasets that are not in the data directory; never throws. */
export async function fetchMissingDatasets(
  dir: string,
  log: (m: string) => void = console.error,
): Promise<void> {
  for (const name of DEFAULT_DOWNLOADS) {
    const files = filesFor([name]);
    const absent = [];
    for (const f of files) if (!(await pathExists(`${dir}/${f.path}`))) absent.push(f);
    if (absent.length === 0) continue;
    log(`${name}: ${absent.length} file(s) missing from ${dir}; downloading`);
    try {
      const results = await downloadFiles(absent, { dataDir: dir, idleTimeoutMs: 20_000, log });
      const failed = results.filter((r) => r.status === "failed");
      if (failed.length) {
        log(`${name}: could not download (${failed[0].error}); its rows will say "needs ${name}"`);
      }
    } catch (e) {
      log(`${name}: could not download (${(e as Error).message}); its rows will say "needs ${name}"`);
    }
  }
}

/** Trains and evaluates every pending cell of the preset, then writes tables and figures. */
export async function reproduce(opts: ReproduceOptions): Promise<RunGridSummary> {
  if (opts.download && !opts.list && !opts.reportOnly) await fetchMissingDatasets(dataDir(opts.dataDir));
  const info = opts.backend || !backendInfo() ? await initBackend(opts.backend) : backendInfo()!;
  return await runGrid((cell, ctx) => runCell(cell, ctx, { quiet: opts.quiet }), {
    ...opts,
    backend: info.backend,
    blasThreads: info.blas?.threads,
  });
}
