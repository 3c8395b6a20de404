import { ignoreWithoutFixtures } from "../../tests/support.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { fixturesDir } from "../config/paths.ts";
import {
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  SafetensorsError,
  type TensorInput,
  writeSafetensors,
  writeSafetensorsFile,
} from "./safetensors.ts";

function header(bytes: Uint8Array): { len: number; json: string } {
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { len, json: new TextDecoder().decode(bytes.subarray(8, 8 + len)) };
}

/** A file with a hand-written header, for malformed-input tests. */
function rawFile(headerObj: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(
    typeof headerObj === "string" ? headerObj : JSON.stringify(headerObj),
  );
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

const sample: Record<string, TensorInput> = {
  "z.f32": { dtype: "F32", shape: [2, 3], data: new Float32Array([1, -2.5, 3e-8, Infinity, -0, 1e30]) },
  "a.f64": { dtype: "F64", shape: [2], data: new Float64Array([Math.PI, -1e-300]) },
  "m.i32": { dtype: "I32", shape: [3], data: new Int32Array([-7, 0, 2147483647]) },
  "m.i64": { dtype: "I64", shape: [2], data: [-(2 ** 40), 12] },
  "b.u8": { dtype: "U8", shape: [3], data: new Uint8Array([0, 128, 255]) },
  "c.bf16": { dtype: "BF16", shape: [3], data: new Float32Array([1, -0.5, 3.140625]) },
  "d.f16": { dtype: "F16", shape: [4], data: new Float32Array([1, -2, 65504, 2 ** -24]) },
  "e.empty": { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
  "s.scalar": { dtype: "F32", shape: [], data: new Float32Array([42]) },
};

Deno.test("writeSafetensors: standard layout (padded header, sorted, back to back)", () => {
  const bytes = writeSafetensors(sample, { format: "pt" });
  const { len, json } = header(bytes);
  assertEquals(len % 8, 0);
  assertEquals(json, json.trimEnd() + " ".repeat(json.length - json.trimEnd().length));
  const h = JSON.parse(json);
  const names = Object.keys(h).filter((k) => k !== "__metadata__");
  assertEquals(names, [...names].sort());
  let off = 0;
  for (const n of names) {
    assertEquals(h[n].data_offsets[0], off, n);
    off = h[n].data_offsets[1];
  }
  assertEquals(8 + len + off, bytes.byteLength);
  assertEquals(h.__metadata__, { format: "pt" });
});

Deno.test("safetensors round trip: every dtype reads back exactly, bytes identical", () => {
  const bytes = writeSafetensors(sample, { note: "x" });
  const file = parseSafetensors(bytes, "mem");
  assertEquals(file.metadata, { note: "x" });
  assertEquals(file.tensors.get("z.f32")!.data, sample["z.f32"].data);
  assertEquals(file.tensors.get("a.f64")!.data, sample["a.f64"].data);
  assertEquals(file.tensors.get("m.i32")!.data, sample["m.i32"].data);
  assertEquals(file.tensors.get("m.i64")!.data, new Float64Array([-(2 ** 40), 12]));
  assertEquals(file.tensors.get("b.u8")!.data, sample["b.u8"].data);
  assertEquals(file.tensors.get("c.bf16")!.data, sample["c.bf16"].data);
  assertEquals(file.tensors.get("d.f16")!.data, sample["d.f16"].data);
  assertEquals(file.tensors.get("s.scalar")!.shape, []);
  assertEquals(file.tensors.get("e.empty")!.shape, [0, 4]);
  // Writing what was read gives the same bytes (BF16/F16 values are exact, so re-rounding is a no-op).
  const again = new Map([...file.tensors].map(([n, t]) => [n, { ...t }]));
  assertEquals(writeSafetensors(again, file.metadata), bytes);
});

Deno.test("BF16 and F16 encoding round to nearest even; F16 decoding covers subnormals and specials", () => {
  const one = 1, ulp = 2 ** -7; // bfloat16 spacing at 1
  const vals = new Float32Array([one + ulp / 2, one + 1.5 * ulp, one + ulp * 0.51, NaN, -Infinity]);
  const got = parseSafetensors(writeSafetensors({ x: { dtype: "BF16", shape: [5], data: vals } }))
    .tensors.get("x")!.data;
  assertEquals([...got].slice(0, 3), [1, one + 2 * ulp, one + ulp]);
  assert(Number.isNaN(got[3]));
  assertEquals(got[4], -Infinity);
  const raw = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x8000]);
  const f16 =
    parseSafetensors(writeSafetensors({ h: { dtype: "F16", shape: [8], data: raw } })).tensors.get("h")!
      .data;
  assertEquals([...f16], [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity, -0]);
  // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: even mantissa wins. 65520 overflows to infinity.
  const enc = parseSafetensors(
    writeSafetensors({
      h: { dtype: "F16", shape: [3], data: new Float32Array([1 + 2 ** -11, 65520, 3 * 2 ** -26]) },
    }),
  ).tensors.get("h")!.data;
  assertEquals([...enc], [1, Infinity, 2 ** -24]);
});

Deno.test({
  name: "reference fixture: read BF16 weights, rewrite byte-identical",
  ignore: ignoreWithoutFixtures("t5/t5-tiny-v1_0/model.safetensors"),
}, async () => {
  const path = `${fixturesDir()}/t5/t5-tiny-v1_0/model.safetensors`;
  const original = await Deno.readFile(path);
  const file = await readSafetensors(path);
  assertEquals(file.tensors.size, 47);
  const shared = file.tensors.get("shared.weight")!;
  assertEquals(shared.dtype, "BF16");
  assertEquals(shared.shape, [32128, 64]);
  assert(shared.data instanceof Float32Array);
  // BF16 widening is exact: every value's low 16 bits are zero.
  const bits = new Uint32Array((shared.data as Float32Array).buffer);
  assert(bits.every((b) => (b & 0xffff) === 0));
  assertEquals(writeSafetensors(file.tensors, file.metadata), original);
});

Deno.test("readSafetensors from disk equals parseSafetensors; header-only read; filter", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.safetensors`;
    await writeSafetensorsFile(path, sample, { format: "pt" });
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["t.safetensors"]); // no temp left
    const fromDisk = await readSafetensors(path);
    assertEquals(fromDisk, parseSafetensors(await Deno.readFile(path), path));
    const h = await readSafetensorsHeader(path);
    assertEquals(h.entries.get("z.f32")!.shape, [2, 3]);
    const some = await readSafetensors(path, { filter: (n) => n.startsWith("m.") });
    assertEquals([...some.tensors.keys()].sort(), ["m.i32", "m.i64"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("malformed files: each problem has its own error naming the file", () => {
  const good = writeSafetensors(sample);
  assertThrows(
    () => parseSafetensors(good.subarray(0, 5), "f.st"),
    SafetensorsError,
    "f.st: truncated: 5 bytes",
  );
  assertThrows(
    () => parseSafetensors(good.subarray(0, 40), "f.st"),
    SafetensorsError,
    "runs past the end of the file (40 bytes)",
  );
  assertThrows(
    () => parseSafetensors(good.subarray(0, good.byteLength - 3), "f.st"),
    SafetensorsError,
    "f.st: truncated: tensor",
  );
  assertThrows(
    () => parseSafetensors(rawFile("{not json", 0), "f.st"),
    SafetensorsError,
    "f.st: header is not valid JSON",
  );
  assertThrows(() => parseSafetensors(rawFile("[1,2]", 0), "f.st"), SafetensorsError, "not a JSON object");
  const t = (offs: number[], dtype = "F32", shape = [2]) => ({ dtype, shape, data_offsets: offs });
  assertThrows(
    () => parseSafetensors(rawFile({ a: t([0, 8]), b: t([4, 12]) }, 12), "f.st"),
    SafetensorsError,
    `tensors "a" and "b" overlap`,
  );
  assertThrows(
    () => parseSafetensors(rawFile({ a: t([0, 8]), b: t([8, 16]) }, 12), "f.st"),
    SafetensorsError,
    `truncated: tensor "b" ends at byte`,
  );
  assertThrows(
    () => parseSafetensors(rawFile({ a: t([0, 12]) }, 12), "f.st"),
    SafetensorsError,
    `"a" has 12 bytes but shape [2] of F32 needs 8`,
  );
  assertThrows(
    () => parseSafetensors(rawFile({ a: t([0, 8], "F8_E4M3") }, 8), "f.st"),
    SafetensorsError,
    `unsupported dtype "F8_E4M3"`,
  );
  assertThrows(
    () => parseSafetensors(rawFile({ a: t([8, 0]) }, 8), "f.st"),
    SafetensorsError,
    "invalid data_offsets",
  );
  assertThrows(
    () => parseSafetensors(rawFile({ a: t([0, 8], "F32", [-2]) }, 8), "f.st"),
    SafetensorsError,
    "invalid shape",
  );
  // A zip archive (what torch.save writes) read as a header length.
  const zip = new Uint8Array(64);
  zip.set([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0]);
  assertThrows(() => parseSafetensors(zip, "pytorch_model.bin"), SafetensorsError, "not a safetensors file");
});

Deno.test("writer rejects inconsistent input", () => {
  assertThrows(
    () => writeSafetensors({ w: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } }),
    SafetensorsError,
    `tensor "w": shape [2,2] needs 4 values, data has 3`,
  );
  assertThrows(
    () => writeSafetensors({}, { n: 3 as unknown as string }),
    SafetensorsError,
    `metadata "n" must be a string`,
  );
});

Deno.test("data_offsets must tile the data exactly: gaps and trailing bytes are named with their byte counts", async () => {
  const t = (offs: number[]) => ({ dtype: "F32", shape: [2], data_offsets: offs });
  assertThrows(
    () => parseSafetensors(rawFile({ a: t([0, 8]), b: t([12, 20]) }, 20), "f.st"),
    SafetensorsError,
    `f.st: 4 unclaimed bytes before tensor "b" (data bytes 8..12`,
  );
  assertThrows(
    () => parseSafetensors(rawFile({ a: t([4, 12]) }, 12), "f.st"),
    SafetensorsError,
    `f.st: 4 unclaimed bytes before tensor "a"`,
  );
  // Out of name order but contiguous is fine: only the byte ranges matter.
  const file = parseSafetensors(rawFile({ a: t([8, 16]), b: t([0, 8]) }, 16), "f.st");
  assertEquals([...file.tensors.keys()], ["b", "a"]);

  const good = writeSafetensors(sample);
  const tail = new Uint8Array(good.byteLength + 5);
  tail.set(good);
  const e = assertThrows(() => parseSafetensors(tail, "f.st"), SafetensorsError, "f.st: 5 trailing bytes");
  assertStringIncludes(
    e.message,
    `the tensors end at byte ${good.byteLength} but the file has ${tail.byteLength}`,
  );
  assert(e.hint?.includes("download or save it again"));
  assertThrows(() => parseSafetensors(rawFile({}, 3), "f.st"), SafetensorsError, "f.st: 3 trailing bytes");

  // The header-only read (what the checkpoint loader uses) sees the same file size.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/t.safetensors`, tail);
    await assertRejects(
      () => readSafetensorsHeader(`${dir}/t.safetensors`),
      SafetensorsError,
      `${dir}/t.safetensors: 5 trailing bytes`,
    );
    // A header length pointing past the end of the file, read from disk.
    const past = rawFile({ a: t([0, 8]) }, 8);
    new DataView(past.buffer).setBigUint64(0, BigInt(past.byteLength), true);
    await Deno.writeFile(`${dir}/p.safetensors`, past);
    await assertRejects(
      () => readSafetensors(`${dir}/p.safetensors`),
      SafetensorsError,
      `${dir}/p.safetensors: header length ${past.byteLength} runs past the end of the file`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A seeded normal(0, std) sample (Box-Muller over a Park-Miller generator). */
function normalMatrix(n: number, std: number, seed = 7): Float32Array {
  let s = seed;
  const u = () => (s = (s * 48271) % 2147483647) / 2147483647;
  return Float32Array.from(
    { length: n },
    () => std * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()),
  );
}

/** `bytes` with every `"BF16"` dtype in the header relabelled `"F16"` (same length, so offsets hold). */
function relabelBf16AsF16(bytes: Uint8Array): Uint8Array {
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const json = new TextDecoder().decode(bytes.subarray(8, 8 + len)).replaceAll('"BF16"', '"F16" ');
  const out = bytes.slice();
  out.set(new TextEncoder().encode(json), 8);
  return out;
}

Deno.test("BF16 bytes labelled F16 are refused naming file and tensor; the same matrix as real F16 loads", async () => {
  const w = normalMatrix(64 * 32, 0.05);
  const bf16 = writeSafetensors({
    "encoder.w": { dtype: "BF16", shape: [64, 32], data: w },
    "norm": { dtype: "F32", shape: [4], data: new Float32Array([1, 1, 1, 1]) },
  });
  const mislabelled = relabelBf16AsF16(bf16);
  const e = assertThrows(
    () => parseSafetensors(mislabelled, "m.st"),
    SafetensorsError,
    `m.st: tensor "encoder.w": the bytes look like BF16 but the header says F16`,
  );
  assert(e.hint?.includes('BF16 bytes labelled "BF16"'));
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/m.safetensors`, mislabelled);
    await assertRejects(
      () => readSafetensors(`${dir}/m.safetensors`),
      SafetensorsError,
      `${dir}/m.safetensors: tensor "encoder.w": the bytes look like BF16`,
    );
    // The real F16 encoding of the same matrix loads, from memory and from disk, within F16 rounding.
    const f16 = writeSafetensors({ "encoder.w": { dtype: "F16", shape: [64, 32], data: w } });
    await Deno.writeFile(`${dir}/h.safetensors`, f16);
    for (const file of [parseSafetensors(f16, "h.st"), await readSafetensors(`${dir}/h.safetensors`)]) {
      const got = file.tensors.get("encoder.w")!.data as Float32Array;
      assert(got.every((v, i) => Math.abs(v - w[i]) <= 2 ** -11 * Math.max(Math.abs(w[i]), 2 ** -14)));
    }
    // Read as what they are, the BF16 bytes are the matrix.
    const asBf16 = parseSafetensors(bf16).tensors.get("encoder.w")!.data as Float32Array;
    assert(asBf16.every((v, i) => Math.abs(v - w[i]) <= 2 ** -8 * Math.abs(w[i])));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // Conservative: a 1-D tensor or one under 1024 values is not judged, whatever its values.
  const small = relabelBf16AsF16(
    writeSafetensors({ v: { dtype: "BF16", shape: [1000], data: normalMatrix(1000, 0.05) } }),
  );
  parseSafetensors(small, "s.st");
  const square = relabelBf16AsF16(
    writeSafetensors({ v: { dtype: "BF16", shape: [31, 31], data: normalMatrix(961, 0.05) } }),
  );
  parseSafetensors(square, "s.st");
});
