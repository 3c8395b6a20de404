// Every notebook must execute headless with the Deno kernel (nbconvert), on the smoke preset:
// a cell error fails this test, and so CI. Outputs go to out/notebooks; the saved notebooks in
// notebooks/ are not modified (`deno task notebooks` refreshes those).
import { assert } from "@std/assert";
import { REPO_ROOT } from "../lib/config/paths.ts";
import { ignoreWithoutData } from "./support.ts";

function has(cmd: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

const backbone = `${REPO_ROOT}/data/models/fishdip-t5-mini/config.json`;
let haveBackbone = true;
try {
  Deno.statSync(backbone);
} catch {
  haveBackbone = false;
}
const ignore = !has("jupyter") || !haveBackbone || ignoreWithoutData("conll04/conll04_train.json");
if (!has("jupyter")) console.error("note: skipping the notebook test: jupyter-nbconvert is not installed");
if (!haveBackbone) console.error(`note: skipping the notebook test: no backbone at ${backbone}`);

// One results folder for all notebooks: cells shared by several tables are trained once.
const results = `${REPO_ROOT}/out/notebook-test-results`;
if (!ignore) {
  try {
    Deno.removeSync(results, { recursive: true }); // a fresh store: every notebook really trains
  } catch { /* absent */ }
}

const notebooks = [...Deno.readDirSync(`${REPO_ROOT}/notebooks`)]
  .map((e) => e.name).filter((n) => n.endsWith(".ipynb")).sort();

for (const nb of notebooks) {
  Deno.test({
    name: `notebook ${nb} executes headless (smoke preset)`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const out = await new Deno.Command("bash", {
        args: [`${REPO_ROOT}/scripts/notebooks.sh`, "--check", `notebooks/${nb}`],
        cwd: REPO_ROOT,
        env: { FISHDIP_PRESET: "smoke", FISHDIP_RESULTS: results },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const log = new TextDecoder().decode(out.stderr);
      assert(out.success, `${nb} failed:\n${log.slice(-4000)}`);
    },
  });
}
