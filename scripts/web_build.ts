// Builds the static web app into .cache/web/ (git-ignored): one bundle of web/app.ts (the library
// modules it imports, tfjs included), the page, tfjs's wasm binaries from node_modules and the
// offline backbone, so the served folder needs nothing from anywhere else.
//
//   deno task web:build            then   deno task web
import { REPO_ROOT } from "../lib/config/paths.ts";

/** The backbone the app serves: offline, small enough for a page, trained on entity tasks. */
export const WEB_BACKBONE = `${REPO_ROOT}/data/models/fishdip-t5-mini-mt-conll03-ade`;
/** Where the build goes. */
export const WEB_DIST = `${REPO_ROOT}/.cache/web`;

const WASM_DIR = `${REPO_ROOT}/node_modules/@tensorflow/tfjs-backend-wasm/dist`;
const SAMPLE = `${REPO_ROOT}/tests/your_data`;

/**
 * deno.json's import map plus stand-ins for the two Node built-ins that the library imports at the
 * top of modules the app reaches but never runs (the Hugging Face cache and download code, through
 * `lib/train/backbone.ts`). Without them the bundle keeps `import ... from "node:os"`, which no
 * browser resolves. Paths become absolute, since the map is written outside the repository root.
 */
async function browserImportMap(): Promise<{ imports: Record<string, string> }> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/deno.json`));
  const imports: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.imports as Record<string, string>)) {
    imports[k] = v.startsWith("./") ? `file://${REPO_ROOT}/${v.slice(2)}` : v;
  }
  imports["node:os"] = `file://${REPO_ROOT}/web/shims/node_os.ts`;
  imports["node:crypto"] = `file://${REPO_ROOT}/web/shims/node_crypto.ts`;
  return { imports };
}

/** Builds the app; returns the files written, relative to {@link WEB_DIST}. */
export async function buildWeb(out = WEB_DIST): Promise<string[]> {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${out}/tfjs`, { recursive: true });
  await Deno.mkdir(`${out}/model`, { recursive: true });
  const importMap = `${out}.import_map.json`;
  await Deno.writeTextFile(importMap, JSON.stringify(await browserImportMap()));
  const bundle = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--platform",
      "browser",
      "--import-map",
      importMap,
      "--output",
      `${out}/app.js`,
      `${REPO_ROOT}/web/app.ts`,
    ],
    cwd: REPO_ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!bundle.success) throw new Error("deno bundle failed (see above)");
  const copies: [string, string][] = [
    [`${REPO_ROOT}/web/index.html`, "index.html"],
    [`${REPO_ROOT}/web/style.css`, "style.css"],
    [`${WEB_BACKBONE}/config.json`, "model/config.json"],
    [`${WEB_BACKBONE}/model.safetensors`, "model/model.safetensors"],
    [`${WEB_BACKBONE}/spiece.model`, "model/spiece.model"],
    [`${SAMPLE}/train.jsonl`, "model/sample.jsonl"],
    [`${SAMPLE}/type_names.json`, "model/sample_type_names.json"],
  ];
  for await (const e of Deno.readDir(WASM_DIR)) {
    if (e.name.endsWith(".wasm")) copies.push([`${WASM_DIR}/${e.name}`, `tfjs/${e.name}`]);
  }
  for (const [from, to] of copies) await Deno.copyFile(from, `${out}/${to}`);
  await Deno.writeTextFile(`${out}/model/id.txt`, WEB_BACKBONE.split("/").at(-1)! + "\n");
  return ["app.js", ...copies.map(([, to]) => to), "model/id.txt"];
}

if (import.meta.main) {
  const files = await buildWeb();
  for (const f of files) {
    const size = (await Deno.stat(`${WEB_DIST}/${f}`)).size;
    console.log(`${String(size).padStart(10)}  ${f}`);
  }
  console.log(`built ${WEB_DIST}; serve it with: deno task web`);
}
