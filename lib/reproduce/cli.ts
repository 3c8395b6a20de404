/**
 * The command line of `deno task reproduce`: its options, and the whole command (one process, or
 * `--workers N` processes and then the report), so that `scripts/reproduce.ts` only calls
 * {@link reproduceCommand}.
 *
 * @module
 */
import { BACKEND_NAMES, parseBackendName } from "../backend/mod.ts";
import { asUsage, UsageError } from "../config/cli.ts";
import { COUNT, NON_NEGATIVE_INTEGER, parseNumberFlag } from "../config/flags.ts";
import { dataDir } from "../config/paths.ts";
import { DATASET_NAMES, type DatasetName, isDatasetName } from "../data/registry.ts";
import { parseShard } from "../experiments/estimate.ts";
import type { TableName } from "../experiments/plan.ts";
import { TABLES } from "../experiments/plan.ts";
import { PRESET_SPECS, type PresetName, PRESETS, withStepBudget } from "../experiments/presets.ts";
import { fetchMissingDatasets, reproduce } from "./reproduce.ts";
import type { RunGridOptions } from "./runner.ts";
import { runWorkers } from "./workers.ts";

/** The usage text of `deno task reproduce`. */
export const REPRODUCE_USAGE = `deno task reproduce [options]
  --preset P        ${PRESETS.join(" | ")} (default quick)
  --only T[,T]      tables: ${TABLES.join(", ")}
  --steps N         N optimizer steps per run instead of the preset's, m scaled alike
                    (cpu: --steps 600 gives the reference's m = 100); report in results/PRESET-Nsteps
  --datasets D[,D]  run only these datasets' rows (e.g. conll04,fewrel)
  --fractions F[,F] run only the rows trained on these fractions (e.g. 0.01: the smallest first)
  --shard i/N       run the i-th of N shards (1-based; e.g. SLURM_ARRAY_TASK_ID/N)
  --shard-pending   deal only the cells not yet done into the shards
  --claim           share the pending cells with the other processes on this results folder,
                    one claimed cell at a time (--workers does; --shard then names the store file)
  --workers N       run N shards at once on this machine, then the report (2 on 2 cores)
  --data DIR        data directory (default $FISHDIP_DATA or <repo>/data)
  --results DIR     results directory (default <repo>/results)
  --backbone ID     backbone id or checkpoint folder (default: the preset's)
  --max-cells K     run at most K cells, then write the report
  --list            print the plan (done / pending / needs) and exit
  --report-only     write tables, figures and manifest from the store, run nothing
  --no-report       do not write the report (shards; finish with --report-only)
  --stop-on-error   stop at the first failing cell`;

/** The options `deno task reproduce` takes, parsed. */
export type ReproduceArgs = Omit<RunGridOptions, "backend" | "log" | "writer" | "preset"> & {
  preset: PresetName;
  /** A step budget instead of the preset's ({@link withStepBudget}). */
  steps?: number;
  /** Processes to run at once on this machine (see workers.ts); each takes one shard. */
  workers?: number;
  help?: boolean;
};

/**
 * Parses the command line of `deno task reproduce` (see {@link REPRODUCE_USAGE}); throws with a
 * message naming the bad argument.
 */
export function parseReproduceArgs(args: string[]): ReproduceArgs {
  const out: ReproduceArgs = { preset: "quick" };
  for (let i = 0; i < args.length; i++) {
    let a = args[i], value: string | undefined;
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq > 0) [a, value] = [a.slice(0, eq), a.slice(eq + 1)];
    const next = () => {
      const v = value ?? args[++i];
      if (v === undefined || (value === undefined && v.startsWith("--"))) {
        throw new UsageError(`${a} needs a value`);
      }
      return v;
    };
    switch (a) {
      case "--preset": {
        const p = next();
        if (!(PRESETS as readonly string[]).includes(p)) {
          throw new UsageError(`unknown preset ${p} (${PRESETS.join(", ")})`);
        }
        out.preset = p as PresetName;
        break;
      }
      case "--steps":
        out.steps = parseNumberFlag("--steps", next(), COUNT);
        break;
      case "--only": {
        const ts = next().split(",").map((t) => t.trim()).filter(Boolean);
        // `--only ,` (or an empty list) would plan nothing and still write an empty report.
        if (ts.length === 0) throw new UsageError(`--only needs at least one table (${TABLES.join(", ")})`);
        for (const t of ts) {
          if (!(TABLES as readonly string[]).includes(t)) {
            throw new UsageError(`unknown table ${t} (${TABLES.join(", ")})`);
          }
        }
        out.only = ts as TableName[];
        break;
      }
      case "--datasets": {
        const ds = next().split(",").map((d) => d.trim()).filter(Boolean);
        if (ds.length === 0) throw new UsageError("--datasets needs at least one dataset");
        for (const d of ds) {
          if (!isDatasetName(d)) throw new UsageError(`unknown dataset ${d} (${DATASET_NAMES.join(", ")})`);
        }
        out.datasets = ds as DatasetName[];
        break;
      }
      case "--fractions": {
        const fs = next().split(",").map((f) => f.trim()).filter(Boolean);
        if (fs.length === 0) throw new UsageError("--fractions needs at least one fraction");
        out.fractions = fs.map((f) => {
          const v = Number(f);
          if (!(v > 0 && v <= 1)) throw new UsageError(`--fractions: ${f} is not a fraction in (0, 1]`);
          return v;
        });
        break;
      }
      case "--shard":
        out.shard = asUsage(() => parseShard(next()));
        break;
      case "--shard-pending":
        out.shardPending = true;
        break;
      case "--claim":
        out.claim = true;
        break;
      case "--workers": {
        out.workers = parseNumberFlag("--workers", next(), COUNT);
        break;
      }
      case "--data":
        out.dataDir = next();
        break;
      case "--results":
        out.resultsDir = next();
        break;
      case "--backbone":
        out.backbone = next();
        break;
      case "--max-cells": {
        out.maxCells = parseNumberFlag("--max-cells", next(), NON_NEGATIVE_INTEGER);
        break;
      }
      case "--list":
        out.list = true;
        break;
      case "--report-only":
        out.reportOnly = true;
        break;
      case "--no-report":
        out.noReport = true;
        break;
      case "--stop-on-error":
        out.stopOnError = true;
        break;
      case "--help":
      case "-h":
        out.help = true;
        break;
      default:
        throw new UsageError(`unknown argument ${args[i]}`);
    }
  }
  if (out.workers && out.workers > 1 && out.shard) {
    throw new UsageError(
      "--workers and --shard do not combine: run one shard per machine, or N workers on one",
    );
  }
  if (out.steps !== undefined) asUsage(() => withStepBudget(PRESET_SPECS[out.preset], out.steps!));
  if (out.shardPending && !out.shard) {
    throw new UsageError("--shard-pending needs --shard i/N (--workers passes both to its workers)");
  }
  return out;
}

/** `--backend B` (or `--backend=B`) taken out of the arguments; the rest go to {@link parseReproduceArgs}. */
export function takeBackend(args: string[]): { backend?: string; rest: string[] } {
  const rest: string[] = [];
  let backend: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--backend") {
      // A trailing `--backend` (or one followed by another flag) used to mean the default silently.
      backend = args[++i];
      if (backend === undefined || backend.startsWith("--")) throw new UsageError("--backend needs a value");
    } else if (a.startsWith("--backend=")) backend = a.slice("--backend=".length);
    else rest.push(a);
  }
  return { backend, rest };
}

/** The usage text with `--backend`, which {@link takeBackend} handles apart from the rest. */
export const REPRODUCE_USAGE_FULL = `${REPRODUCE_USAGE}\n  --backend B       ${
  BACKEND_NAMES.join(" | ")
} (default auto, or $TF_BACKEND)`;

/**
 * Runs `deno task reproduce ARGS` and returns its exit status: 0, or 1 when a cell (or a worker)
 * failed; throws a UsageError for a bad command line and lets other errors through, for the
 * command-line tools' handler (lib/config/cli.ts) to report. `script` is the entry point the
 * `--workers` processes run.
 */
export async function reproduceCommand(argv: string[], script: string): Promise<number> {
  const { backend, rest } = takeBackend(argv);
  const args = parseReproduceArgs(rest);
  if (args.help) {
    console.log(REPRODUCE_USAGE_FULL);
    return 0;
  }
  const backendName = backend !== undefined ? asUsage(() => parseBackendName(backend)) : undefined;
  const { steps, ...runArgs } = args;
  const run = { ...runArgs, preset: steps ? withStepBudget(PRESET_SPECS[args.preset], steps) : args.preset };
  if (args.workers && args.workers > 1 && !args.list && !args.reportOnly) {
    // The parent downloads once, the workers train their shards, then the parent writes the report.
    await fetchMissingDatasets(dataDir(args.dataDir));
    const codes = await runWorkers(argv, args.workers, { script });
    const failed = codes.flatMap((code, k) => (code === 0 ? [] : [`w${k + 1}`]));
    if (!args.noReport) {
      await reproduce({ ...run, backend: backendName, reportOnly: true });
    }
    if (failed.length) {
      console.error(`worker(s) ${failed.join(", ")} exited with an error; rerun to retry their failed cells`);
      return 1;
    }
    return 0;
  }
  const summary = await reproduce({
    ...run,
    backend: backendName,
    // A worker's parent has already fetched the datasets; workers must not race to write them.
    download: !Deno.env.get("FISHDIP_WORKER"),
  });
  if (summary.failed.length > 0) {
    console.error(
      `${summary.failed.length} cell(s) failed; they are retried on the next run (results/failures.jsonl)`,
    );
    return 1;
  }
  return 0;
}
