/**
 * Sparse update masks held as sorted index lists, global top-k selection over tens of millions of
 * scores, and applying a mask to gradients.
 *
 * **Representation.** For each parameter the mask is the sorted `Int32Array` of the flat
 * (row-major) indices that may change. FISH and FISH-DIP keep a dense 0/1 float tensor per
 * parameter; at k = 1 % an index list is 1/25 of a float mask (t5-small, 60.5 M parameters: 2.4 MB
 * of indices instead of 242 MB of float32 or 60 MB of uint8/bool), which matters inside wasm's 4 GiB
 * heap where parameters, gradients and activations already compete. The lists live in JavaScript
 * memory; only the one `[k, 1]` int32 index tensor per parameter used by {@link SparseMask.apply}
 * is on the backend (created on first use, freed by `dispose`).
 *
 * **Applying.** `masked = scatterND(idx, gatherND(flat(g), idx), [numel])`: the kept gradient
 * entries are copied into zeros. Cost O(numel) for the zeros plus O(k), no dense mask tensor, and
 * kept entries are bit-identical to the gradient. Masked entries are exactly +0, so an Adafactor
 * update (no first moment, no weight decay) leaves those parameters bit-identical.
 *
 * **Selection.** {@link selectTopK} keeps exactly `keepNum` entries with the largest scores across
 * all parameters (FISH's global `torch.topk` over the concatenated Fisher vector). It finds the
 * k-th largest value by a two-pass radix select on the float bit patterns (65,536-bucket
 * histograms of the high then the low 16 bits of an order-preserving key), so it needs no
 * concatenated copy and no sort: four linear passes over the scores in all. Ties at the threshold
 * are broken by the smallest global flat index (parameters in map order, then row-major): a
 * deterministic rule; `torch.topk`'s own tie order is unspecified. NaN counts as larger than every
 * number (as `torch.topk`), and -0 as smaller than +0.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradientNeeds } from "./types.ts";

/** One parameter's mask: its shape and the sorted flat indices of its trainable entries. */
export interface ParamMask {
  shape: number[];
  /** Number of entries of the parameter. */
  size: number;
  /** Sorted, distinct flat indices (row-major) of the entries that may change. */
  kept: Int32Array;
}

/**
 * `int(total * keepRatio)`, as FISH's `create_mask_gradient` computes `keep_num` (a float64
 * product truncated toward zero).
 */
export function keepCount(total: number, keepRatio: number): number {
  if (!(keepRatio >= 0 && keepRatio <= 1)) throw new Error(`keepRatio must be in [0, 1], got ${keepRatio}`);
  return Math.trunc(total * keepRatio);
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * What a log counts of a mask without reading it back: {@link SparseMask} here, and `DeviceMask`
 * (device_mask.ts), whose masks stay on the backend.
 */
export interface MaskStats {
  readonly keptCount: number;
  readonly totalSize: number;
  /** Kept entries per parameter, in parameter order. */
  keptPerParam(): Map<string, number>;
}

/**
 * The gradients a mask lets through (`GradientNeeds` in types.ts): the parameters with kept
 * entries, and, where the mask's index lists are at hand, the rows of each matrix that hold
 * them when that is not every row. A backend mask gives counts only, so whole parameters.
 */
export function gradientNeedsOf(mask: MaskStats): GradientNeeds {
  const params = new Set<string>();
  for (const [name, kept] of mask.keptPerParam()) if (kept > 0) params.add(name);
  const rows = new Map<string, Int32Array>();
  if (mask instanceof SparseMask) {
    for (const [name, m] of mask.params) {
      if (m.shape.length !== 2 || m.kept.length === 0) continue;
      const cols = m.shape[1];
      const touched: number[] = [];
      // Kept indices are sorted, so their rows come in order.
      for (const i of m.kept) {
        const row = Math.floor(i / cols);
        if (touched[touched.length - 1] !== row) touched.push(row);
      }
      if (touched.length < m.shape[0]) rows.set(name, Int32Array.from(touched));
    }
  }
  return { params, rows };
}

/** A mask as plain data (for checkpoints): per parameter, its shape and sorted kept indices. */
export interface MaskDump {
  format: "fishdip-mask-v1";
  params: Record<string, { shape: number[]; kept: Int32Array }>;
}

/** A sparse mask over named parameters (see the module notes for why index lists). */
export class SparseMask implements MaskStats {
  /** Per-parameter masks, in parameter order. */
  readonly params: ReadonlyMap<string, ParamMask>;
  private readonly indexTensors = new Map<string, tf.Tensor2D>();

  /** Validates that every list is sorted, distinct and in range. */
  constructor(params: Map<string, ParamMask>) {
    for (const [name, m] of params) {
      if (m.size !== sizeOf(m.shape)) throw new Error(`mask "${name}": size ${m.size} != prod([${m.shape}])`);
      const k = m.kept;
      for (let i = 0; i < k.length; i++) {
        if (k[i] < 0 || k[i] >= m.size || (i > 0 && k[i] <= k[i - 1])) {
          throw new Error(`mask "${name}": kept indices must be sorted, distinct and in [0, ${m.size})`);
        }
      }
    }
    this.params = params;
  }

  /** A mask from dense 0/1 (any non-zero = kept) arrays. */
  static fromDense(dense: Map<string, { shape: number[]; data: ArrayLike<number> }>): SparseMask {
    const out = new Map<string, ParamMask>();
    for (const [name, { shape, data }] of dense) {
      let n = 0;
      for (let i = 0; i < data.length; i++) if (data[i] !== 0) n++;
      const kept = new Int32Array(n);
      for (let i = 0, j = 0; i < data.length; i++) if (data[i] !== 0) kept[j++] = i;
      out.set(name, { shape: [...shape], size: data.length, kept });
    }
    return new SparseMask(out);
  }

  /**
   * A mask from bit-packed bytes: entry i is bit (i mod 8) of byte (i div 8), least significant
   * bit first (the fixtures' `masks.safetensors` layout).
   */
  static fromPackedBits(packed: Map<string, { shape: number[]; bytes: Uint8Array }>): SparseMask {
    const out = new Map<string, ParamMask>();
    for (const [name, { shape, bytes }] of packed) {
      const size = sizeOf(shape);
      if (bytes.length !== Math.ceil(size / 8)) {
        throw new Error(`mask "${name}": ${bytes.length} bytes for ${size} entries`);
      }
      let n = 0;
      for (let i = 0; i < size; i++) n += (bytes[i >> 3] >> (i & 7)) & 1;
      const kept = new Int32Array(n);
      for (let i = 0, j = 0; i < size; i++) if ((bytes[i >> 3] >> (i & 7)) & 1) kept[j++] = i;
      out.set(name, { shape: [...shape], size, kept });
    }
    return new SparseMask(out);
  }

  /** The mask as plain data (the index lists are shared, not copied). */
  dump(): MaskDump {
    const params: MaskDump["params"] = {};
    for (const [name, m] of this.params) params[name] = { shape: [...m.shape], kept: m.kept };
    return { format: "fishdip-mask-v1", params };
  }

  /** Rebuilds a mask from {@link dump}'s output (validated like any mask). */
  static fromDump(d: MaskDump): SparseMask {
    if (d.format !== "fishdip-mask-v1") throw new Error(`unknown mask format "${d.format}"`);
    return new SparseMask(
      new Map(
        Object.entries(d.params).map((
          [name, { shape, kept }],
        ) => [name, { shape: [...shape], size: sizeOf(shape), kept: Int32Array.from(kept) }]),
      ),
    );
  }

  /** A mask that keeps everything of the given parameters (for tests and baselines). */
  static all(shapes: Map<string, number[]>): SparseMask {
    const out = new Map<string, ParamMask>();
    for (const [name, shape] of shapes) {
      const size = sizeOf(shape);
      const kept = new Int32Array(size);
      for (let i = 0; i < size; i++) kept[i] = i;
      out.set(name, { shape: [...shape], size, kept });
    }
    return new SparseMask(out);
  }

  /** Total number of entries over all parameters. */
  get totalSize(): number {
    let n = 0;
    for (const m of this.params.values()) n += m.size;
    return n;
  }

  /** Number of kept entries over all parameters. */
  get keptCount(): number {
    let n = 0;
    for (const m of this.params.values()) n += m.kept.length;
    return n;
  }

  /** Kept entries per parameter, in parameter order. */
  keptPerParam(): Map<string, number> {
    return new Map([...this.params].map(([name, m]) => [name, m.kept.length]));
  }

  /** Whether flat entry `index` of parameter `name` is kept (binary search). */
  isKept(name: string, index: number): boolean {
    const k = this.get(name).kept;
    let lo = 0, hi = k.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (k[mid] === index) return true;
      if (k[mid] < index) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** The mask of one parameter; throws for an unknown name. */
  get(name: string): ParamMask {
    const m = this.params.get(name);
    if (!m) throw new Error(`mask has no entry for parameter "${name}"`);
    return m;
  }

  /** Dense 0/1 bytes of one parameter (for tests and inspection). */
  toDense(name: string): Uint8Array {
    const m = this.get(name);
    const out = new Uint8Array(m.size);
    for (const i of m.kept) out[i] = 1;
    return out;
  }

  /** Number of entries kept by both masks (for overlap statistics between refreshes). */
  overlap(other: SparseMask): number {
    let n = 0;
    for (const [name, m] of this.params) {
      const o = other.params.get(name);
      if (!o) continue;
      let i = 0, j = 0;
      while (i < m.kept.length && j < o.kept.length) {
        if (m.kept[i] === o.kept[j]) (n++, i++, j++);
        else if (m.kept[i] < o.kept[j]) i++;
        else j++;
      }
    }
    return n;
  }

  private indexTensor(name: string, m: ParamMask): tf.Tensor2D {
    let t = this.indexTensors.get(name);
    if (!t) {
      t = tf.tensor2d(m.kept, [m.kept.length, 1], "int32");
      this.indexTensors.set(name, t);
    }
    return t;
  }

  /** The masked copy of one gradient (a new tensor; `grad` is not disposed). */
  applyOne(name: string, grad: tf.Tensor): tf.Tensor {
    const m = this.get(name);
    if (!tf.util.arraysEqual(grad.shape, m.shape)) {
      throw new Error(`mask "${name}" has shape [${m.shape}], gradient [${grad.shape}]`);
    }
    if (m.kept.length === m.size) return grad.clone();
    if (m.kept.length === 0) return tf.zerosLike(grad);
    const idx = this.indexTensor(name, m);
    return tf.tidy(() => {
      const kept = tf.gatherND(grad.reshape([m.size]), idx);
      return tf.scatterND(idx, kept, [m.size]).reshape(m.shape);
    });
  }

  /**
   * Masks every gradient in place: each entry of `grads` is replaced by its masked copy and the old
   * tensor is disposed (the map owns its tensors). Every gradient must have a mask entry.
   */
  apply(grads: Map<string, tf.Tensor>): void {
    for (const [name, g] of [...grads]) {
      const masked = this.applyOne(name, g);
      g.dispose();
      grads.set(name, masked);
    }
  }

  /** Frees the backend index tensors (the index lists stay usable). */
  dispose(): void {
    for (const t of this.indexTensors.values()) t.dispose();
    this.indexTensors.clear();
  }
}

/** Order-preserving unsigned key of a float32 bit pattern (larger float -> larger key). */
function keyOf(bits: number): number {
  return (bits & 0x80000000) !== 0 ? (~bits) >>> 0 : (bits | 0x80000000) >>> 0;
}

function bitsView(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Global top-k: the `keepNum` entries with the largest scores over all parameters, as a mask.
 *
 * `scores` maps each parameter to its scores (flat, row-major) and `shapes` gives its shape; the
 * map order of `scores` is the global order used to break ties (smallest global index first).
 */
export function selectTopK(
  scores: Map<string, Float32Array>,
  shapes: Map<string, number[]>,
  keepNum: number,
): SparseMask {
  let total = 0;
  for (const [name, s] of scores) {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`selectTopK: no shape for "${name}"`);
    if (sizeOf(shape) !== s.length) {
      throw new Error(`selectTopK: "${name}" has ${s.length} scores for [${shape}]`);
    }
    total += s.length;
  }
  if (!Number.isInteger(keepNum) || keepNum < 0 || keepNum > total) {
    throw new Error(`selectTopK: keepNum ${keepNum} must be an integer in [0, ${total}]`);
  }
  const out = new Map<string, ParamMask>();
  const emit = (pick: (key: number, name: string) => boolean) => {
    for (const [name, s] of scores) {
      const bits = bitsView(s);
      let n = 0;
      for (let i = 0; i < bits.length; i++) if (pick(keyOf(bits[i]), name)) n++;
      const kept = new Int32Array(n);
      for (let i = 0, j = 0; j < n; i++) if (pick(keyOf(bits[i]), name)) kept[j++] = i;
      out.set(name, { shape: [...shapes.get(name)!], size: s.length, kept });
    }
  };
  if (keepNum === 0 || keepNum === total) {
    emit(() => keepNum === total);
    return new SparseMask(out);
  }
  // Pass 1: histogram of the high 16 bits of the key.
  const hi = new Float64Array(65536);
  for (const s of scores.values()) {
    const bits = bitsView(s);
    for (let i = 0; i < bits.length; i++) hi[keyOf(bits[i]) >>> 16]++;
  }
  let above = 0, hb = 65535;
  while (above + hi[hb] < keepNum) above += hi[hb--];
  // Pass 2: histogram of the low 16 bits within the threshold's high bucket.
  const lo = new Float64Array(65536);
  for (const s of scores.values()) {
    const bits = bitsView(s);
    for (let i = 0; i < bits.length; i++) {
      const k = keyOf(bits[i]);
      if (k >>> 16 === hb) lo[k & 0xffff]++;
    }
  }
  let lb = 65535;
  while (above + lo[lb] < keepNum) above += lo[lb--];
  const threshold = ((hb << 16) | lb) >>> 0;
  // `above` entries are strictly larger; the rest come from ties at the threshold, lowest index first.
  let tiesLeft = keepNum - above;
  const tiesPerParam = new Map<string, number>();
  for (const [name, s] of scores) {
    const bits = bitsView(s);
    let eq = 0;
    for (let i = 0; i < bits.length && eq < tiesLeft; i++) if (keyOf(bits[i]) === threshold) eq++;
    tiesPerParam.set(name, eq);
    tiesLeft -= eq;
  }
  // Passes 3-4: count then fill, per parameter.
  for (const [name, s] of scores) {
    const bits = bitsView(s);
    let ties = tiesPerParam.get(name)!;
    let n = ties;
    for (let i = 0; i < bits.length; i++) if (keyOf(bits[i]) > threshold) n++;
    const kept = new Int32Array(n);
    for (let i = 0, j = 0; j < n; i++) {
      const k = keyOf(bits[i]);
      if (k > threshold || (k === threshold && ties > 0 && (ties--, true))) kept[j++] = i;
    }
    out.set(name, { shape: [...shapes.get(name)!], size: s.length, kept });
  }
  return new SparseMask(out);
}

/**
 * A small seeded generator (SplitMix32-style hash of a counter) for masks that must be
 * reproducible from a seed: uniform floats in [0, 1) with 32 random bits each.
 */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
}

/**
 * A uniformly random mask keeping exactly `keepNum` entries over all parameters (Knuth's selection
 * sampling, Algorithm S: one pass, no score arrays, exact count), reproducible from `seed`.
 */
export function randomMask(shapes: Map<string, number[]>, keepNum: number, seed: number): SparseMask {
  let total = 0;
  for (const s of shapes.values()) total += sizeOf(s);
  if (!Number.isInteger(keepNum) || keepNum < 0 || keepNum > total) {
    throw new Error(`randomMask: keepNum ${keepNum} must be an integer in [0, ${total}]`);
  }
  const rand = seededUniform(seed);
  let needed = keepNum, remaining = total;
  const out = new Map<string, ParamMask>();
  for (const [name, shape] of shapes) {
    const size = sizeOf(shape);
    const buf: number[] = [];
    for (let i = 0; i < size; i++, remaining--) {
      if (needed > 0 && rand() * remaining < needed) {
        buf.push(i);
        needed--;
      }
    }
    out.set(name, { shape: [...shape], size, kept: Int32Array.from(buf) });
  }
  return new SparseMask(out);
}
