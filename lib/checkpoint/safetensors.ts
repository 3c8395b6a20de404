/**
 * Reading Hugging Face `safetensors` files.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * (`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, offsets relative
 * to the end of the header), then the raw little-endian row-major tensor data.
 *
 * @module
 */

/** dtypes we read. BF16 and F16 are widened to float32 on load. */
export type SafetensorsDtype = "F32" | "F64" | "F16" | "BF16" | "I32" | "I64" | "U8" | "I8" | "BOOL";

/** One tensor as stored in the file. */
export interface TensorEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** The values, widened where needed: F16/BF16 -> Float32Array, I64 -> Float64Array. */
  data: Float32Array | Float64Array | Int32Array | Uint8Array | Int8Array;
}

/** A parsed file: tensors by name, plus the free-form metadata. */
export interface SafetensorsFile {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** Thrown for malformed files; the message names the file and what is wrong. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

const BYTES: Record<SafetensorsDtype, number> = {
  F32: 4,
  F64: 8,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
  U8: 1,
  I8: 1,
  BOOL: 1,
};

/** Decodes one IEEE half-precision value. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function decode(dtype: SafetensorsDtype, bytes: Uint8Array, count: number): TensorEntry["data"] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "F32": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    }
    case "F64": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    }
    case "BF16": {
      // A bfloat16 is the top half of a float32: append 16 zero bits.
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      return new Float32Array(bits.buffer);
    }
    case "F16": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
      return out;
    }
    case "I32": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(4 * i, true);
      return out;
    }
    case "I64": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(8 * i, true));
      return out;
    }
    case "U8":
    case "BOOL":
      return bytes.slice();
    case "I8":
      return new Int8Array(bytes.slice().buffer);
  }
}

/** Parses a safetensors file from its bytes. `name` is used in error messages. */
export function parseSafetensors(bytes: Uint8Array, name = "<bytes>"): SafetensorsFile {
  if (bytes.byteLength < 8) {
    throw new SafetensorsError(`${name}: truncated: ${bytes.byteLength} bytes, no header length`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(dv.getBigUint64(0, true));
  if (8 + headerLen > bytes.byteLength) {
    throw new SafetensorsError(
      `${name}: header length ${headerLen} runs past the end of the file (${bytes.byteLength} bytes)`,
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new SafetensorsError(`${name}: header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(header)) {
    if (key === "__metadata__") {
      metadata = value as Record<string, string>;
      continue;
    }
    const v = value as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (!(v.dtype in BYTES)) {
      throw new SafetensorsError(`${name}: tensor "${key}" has unsupported dtype "${v.dtype}"`);
    }
    const dtype = v.dtype as SafetensorsDtype;
    const count = v.shape.reduce((a, b) => a * b, 1);
    const [begin, end] = v.data_offsets;
    if (end - begin !== count * BYTES[dtype]) {
      throw new SafetensorsError(
        `${name}: tensor "${key}" has ${end - begin} bytes but shape [${v.shape}] of ${dtype} ` +
          `needs ${count * BYTES[dtype]}`,
      );
    }
    if (dataStart + end > bytes.byteLength) {
      throw new SafetensorsError(
        `${name}: truncated: tensor "${key}" ends at byte ${dataStart + end}, file has ${bytes.byteLength}`,
      );
    }
    const raw = bytes.subarray(dataStart + begin, dataStart + end);
    tensors.set(key, { dtype, shape: v.shape, data: decode(dtype, raw, count) });
  }
  return { tensors, metadata };
}

/** Reads and parses a safetensors file from disk. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  return parseSafetensors(await Deno.readFile(path), path);
}
