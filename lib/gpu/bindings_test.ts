import { assert, assertEquals } from "@std/assert";
import { GPU_SHAPES } from "./bench.ts";
import { checkBindings, formatBindingTable, t5TensorSizes, WEBGPU_DEFAULT_LIMITS } from "./bindings.ts";

const LARGE = GPU_SHAPES["t5-large"];
const TWO_GIB = { maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31 };

Deno.test("storage bindings of t5-large: the embedding fits 128 MiB; at batch 32 the logits do not", () => {
  const b8 = { batch: 8, source: 256, target: 128 }, b32 = { batch: 32, source: 256, target: 128 };
  const sizes = new Map(t5TensorSizes(LARGE, b32).map((r) => [r.name, r.bytes]));
  // 32128 × 1024 floats: 125.5 MiB, just under the default binding limit.
  assertEquals(sizes.get("embedding"), 32128 * 1024 * 4);
  assertEquals(sizes.get("logits"), 32 * 128 * 32128 * 4); // 526 MB
  assertEquals(sizes.get("encoder self-attention scores"), 32 * 16 * 256 * 256 * 4); // exactly 128 MiB
  assertEquals(sizes.get("encoder FFN activation"), 32 * 256 * 4096 * 4); // exactly 128 MiB

  const small = checkBindings(LARGE, b8, WEBGPU_DEFAULT_LIMITS);
  assertEquals(small.exceeding, []);
  const large = checkBindings(LARGE, b32, WEBGPU_DEFAULT_LIMITS);
  // The logits are over both the 128 MiB binding and the 256 MiB buffer default; a tensor of
  // exactly 128 MiB still binds.
  assertEquals(large.exceeding, ["logits"]);
  assertEquals([large.rows[0].name, large.rows[0].overBinding, large.rows[0].overBuffer], [
    "logits",
    true,
    true,
  ]);
  for (const s of [b8, b32]) assertEquals(checkBindings(LARGE, s, TWO_GIB).exceeding, []);
  const table = formatBindingTable(large);
  console.log(table);
  assert(table.includes("| logits | [32, 128, 32128] | 502 MiB | **over maxBufferSize** |"));
});
