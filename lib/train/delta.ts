/**
 * Sparse deltas: a FISH-DIP run changes about k% of the model, so it can be shipped as the
 * indices and new values of the changed entries and applied to the base checkpoint to restore
 * the fine-tuned model exactly (values are stored as float32, bit for bit).
 *
 * File: safetensors with, per changed parameter, `NAME@indices` (I32, flat row-major indices)
 * and `NAME@values` (F32), plus metadata naming the base checkpoint and the entry counts.
 *
 * ```ts
 * const delta = sparseDelta(base, tuned);        // Map of changed entries
 * await writeDelta("run/delta.safetensors", delta, { base: "data/models/fishdip-t5-mini" });
 * const restored = applyDelta(base, await readDelta("run/delta.safetensors"));
 * ```
 *
 * @module
 */
import { readSafetensors, writeSafetensors, writeSafetensorsFile } from "../checkpoint/safetensors.ts";

/** The changed entries of one parameter. */
export interface ParamDelta {
  indices: Int32Array;
  values: Float32Array;
}

/**
 * The entries of `tuned` that differ from `base` (bitwise: -0 vs +0 and NaN payloads count as
 * changes, so applying the delta reproduces `tuned` exactly).
 */
export function sparseDelta(
  base: ReadonlyMap<string, Float32Array>,
  tuned: ReadonlyMap<string, Float32Array>,
): Map<string, ParamDelta> {
  const out = new Map<string, ParamDelta>();
  for (const [name, t] of tuned) {
    const b = base.get(name);
    if (!b) throw new Error(`sparseDelta: parameter "${name}" is not in the base weights`);
    if (b.length !== t.length) {
      throw new Error(`sparseDelta: "${name}" has ${b.length} entries in the base, ${t.length} tuned`);
    }
    const bb = new Uint32Array(b.buffer, b.byteOffset, b.length);
    const tb = new Uint32Array(t.buffer, t.byteOffset, t.length);
    const idx: number[] = [];
    for (let i = 0; i < tb.length; i++) if (bb[i] !== tb[i]) idx.push(i);
    if (idx.length === 0) continue;
    const indices = Int32Array.from(idx);
    out.set(name, { indices, values: Float32Array.from(indices, (i) => t[i]) });
  }
  return out;
}

/** Applies a delta to copies of the base weights. */
export function applyDelta(
  base: ReadonlyMap<string, Float32Array>,
  delta: ReadonlyMap<string, ParamDelta>,
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, b] of base) out.set(name, b.slice());
  for (const [name, d] of delta) {
    const w = out.get(name);
    if (!w) throw new Error(`applyDelta: the delta changes "${name}", which the base does not have`);
    d.indices.forEach((i, k) => {
      if (i < 0 || i >= w.length) throw new Error(`applyDelta: index ${i} out of range for "${name}"`);
      w[i] = d.values[k];
    });
  }
  return out;
}

/** Number of changed entries in a delta. */
export function deltaSize(delta: ReadonlyMap<string, ParamDelta>): number {
  let n = 0;
  for (const d of delta.values()) n += d.indices.length;
  return n;
}

/** Writes a delta as safetensors (atomically). */
export async function writeDelta(
  path: string,
  delta: ReadonlyMap<string, ParamDelta>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeSafetensorsFile(path, deltaTensors(delta), deltaMetadata(delta, metadata));
}

/**
 * The bytes {@link writeDelta} writes, for where there is no file system (the web app offers
 * them as a download).
 */
export function deltaBytes(
  delta: ReadonlyMap<string, ParamDelta>,
  metadata: Record<string, string> = {},
): Uint8Array {
  return writeSafetensors(deltaTensors(delta), deltaMetadata(delta, metadata));
}

function deltaTensors(delta: ReadonlyMap<string, ParamDelta>) {
  const tensors = new Map<
    string,
    { dtype: "I32" | "F32"; shape: number[]; data: Int32Array | Float32Array }
  >();
  for (const [name, d] of delta) {
    tensors.set(`${name}@indices`, { dtype: "I32", shape: [d.indices.length], data: d.indices });
    tensors.set(`${name}@values`, { dtype: "F32", shape: [d.values.length], data: d.values });
  }
  return tensors;
}

function deltaMetadata(delta: ReadonlyMap<string, ParamDelta>, metadata: Record<string, string>) {
  return { ...metadata, format: "fishdip-sparse-delta-v1", changed_entries: String(deltaSize(delta)) };
}

/** Reads a delta written by {@link writeDelta}; a missing half of a pair is an error naming it. */
export async function readDelta(path: string): Promise<Map<string, ParamDelta>> {
  return (await readDeltaFile(path)).delta;
}

/** A delta with the metadata {@link writeDelta} stored beside it (base, method, counts, ...). */
export async function readDeltaFile(
  path: string,
): Promise<{ delta: Map<string, ParamDelta>; metadata: Record<string, string> }> {
  const f = await readSafetensors(path);
  if (f.metadata.format !== "fishdip-sparse-delta-v1") {
    throw new Error(`${path}: not a FISH-DIP sparse delta (metadata format "${f.metadata.format}")`);
  }
  const out = new Map<string, ParamDelta>();
  for (const key of f.tensors.keys()) {
    if (!key.endsWith("@indices")) continue;
    const name = key.slice(0, -"@indices".length);
    const values = f.tensors.get(`${name}@values`);
    if (!values) throw new Error(`${path}: "${name}@indices" has no matching "${name}@values"`);
    const indices = f.tensors.get(key)!.data as Int32Array;
    if (indices.length !== values.data.length) {
      throw new Error(`${path}: "${name}" has ${indices.length} indices but ${values.data.length} values`);
    }
    out.set(name, { indices, values: values.data as Float32Array });
  }
  return { delta: out, metadata: f.metadata };
}

/**
 * A short fingerprint of a set of weights (32-bit FNV-1a over the names and the bits of every
 * value, in name order), stored with a delta so that applying it to another base, which would
 * give a model that is neither, is refused instead.
 */
export function weightsFingerprint(weights: ReadonlyMap<string, Float32Array>): string {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h = Math.imul(h ^ x, 0x01000193) >>> 0;
  };
  for (const name of [...weights.keys()].sort()) {
    for (let i = 0; i < name.length; i++) mix(name.charCodeAt(i));
    const w = weights.get(name)!;
    const bits = new Uint32Array(w.buffer, w.byteOffset, w.length);
    for (let i = 0; i < bits.length; i++) mix(bits[i]);
  }
  return h.toString(16).padStart(8, "0");
}
