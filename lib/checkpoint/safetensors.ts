/**
 * Reading and writing Hugging Face `safetensors` files (the writer is `safetensors_write.ts`,
 * re-exported here).
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * (`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, offsets relative
 * to the end of the header), then the raw little-endian row-major tensor data. Our writer pads the
 * header with spaces to a multiple of 8 bytes and stores tensors back to back in alphabetical
 * order of their names, as the reference fixtures do.
 *
 * Reading validates everything it relies on (header length, JSON, dtypes, shapes, offsets that
 * tile the data exactly with no trailing bytes, F16 weight matrices that are not BF16 bytes under
 * the wrong label) and throws a {@link SafetensorsError} naming the file, so a damaged file never
 * turns into silent zeros or silently wrong weights.
 *
 * ```ts
 * import { readSafetensors, serializeSafetensors } from "./safetensors.ts";
 * const bytes = serializeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * await Deno.writeFile("out/w.safetensors", bytes);
 * const { tensors } = await readSafetensors("out/w.safetensors");
 * tensors.get("w")!.data; // Float32Array [1, 2]
 * ```
 *
 * @module
 */
import {
  DTYPE_BYTES,
  type HeaderEntry,
  isNonNegInt,
  LITTLE_ENDIAN,
  type SafetensorsDtype,
  SafetensorsError,
  type SafetensorsFile,
  type SafetensorsHeader,
  type TensorEntry,
} from "./safetensors_format.ts";

export * from "./safetensors_format.ts";
export * from "./safetensors_write.ts";

// The official library refuses headers over 100 MB; a larger "length" means the file is not
// safetensors at all (a pickle or zip archive read as a length gives an absurd number).
const MAX_HEADER_BYTES = 100_000_000;

let halfTable: Uint32Array | undefined;

/**
 * float16 bit pattern -> float32 bit pattern, for all 65536 patterns (built once, 256 KB). Bit
 * patterns rather than floats: copying integers is faster and keeps NaN payloads.
 */
function halfToFloatTable(): Uint32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
    t[h] = e === 0
      ? s * f * 2 ** -24
      : e === 31
      ? (f ? NaN : s * Infinity)
      : s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return (halfTable = new Uint32Array(t.buffer));
}

/** An aligned copy of `bytes` as a fresh ArrayBuffer (typed arrays need element alignment). */
function alignedCopy(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

/** Little-endian 16-bit words of `bytes`: a view when aligned, else an aligned copy. */
function words16(bytes: Uint8Array, count: number): Uint16Array {
  if (LITTLE_ENDIAN) {
    // Read-only use: a view suffices when aligned; copy only at an odd offset.
    return bytes.byteOffset % 2 === 0
      ? new Uint16Array(bytes.buffer, bytes.byteOffset, count)
      : new Uint16Array(alignedCopy(bytes));
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = dv.getUint16(2 * i, true);
  return out;
}

/**
 * Decodes raw little-endian bytes of one tensor. On little-endian hosts (all the ones Deno runs
 * on) F32/F64/I32 are one memcpy; BF16 is a shift per element; F16 is a table lookup.
 */
export function decodeTensorBytes(
  dtype: SafetensorsDtype,
  bytes: Uint8Array,
  count: number,
): TensorEntry["data"] {
  const dv = () => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "F32": {
      if (LITTLE_ENDIAN) return new Float32Array(alignedCopy(bytes));
      const out = new Float32Array(count), d = dv();
      for (let i = 0; i < count; i++) out[i] = d.getFloat32(4 * i, true);
      return out;
    }
    case "F64": {
      if (LITTLE_ENDIAN) return new Float64Array(alignedCopy(bytes));
      const out = new Float64Array(count), d = dv();
      for (let i = 0; i < count; i++) out[i] = d.getFloat64(8 * i, true);
      return out;
    }
    case "I32": {
      if (LITTLE_ENDIAN) return new Int32Array(alignedCopy(bytes));
      const out = new Int32Array(count), d = dv();
      for (let i = 0; i < count; i++) out[i] = d.getInt32(4 * i, true);
      return out;
    }
    case "BF16": {
      // A bfloat16 is the top half of a float32: append 16 zero bits. This is exact.
      const w = words16(bytes, count);
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = w[i] << 16;
      if (!LITTLE_ENDIAN) {
        const d = new DataView(bits.buffer);
        for (let i = 0; i < count; i++) d.setUint32(4 * i, bits[i], true);
      }
      return new Float32Array(bits.buffer);
    }
    case "F16": {
      const w = words16(bytes, count), table = halfToFloatTable();
      const out = new Uint32Array(count);
      for (let i = 0; i < count; i++) out[i] = table[w[i]];
      return new Float32Array(out.buffer);
    }
    case "I64": {
      // Float64 holds integers exactly up to 2^53; beyond that we refuse rather than round.
      const d = dv(), out = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const v = d.getBigInt64(8 * i, true);
        if (v > 9007199254740991n || v < -9007199254740991n) {
          throw new SafetensorsError(`I64 value ${v} at index ${i} does not fit a float64 exactly`);
        }
        out[i] = Number(v);
      }
      return out;
    }
    case "U8":
    case "BOOL":
      return bytes.slice();
    case "I8":
      return new Int8Array(alignedCopy(bytes));
  }
}

/** Smallest F16 tensor {@link checkF16IsNotBf16} looks at: enough values for a stable fraction. */
const BF16_CHECK_MIN_VALUES = 1024;

/**
 * Refuses an F16 weight matrix whose bytes are BF16 (a converter that wrote the wrong dtype label;
 * the values would load as garbage of the right shape, and training would just fail to learn).
 *
 * Read as F16, a BF16 value x keeps its sign and the top 5 of its 8 exponent bits become the F16
 * exponent, so every |x| in [2^-15, 2^9), which is nearly every entry of a weight matrix, lands
 * in [0.5, 4): exponent bits 112..135 of BF16 map to F16 exponents 14..16. The check fires only
 * when at least 99 % of a 2-D tensor of at least 1024 entries lies there. That is safe for genuine
 * F16 weights: a trained weight matrix is centred on 0 with many entries near 0 (magnitude below
 * 0.5) and never has 99 % of its entries in one band of three binades away from 0 (a normal
 * distribution of any scale puts at most about 76 % in [0.5, 4)). 1-D tensors (norm scales, all
 * close to 1) and small ones are left alone.
 */
export function checkF16IsNotBf16(
  name: string,
  key: string,
  shape: readonly number[],
  data: Float32Array,
): void {
  if (shape.length !== 2 || data.length < BF16_CHECK_MIN_VALUES) return;
  let inBand = 0;
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]);
    if (a >= 0.5 && a < 4) inBand++;
  }
  if (inBand >= 0.99 * data.length) {
    throw new SafetensorsError(
      `${name}: tensor "${key}": the bytes look like BF16 but the header says F16 ` +
        `(${(100 * inBand / data.length).toFixed(1)} % of its ${data.length} values read as F16 have ` +
        `magnitude in [0.5, 4), as BF16 weights do; genuine F16 weights have most entries near 0)`,
      "the file's dtype label is wrong: convert or save the weights again with their real dtype " +
        '(BF16 bytes labelled "BF16")',
    );
  }
}

/**
 * Validates a header's JSON and makes offsets absolute. `fileSize` (when known) bounds the data.
 * Exported for the checkpoint loader, which reads headers before deciding which tensors to read.
 */
export function parseHeader(headerBytes: Uint8Array, name: string, fileSize?: number): SafetensorsHeader {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new SafetensorsError(
      `${name}: header is not valid JSON (${(e as Error).message}); the file is damaged or not safetensors`,
    );
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new SafetensorsError(`${name}: header is not a JSON object`);
  }
  const dataStart = 8 + headerBytes.byteLength;
  const entries: [string, HeaderEntry][] = [];
  let metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === "__metadata__") {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new SafetensorsError(`${name}: "__metadata__" is not an object`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (v === null || typeof v !== "object") {
      throw new SafetensorsError(`${name}: header entry "${key}" is not an object`);
    }
    if (typeof v.dtype !== "string" || !(v.dtype in DTYPE_BYTES)) {
      throw new SafetensorsError(
        `${name}: tensor "${key}" has unsupported dtype "${v.dtype}" (supported: ${
          Object.keys(DTYPE_BYTES).join(", ")
        })`,
      );
    }
    if (!Array.isArray(v.shape) || !v.shape.every(isNonNegInt)) {
      throw new SafetensorsError(`${name}: tensor "${key}" has an invalid shape ${JSON.stringify(v.shape)}`);
    }
    const offs = v.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isNonNegInt) || offs[0] > offs[1]) {
      throw new SafetensorsError(`${name}: tensor "${key}" has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const dtype = v.dtype as SafetensorsDtype;
    const shape = v.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = offs as [number, number];
    if (end - begin !== count * DTYPE_BYTES[dtype]) {
      throw new SafetensorsError(
        `${name}: tensor "${key}" has ${end - begin} bytes but shape [${shape}] of ${dtype} ` +
          `needs ${count * DTYPE_BYTES[dtype]}`,
      );
    }
    if (fileSize !== undefined && dataStart + end > fileSize) {
      throw new SafetensorsError(
        `${name}: truncated: tensor "${key}" ends at byte ${
          dataStart + end
        }, but the file has ${fileSize} bytes`,
      );
    }
    entries.push([key, { dtype, shape, start: dataStart + begin, end: dataStart + end }]);
  }
  entries.sort((a, b) => a[1].start - b[1].start || a[1].end - b[1].end);
  // The tensors must tile the data region exactly, as the official library requires: the first
  // begins at 0, each begins where the previous ends, and the last ends at the end of the file. A
  // gap or a tail of unclaimed bytes means a writer that got its offsets wrong (or a file with
  // something appended), so the offsets cannot be trusted to point at the right values.
  let expected = dataStart;
  for (const [i, [key, e]] of entries.entries()) {
    if (e.start < expected) {
      const [pn, p] = entries[i - 1];
      throw new SafetensorsError(
        `${name}: tensors "${pn}" and "${key}" overlap (bytes ${p.start - dataStart}..${p.end - dataStart} ` +
          `and ${e.start - dataStart}..${e.end - dataStart} of the data)`,
      );
    }
    if (e.start > expected) {
      throw new SafetensorsError(
        `${name}: ${e.start - expected} unclaimed bytes before tensor "${key}" (data bytes ` +
          `${expected - dataStart}..${e.start - dataStart} belong to no tensor): the offsets are wrong`,
      );
    }
    expected = e.end;
  }
  const dataEnd = expected;
  if (fileSize !== undefined && dataEnd < fileSize) {
    throw new SafetensorsError(
      `${name}: ${fileSize - dataEnd} trailing bytes: the tensors end at byte ${dataEnd} but the file ` +
        `has ${fileSize} bytes`,
      "the file holds more than its header describes (damaged, or something was appended to it): " +
        "download or save it again",
    );
  }
  return { entries: new Map(entries), metadata, dataEnd };
}

function headerLength(first8: Uint8Array, name: string, fileSize: number): number {
  if (first8.byteLength < 8 || fileSize < 8) {
    throw new SafetensorsError(
      `${name}: truncated: ${fileSize} bytes, too short for the 8-byte header length`,
    );
  }
  const len = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (8n + len > BigInt(fileSize)) {
    throw new SafetensorsError(
      `${name}: header length ${len} runs past the end of the file (${fileSize} bytes): ` +
        `the file is truncated or not a safetensors file`,
    );
  }
  if (len > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`${name}: header length ${len} is implausibly large; not a safetensors file?`);
  }
  return Number(len);
}

/** Parses a safetensors file from its bytes. `name` is used in error messages. */
export function parseSafetensors(bytes: Uint8Array, name = "<bytes>"): SafetensorsFile {
  const len = headerLength(bytes.subarray(0, 8), name, bytes.byteLength);
  const header = parseHeader(bytes.subarray(8, 8 + len), name, bytes.byteLength);
  const tensors = new Map<string, TensorEntry>();
  for (const [key, e] of header.entries) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    const data = decodeTensorBytes(e.dtype, bytes.subarray(e.start, e.end), count);
    if (e.dtype === "F16") checkF16IsNotBf16(name, key, e.shape, data as Float32Array);
    tensors.set(key, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata: header.metadata };
}

async function readFully(file: Deno.FsFile, buf: Uint8Array, position: number, name: string): Promise<void> {
  await file.seek(position, Deno.SeekMode.Start);
  let off = 0;
  while (off < buf.byteLength) {
    const n = await file.read(buf.subarray(off));
    if (n === null) {
      throw new SafetensorsError(`${name}: truncated: unexpected end of file at byte ${position + off}`);
    }
    off += n;
  }
}

/**
 * Reads only the header of a file on disk (cheap even for multi-gigabyte files) and validates it
 * against the file's size.
 */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const file = await Deno.open(path, { read: true });
  try {
    return await readHeaderFrom(file, path);
  } finally {
    file.close();
  }
}

async function readHeaderFrom(file: Deno.FsFile, path: string): Promise<SafetensorsHeader> {
  const size = (await file.stat()).size;
  const first8 = new Uint8Array(Math.min(8, size));
  await readFully(file, first8, 0, path);
  const len = headerLength(first8, path, size);
  const headerBytes = new Uint8Array(len);
  await readFully(file, headerBytes, 8, path);
  return parseHeader(headerBytes, path, size);
}

/** Options for {@link readSafetensors}. */
export interface ReadOptions {
  /** Read only the tensors for which this returns true (the header is always read whole). */
  filter?: (name: string, entry: HeaderEntry) => boolean;
}

/**
 * Reads and parses a safetensors file from disk. Each tensor's bytes are read straight into
 * their own buffer, so a large file never sits in memory twice.
 */
export async function readSafetensors(path: string, opts: ReadOptions = {}): Promise<SafetensorsFile> {
  const file = await Deno.open(path, { read: true });
  try {
    const header = await readHeaderFrom(file, path);
    const tensors = new Map<string, TensorEntry>();
    for (const [key, e] of header.entries) {
      if (opts.filter && !opts.filter(key, e)) continue;
      tensors.set(key, await readEntry(file, path, key, e));
    }
    return { tensors, metadata: header.metadata };
  } finally {
    file.close();
  }
}

/** Reads one tensor described by a header entry from an open file. */
export async function readEntry(
  file: Deno.FsFile,
  path: string,
  key: string,
  e: HeaderEntry,
): Promise<TensorEntry> {
  const buf = new Uint8Array(e.end - e.start);
  await readFully(file, buf, e.start, path);
  const count = e.shape.reduce((a, b) => a * b, 1);
  let data: TensorEntry["data"];
  if (LITTLE_ENDIAN && (e.dtype === "F32" || e.dtype === "F64" || e.dtype === "I32")) {
    // The buffer is fresh and aligned: view it, no copy.
    data = e.dtype === "F32"
      ? new Float32Array(buf.buffer)
      : e.dtype === "F64"
      ? new Float64Array(buf.buffer)
      : new Int32Array(buf.buffer);
  } else {
    try {
      data = decodeTensorBytes(e.dtype, buf, count);
    } catch (err) {
      throw new SafetensorsError(`${path}: tensor "${key}": ${(err as Error).message}`);
    }
    if (e.dtype === "F16") checkF16IsNotBf16(path, key, e.shape, data as Float32Array);
  }
  return { dtype: e.dtype, shape: e.shape, data };
}
