import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { applyDelta, deltaSize, readDelta, sparseDelta, writeDelta } from "./delta.ts";
import { writeSafetensorsFile } from "../checkpoint/safetensors.ts";

Deno.test("sparse delta: only changed entries, applied back bit for bit, through a file", async () => {
  const base = new Map([
    ["a", new Float32Array([1, 2, 3, 4])],
    ["b", new Float32Array([0, 0, 0])],
    ["c", new Float32Array([5])],
  ]);
  const tuned = new Map([
    ["a", new Float32Array([1, 2.5, 3, -4])],
    ["b", new Float32Array([0, -0, 0])], // -0 differs from +0 bitwise and must be restored
    ["c", new Float32Array([5])],
  ]);
  const d = sparseDelta(base, tuned);
  assertEquals([...d.keys()], ["a", "b"]);
  assertEquals(deltaSize(d), 3);
  assertEquals([...d.get("a")!.indices], [1, 3]);
  const dir = await Deno.makeTempDir();
  try {
    await writeDelta(`${dir}/delta.safetensors`, d, { base: "tiny" });
    const back = await readDelta(`${dir}/delta.safetensors`);
    const restored = applyDelta(base, back);
    for (const [n, t] of tuned) {
      assertEquals(new Uint32Array(restored.get(n)!.buffer), new Uint32Array(t.buffer), n);
    }
    assertEquals([...base.get("a")!], [1, 2, 3, 4], "the base is not modified");
    await writeSafetensorsFile(
      `${dir}/bad.safetensors`,
      new Map([["x", { dtype: "F32", shape: [1], data: new Float32Array(1) }]]),
    );
    await assertRejects(() => readDelta(`${dir}/bad.safetensors`), Error, "not a FISH-DIP sparse delta");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assertThrows(
    () => applyDelta(base, new Map([["z", { indices: Int32Array.of(0), values: Float32Array.of(1) }]])),
    Error,
    '"z"',
  );
  assertThrows(() => sparseDelta(base, new Map([["a", new Float32Array(2)]])), Error, "entries");
});
