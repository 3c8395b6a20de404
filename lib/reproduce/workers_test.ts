import { assert, assertEquals, assertThrows } from "@std/assert";
import { runWorkers, workerArgs, workerBlasThreads } from "./workers.ts";

Deno.test("workerArgs: drops --workers, adds --claim, the worker's store file and --no-report", () => {
  assertEquals(workerArgs(["--preset", "cpu", "--workers", "2", "--only=peft"], 2, 2), [
    "--preset",
    "cpu",
    "--only=peft",
    "--shard",
    "2/2",
    "--claim",
    "--no-report",
  ]);
  assertEquals(workerArgs(["--workers=3"], 1, 3), ["--shard", "1/3", "--claim", "--no-report"]);
  assertThrows(() => workerArgs([], 3, 2));
  assertEquals(workerBlasThreads(2, 2), 1);
  assertEquals(workerBlasThreads(16, 3), 5);
  assertEquals(workerBlasThreads(2, 4), 1);
});

Deno.test("runWorkers: one process per shard, output prefixed, exit codes in worker order", async () => {
  // A stand-in for scripts/reproduce.ts that reports what it was given, and fails as worker 2.
  const dir = Deno.makeTempDirSync();
  const script = `${dir}/worker.ts`;
  Deno.writeTextFileSync(
    script,
    `const shard = Deno.args[Deno.args.indexOf("--shard") + 1];
console.log("args " + Deno.args.join(" "));
console.error("blas " + Deno.env.get("FISHDIP_BLAS_THREADS") + " worker " + Deno.env.get("FISHDIP_WORKER"));
Deno.stderr.writeSync(new TextEncoder().encode("step 1\\rstep 2\\n"));
Deno.exit(shard === "2/2" ? 3 : 0);`,
  );
  const lines: string[] = [];
  const saved = Deno.env.get("FISHDIP_BLAS_THREADS");
  Deno.env.delete("FISHDIP_BLAS_THREADS");
  try {
    const codes = await runWorkers(["--preset", "cpu", "--workers", "2"], 2, {
      script,
      cores: 4,
      log: (l) => lines.push(l),
    });
    assertEquals(codes, [0, 3]);
  } finally {
    if (saved !== undefined) Deno.env.set("FISHDIP_BLAS_THREADS", saved);
    Deno.removeSync(dir, { recursive: true });
  }
  for (const i of [1, 2]) {
    const mine = lines.filter((l) => l.startsWith(`w${i}| `));
    assert(
      mine.includes(`w${i}| args --preset cpu --shard ${i}/2 --claim --no-report`),
      mine.join("\n"),
    );
    assert(mine.includes(`w${i}| blas 2 worker ${i}/2`), mine.join("\n"));
    assert(mine.includes(`w${i}| step 1`) && mine.includes(`w${i}| step 2`), mine.join("\n"));
  }
});
