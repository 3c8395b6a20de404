/**
 * The `safetensors` format's vocabulary, shared by the reader (`safetensors.ts`) and the writer
 * (`safetensors_write.ts`): dtypes and their sizes, the parsed shapes, and the error type.
 *
 * @module
 */

/** dtypes we read. BF16 and F16 are widened to float32 on load; I64 becomes float64. */
export type SafetensorsDtype = "F32" | "F64" | "F16" | "BF16" | "I32" | "I64" | "U8" | "I8" | "BOOL";

/** Floating-point dtypes (what a model weight may be stored as). */
export const FLOAT_DTYPES: readonly SafetensorsDtype[] = ["F32", "F16", "BF16", "F64"];

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

/** A tensor's header entry, with offsets made absolute (from the start of the file). */
export interface HeaderEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the first data byte in the file. */
  start: number;
  /** Absolute byte offset one past the last data byte. */
  end: number;
}

/** A parsed and validated header: what {@link readSafetensorsHeader} returns. */
export interface SafetensorsHeader {
  /** Tensors in file order of their data. */
  entries: Map<string, HeaderEntry>;
  metadata: Record<string, string>;
  /** Total file size the header implies (end of the last tensor). */
  dataEnd: number;
}

/**
 * Thrown for malformed files; the message names the file and what is wrong. `hint` (what to do)
 * replaces the command-line handler's generic advice where a problem has a more specific remedy.
 */
export class SafetensorsError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
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

/** Whether this machine is little-endian (the format's byte order). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Whether `x` is a non-negative integer (a valid shape dimension or offset). */
export function isNonNegInt(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}
