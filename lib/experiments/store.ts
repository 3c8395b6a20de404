/**
 * The results store: one JSON object per finished cell, one line each, in `results/runs/*.jsonl`.
 *
 * Why JSON lines in several files: a run that is killed loses at most the line being written, a
 * finished cell is never rewritten, and each writer (a shard, a machine of a SLURM array) appends
 * to its own file, so writers sharing a network folder never interleave. Reading takes the union
 * of all files; the first record of a cell wins, so duplicates (two shards racing) are harmless.
 *
 * ```ts
 * import { type Cell, cellId } from "./cells.ts";
 * declare const cell: Cell;
 * declare function train(cell: Cell): Promise<Record<string, Record<string, number>>>;
 * const store = new ResultsStore("results/runs", "shard-2-of-4");
 * if (!store.isDone(cellId(cell))) {
 *   const started = new Date();
 *   const metrics = await train(cell);
 *   store.append(makeRecord(cell, { metrics, timings: { train: 1, eval: 1, total: 2 }, backend: "wasm", started }));
 * }
 * ```
 *
 * @module
 */

import { type Cell, cellId } from "./cells.ts";

/** Selected mask entries of one layer at one mask (re)computation, for the mask heat map. */
export interface MaskSnapshot {
  /** 0 for the initial mask, then 1, 2, ... for each refresh. */
  refresh: number;
  /** Optimizer step at which the mask was computed (0 for the initial mask). */
  step: number;
  /** Layer label, e.g. `encoder.block.3` or `shared` (the runner chooses the grouping). */
  layer: string;
  /** Selected (trainable) entries in that layer. */
  selected: number;
  /** Entries of that layer in total, so figures can show densities. */
  total?: number;
}

/**
 * The layer a T5 parameter belongs to, for the mask heat map (Hugging Face names):
 * `encoder.block.3.layer.0.SelfAttention.q.weight` -> `encoder.block.3`, `shared.weight` ->
 * `shared`, `decoder.final_layer_norm.weight` -> `decoder.final_layer_norm`.
 */
export function t5Layer(name: string): string {
  const block = /^(encoder|decoder)\.block\.(\d+)\./.exec(name);
  if (block) return `${block[1]}.block.${block[2]}`;
  const parts = name.split(".");
  if (parts[0] === "shared" || parts[0] === "lm_head") return parts[0];
  return parts.slice(0, 2).join(".").replace(/\.(weight|bias)$/, "");
}

/** Orders layers as data flows: embeddings, encoder blocks, encoder norm, decoder, head. */
function layerRank(layer: string): [number, number] {
  const m = /^(encoder|decoder)\.block\.(\d+)$/.exec(layer);
  if (layer === "shared") return [0, 0];
  if (m) return [m[1] === "encoder" ? 1 : 3, Number(m[2])];
  if (layer.startsWith("encoder")) return [2, 0];
  if (layer.startsWith("decoder")) return [4, 0];
  return [5, 0];
}

/**
 * Per-layer counts of one mask, for {@link RunRecord.masks}. Takes any map of parameter masks
 * with a `size` and a `kept` list (lib/methods' `SparseMask.params`), so it needs no model code.
 *
 * ```ts
 * declare const mask: { params: Map<string, { size: number; kept: Int32Array }> }; // a SparseMask
 * const masks: MaskSnapshot[] = [];
 * masks.push(...maskSnapshots(mask.params, 1, 100)); // first refresh, at step 100
 * ```
 */
export function maskSnapshots(
  params: ReadonlyMap<string, { size: number; kept: { length: number } }>,
  refresh: number,
  step: number,
  layerOf: (name: string) => string = t5Layer,
): MaskSnapshot[] {
  const byLayer = new Map<string, { selected: number; total: number }>();
  for (const [name, m] of params) {
    const layer = layerOf(name);
    const acc = byLayer.get(layer) ?? { selected: 0, total: 0 };
    acc.selected += m.kept.length;
    acc.total += m.size;
    byLayer.set(layer, acc);
  }
  return [...byLayer.entries()]
    .sort(([a], [b]) => {
      const [ra, ia] = layerRank(a), [rb, ib] = layerRank(b);
      return ra - rb || ia - ib || a.localeCompare(b);
    })
    .map(([layer, { selected, total }]) => ({ refresh, step, layer, selected, total }));
}

/** One finished cell. */
export interface RunRecord {
  cellId: string;
  cell: Cell;
  /** Metrics by evaluation key (`conll04/test`) and TANL metric name (`relation_f1`), in [0, 1]. */
  metrics: Record<string, Record<string, number>>;
  /** Seconds spent; `train` and `eval` at least. */
  timings: { train: number; eval: number; total: number; [phase: string]: number };
  /** tfjs backend the cell ran on (`wasm`, `wasm+blas`, `webgpu`, `cpu`). */
  backend: string;
  /**
   * BLAS threads (`wasm+blas`): they set a product's summation order, so a long run's figures move
   * with them at the rounding level.
   */
  blasThreads?: number;
  backbone: string;
  /** `git rev-parse HEAD` of the code that ran it (with `-dirty` if the tree had changes). */
  gitCommit: string;
  /** Preset the runner was started with (informational: the cell, not the preset, is the key). */
  preset?: string;
  host?: string;
  /** ISO 8601 times. */
  started: string;
  finished: string;
  /** Optimizer steps actually taken (early stop can end a run before its schedule). */
  steps?: number;
  /** Training loss curve, if the runner keeps one. */
  losses?: { step: number; loss: number }[];
  /** Mask history of sparse methods (initial mask and every refresh). */
  masks?: MaskSnapshot[];
  /** Where the final weights were saved (meta-training cells). */
  checkpoint?: string;
  /**
   * The step of the training checkpoint this run continued from, when an earlier process was cut
   * off (the same result as one run through: see `MethodSpec.resumable`); `started`, the
   * `total` time and `gitCommit` are then this process's.
   */
  resumedFrom?: number;
}

/** What {@link loadRecords} found besides the records. */
export interface LoadReport {
  records: RunRecord[];
  /** Lines skipped: truncated last lines (a killed writer) and unparsable lines, with file:line. */
  skipped: string[];
  /** Records whose `cellId` does not match the hash of their `cell` (edited by hand?). */
  mismatched: string[];
}

/**
 * Reads every `*.jsonl` file in `dir` (missing folder: no records). A line that does not parse is
 * skipped with a warning on stderr; when it is the file's last line and unterminated, the warning
 * says it was probably cut off by a kill and its cell will be run again.
 */
export function loadRecords(dir: string, opts: { quiet?: boolean } = {}): LoadReport {
  const out: LoadReport = { records: [], skipped: [], mismatched: [] };
  let names: string[];
  try {
    names = [...Deno.readDirSync(dir)].filter((e) => e.isFile && e.name.endsWith(".jsonl")).map((e) =>
      e.name
    );
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  // Sorted, so "first record wins" is the same on every machine.
  for (const name of names.sort()) {
    const text = Deno.readTextFileSync(`${dir}/${name}`);
    const lines = text.split("\n");
    const terminated = text.endsWith("\n");
    lines.forEach((line, i) => {
      if (line.trim() === "") return;
      const last = i === lines.length - 1 && !terminated;
      try {
        const r = JSON.parse(line) as RunRecord;
        if (typeof r?.cellId !== "string" || typeof r.cell !== "object") throw new Error("not a run record");
        if (cellId(r.cell) !== r.cellId) out.mismatched.push(`${name}:${i + 1}`);
        out.records.push(r);
      } catch (e) {
        const where = `${name}:${i + 1}`;
        out.skipped.push(where);
        if (!opts.quiet) {
          console.warn(
            last
              ? `warning: ${dir}/${where}: truncated last line (a run killed while writing?); ` +
                `skipped, its cell will run again`
              : `warning: ${dir}/${where}: unparsable line skipped (${(e as Error).message})`,
          );
        }
      }
    });
  }
  return out;
}

/** The results store of one folder, appending to one file of its own. */
export class ResultsStore {
  /** Finished cells by id (first record wins). */
  readonly byId: Map<string, RunRecord> = new Map();
  /** The file this store appends to. */
  readonly file: string;
  #loaded = false;

  /**
   * @param dir folder of the `.jsonl` files (`results/runs`)
   * @param writer name of this writer's file (`local`, `shard-2-of-4`); letters, digits, `-_.`
   */
  constructor(readonly dir: string, writer = "local") {
    if (!/^[\w.-]+$/.test(writer)) throw new Error(`bad writer name ${JSON.stringify(writer)}`);
    this.file = `${dir}/${writer}.jsonl`;
  }

  /** (Re)reads every file of the folder. Called lazily by the other methods. */
  load(opts: { quiet?: boolean } = {}): RunRecord[] {
    this.byId.clear();
    const { records } = loadRecords(this.dir, opts);
    for (const r of records) if (!this.byId.has(r.cellId)) this.byId.set(r.cellId, r);
    this.#loaded = true;
    return [...this.byId.values()];
  }

  /** All finished cells. */
  records(): RunRecord[] {
    if (!this.#loaded) this.load();
    return [...this.byId.values()];
  }

  /** Whether the cell has a record (in any writer's file, as of the last load). */
  isDone(id: string): boolean {
    if (!this.#loaded) this.load();
    return this.byId.has(id);
  }

  /** The record of a cell, if finished. */
  get(id: string): RunRecord | undefined {
    if (!this.#loaded) this.load();
    return this.byId.get(id);
  }

  /**
   * Appends one record as one line with one `write` call on an `O_APPEND` file, so the line is
   * either all there or cut at the end. If the file ends in a partial line (a writer killed
   * mid-write), a newline is written first so the new record does not fuse with it.
   */
  append(record: RunRecord): void {
    if (record.cellId !== cellId(record.cell)) {
      throw new Error(`record cellId ${record.cellId} is not the id of its cell (${cellId(record.cell)})`);
    }
    Deno.mkdirSync(this.dir, { recursive: true });
    const f = Deno.openSync(this.file, { append: true, create: true, read: true });
    try {
      let prefix = "";
      const size = f.statSync().size;
      if (size > 0) {
        const last = new Uint8Array(1);
        f.seekSync(size - 1, Deno.SeekMode.Start);
        f.readSync(last);
        if (last[0] !== 0x0a) prefix = "\n";
      }
      const bytes = new TextEncoder().encode(prefix + JSON.stringify(record) + "\n");
      let written = 0;
      // One write normally takes it all; loop only for the rare short write.
      while (written < bytes.length) written += f.writeSync(bytes.subarray(written));
    } finally {
      f.close();
    }
    if (!this.byId.has(record.cellId)) this.byId.set(record.cellId, record);
  }
}

/** The current git commit of `repo` (with `-dirty` when the tree has changes), or `unknown`. */
export function gitCommit(repo = "."): string {
  try {
    const run = (args: string[]) =>
      new TextDecoder().decode(
        new Deno.Command("git", { args, cwd: repo, stdout: "piped", stderr: "null" })
          .outputSync().stdout,
      ).trim();
    const head = run(["rev-parse", "HEAD"]);
    if (!head) return "unknown";
    const dirty = run(["status", "--porcelain", "--untracked-files=no"]) !== "";
    return dirty ? `${head}-dirty` : head;
  } catch {
    return "unknown";
  }
}

/**
 * Builds a record for a finished cell; `started` is a `Date` taken before training.
 *
 * ```ts
 * import type { Cell } from "./cells.ts";
 * declare const cell: Cell, store: ResultsStore;
 * const t0 = new Date();
 * // ... train and evaluate ...
 * const metrics = { "conll04/test": { entity_f1: 0.61, relation_f1: 0.32 } };
 * store.append(makeRecord(cell, { metrics, timings: { train: 50, eval: 9, total: 59 }, backend: "wasm", started: t0 }));
 * ```
 */
export function makeRecord(
  cell: Cell,
  r: Omit<RunRecord, "cellId" | "cell" | "backbone" | "gitCommit" | "started" | "finished"> & {
    started: Date;
    finished?: Date;
    gitCommit?: string;
  },
): RunRecord {
  const { started, finished, gitCommit: commit, ...rest } = r;
  return {
    cellId: cellId(cell),
    cell,
    ...rest,
    backbone: cell.backbone,
    gitCommit: commit ?? gitCommit(),
    started: started.toISOString(),
    finished: (finished ?? new Date()).toISOString(),
  };
}
