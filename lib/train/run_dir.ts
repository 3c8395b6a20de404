/**
 * Housekeeping of a training run folder, so that a run killed at any moment leaves nothing behind
 * once it is resumed: the temporary folder of a checkpoint it was writing (up to the model's size
 * each), and the `log.jsonl` lines of the steps after the checkpoint it resumes from, which the
 * resumed run trains (and logs) again.
 *
 * @module
 */
import { pathExists } from "../config/paths.ts";

/** The folder a checkpoint is written into before it is renamed to `checkpoint-<step>`. */
export function tempCheckpointName(step: number, pid: number): string {
  return `.checkpoint-${step}.tmp-${pid}`;
}

const TEMP = /^\.checkpoint-\d+\.tmp-(\d+)$/;

const CHECKPOINT = /^checkpoint-(\d+)$/;

/** The complete checkpoint folders of `runDir` (those with `state.json`), newest first. */
export async function checkpointsNewestFirst(runDir: string): Promise<string[]> {
  if (!(await pathExists(runDir))) return [];
  const found: { step: number; path: string }[] = [];
  for await (const e of Deno.readDir(runDir)) {
    const m = CHECKPOINT.exec(e.name);
    if (!m || !e.isDirectory) continue;
    const path = `${runDir}/${e.name}`;
    if (!(await pathExists(`${path}/state.json`))) continue; // written last: its absence means torn
    found.push({ step: Number(m[1]), path });
  }
  return found.sort((a, b) => b.step - a.step).map((f) => f.path);
}

/** The newest complete checkpoint folder in `runDir`, if any (not verified: see `verifyCheckpoint`). */
export async function latestCheckpoint(runDir: string): Promise<string | undefined> {
  return (await checkpointsNewestFirst(runDir))[0];
}

/** The step of a checkpoint folder (`.../checkpoint-N`). */
export function checkpointStep(path: string): number {
  const m = CHECKPOINT.exec(path.slice(path.lastIndexOf("/") + 1));
  if (!m) throw new Error(`not a checkpoint folder: ${path}`);
  return Number(m[1]);
}

/** Whether process `pid` runs on this machine (Linux's /proc; elsewhere only this process counts). */
export function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return false; // no /proc: a second process writing the same folder is not supported anyway
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes the temporary checkpoint folders of processes that are gone (killed mid-write); a live
 * process's folder is left alone. Returns the names removed.
 */
export async function removeStaleTemps(runDir: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(runDir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return removed;
    throw e;
  }
  for (const e of entries) {
    const m = TEMP.exec(e.name);
    if (!m || processAlive(Number(m[1]))) continue;
    await Deno.remove(`${runDir}/${e.name}`, { recursive: true });
    removed.push(e.name);
  }
  return removed.sort();
}

/** The step a `log.jsonl` record belongs to (`end` records count their steps). */
function stepOf(r: { kind?: unknown; step?: unknown; steps?: unknown }): number | undefined {
  const s = r.kind === "end" ? r.steps : r.step;
  return typeof s === "number" ? s : undefined;
}

/**
 * Rewrites `log.jsonl` to what happened up to `step`, the checkpoint a run resumes from: records
 * of later steps (trained again now) and a line cut off by a kill are dropped, so every step is
 * logged once. Written under a temporary name and renamed, so a kill here loses nothing. Returns
 * how many lines were dropped.
 */
export async function trimLog(path: string, step: number): Promise<number> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
  const kept: string[] = [];
  let dropped = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let r;
    try {
      r = JSON.parse(line);
    } catch {
      dropped++; // cut off mid-write by the kill
      continue;
    }
    const s = stepOf(r ?? {});
    if (s !== undefined && s > step) dropped++;
    else kept.push(line);
  }
  if (dropped === 0) return 0;
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, kept.map((l) => l + "\n").join(""));
  await Deno.rename(tmp, path);
  return dropped;
}
