/**
 * Writing `safetensors` files: the header padded with spaces to a multiple of 8 bytes, tensors back
 * to back in alphabetical order of their names (as the reference fixtures are), files replaced
 * atomically. Imported through `safetensors.ts`.
 *
 * @module
 */
import {
  DTYPE_BYTES,
  isNonNegInt,
  LITTLE_ENDIAN,
  type SafetensorsDtype,
  SafetensorsError,
} from "./safetensors_format.ts";

/** Data accepted by the writer; converted to the tensor's dtype (BF16/F16 round to nearest even). */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | BigInt64Array
  | number[];

/** One tensor to write. For BF16/F16 a `Uint16Array` is taken as raw bit patterns. */
export interface TensorInput {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorData;
}

/** Tensors to write, by name. */
export type TensorMap = Map<string, TensorInput> | Record<string, TensorInput>;

function entriesOf(tensors: TensorMap): [string, TensorInput][] {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  // Alphabetical by name (UTF-16 code units; identical to byte order for ASCII names).
  return list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** float32 -> bfloat16 bits, rounding to nearest, ties to even (NaN stays a quiet NaN). */
function toBf16(src: ArrayLike<number>): Uint16Array {
  const n = src.length;
  const f = src instanceof Float32Array ? src : Float32Array.from(src);
  const u = new Uint32Array(f.buffer, f.byteOffset, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const x = u[i];
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x40;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** float32 -> IEEE half bits, rounding to nearest even (overflow -> infinity). */
function toF16(src: ArrayLike<number>): Uint16Array {
  const n = src.length, out = new Uint16Array(n);
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  for (let i = 0; i < n; i++) {
    f[0] = src[i];
    const x = u[0], sign = (x >>> 16) & 0x8000, exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >>> shift;
      const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
      if (rem > half || (rem === half && (h & 1))) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    // A carry out of the mantissa bumps the exponent (up to infinity), which is the right result.
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
    out[i] = sign | h;
  }
  return out;
}

/** Little-endian bytes of one tensor in its dtype. */
export function encodeTensor(name: string, t: TensorInput): Uint8Array {
  if (!(t.dtype in DTYPE_BYTES)) {
    throw new SafetensorsError(`tensor "${name}": unsupported dtype "${t.dtype}"`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every(isNonNegInt)) {
    throw new SafetensorsError(`tensor "${name}": invalid shape ${JSON.stringify(t.shape)}`);
  }
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) {
    throw new SafetensorsError(
      `tensor "${name}": shape [${t.shape}] needs ${count} values, data has ${t.data.length}`,
    );
  }
  const d = t.data;
  let arr: ArrayBufferView;
  switch (t.dtype) {
    case "F32":
      arr = d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
      break;
    case "F64":
      arr = d instanceof Float64Array ? d : Float64Array.from(d as ArrayLike<number>);
      break;
    case "I32":
      arr = d instanceof Int32Array ? d : Int32Array.from(d as ArrayLike<number>);
      break;
    case "I64":
      arr = d instanceof BigInt64Array ? d : BigInt64Array.from(d as ArrayLike<number>, (x) => BigInt(x));
      break;
    case "BF16":
      arr = d instanceof Uint16Array ? d : toBf16(d as ArrayLike<number>);
      break;
    case "F16":
      arr = d instanceof Uint16Array ? d : toF16(d as ArrayLike<number>);
      break;
    case "U8":
    case "BOOL":
      arr = d instanceof Uint8Array ? d : Uint8Array.from(d as ArrayLike<number>);
      break;
    case "I8":
      arr = d instanceof Int8Array ? d : Int8Array.from(d as ArrayLike<number>);
      break;
  }
  const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
  if (LITTLE_ENDIAN || DTYPE_BYTES[t.dtype] === 1) return bytes;
  const w = DTYPE_BYTES[t.dtype], out = new Uint8Array(bytes.byteLength);
  for (let i = 0; i < bytes.byteLength; i += w) for (let j = 0; j < w; j++) out[i + j] = bytes[i + w - 1 - j];
  return out;
}

/** A serialised file as its parts: the 8-byte length plus header, then each tensor's bytes. */
export interface EncodedSafetensors {
  head: Uint8Array;
  chunks: Uint8Array[];
  byteLength: number;
}

/** Encodes tensors and metadata into the parts of a file, without concatenating them. */
export function encodeSafetensors(
  tensors: TensorMap,
  metadata: Record<string, string> = {},
): EncodedSafetensors {
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new SafetensorsError(
        `metadata "${k}" must be a string (safetensors metadata is string -> string)`,
      );
    }
  }
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entriesOf(tensors)) {
    if (name === "__metadata__") {
      throw new SafetensorsError(`"__metadata__" is reserved and cannot name a tensor`);
    }
    const bytes = encodeTensor(name, t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  // Metadata last, compact JSON: the same bytes as the reference fixtures' writer.
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return { head, chunks, byteLength: head.byteLength + offset };
}

/**
 * Serialises tensors into the bytes of a safetensors file: 8-byte LE header length, JSON header
 * padded with spaces to a multiple of 8, tensors sorted by name and stored back to back.
 *
 * ```ts
 * const bytes = writeSafetensors({ b: { dtype: "BF16", shape: [1], data: new Float32Array([0.5]) } }, { format: "pt" });
 * ```
 */
export function writeSafetensors(tensors: TensorMap, metadata: Record<string, string> = {}): Uint8Array {
  const enc = encodeSafetensors(tensors, metadata);
  const out = new Uint8Array(enc.byteLength);
  out.set(enc.head, 0);
  let off = enc.head.byteLength;
  for (const c of enc.chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** Alias of {@link writeSafetensors} under the name Python's `safetensors` uses. */
export const serializeSafetensors: typeof writeSafetensors = writeSafetensors;

/**
 * Writes `bytes` (or parts) to `path` atomically: a temporary file in the same directory, synced,
 * then renamed over the target, so a killed process leaves either the old file or the new one.
 */
export async function atomicWrite(path: string, parts: Uint8Array | Uint8Array[]): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) : ".";
  const base = path.slice(slash + 1);
  const tmp = `${dir}/.${base}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    for (const p of Array.isArray(parts) ? parts : [parts]) {
      let off = 0;
      while (off < p.byteLength) off += await file.write(p.subarray(off));
    }
    await file.sync();
  } catch (e) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  file.close();
  try {
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Writes a safetensors file to disk atomically, streaming tensor by tensor (no whole-file copy).
 *
 * ```ts
 * await writeSafetensorsFile("out/x.safetensors", { x: { dtype: "F32", shape: [1], data: [1] } });
 * ```
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: TensorMap,
  metadata: Record<string, string> = {},
): Promise<void> {
  const enc = encodeSafetensors(tensors, metadata);
  await atomicWrite(path, [enc.head, ...enc.chunks]);
}
