import { assertEquals } from "@std/assert";
import { probeTorch, runWithTimeout, torchArgs } from "./torch.ts";
import { formatBytes } from "../backend/gpu_adapter.ts";
import { GPU_SHAPES, median } from "./bench.ts";

Deno.test("torchArgs: explicit dimensions, strict float32 unless tf32, one JSON line", () => {
  const args = torchArgs({
    python: "python3",
    script: "t.py",
    shape: GPU_SHAPES["t5-large"],
    batch: 32,
    srcLen: 256,
    tgtLen: 128,
    tf32: true,
    steps: 5,
    warmup: 1,
    timeoutS: 60,
  });
  assertEquals(
    args.join(" "),
    [
      "t.py --d-model 1024 --d-ff 4096 --d-kv 64 --heads 16 --layers 24",
      "--batch 32 --src-len 256 --tgt-len 128 --steps 5 --warmup 1 --device cuda --mode step --tf32 --json",
    ].join(" "),
  );
});

Deno.test("probeTorch and runWithTimeout: a missing interpreter and a slow command are reported, not thrown", async () => {
  const p = await probeTorch(["/nonexistent/python3"], 5);
  assertEquals([p.cuda, p.torch, p.reason], [false, undefined, "/nonexistent/python3: not found"]);
  const r = await runWithTimeout("sleep", ["5"], 0.2);
  assertEquals(r.timedOut, true);
});

Deno.test("formatBytes and median", () => {
  assertEquals([formatBytes(512), formatBytes(2 ** 31 - 1), formatBytes(128 * 2 ** 20)], [
    "512 B",
    "2.00 GiB",
    "128 MiB",
  ]);
  assertEquals([median([3, 1, 2]), median([4, 1, 2, 3])], [2, 2.5]);
});
