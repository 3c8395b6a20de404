// The command-line tools end every failure the same way (lib/config/cli.ts): a bad command line
// exits 2 with the usage text; any other failure exits 1 with `error (NAME): ...` and `what to do:`,
// and prints a stack trace only with FISHDIP_DEBUG=1. Each tool runs in a fresh process, on inputs
// made here; reproduce writes only into a temporary results folder.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { REPO_ROOT } from "../lib/config/paths.ts";

async function tool(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `scripts/${script}`, ...args],
    cwd: REPO_ROOT,
    env: { FISHDIP_DEBUG: "", FISHDIP_BLAS_THREADS: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, err: new TextDecoder().decode(r.stderr) };
}

/** Exit 1, the error named, what to do, no stack frame. */
function assertHandled(r: { code: number; err: string }, name: string): void {
  assertEquals(r.code, 1, r.err);
  assertStringIncludes(r.err, `error (${name}): `);
  assertStringIncludes(r.err, "\nwhat to do: ");
  assert(!r.err.includes("    at "), `a stack trace was printed:\n${r.err}`);
}

Deno.test({
  name:
    "cli errors: out-of-range numbers, an empty --only, a trailing --backend, a prototype key: usage errors",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cli_flags_" });
    const ft = (...a: string[]) => tool("finetune.ts", ["--dataset", "conll04", ...a]);
    // reproduce only ever writes into the temporary folder, should a case slip through.
    const rp = (...a: string[]) => tool("reproduce.ts", ["--results", dir, "--report-only", ...a]);
    const bp = (...a: string[]) => tool("budget_probe.ts", ["--dataset", "conll04", "--results", dir, ...a]);
    try {
      const cases: [Promise<{ code: number; err: string }>, string][] = [
        [ft("--fraction", "2"), "--fraction must be a number in (0, 1]"],
        [ft("--fraction", "0"), "--fraction must be a number in (0, 1]"],
        [ft("--k", "0"), "fishdip: k must be a number in (0, 1]"],
        [ft("--epochs", "0"), "--epochs must be a whole number of at least 1"],
        [ft("--eval-subsample=-280"), "--eval-subsample must be a whole number of at least 1"],
        [ft("--batch", ""), "--batch must be"],
        [ft("--backend"), "--backend"],
        [tool("finetune.ts", ["--dataset", "toString"]), 'unknown dataset "toString"'],
        [tool("finetune.ts", ["--dataset", "conll04", "--method", "constructor"]), "unknown method"],
        [rp("--only", ","), "--only needs at least one table"],
        [rp("--backend"), "--backend needs a value"],
        [rp("--workers", "0"), "--workers must be"],
        [bp("--fraction", "2"), "--fraction must be a number in (0, 1]"],
        [bp("--fraction", "0.01", "--steps", "60,0"), "--steps must be a whole number of at least 1"],
        [bp("--fraction", "0.01", "--methods", "full,constructor"), 'unknown method "constructor"'],
        [bp("--fraction", "0.01", "--preset", "paper"), "a step budget applies to the offline presets"],
        [tool("budget_probe.ts", ["--fraction", "0.01"]), "--dataset NAME is required"],
      ];
      for (const [run, message] of cases) {
        const r = await run;
        assertEquals(r.code, 2, `${message}: ${r.err}`);
        assertStringIncludes(r.err, message);
      }
      assertEquals([...Deno.readDirSync(dir)], [], "nothing written");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli errors: finetune, reproduce, predict and download-model: exit 2 for usage, 1 named, no stack",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cli_errors_" });
    try {
      await Deno.writeTextFile(`${dir}/file`, "");
      const usage = [
        await tool("finetune.ts", ["--dataset", "conll04", "--epochs", "x"]),
        await tool("finetune.ts", ["--dataset", "conll04", "--no-such-flag"]),
        await tool("finetune.ts", ["--dataset", "conll04", "--backend", "nope"]),
        await tool("reproduce.ts", ["--frobnicate"]),
        await tool("reproduce.ts", ["--backend", "nope", "--results", dir]),
        await tool("predict.ts", ["--model", dir, "--input", "a.txt", "--output", "b", "--batch", "0"]),
        await tool("download_model.ts", []),
      ];
      for (const r of usage) {
        assertEquals(r.code, 2, r.err);
        assertStringIncludes(r.err, "deno task ");
        assert(!r.err.includes("    at "), r.err);
      }
      assertHandled(await tool("finetune.ts", ["--train", `${dir}/missing.jsonl`]), "DataFormatError");
      assertHandled(
        await tool("reproduce.ts", ["--report-only", "--results", `${dir}/file/results`]),
        "NotADirectory",
      );
      assertHandled(
        await tool("predict.ts", ["--model", dir, "--input", "a.txt", "--output", "b", "--backend", "cpu"]),
        "Error",
      );
      // A report never replaces committed records it cannot read (lib/report/raw_records.ts).
      await Deno.mkdir(`${dir}/results/raw`, { recursive: true });
      await Deno.writeTextFile(`${dir}/results/raw/quick-runs.jsonl`, "not a record\n");
      const refused = await tool("reproduce.ts", ["--report-only", "--results", `${dir}/results`]);
      assertHandled(refused, "RawRecordsError");
      assertStringIncludes(refused.err, "what to do: restore it (git checkout");
      assertEquals(await Deno.readTextFile(`${dir}/results/raw/quick-runs.jsonl`), "not a record\n");
      const offline = { HF_HUB_OFFLINE: "1", HF_HUB_CACHE: `${dir}/hub` };
      assertHandled(await tool("download_model.ts", ["no-such-model"], offline), "DownloadError");
      const debug = await tool("finetune.ts", ["--train", `${dir}/missing.jsonl`], { FISHDIP_DEBUG: "1" });
      assertEquals(debug.code, 1);
      assertStringIncludes(debug.err, "    at ");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
