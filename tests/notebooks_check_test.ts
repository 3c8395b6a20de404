// Every notebook's code type-checks as one module (the kernel runs its cells in one scope): the
// notebooks call the library without casts, so a changed signature fails here, not in Jupyter.
import { assert } from "@std/assert";
import { REPO_ROOT } from "../lib/config/paths.ts";

const notebooks = [...Deno.readDirSync(`${REPO_ROOT}/notebooks`)]
  .map((e) => e.name).filter((n) => n.endsWith(".ipynb")).sort();

Deno.test({
  name: "notebooks: the code of every notebook type-checks",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Inside the repository, so deno.json's import map applies; `../lib/mod.ts` resolves as from notebooks/.
    const dir = await Deno.makeTempDir({ dir: `${REPO_ROOT}/notebooks`, prefix: ".check-" });
    try {
      const files: string[] = [];
      for (const nb of notebooks) {
        const cells = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/notebooks/${nb}`)).cells as {
          cell_type: string;
          source: string[] | string;
        }[];
        const code = cells.filter((c) => c.cell_type === "code")
          .map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source)).join("\n");
        const file = `${dir}/${nb.replace(/\.ipynb$/, ".ts")}`;
        await Deno.writeTextFile(file, `${code.replaceAll('"../lib/', '"../../lib/')}\nexport {};\n`);
        files.push(file);
      }
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["check", "--quiet", ...files],
        cwd: REPO_ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const log = new TextDecoder().decode(out.stderr);
      assert(out.success, `deno check failed:\n${log.slice(-4000)}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
