/**
 * What a training run is, recorded in its folder (`identity.json`) so that `--resume` continues
 * only the same run. Seed and step count alone let a killed `--k 0.05` run resume onto a finished
 * `--k 0.01` checkpoint and report k = 0.05 with the old weights, or mix masks of two ks. The
 * identity holds every setting that shapes the trained weights (data, fraction, method and its
 * settings, seed, epochs, batch, lengths, backbone and a fingerprint of its weights); settings of
 * evaluation only are left out, so a resumed run may score differently.
 *
 * @module
 */
import { canonicalJson, fnv1a64 } from "../experiments/cells.ts";
import type { MethodConfig } from "../methods/registry.ts";

/** The file of a run folder that holds its identity. */
export const IDENTITY_FILE = "identity.json";

/** A run's identity: JSON values only (compared field by field, nested objects by dotted path). */
export type RunIdentity = Record<string, unknown>;

/** The run folder holds another run than the one asked for. */
export class RunIdentityError extends Error {
  readonly hint =
    "resume with the settings it was saved with, or give another --run-dir (the default folder is " +
    "named after the run's settings, so leaving --run-dir out keeps runs apart)";
  constructor(message: string, readonly differences: string[]) {
    super(message);
    this.name = "RunIdentityError";
  }
}

function flatten(x: unknown, prefix: string, out: Map<string, string>): void {
  if (x !== null && typeof x === "object" && !Array.isArray(x)) {
    for (const [k, v] of Object.entries(x)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (x !== undefined) out.set(prefix, JSON.stringify(x));
}

/** The fields that differ, as `method.k: 0.01 saved, 0.05 now` (a missing side reads `absent`). */
export function identityDifferences(saved: RunIdentity, now: RunIdentity): string[] {
  const a = new Map<string, string>(), b = new Map<string, string>();
  flatten(saved, "", a);
  flatten(now, "", b);
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys.filter((k) => a.get(k) !== b.get(k)).map((k) =>
    `${k}: ${a.get(k) ?? "absent"} saved, ${b.get(k) ?? "absent"} now`
  );
}

/** Short hash of an identity, for folder names. */
export function identityHash(identity: RunIdentity): string {
  return fnv1a64(canonicalJson(identity)).slice(0, 8);
}

/**
 * The default run folder: what a reader needs to tell runs apart (data, fraction, method and its
 * settings, seed) and a hash of the whole identity for the rest, e.g.
 * `runs/conll04-1pct-fishdip-k0.01-m100-nrule-s1-3fa9c2d1`.
 */
export function defaultRunDir(
  parts: { data: string; fraction?: number; method: MethodConfig; seed: number },
  identity: RunIdentity,
): string {
  const { name, ...settings } = parts.method as { name: string } & Record<string, unknown>;
  const method = [
    name,
    ...Object.entries(settings).map(([k, v]) => `${k}${Array.isArray(v) ? v.join("+") : v}`),
  ]
    .join("-");
  const fraction = parts.fraction === undefined || parts.fraction === 1
    ? ""
    : `-${+(parts.fraction * 100).toFixed(3)}pct`;
  const safe = (s: string) => s.replace(/[^\w.+-]+/g, "_");
  return `runs/${safe(parts.data)}${fraction}-${safe(method)}-s${parts.seed}-${identityHash(identity)}`;
}

async function hasCheckpoints(runDir: string): Promise<boolean> {
  try {
    for await (const e of Deno.readDir(runDir)) if (/^checkpoint-\d+$/.test(e.name)) return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return false;
}

/**
 * Checks `identity` against the one `runDir` holds and records it there. A folder with another
 * run's checkpoints is refused with a {@link RunIdentityError} naming the differing fields, with
 * `--resume` or without (a fresh start would overwrite them and append to their log). Returns
 * `unverified` for a folder with checkpoints but no identity (made before identities were
 * recorded): its run cannot be checked.
 */
export async function checkRunIdentity(
  runDir: string,
  identity: RunIdentity,
): Promise<"new" | "same" | "unverified"> {
  const path = `${runDir}/${IDENTITY_FILE}`;
  let saved: RunIdentity | undefined;
  try {
    saved = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new RunIdentityError(`${path}: unreadable (${(e as Error).message})`, []);
    }
  }
  const checkpoints = await hasCheckpoints(runDir);
  if (saved !== undefined && checkpoints) {
    const diff = identityDifferences(saved, identity);
    if (diff.length > 0) {
      throw new RunIdentityError(`${runDir} holds another run; it differs in:\n  ${diff.join("\n  ")}`, diff);
    }
    return "same";
  }
  await Deno.mkdir(runDir, { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, JSON.stringify(identity, null, 2) + "\n");
  await Deno.rename(tmp, path);
  return checkpoints ? "unverified" : "new";
}
