import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { asUsage, CommandError, describeError, UsageError } from "./cli.ts";

class DataFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataFormatError";
  }
}

Deno.test("describeError: a named error, what to do, status 1, no stack unless asked", () => {
  const d = describeError(new DataFormatError("a.conll:3: one column"));
  assertEquals(d.status, 1);
  const [first, second, ...rest] = d.text.split("\n");
  assertEquals(first, "error (DataFormatError): a.conll:3: one column");
  assert(second.startsWith("what to do: fix or replace the file"), second);
  assertEquals(rest, []);
  const debug = describeError(new DataFormatError("x"), { debug: true });
  assertStringIncludes(debug.text, "    at ");
});

Deno.test("describeError: usage errors exit 2 with the usage text; parseArgs' errors count as usage", async () => {
  assertEquals(describeError(new UsageError("--k must be in (0, 1]"), { usage: "USAGE" }), {
    status: 2,
    text: "--k must be in (0, 1]\n\nUSAGE",
  });
  const { parseArgs } = await import("node:util");
  let thrown: unknown;
  try {
    parseArgs({ args: ["--nope"], options: {} });
  } catch (e) {
    thrown = e;
  }
  assertEquals(describeError(thrown, { usage: "U" }).status, 2);
  assertEquals(asUsage(() => 3), 3);
  const e = (() => {
    try {
      asUsage(() => {
        throw new Error("unknown backend");
      });
    } catch (e) {
      return e;
    }
  })();
  assert(e instanceof UsageError);
});

Deno.test("describeError: a hint of the error's own, a bug's advice, a non-Error", () => {
  assertStringIncludes(describeError(new CommandError("m", "do this")).text, "what to do: do this");
  assertStringIncludes(describeError(new TypeError("x is undefined")).text, "this looks like a bug");
  assertStringIncludes(describeError(new Deno.errors.NotFound("a.txt")).text, "error (NotFound): a.txt");
  assertEquals(describeError("boom").text.split("\n")[0], "error (Error): boom");
});

Deno.test({
  name: "runCommand ends the process: 1 and no stack; the stack with FISHDIP_DEBUG=1; 2 for usage",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cli_test_" });
    try {
      const script = `${dir}/tool.ts`;
      await Deno.writeTextFile(
        script,
        `import { runCommand, UsageError } from ${JSON.stringify(new URL("./cli.ts", import.meta.url).href)};
await runCommand(() => {
  if (Deno.args[0] === "usage") throw new UsageError("bad flag");
  if (Deno.args[0] === "ok") return;
  throw new SyntaxError("state.json: Unexpected end of JSON input");
}, { usage: "tool [usage|ok]" });
`,
      );
      const run = async (arg: string, env: Record<string, string> = {}) => {
        const r = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", script, arg],
          env: { FISHDIP_DEBUG: "", ...env },
          stdout: "piped",
          stderr: "piped",
        }).output();
        return { code: r.code, err: new TextDecoder().decode(r.stderr) };
      };
      const failed = await run("fail");
      assertEquals(failed.code, 1);
      assert(!failed.err.includes("    at "), failed.err);
      assertStringIncludes(failed.err, "error (SyntaxError): state.json: Unexpected end of JSON input");
      assertStringIncludes(failed.err, "what to do:");
      const debug = await run("fail", { FISHDIP_DEBUG: "1" });
      assertEquals(debug.code, 1);
      assertStringIncludes(debug.err, "    at ");
      const usage = await run("usage");
      assertEquals(usage, { code: 2, err: "bad flag\n\ntool [usage|ok]\n" });
      assertEquals((await run("ok")).code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
