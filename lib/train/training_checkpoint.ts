/**
 * Training checkpoints (`runDir/checkpoint-<step>/`), the folders a run resumes from: the weights,
 * the optimizer state and the method's mask as safetensors, and `state.json` (the loop's state and
 * the SHA-256 of every file beside it). Not Hugging Face checkpoints (those are lib/checkpoint).
 *
 * A checkpoint is written under a temporary name and renamed into place, `state.json` last, so a
 * kill at any moment leaves the previous checkpoint or the new one, never a torn one. What the
 * rename cannot protect against — a disk that flips or loses bytes, a file edited or replaced by
 * hand — the checksums catch: a resume verifies the newest checkpoint and, when it does not hold,
 * says why and falls back to the one before (two are kept by default).
 *
 * ```ts
 * await saveTrainingCheckpoint(runDir, params, optimizer, mask, state, 2);
 * const { path, state, mask } = await loadNewestCheckpoint(runDir, params, optimizer, console.warn);
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { readSafetensors, writeSafetensorsFile } from "../checkpoint/safetensors.ts";
import { pathExists as exists } from "../config/paths.ts";
import type { ParamMask } from "../methods/mask.ts";
import { SparseMask } from "../methods/mask.ts";
import type { Adafactor } from "../optim/adafactor.ts";
import { adafactorStateFrom, adafactorStateTensors } from "../optim/adafactor_state.ts";
import { checkpointsNewestFirst, tempCheckpointName } from "./run_dir.ts";

export { latestCheckpoint } from "./run_dir.ts";

/** The loop's state, saved in `state.json`. */
export interface LoopState {
  step: number;
  seed: number;
  total: number;
  masks: { step: number; perParam: Record<string, number> }[];
  /** Consecutive steps so far with a loss below the early stop's threshold. */
  belowThreshold?: number;
  /** The step at which the early stop ended training. */
  stoppedEarly?: number;
  /**
   * The loss of every step so far, and the seconds spent in steps and in mask computations, so
   * that a resumed run reports the whole run (absent in checkpoints of older versions).
   */
  losses?: { step: number; loss: number }[];
  trainSeconds?: number;
  maskSeconds?: number;
}

/** `state.json` as written: the loop state, whether a mask was saved, and the files' SHA-256. */
interface SavedState extends LoopState {
  hasMask: boolean;
  /** File name -> hex SHA-256 of the files of the folder (absent in checkpoints of older versions). */
  sha256?: Record<string, string>;
}

/** No usable checkpoint in a run folder that has some, or one that fails its checks. */
export class TrainingCheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingCheckpointError";
  }
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes `runDir/checkpoint-<step>/` and prunes all but the newest `keep` (at least 1). */
export async function saveTrainingCheckpoint(
  runDir: string,
  params: Map<string, tf.Variable>,
  optimizer: Adafactor,
  mask: SparseMask | null,
  state: LoopState,
  keep: number,
): Promise<string> {
  const final = `${runDir}/checkpoint-${state.step}`;
  const tmp = `${runDir}/${tempCheckpointName(state.step, Deno.pid)}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp, { recursive: true });
  const weights = new Map<string, { dtype: "F32"; shape: number[]; data: Float32Array }>();
  for (const [name, v] of params) {
    weights.set(name, { dtype: "F32", shape: [...v.shape], data: (await v.data()) as Float32Array });
  }
  const files = ["model.safetensors", "optimizer.safetensors"];
  await writeSafetensorsFile(`${tmp}/model.safetensors`, weights);
  const opt = adafactorStateTensors(await optimizer.saveState());
  await writeSafetensorsFile(`${tmp}/optimizer.safetensors`, opt.tensors, opt.metadata);
  if (mask) {
    const m = new Map<string, { dtype: "I32"; shape: number[]; data: Int32Array }>();
    for (const [name, p] of mask.params) m.set(name, { dtype: "I32", shape: [p.kept.length], data: p.kept });
    await writeSafetensorsFile(`${tmp}/mask.safetensors`, m);
    files.push("mask.safetensors");
  }
  const sums: Record<string, string> = {};
  for (const f of files) sums[f] = await sha256(`${tmp}/${f}`);
  // state.json last: a folder without it is incomplete and ignored on resume.
  const saved: SavedState = { ...state, hasMask: mask !== null, sha256: sums };
  await Deno.writeTextFile(`${tmp}/state.json`, JSON.stringify(saved));
  await Deno.remove(final, { recursive: true }).catch(() => {});
  await Deno.rename(tmp, final);
  const all = await checkpointsNewestFirst(runDir);
  for (const old of all.slice(Math.max(1, keep))) await Deno.remove(old, { recursive: true }).catch(() => {});
  return final;
}

/** Reads and checks `state.json` of a checkpoint folder; throws a {@link TrainingCheckpointError}. */
async function readState(path: string): Promise<SavedState> {
  let s: Partial<SavedState>;
  try {
    s = JSON.parse(await Deno.readTextFile(`${path}/state.json`));
  } catch (e) {
    throw new TrainingCheckpointError(`${path}/state.json: unreadable (${(e as Error).message})`);
  }
  for (const k of ["step", "seed", "total"] as const) {
    if (typeof s?.[k] !== "number") {
      throw new TrainingCheckpointError(`${path}/state.json: "${k}" is missing or not a number`);
    }
  }
  if (!Array.isArray(s.masks)) throw new TrainingCheckpointError(`${path}/state.json: "masks" is missing`);
  // Older checkpoints have no losses; a list must hold one loss per step so far, in order.
  if (s.losses !== undefined) {
    const ok = Array.isArray(s.losses) && s.losses.length === s.step &&
      s.losses.every((l, i) => l?.step === i + 1 && (typeof l.loss === "number" || l.loss === null));
    if (!ok) {
      throw new TrainingCheckpointError(`${path}/state.json: "losses" is not one loss per step 1..${s.step}`);
    }
    s.losses = s.losses.map((l) => ({ step: l.step, loss: l.loss ?? NaN })); // JSON writes NaN as null
  }
  return s as SavedState;
}

/**
 * Why the checkpoint folder `path` cannot be resumed from (a file missing or whose SHA-256 differs
 * from the one `state.json` recorded, an unreadable `state.json`), or undefined when it holds.
 */
export async function verifyCheckpoint(path: string): Promise<string | undefined> {
  let state: SavedState;
  try {
    state = await readState(path);
  } catch (e) {
    return (e as Error).message;
  }
  const expected = [
    "model.safetensors",
    "optimizer.safetensors",
    ...(state.hasMask ? ["mask.safetensors"] : []),
  ];
  for (const f of expected) {
    if (!(await exists(`${path}/${f}`))) return `${path}/${f}: missing`;
  }
  if (!state.sha256) return undefined; // written before checksums were recorded: nothing to compare
  for (const f of expected) {
    const want = state.sha256[f];
    if (!want) return `${path}/state.json: no checksum for ${f}`;
    const got = await sha256(`${path}/${f}`);
    if (got !== want) {
      return `${path}/${f}: SHA-256 ${got.slice(0, 12)}… differs from ${
        want.slice(0, 12)
      }… (changed since it was written)`;
    }
  }
  return undefined;
}

/** Reads a verified checkpoint into the model's variables and the optimizer. */
async function loadInto(
  path: string,
  params: Map<string, tf.Variable>,
  optimizer: Adafactor,
): Promise<{ state: LoopState; mask: SparseMask | null }> {
  const state = await readState(path);
  const weights = await readSafetensors(`${path}/model.safetensors`);
  const missing = [...params.keys()].filter((n) => !weights.tensors.has(n));
  if (missing.length) {
    throw new TrainingCheckpointError(
      `${path}/model.safetensors: missing tensor(s) ${missing.slice(0, 5).join(", ")}` +
        (missing.length > 5 ? ` and ${missing.length - 5} more` : "") +
        " (a checkpoint of another model or method?)",
    );
  }
  for (const [name, v] of params) {
    const t = weights.tensors.get(name)!;
    if (t.data.length !== v.size) {
      throw new TrainingCheckpointError(
        `${path}/model.safetensors: "${name}" has ${t.data.length} values, the model ${v.size}`,
      );
    }
    // assign copies the values into the variable; the tensor that carried them is ours to free.
    const value = tf.tensor(t.data as Float32Array, v.shape, "float32");
    v.assign(value);
    value.dispose();
  }
  const opt = await readSafetensors(`${path}/optimizer.safetensors`);
  optimizer.loadState(adafactorStateFrom(opt.tensors, opt.metadata, "", `${path}/optimizer.safetensors`));
  let mask: SparseMask | null = null;
  if (state.hasMask) {
    const file = `${path}/mask.safetensors`;
    const m = await readSafetensors(file);
    const unknown = [...m.tensors.keys()].filter((n) => !params.has(n));
    if (unknown.length) {
      throw new TrainingCheckpointError(
        `${file}: mask of tensor(s) the model does not have: ${unknown.join(", ")}`,
      );
    }
    const pm = new Map<string, ParamMask>();
    for (const [name, v] of params) {
      const kept = m.tensors.get(name)?.data as Int32Array | undefined ?? new Int32Array(0);
      for (const i of kept) {
        if (!(i >= 0 && i < v.size)) {
          throw new TrainingCheckpointError(`${file}: "${name}" keeps index ${i} of ${v.size}`);
        }
      }
      pm.set(name, { shape: [...v.shape], size: v.size, kept });
    }
    mask = new SparseMask(pm);
    // The mask in force is the one the loop logged last; a mask read back with another size is
    // not the one the run trained with.
    const logged = state.masks.at(-1)?.perParam;
    if (logged) {
      const want = Object.values(logged).reduce((a, b) => a + b, 0);
      if (mask.keptCount !== want) {
        throw new TrainingCheckpointError(
          `${file}: keeps ${mask.keptCount} entries, state.json recorded ${want}`,
        );
      }
    }
  }
  return { state, mask };
}

/**
 * Loads the newest checkpoint of `runDir` that passes its checks; a newer one that does not is
 * reported through `warn` (with the reason) and skipped. Returns undefined when the folder has no
 * checkpoint; throws a {@link TrainingCheckpointError} naming each one's problem when none holds.
 */
export async function loadNewestCheckpoint(
  runDir: string,
  params: Map<string, tf.Variable>,
  optimizer: Adafactor,
  warn: (message: string) => void,
): Promise<{ path: string; state: LoopState; mask: SparseMask | null } | undefined> {
  const candidates = await checkpointsNewestFirst(runDir);
  if (candidates.length === 0) return undefined;
  const problems: string[] = [];
  for (const path of candidates) {
    let problem = await verifyCheckpoint(path);
    if (problem === undefined) {
      try {
        return { path, ...(await loadInto(path, params, optimizer)) };
      } catch (e) {
        problem = (e as Error).message;
      }
    }
    problems.push(problem);
    warn(`warning: cannot resume from ${path}: ${problem}`);
  }
  throw new TrainingCheckpointError(
    `${runDir}: no checkpoint to resume from passes its checks:\n  ${problems.join("\n  ")}\n` +
      `  Start the run again in a new --run-dir (or remove this one).`,
  );
}

/** The newest checkpoint of `runDir` that passes {@link verifyCheckpoint}, with its state; warns about newer ones. */
export async function newestVerifiedCheckpoint(
  runDir: string,
  warn: (message: string) => void = () => {},
): Promise<{ path: string; state: LoopState } | undefined> {
  for (const path of await checkpointsNewestFirst(runDir)) {
    const problem = await verifyCheckpoint(path);
    if (problem === undefined) return { path, state: await readState(path) };
    warn(`warning: skipping ${path}: ${problem}`);
  }
  return undefined;
}
