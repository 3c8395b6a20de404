/**
 * The model-independent half of `deno task reproduce`: expand a preset, keep this shard's cells,
 * skip the finished ones, run the rest through a caller-supplied {@link CellRunner} (train and
 * evaluate one cell), append each result to the store, and write the report.
 *
 * Why a callback: everything here is bookkeeping that must behave the same whatever trains the
 * cells (resumption after a kill, shards on several machines, failures that do not stop the
 * grid, FewRel episodes waiting for their meta-training checkpoint), and it is testable without
 * a model. The trainer side only has to turn one {@link Cell} into metrics.
 *
 * ```ts
 * import type { Cell } from "../experiments/cells.ts";
 * declare function trainAndEvaluate(cell: Cell, ctx: RunContext): Promise<CellResult>; // the trainer
 * const args = parseReproduceArgs(Deno.args);
 * await runGrid(async (cell, ctx) => {
 *   const { metrics, masks } = await trainAndEvaluate(cell, ctx); // the trainer
 *   return { metrics, masks };
 * }, { ...args, backend: "wasm" });
 * ```
 *
 * @module
 */

import { REPO_ROOT } from "../config/paths.ts";
import type { DatasetName } from "../data/registry.ts";
import { type Cell, cellId, cellLabel } from "../experiments/cells.ts";
import { estimateSeconds, estimateWork, measuredRates, shard } from "../experiments/estimate.ts";
import { type Plan, planPreset, type TableName } from "../experiments/plan.ts";
import type { PresetName, PresetSpec } from "../experiments/presets.ts";
import {
  gitCommit,
  makeRecord,
  type MaskSnapshot,
  ResultsStore,
  type RunRecord,
} from "../experiments/store.ts";
import { reportDir, writeReport } from "../report/report.ts";
import { checkpointStep, latestCheckpoint } from "../train/run_dir.ts";
import { CLAIM_POLL_MS, claimedElsewhere, removeIfPresent, takeClaim } from "./claims.ts";

/** What the runner is told about the cell it runs. */
export interface RunContext {
  /** Data directory (`--data`), or undefined for the default. */
  dataDir?: string;
  /** Folder for this cell's saved weights, when `cell.saveCheckpoint` (created on demand). */
  checkpointDir: string;
  /** The checkpoint recorded by the `cell.init` cell (FewRel meta-training), if any. */
  initCheckpoint?: string;
  /**
   * Folder for the training checkpoints of a cell that can resume (`MethodSpec.resumable`): a cell
   * cut off by a kill continues from its newest one when the grid runs again. The runner removes
   * it once the cell's record is stored.
   */
  trainDir?: string;
  /** Progress messages (to stderr, prefixed with the cell). */
  log: (message: string) => void;
}

/** What a runner returns for one cell. */
export interface CellResult {
  metrics: Record<string, Record<string, number>>;
  /** Seconds of training and of evaluation; measured around the call when absent. */
  timings?: { train: number; eval: number; [phase: string]: number };
  steps?: number;
  losses?: { step: number; loss: number }[];
  masks?: MaskSnapshot[];
  /** Where the weights were saved (required when `cell.saveCheckpoint`). */
  checkpoint?: string;
  /** The training checkpoint's step when the cell continued an interrupted run. */
  resumedFrom?: number;
}

/** Trains and evaluates one cell. */
export type CellRunner = (cell: Cell, ctx: RunContext) => Promise<CellResult>;

/** Options of {@link runGrid}; the first five come from `parseReproduceArgs` (cli.ts). */
export interface RunGridOptions {
  /** A preset, or a tuned copy of one (`{ ...PRESET_SPECS.quick, epochs: { steps: 20 } }`). */
  preset: PresetName | PresetSpec;
  only?: TableName[];
  /** Run only the rows of these datasets (the report stays the whole preset's). */
  datasets?: DatasetName[];
  /** Run only the rows trained on these fractions (the report stays the whole preset's). */
  fractions?: number[];
  shard?: { i: number; n: number };
  /**
   * Deal only the cells not yet done into the shards (what `--workers` does). Shards started
   * together on one machine then finish together when a run is resumed; a SLURM array whose
   * machines see different stores must keep the default, a partition of the whole grid.
   */
  shardPending?: boolean;
  /**
   * Share the pending cells with the other processes on this results folder instead of running a
   * fixed shard: each cell is claimed by a file `claims/ID` (holding the process id) before it runs
   * and the store is read again first, so workers started together (`--workers N`) all stay busy
   * until the grid is done. A claim whose process is gone is taken over. `shard` then only names
   * the store file.
   */
  claim?: boolean;
  /** With `claim`: milliseconds between looks at cells whose meta-training runs elsewhere (default 15 s). */
  claimPollMs?: number;
  dataDir?: string;
  /**
   * Results folder (`results`): the store `runs/`, `checkpoints/`, the committed records
   * `raw/PRESET-runs.jsonl`, and each preset's report in `PRESET/` (tables, figures, manifest).
   */
  resultsDir?: string;
  backbone?: string;
  /** tfjs backend name, recorded with every cell. */
  backend: string;
  /** BLAS threads of `wasm+blas`, recorded with every cell. */
  blasThreads?: number;
  /** Store file name; default `local`, or `shard-i-of-N`. */
  writer?: string;
  /** Stop at the first failing cell instead of recording it and going on. */
  stopOnError?: boolean;
  /** Run at most this many cells (then write the report). */
  maxCells?: number;
  /** Skip the report (shards: let one final `--report-only` call write it). */
  noReport?: boolean;
  /** Write the report from the store without running anything. */
  reportOnly?: boolean;
  /** Only print the plan. */
  list?: boolean;
  /** Where messages go (default stderr). */
  log?: (message: string) => void;
}

/** What {@link runGrid} did. */
export interface RunGridSummary {
  plan: Plan;
  ran: string[];
  skipped: string[];
  failed: { cellId: string; label: string; error: string }[];
  blocked: number;
  reportFiles?: { tables: string[]; figures: string[]; manifest: string[]; kept: { cellId: string }[] };
}

function defaultLog(message: string) {
  console.error(message);
}

function fmtSeconds(s: number): string {
  if (s < 90) return `${s.toFixed(1)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}

/** Runs (this shard of) a preset's grid; see the module documentation. */
export async function runGrid(runner: CellRunner, opts: RunGridOptions): Promise<RunGridSummary> {
  const log = opts.log ?? defaultLog;
  const resultsDir = opts.resultsDir ?? `${REPO_ROOT}/results`;
  const plan = planPreset(opts.preset, {
    dataDir: opts.dataDir,
    only: opts.only,
    datasets: opts.datasets,
    fractions: opts.fractions,
    backbone: opts.backbone,
  });
  const writer = opts.writer ?? (opts.shard ? `shard-${opts.shard.i}-of-${opts.shard.n}` : "local");
  const store = new ResultsStore(`${resultsDir}/runs`, writer);
  store.load();
  const dealt = opts.shardPending ? plan.cells.filter((c) => !store.isDone(cellId(c))) : plan.cells;
  // Claimed cells are shared: every process looks at all of them.
  const mine = opts.shard && !opts.claim ? shard(dealt, opts.shard.i, opts.shard.n) : plan.cells;
  const summary: RunGridSummary = { plan, ran: [], skipped: [], failed: [], blocked: plan.blocked.length };
  const commit = gitCommit(REPO_ROOT);

  const todo = mine.filter((c) => !store.isDone(cellId(c)));
  /** Meta-training weights this run had to train again (see below), by cell id. */
  const recreated = new Map<string, string | undefined>();
  summary.skipped = mine.filter((c) => store.isDone(cellId(c))).map(cellId);
  // A kill between storing a record and removing the cell's checkpoints leaves them behind.
  if (!opts.list) { for (const id of summary.skipped) removeIfPresent(`${resultsDir}/partial/${id}`); }
  const work = estimateWork(todo);
  const resumeAt = new Map(
    await Promise.all(todo.map(async (c) => {
      const newest = await latestCheckpoint(`${resultsDir}/partial/${cellId(c)}`);
      return [cellId(c), newest === undefined ? undefined : checkpointStep(newest)] as const;
    })),
  );
  const continuing = [...resumeAt.values()].filter((s) => s !== undefined).length;
  // The time left at this machine's pace, from the runs already in the store (any preset).
  const eta = todo.length ? estimateSeconds(todo, measuredRates(store.records())) : undefined;
  log(
    `preset ${plan.preset} (backbone ${plan.backbone}${
      opts.shard ? `, ${opts.claim ? "worker" : "shard"} ${opts.shard.i}/${opts.shard.n}` : ""
    }): ` +
      `${plan.cells.length} runnable cells, ${
        opts.claim ? "shared by the workers" : `${mine.length} in this shard`
      }, ` +
      `${summary.skipped.length} already done, ` +
      `${todo.length} to run (${continuing ? `${continuing} of them from a checkpoint, ` : ""}` +
      `${work.steps} optimizer steps, ${work.evalExamples} evaluation examples${
        eta === undefined ? "" : `, about ${fmtSeconds(eta)} at the pace of the runs in the store`
      }); ` +
      `${plan.blocked.length} cells need missing data` +
      (plan.blocked.length ? ` (${[...new Set(plan.blocked.flatMap((b) => b.needs))].join(", ")})` : ""),
  );
  if (opts.list) {
    for (const c of mine) {
      const from = resumeAt.get(cellId(c));
      const status = store.isDone(cellId(c)) ? "done   " : "pending";
      log(
        `  ${status} ${cellId(c)} ${cellLabel(c)}${
          from === undefined ? "" : ` (continues from step ${from})`
        }`,
      );
    }
    for (const b of plan.blocked) log(`  needs ${b.needs.join(",")} ${cellId(b.cell)} ${cellLabel(b.cell)}`);
    return summary;
  }

  if (!opts.reportOnly) {
    const limit = opts.maxCells ?? Infinity;
    const t0 = performance.now();
    /** This run's claim on the cells it takes (`claim`): the process id and a token of the run. */
    const me = `${Deno.pid}:${crypto.randomUUID()}`;
    /** Trains, evaluates and records one cell (or records why it could not run). */
    const runOne = async (k: number, cell: Cell): Promise<void> => {
      const id = cellId(cell), label = cellLabel(cell);
      const prefix = `[${k + 1}/${todo.length}] ${label}`;
      let initCheckpoint: string | undefined;
      if (cell.init) {
        const init = cell.init;
        initCheckpoint = recreated.has(init)
          ? recreated.get(init)
          : [store.get(init)?.checkpoint, `${resultsDir}/checkpoints/${init}`].find(checkpointPresent);
        if (!initCheckpoint && store.isDone(init) && !recreated.has(init)) {
          // The meta-training record came from elsewhere (results/raw/ copied in, another machine
          // of an array) and its weights did not travel with it. Training is deterministic (the
          // same settings and seed give the same weights), so train it again, without a new record.
          const initCell = plan.cells.find((c) => cellId(c) === init)!;
          log(`${prefix}: re-creating the weights of ${cellLabel(initCell)} (its checkpoint is not here)`);
          // Shared cells: held under the meta-training cell's claim, which other workers' episodes
          // wait for, so that two workers never write the same weights at once.
          const held = !opts.claim || takeClaim(resultsDir, init, me);
          try {
            if (!held) throw new Error("another worker holds its claim");
            const again = await runner(initCell, {
              dataDir: opts.dataDir,
              checkpointDir: `${resultsDir}/checkpoints/${init}`,
              log: (m) => log(`${prefix}: ${m}`),
            });
            initCheckpoint = again.checkpoint;
          } catch (e) {
            log(`${prefix}: could not re-create them: ${e instanceof Error ? e.message : e}`);
          } finally {
            if (opts.claim && held) removeIfPresent(`${resultsDir}/claims/${init}`);
          }
          recreated.set(init, initCheckpoint); // tried once per run, whatever the outcome
        }
        if (!initCheckpoint) {
          const error = `its initialising cell ${init} has no checkpoint (failed or not run)`;
          log(`${prefix}: skipped, ${error}`);
          summary.failed.push({ cellId: id, label, error });
          return;
        }
      }
      log(`${prefix}: running`);
      const started = new Date();
      const c0 = performance.now();
      try {
        const checkpointDir = `${resultsDir}/checkpoints/${id}`;
        const trainDir = `${resultsDir}/partial/${id}`;
        const result = await runner(cell, {
          dataDir: opts.dataDir,
          checkpointDir,
          initCheckpoint,
          trainDir,
          log: (m) => log(`${prefix}: ${m}`),
        });
        const total = (performance.now() - c0) / 1000;
        if (cell.saveCheckpoint && !result.checkpoint) {
          throw new Error("a meta-training cell must return its checkpoint");
        }
        const record: RunRecord = makeRecord(cell, {
          metrics: result.metrics,
          timings: {
            train: result.timings?.train ?? total,
            eval: result.timings?.eval ?? 0,
            ...result.timings,
            total,
          },
          backend: opts.backend,
          blasThreads: opts.blasThreads,
          preset: plan.preset,
          host: hostname(),
          steps: result.steps,
          losses: result.losses,
          masks: result.masks,
          checkpoint: result.checkpoint,
          resumedFrom: result.resumedFrom,
          started,
          gitCommit: commit,
        });
        store.append(record);
        removeIfPresent(trainDir); // the record holds the result now: its checkpoints have served
        summary.ran.push(id);
        const elapsed = (performance.now() - t0) / 1000;
        // Shared (claimed) cells: what no process has finished yet, as far as the store shows.
        if (opts.claim) store.load({ quiet: true });
        const left = opts.claim ? todo.filter((c) => !store.isDone(cellId(c))).length : todo.length - (k + 1);
        log(
          `${prefix}: done in ${fmtSeconds(total)}; ${left} left` +
            (left ? `, about ${fmtSeconds((elapsed / summary.ran.length) * left)} to go` : ""),
        );
      } catch (e) {
        const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        log(`${prefix}: FAILED: ${error}`);
        summary.failed.push({ cellId: id, label, error });
        // Failures live outside runs/, so they are never mistaken for results and rerun next time.
        Deno.mkdirSync(resultsDir, { recursive: true });
        Deno.writeTextFileSync(
          `${resultsDir}/failures.jsonl`,
          JSON.stringify({
            cellId: id,
            label,
            error,
            stack: (e as Error)?.stack,
            time: new Date().toISOString(),
            writer,
          }) + "\n",
          { append: true },
        );
        if (opts.stopOnError) throw e;
      }
    };

    let queue = todo;
    while (queue.length) {
      // Cells whose FewRel meta-training another worker is running: tried again once it is done.
      const waiting: Cell[] = [];
      for (const cell of queue) {
        if (summary.ran.length + summary.failed.length >= limit) break;
        const id = cellId(cell), k = todo.indexOf(cell);
        if (!opts.claim) {
          await runOne(k, cell);
          continue;
        }
        store.load({ quiet: true }); // another worker may have finished it
        if (store.isDone(id)) continue;
        // Its meta-training, or the re-creation of its weights, runs in another worker.
        if (cell.init && claimedElsewhere(resultsDir, cell.init, me)) {
          waiting.push(cell);
          continue;
        }
        if (!takeClaim(resultsDir, id, me)) continue; // another worker runs it
        try {
          await runOne(k, cell);
        } finally {
          removeIfPresent(`${resultsDir}/claims/${id}`);
        }
      }
      if (!waiting.length || summary.ran.length + summary.failed.length >= limit) break;
      await new Promise((resolve) => setTimeout(resolve, opts.claimPollMs ?? CLAIM_POLL_MS));
      queue = waiting;
    }
  }

  if (!opts.noReport) {
    // The report is the whole preset's, `--only` or not: the manifest and tables/README.md index
    // every table, so a run of one table (a notebook) must not shrink them to that table.
    const whole = opts.only || opts.datasets || opts.fractions
      ? planPreset(opts.preset, { dataDir: opts.dataDir, backbone: opts.backbone })
      : plan;
    summary.reportFiles = await writeReport(whole, store.load({ quiet: true }), {
      dir: resultsDir,
      gitCommit: commit,
    });
    // Said every time: the tables include cells this store never ran, and the raw file keeps records
    // of cells outside this plan (another backbone, data now missing) that no table shows.
    const raw = `${resultsDir}/raw/${whole.preset}-runs.jsonl`;
    const planned = new Set(whole.cells.map(cellId));
    const reported = summary.reportFiles.kept.filter((r) => planned.has(r.cellId)).length;
    const others = summary.reportFiles.kept.length - reported;
    if (reported > 0) {
      log(
        `the store (${resultsDir}/runs) lacks ${reported} finished cell(s) that ${raw} holds: kept there and ` +
          `reported from it (to make the store whole: cp ${raw} ${resultsDir}/runs/imported.jsonl)`,
      );
    }
    if (others > 0) {
      log(
        `${raw} keeps ${others} record(s) of cells outside this plan (no table shows them; delete the file to drop them)`,
      );
    }
    log(
      `wrote ${summary.reportFiles.tables.length} table files, ${summary.reportFiles.figures.length} figure files ` +
        `and the manifest under ${reportDir(resultsDir, whole.preset)}`,
    );
  }
  return summary;
}

/** Whether `dir` holds a saved checkpoint (its config.json is written with the weights). */
function checkpointPresent(dir: string | undefined): dir is string {
  if (!dir) return false;
  try {
    return Deno.statSync(`${dir}/config.json`).isFile;
  } catch {
    return false;
  }
}

function hostname(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    return undefined;
  }
}
