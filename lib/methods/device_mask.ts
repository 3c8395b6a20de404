/**
 * Masks that stay on the backend, and the exact global top-k that makes them from Fisher sums
 * that also stay there: the WebGPU path of FISH-DIP and FISH, where every read of a tensor waits
 * for the GPU queue and copies a buffer back.
 *
 * **Representation.** {@link DeviceMask} holds one dense bool tensor per parameter (the
 * parameter's shape). {@link DeviceMask.apply} is `where(mask, g, 0)`: kept entries are the
 * gradient's bits, masked ones exactly +0, as `SparseMask.apply` gives. The per-parameter kept
 * counts are read once when the mask is made (a vector of about one number per parameter), so logs
 * need no further reads; {@link DeviceMask.toSparse} reads the mask back (bit-packed, 16 entries per
 * float) only when a checkpoint needs the index lists.
 *
 * **Selection.** {@link selectTopKOnBackend} keeps the same entries as `selectTopK` (mask.ts):
 * exactly `keepNum`, the largest scores, ties at the threshold broken by the smallest global flat
 * index (parameters in map order, then row-major). Scores are Fisher sums (squares or absolute
 * values), so every one is ≥ +0, and for those the float32 order is the order of their bit
 * patterns. The k-th largest value is found by a search over bit patterns chosen here: each round
 * splits the interval left into 16 parts, counts `f >= c` for the 15 cut points on the backend,
 * and reads back one small count vector (about 8 rounds for 31 bits). Then one read of the tie
 * counts `f == t` per parameter gives each parameter its quota of ties in map order, and the mask
 * is `f > t`, `f >= t`, or, for the one parameter with a partial quota,
 * `f > t OR (f == t AND cumsum(f == t) <= quota)`. A refresh thus reads about ten small vectors,
 * never a tensor of a parameter's size.
 *
 * **Exact counts.** Sums on webgpu accumulate in float32 (also for int32 and bool inputs), exact
 * for integers up to 2^24. Every count here is therefore taken over a *unit* of at most 2^24
 * entries (a parameter, or a row of it viewed as `[rows, cols]`: only embeddings are larger), and
 * units are added on the backend only in groups whose sizes total at most 2^24; the groups' counts
 * are added in JavaScript.
 *
 * **When it cannot be exact.** NaN, negative scores (the count of `f >= +0` is short of the total)
 * or counts that do not add up (a GPU that flushes subnormals to zero in comparisons) send the
 * selection to `selectTopK` on the scores read back: the same result, at the cost of one read per
 * parameter, and the result says why (`fallback`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { gradientNeedsOf, type MaskStats, type ParamMask, selectTopK, SparseMask } from "./mask.ts";
import type { GradientNeeds } from "./types.ts";

/** Largest integer float32 adds exactly: the most entries one backend count may cover. */
export const EXACT_COUNT = 2 ** 24;

/** Cut points per search round (the interval left is split into this many plus one parts). */
export const SEARCH_CUTS = 15;

/** Broadcast one parameter against all cut points at once while `cuts × size` stays below this. */
const BROADCAST_ELEMENTS = 2 ** 22;

/** Largest float32 bit pattern of a non-negative non-NaN value (+Infinity). */
const INF_BITS = 0x7f800000;

/** The counting units of one parameter: `rows` rows of `cols` entries, `cols` ≤ {@link EXACT_COUNT}. */
export interface Units {
  rows: number;
  cols: number;
}

/** How a parameter of `size` entries is cut into rows of at most {@link EXACT_COUNT} (rows divide it). */
export function unitsOf(size: number, limit = EXACT_COUNT): Units {
  if (size <= limit) return { rows: 1, cols: size };
  for (let r = Math.ceil(size / limit); r <= size; r++) {
    if (size % r === 0) return { rows: r, cols: size / r };
  }
  return { rows: size, cols: 1 };
}

function floatOfBits(bits: number): number {
  const v = new DataView(new ArrayBuffer(4));
  v.setUint32(0, bits >>> 0);
  return v.getFloat32(0);
}

/**
 * Per-unit sums of bool/0-1 tensors (one per parameter, each with its units), read back in one
 * vector and added up per parameter in JavaScript.
 */
async function countPerParam(
  tensors: Map<string, tf.Tensor>,
  make: (name: string, t: tf.Tensor) => tf.Tensor = (_n, t) => t,
): Promise<Map<string, number>> {
  const names = [...tensors.keys()];
  const units = names.map((n) => unitsOf(tensors.get(n)!.size));
  const vec = tf.tidy(() => {
    const parts = names.map((n, i) => {
      const t = make(n, tensors.get(n)!);
      return tf.sum(tf.cast(t, "float32").reshape([units[i].rows, units[i].cols]), 1);
    });
    return parts.length === 0 ? tf.zeros([0]) : tf.concat(parts);
  });
  const data = await vec.data();
  vec.dispose();
  const out = new Map<string, number>();
  let u = 0;
  names.forEach((n, i) => {
    let s = 0;
    for (let r = 0; r < units[i].rows; r++) s += data[u++];
    out.set(n, s);
  });
  return out;
}

/** Bit-packed reads of a mask: at most this many packed floats (64 MiB) per read. */
const PACKED_READ_FLOATS = 16 * 2 ** 20;

/** A mask held on the backend as dense bool tensors (see the module notes). */
export class DeviceMask implements MaskStats {
  private constructor(
    /** The bool mask of every parameter, in parameter order (owned: freed by `dispose`). */
    readonly masks: Map<string, tf.Tensor>,
    private readonly counts: Map<string, number>,
  ) {}

  /** Takes ownership of `masks` (bool, parameter-shaped) and reads their kept counts (one read). */
  static async create(masks: Map<string, tf.Tensor>): Promise<DeviceMask> {
    try {
      return new DeviceMask(masks, await countPerParam(masks));
    } catch (e) {
      tf.dispose([...masks.values()]);
      throw e;
    }
  }

  /** Uploads a `SparseMask` (no reads: its counts are known). */
  static fromSparse(mask: SparseMask): DeviceMask {
    const masks = new Map<string, tf.Tensor>();
    const counts = new Map<string, number>();
    for (const [name, m] of mask.params) {
      masks.set(name, denseOf(m));
      counts.set(name, m.kept.length);
    }
    return new DeviceMask(masks, counts);
  }

  get keptCount(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  get totalSize(): number {
    let n = 0;
    for (const m of this.masks.values()) n += m.size;
    return n;
  }

  keptPerParam(): Map<string, number> {
    return new Map(this.counts);
  }

  /** Masks every gradient in place (replacing and disposing the map's tensors), masked entries +0. */
  apply(grads: Map<string, tf.Tensor>): void {
    for (const [name, g] of [...grads]) {
      const m = this.masks.get(name);
      if (!m) throw new Error(`mask has no entry for parameter "${name}"`);
      if (!tf.util.arraysEqual(g.shape, m.shape)) {
        throw new Error(`mask "${name}" has shape [${m.shape}], gradient [${g.shape}]`);
      }
      const masked = tf.tidy(() => tf.where(m, g, tf.zerosLike(g)));
      g.dispose();
      grads.set(name, masked);
    }
  }

  /** Entries kept by both masks, counted on the backend (one read). */
  async overlap(other: DeviceMask | SparseMask): Promise<number> {
    const o = other instanceof DeviceMask ? other : DeviceMask.fromSparse(other);
    try {
      const shared = new Map([...this.masks].filter(([n]) => o.masks.has(n)));
      const per = await countPerParam(shared, (n, t) => tf.logicalAnd(t, o.masks.get(n)!));
      let s = 0;
      for (const c of per.values()) s += c;
      return s;
    } finally {
      if (o !== other) o.dispose();
    }
  }

  /**
   * The mask as index lists (for checkpoints): each parameter packed on the backend into floats of
   * 16 bits each, read back in as few reads as fit 64 MiB, unpacked here.
   */
  async toSparse(): Promise<SparseMask> {
    const out = new Map<string, ParamMask>();
    const names = [...this.masks.keys()];
    const weights = tf.tensor1d(Array.from({ length: 16 }, (_, i) => 2 ** i));
    try {
      let i = 0;
      while (i < names.length) {
        // A batch of parameters whose packed floats fit one read (always at least one parameter).
        const batch: string[] = [];
        let floats = 0;
        while (i < names.length) {
          const f = Math.ceil(this.masks.get(names[i])!.size / 16);
          if (batch.length > 0 && floats + f > PACKED_READ_FLOATS) break;
          batch.push(names[i++]);
          floats += f;
        }
        const packed = tf.tidy(() =>
          tf.concat(batch.map((n) => {
            const m = this.masks.get(n)!;
            const words = Math.ceil(m.size / 16);
            const flat = tf.cast(m.reshape([m.size]), "float32");
            const padded = words * 16 === m.size ? flat : tf.pad(flat, [[0, words * 16 - m.size]]);
            // Distinct powers of two up to 2^15 add exactly in float32, in any order.
            return tf.sum(tf.mul(padded.reshape([words, 16]), weights), 1);
          }))
        );
        const data = await packed.data();
        packed.dispose();
        let w = 0;
        for (const n of batch) {
          const m = this.masks.get(n)!;
          const kept = new Int32Array(this.counts.get(n)!);
          let j = 0;
          for (let base = 0; base < m.size; base += 16) {
            let bits = data[w++];
            for (let b = 0; bits > 0; b++, bits = Math.floor(bits / 2)) {
              if (bits % 2 === 1) {
                if (j >= kept.length) throw new Error(`DeviceMask.toSparse: "${n}" has more than its count`);
                kept[j++] = base + b;
              }
            }
          }
          if (j !== kept.length) throw new Error(`DeviceMask.toSparse: "${n}" read ${j} of ${kept.length}`);
          out.set(n, { shape: [...m.shape], size: m.size, kept });
        }
      }
    } finally {
      weights.dispose();
    }
    return new SparseMask(out);
  }

  /** Frees the mask tensors. */
  dispose(): void {
    tf.dispose([...this.masks.values()]);
    this.masks.clear();
  }
}

/** One parameter's mask as a dense bool tensor. */
function denseOf(m: ParamMask): tf.Tensor {
  if (m.kept.length === 0) return tf.zeros(m.shape, "bool");
  if (m.kept.length === m.size) return tf.ones(m.shape, "bool");
  return tf.tidy(() => {
    const idx = tf.tensor2d(m.kept, [m.kept.length, 1], "int32");
    const ones = tf.ones([m.kept.length], "float32");
    return tf.cast(tf.scatterND(idx, ones, [m.size]), "bool").reshape(m.shape);
  });
}

/** What {@link selectTopKOnBackend} did. */
export interface TopKResult {
  mask: DeviceMask;
  /** Search rounds (each one small read). */
  rounds: number;
  /** The threshold value (the k-th largest score); NaN when no search ran. */
  threshold: number;
  /** Why the scores were read back and ranked by `selectTopK` instead, if they were. */
  fallback?: string;
}

/** Options of {@link selectTopKOnBackend}. */
export interface TopKOptions {
  /**
   * Most entries per counting unit and group; default {@link EXACT_COUNT}. Tests set a small one to
   * take the row and group paths on small tensors (any value ≤ 2^24 gives the same selection).
   */
  unitLimit?: number;
}

/** A tie count that does not add up, NaN, or a negative score: rank in JavaScript instead. */
class NotExact extends Error {}

/**
 * The exact global top-k of backend-held scores (see the module notes): the same entries as
 * `selectTopK` for scores ≥ +0. The score tensors are not disposed.
 */
export async function selectTopKOnBackend(
  scores: Map<string, tf.Tensor>,
  keepNum: number,
  opts: TopKOptions = {},
): Promise<TopKResult> {
  const names = [...scores.keys()];
  const total = names.reduce((a, n) => a + scores.get(n)!.size, 0);
  if (!Number.isInteger(keepNum) || keepNum < 0 || keepNum > total) {
    throw new Error(`selectTopKOnBackend: keepNum ${keepNum} must be an integer in [0, ${total}]`);
  }
  if (keepNum === 0 || keepNum === total) {
    const all = keepNum === total;
    const masks = new Map(names.map((n) => [n, tf.fill(scores.get(n)!.shape, all ? 1 : 0, "bool")]));
    return { mask: await DeviceMask.create(masks), rounds: 0, threshold: NaN };
  }
  try {
    return await searchTopK(scores, names, total, keepNum, opts.unitLimit ?? EXACT_COUNT);
  } catch (e) {
    if (!(e instanceof NotExact)) throw e;
    const arrays = new Map<string, Float32Array>();
    const shapes = new Map<string, number[]>();
    for (const n of names) {
      arrays.set(n, (await scores.get(n)!.data()) as Float32Array);
      shapes.set(n, [...scores.get(n)!.shape]);
    }
    return {
      mask: DeviceMask.fromSparse(selectTopK(arrays, shapes, keepNum)),
      rounds: 0,
      threshold: NaN,
      fallback: e.message,
    };
  }
}

/** The units of every parameter in order, and their groups for exact sums on the backend. */
interface Layout {
  units: Units[];
  /** Number of groups of consecutive units (each group's entries total ≤ {@link EXACT_COUNT}). */
  groups: number;
  /** `[U, groups]` 0/1 matrix adding units into groups (absent with one group). */
  groupMatrix?: tf.Tensor2D;
}

function layoutOf(scores: Map<string, tf.Tensor>, limit: number): Layout {
  const units = [...scores.values()].map((t) => unitsOf(t.size, limit));
  const groupOf: number[] = [];
  let g = 0, inGroup = 0;
  for (const u of units) {
    for (let r = 0; r < u.rows; r++) {
      if (inGroup > 0 && inGroup + u.cols > limit) (g++, inGroup = 0);
      groupOf.push(g);
      inGroup += u.cols;
    }
  }
  const groups = g + 1;
  if (groups === 1) return { units, groups };
  const m = new Float32Array(groupOf.length * groups);
  groupOf.forEach((grp, u) => (m[u * groups + grp] = 1));
  return { units, groups, groupMatrix: tf.tensor2d(m, [groupOf.length, groups]) };
}

/** `count(f >= c)` over all scores for each cut point `c` (one read of `cuts × groups` numbers). */
async function countAtLeast(
  scores: Map<string, tf.Tensor>,
  layout: Layout,
  cuts: number[],
): Promise<number[]> {
  const m = cuts.length;
  const out = tf.tidy(() => {
    const cutCol = tf.tensor2d(cuts, [m, 1]);
    const blocks = [...scores.values()].map((f, i) => {
      const { rows, cols } = layout.units[i];
      if (rows === 1 && m * f.size <= BROADCAST_ELEMENTS) {
        // Small parameters: all cut points in one comparison, [m, size], summed per row.
        return tf.sum(tf.cast(tf.greaterEqual(f.reshape([1, f.size]), cutCol), "float32"), 1).reshape([m, 1]);
      }
      const v = f.reshape([rows, cols]);
      return tf.stack(cuts.map((c) => tf.sum(tf.cast(tf.greaterEqual(v, c), "float32"), 1))); // [m, rows]
    });
    const perUnit = tf.concat(blocks, 1); // [m, U]
    // Integer counts up to 2^24 add exactly in float32 in any order, also inside a product.
    return layout.groupMatrix ? tf.matMul(perUnit, layout.groupMatrix) : tf.sum(perUnit, 1);
  });
  const data = await out.data();
  out.dispose();
  const counts = new Array<number>(m).fill(0);
  for (let j = 0; j < m; j++) {
    for (let g = 0; g < layout.groups; g++) counts[j] += data[j * layout.groups + g];
  }
  return counts;
}

async function searchTopK(
  scores: Map<string, tf.Tensor>,
  names: string[],
  total: number,
  keepNum: number,
  unitLimit: number,
): Promise<TopKResult> {
  const layout = layoutOf(scores, unitLimit);
  try {
    // Invariant: count(f >= float(lo)) = cntLo >= keepNum > cntAbove = count(f >= float(hi + 1)).
    // hi + 1 above +Infinity is a NaN pattern, which no score is >=: cntAbove starts at 0.
    let lo = 0, hi = INF_BITS, cntLo = total, cntAbove = 0, rounds = 0;
    while (lo < hi) {
      const span = hi - lo, m = Math.min(SEARCH_CUTS, span);
      const bits = Array.from({ length: m }, (_, j) => lo + Math.floor(((j + 1) * (span + 1)) / (m + 1)));
      // The first round also counts f >= +0, which every score ≥ +0 is (NaN and negatives are not).
      const cuts = rounds === 0 ? [0, ...bits] : bits;
      const counts = await countAtLeast(scores, layout, cuts.map(floatOfBits));
      if (rounds === 0) {
        const atLeastZero = counts.shift()!;
        if (atLeastZero !== total) throw new NotExact(`${total - atLeastZero} scores are NaN or negative`);
      }
      rounds++;
      let prev = cntLo;
      for (const c of counts) {
        if (c > prev || c < cntAbove) throw new NotExact("counts out of order (subnormals flushed?)");
        prev = c;
      }
      let j = -1;
      for (let q = 0; q < m; q++) if (counts[q] >= keepNum) j = q;
      if (j >= 0) (lo = bits[j], cntLo = counts[j]);
      if (j + 1 < m) (hi = bits[j + 1] - 1, cntAbove = counts[j + 1]);
    }
    const t = floatOfBits(lo);
    const need = keepNum - cntAbove, tiesTotal = cntLo - cntAbove;
    // Ties per unit, in global order: each unit's quota is what is left of `need`.
    const tieVec = tf.tidy(() =>
      tf.concat(names.map((n, i) => {
        const { rows, cols } = layout.units[i];
        return tf.sum(tf.cast(tf.equal(scores.get(n)!.reshape([rows, cols]), t), "float32"), 1);
      }))
    );
    const ties = await tieVec.data();
    tieVec.dispose();
    let tieSum = 0;
    for (const x of ties) tieSum += x;
    if (tieSum !== tiesTotal) throw new NotExact(`tie counts add up to ${tieSum}, expected ${tiesTotal}`);
    let left = need, u = 0;
    const masks = new Map<string, tf.Tensor>();
    try {
      names.forEach((n, i) => {
        const f = scores.get(n)!;
        const { rows, cols } = layout.units[i];
        const quota: number[] = [], tie: number[] = [];
        for (let r = 0; r < rows; r++, u++) {
          const q = Math.min(ties[u], left);
          left -= q;
          quota.push(q);
          tie.push(ties[u]);
        }
        if (quota.every((q, r) => q === tie[r])) masks.set(n, tf.greaterEqual(f, t));
        else if (quota.every((q) => q === 0)) masks.set(n, tf.greater(f, t));
        else {
          // The one parameter with a partial quota: its first `quota` ties per row, in row-major
          // order (a row-wise cumsum of at most 2^24 ones is exact in float32).
          masks.set(
            n,
            tf.tidy(() => {
              const v = f.reshape([rows, cols]);
              const eq = tf.equal(v, t);
              const rank = tf.cumsum(tf.cast(eq, "float32"), 1);
              const tieKept = tf.logicalAnd(eq, tf.lessEqual(rank, tf.tensor2d(quota, [rows, 1])));
              return tf.logicalOr(tf.greater(v, t), tieKept).reshape(f.shape);
            }),
          );
        }
      });
    } catch (e) {
      tf.dispose([...masks.values()]);
      throw e;
    }
    const mask = await DeviceMask.create(masks);
    if (mask.keptCount !== keepNum) {
      mask.dispose();
      throw new NotExact(`the mask keeps ${mask.keptCount} entries, expected ${keepNum}`);
    }
    return { mask, rounds, threshold: t };
  } finally {
    layout.groupMatrix?.dispose();
  }
}

/**
 * Whether a method keeps its mask on the backend: `auto` does on webgpu only (on cpu and wasm the
 * JavaScript top-k is faster and reads nothing back that it would not read anyway).
 */
export function maskOnBackend(setting: "auto" | boolean): boolean {
  return setting === "auto" ? tf.getBackend() === "webgpu" : setting;
}

/**
 * The mask a method has in force, as index lists or on the backend, with the three ways a trainer
 * reads it: counts (never a read), index lists (a read of a backend mask, once, for checkpoints)
 * and applying it to gradients.
 */
export class MaskSlot {
  private held: SparseMask | DeviceMask | null = null;
  private exported: SparseMask | null = null;
  private heldNeeds: GradientNeeds | null = null;

  constructor(private readonly owner: string) {}

  /** The mask in force. */
  get current(): SparseMask | DeviceMask | null {
    return this.held;
  }

  /**
   * The mask as index lists: a `SparseMask` in force, or a backend mask's last {@link export}.
   * A backend mask not yet exported throws (reading it here would be a synchronous GPU read).
   */
  get sparse(): SparseMask | null {
    if (this.held === null || this.held instanceof SparseMask) return this.held;
    if (this.exported) return this.exported;
    throw new Error(`${this.owner}: the mask is on the backend; await exportMask() to read it back`);
  }

  /** Counts of the mask in force (no reads). */
  get stats(): MaskStats | null {
    return this.held;
  }

  /** The mask as index lists, reading a backend mask back once. */
  async export(): Promise<SparseMask | null> {
    if (this.held === null || this.held instanceof SparseMask) return this.held;
    this.exported ??= await this.held.toSparse();
    return this.exported;
  }

  /** The gradients the mask in force lets through (computed once per mask); null without one. */
  needs(): GradientNeeds | null {
    if (this.held === null) return null;
    return this.heldNeeds ??= gradientNeedsOf(this.exported ?? this.held);
  }

  /** Masks the gradients in place. */
  apply(grads: Map<string, tf.Tensor>): void {
    if (!this.held) throw new Error(`${this.owner}: maskGradients before prepare()`);
    this.held.apply(grads);
  }

  /** Entries kept by both the mask in force and `next` (undefined when none is in force). */
  async overlapWith(next: SparseMask | DeviceMask): Promise<number | undefined> {
    const prev = this.held;
    if (prev === null) return undefined;
    if (next instanceof DeviceMask) return await next.overlap(prev);
    if (prev instanceof DeviceMask) return await prev.overlap(next);
    return next.overlap(prev);
  }

  /** Puts `mask` in force, freeing the previous one. */
  replace(mask: SparseMask | DeviceMask | null): void {
    this.dispose();
    this.held = mask;
  }

  /** Frees the mask's backend tensors. */
  dispose(): void {
    this.held?.dispose();
    this.exported?.dispose();
    this.held = this.exported = this.heldNeeds = null;
  }
}
