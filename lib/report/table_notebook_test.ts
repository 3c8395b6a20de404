import { assert, assertStringIncludes } from "@std/assert";
import { TableNotebook } from "./table_notebook.ts";

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
