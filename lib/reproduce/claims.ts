/**
 * Claims on grid cells, so that processes sharing one results folder (`reproduce --workers N`)
 * take one cell each at a time: a cell is claimed by creating `claims/ID` exclusively, holding the
 * claiming run's `PID:TOKEN`; a claim whose process is gone (killed) is taken over.
 *
 * ```ts
 * const me = `${Deno.pid}:${crypto.randomUUID()}`;
 * if (takeClaim("results", id, me)) {
 *   try { await run(cell); } finally { removeIfPresent(`results/claims/${id}`); }
 * }
 * ```
 *
 * @module
 */
import { processAlive } from "../train/run_dir.ts";

/** How long a worker waits before looking again at cells whose meta-training runs elsewhere. */
export const CLAIM_POLL_MS = 15_000;

/**
 * Claims cell `id` for `me` (a process id and a token of this run, `PID:TOKEN`) by creating
 * `claims/ID` exclusively; false when another live run holds it.
 */
export function takeClaim(resultsDir: string, id: string, me: string): boolean {
  const path = `${resultsDir}/claims/${id}`;
  Deno.mkdirSync(`${resultsDir}/claims`, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      Deno.writeTextFileSync(path, me, { createNew: true });
      return true;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      if (claimedElsewhere(resultsDir, id, me)) return false;
      removeIfPresent(path); // its process is gone (killed): take it over
    }
  }
  return false;
}

/** Whether a live run other than `me` holds the claim of cell `id`. */
export function claimedElsewhere(resultsDir: string, id: string, me: string): boolean {
  let owner: string;
  try {
    owner = Deno.readTextFileSync(`${resultsDir}/claims/${id}`).trim();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
  if (owner === me) return false;
  // A claim being written is empty for an instant: count it as held.
  const pid = Number(owner.split(":")[0]);
  return !(Number.isInteger(pid) && pid > 0) || processAlive(pid);
}

/** Removes a file or folder (recursively); nothing when it is absent. */
export function removeIfPresent(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
