import { assert, assertEquals } from "@std/assert";
import { lengthBatches } from "./evaluate.ts";

Deno.test("lengthBatches: consecutive runs in the given order, within the row and token limits", () => {
  const lengths = [3, 5, 5, 8, 9, 20, 40, 300];
  const order = lengths.map((_, i) => i);
  const batches = lengthBatches(order, (i) => lengths[i], 3, 60);
  assertEquals(batches.flat(), order);
  for (const b of batches) {
    const longest = Math.max(...b.map((i) => lengths[i]));
    assert(b.length <= 3 && (b.length === 1 || b.length * longest <= 60), JSON.stringify(b));
  }
  assertEquals(batches.at(-1), [7]); // longer than the budget: alone
  assertEquals(lengthBatches([], () => 1, 4, 10), []);
});
