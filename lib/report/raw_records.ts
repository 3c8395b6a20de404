/**
 * The report's `raw/PRESET-runs.jsonl` is the committed copy of every finished cell's record, while
 * the store it is written from (`runs/`) is not committed: on a fresh clone, or after a partial
 * run, the store knows fewer cells than that file. Rewriting the file from the store alone erased
 * the committed records (and blanked the tables). So a report first reads the file it is about to
 * replace and keeps every record the store lacks; a file it cannot read is refused, not replaced.
 *
 * @module
 */
import { type RunRecord } from "../experiments/store.ts";

/** `raw/PRESET-runs.jsonl` holds a line that is not a run record: the report will not replace it. */
export class RawRecordsError extends Error {
  readonly hint: string;
  constructor(message: string, readonly path: string) {
    super(message);
    this.name = "RawRecordsError";
    this.hint =
      `restore it (git checkout ${path}) or move it aside; a report never overwrites records it cannot read`;
  }
}

/** The records of a raw file in order; none when it is absent. Strict: a bad line throws. */
export function readRawRecords(path: string): RunRecord[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const out: RunRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let r: RunRecord;
    try {
      r = JSON.parse(line);
    } catch (e) {
      throw new RawRecordsError(`${path}:${i + 1}: not JSON (${(e as Error).message})`, path);
    }
    if (typeof r?.cellId !== "string" || typeof r.cell !== "object" || r.cell === null) {
      throw new RawRecordsError(`${path}:${i + 1}: not a run record (no cellId and cell)`, path);
    }
    out.push(r);
  });
  return out;
}

/** The store's records with the raw file's added where the store has none (the store wins). */
export interface MergedRecords {
  records: Map<string, RunRecord>;
  /** Records taken from the raw file because the store lacks their cell, in the file's order. */
  kept: RunRecord[];
}

/** Merges the records of the raw file at `path` into `records` (see {@link MergedRecords}). */
export function mergeRawRecords(records: Map<string, RunRecord>, path: string): MergedRecords {
  const merged = new Map(records);
  const kept: RunRecord[] = [];
  for (const r of readRawRecords(path)) {
    if (merged.has(r.cellId)) continue;
    merged.set(r.cellId, r);
    kept.push(r);
  }
  return { records: merged, kept };
}
