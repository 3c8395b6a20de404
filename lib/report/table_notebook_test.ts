import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { notebookSettings, TableNotebook } from "./table_notebook.ts";

const never = () => Promise.reject(new Error("not run in this test"));

Deno.test("table notebooks state the preset's actual backbones, steps, seeds, k, m and n", () => {
  const resultsDir = Deno.makeTempDirSync();
  try {
    const quick = new TableNotebook("ablationN", { preset: "quick", resultsDir, run: false }, never);
    const text = quick.settingsMarkdown();
    assertStringIncludes(
      text,
      "Preset `quick`: backbone fishdip-t5-mini-mt-conll03-ade-long; 30 optimizer steps of batch 8",
    );
    assertStringIncludes(text, "k = 1 %, m = 10, n = 1, 3, 10");
    const paper = new TableNotebook("lowResource", { preset: "paper", resultsDir, run: false }, never);
    assertStringIncludes(paper.settingsMarkdown(), "m = 100");
    assertStringIncludes(paper.settingsMarkdown(), "backbone t5-large");
  } finally {
    Deno.removeSync(resultsDir, { recursive: true });
  }
});

Deno.test("a table notebook reads the store again after its runs (the settings cell loaded it before them)", async () => {
  const resultsDir = Deno.makeTempDirSync();
  try {
    const ran = () => Promise.resolve({ ran: [], skipped: [], failed: [], blocked: 0 });
    const nb = new TableNotebook("sparseMethods", { preset: "smoke", resultsDir, run: true }, ran as never);
    const before = nb.report;
    await nb.run();
    assert(nb.report !== before, "the report is loaded again after run()");
  } finally {
    Deno.removeSync(resultsDir, { recursive: true });
  }
});

Deno.test("FISHDIP_STEPS gives a notebook the budget of `reproduce --steps N`, its m scaled alike", async () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const settings = notebookSettings(env({ FISHDIP_PRESET: "cpu", FISHDIP_STEPS: "600", FISHDIP_RUN: "0" }));
  assertEquals(settings.steps, 600);
  assertEquals(notebookSettings(env({ FISHDIP_PRESET: "cpu" })).steps, undefined);
  for (const bad of ["0", "-5", "1.5", "many"]) {
    assertThrows(() => notebookSettings(env({ FISHDIP_STEPS: bad })), Error, `FISHDIP_STEPS=${bad}`);
  }
  assertThrows(
    () => notebookSettings(env({ FISHDIP_PRESET: "paper", FISHDIP_STEPS: "600" })),
    Error,
    "paper",
  );

  const resultsDir = Deno.makeTempDirSync();
  try {
    let asked: unknown;
    const runner = (opts: { preset: unknown }) => {
      asked = opts.preset;
      return Promise.resolve({ ran: [], skipped: [], failed: [], blocked: 0 });
    };
    const nb = new TableNotebook("fixedVsDynamic", { ...settings, resultsDir, run: true }, runner);
    const text = nb.settingsMarkdown();
    assertStringIncludes(text, "Preset `cpu-600steps`:");
    assertStringIncludes(text, "600 optimizer steps of batch 8");
    assertStringIncludes(text, "m = 100");
    await nb.run();
    assertEquals((asked as { label?: string }).label, "cpu-600steps");
  } finally {
    Deno.removeSync(resultsDir, { recursive: true });
  }
});

Deno.test("a table notebook's run stops with the first failure when cells failed", async () => {
  const resultsDir = Deno.makeTempDirSync();
  try {
    const failed = [{ label: "conll04 1% fishdip s1", error: "DownloadError: no such backbone" }];
    const runner = () => Promise.resolve({ ran: [], skipped: [], failed, blocked: 0 });
    const nb = new TableNotebook("lowResource", { preset: "smoke", resultsDir, run: true }, runner);
    await assertRejects(
      () => nb.run(),
      Error,
      "1 cell(s) of this table failed (first: conll04 1% fishdip s1: DownloadError",
    );
  } finally {
    Deno.removeSync(resultsDir, { recursive: true });
  }
});
