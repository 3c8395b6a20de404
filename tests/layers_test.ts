// The library's folders form layers in the direction data flows (../shared/STYLE.md, "Direction of
// data"): a module may import its own folder and the folders below it, never one above. This test
// reads every import of every product file under lib/ (tests excluded: an integration test may
// combine layers) and fails on an upward edge, on a folder missing from LAYERS, and on a product
// file that imports test support (tests/) or a script. It also keeps files short enough to read.
import { assert, assertEquals } from "@std/assert";
import { REPO_ROOT } from "../lib/config/paths.ts";

/**
 * Lowest first. The chain's order where it applies (data -> formats -> tokenizer and T5 -> methods
 * -> trainer -> results -> report), with three placements it does not fix by itself:
 * - `metrics` (TANL's parsing-based scores, pure functions of gold and predicted examples) sits
 *   with the formats, below the model, because the trainer's evaluation composes decoding with
 *   scoring;
 * - `experiments` (cells, presets, plans, the results store: the configuration and bookkeeping of
 *   runs) sits above `methods`, whose registry types a cell's method, and below everything that
 *   runs or reports cells;
 * - `gpu` (the GPU check: adapter report, storage bindings, step timings, the PyTorch comparator)
 *   uses the model, the methods and the optimizer, and nothing above them uses it;
 * - `reproduce` is the only folder that sees the trainer, the experiments and the report together.
 * `lib/mod.ts`, the one import for notebooks, re-exports every layer.
 */
const LAYERS = [
  "config",
  "backend",
  "checkpoint",
  "tokenizer",
  "data",
  "formats",
  "metrics",
  "t5",
  "optim",
  "methods",
  "experiments",
  "train",
  "pretrain",
  "gpu",
  "report",
  "reproduce",
];

/** Longest a file under lib/ may be (lines); the T5 model reads top to bottom as one module. */
const MAX_LINES = 600;
const LONG_ALLOWED = new Set(["lib/t5/model.ts"]);

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${REPO_ROOT}/${dir}`)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...files(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out.sort();
}

/** Relative specifiers of a module's static imports and re-exports, and of its dynamic imports. */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  // Statements start a line (doc-comment examples start with " * " and are not imports).
  for (const m of source.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm)) out.push(m[1]);
  for (const m of source.matchAll(/^import\s*["']([^"']+)["']/gm)) out.push(m[1]);
  for (const line of source.split("\n")) {
    const t = line.trim();
    if (t.startsWith("*") || t.startsWith("//")) continue;
    for (const m of t.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) out.push(m[1]);
  }
  return out.filter((s) => s.startsWith("."));
}

/** `lib/<folder>/...` -> folder; `lib/mod.ts` -> "mod"; elsewhere -> the top-level folder. */
function folderOf(path: string): string {
  const parts = path.split("/");
  if (parts[0] !== "lib") return parts[0];
  return parts.length === 2 ? parts[1].replace(/\.ts$/, "") : parts[1];
}

function resolve(from: string, spec: string): string {
  const url = new URL(spec, `file:///repo/${from}`);
  return url.pathname.slice("/repo/".length);
}

Deno.test("layers: every lib folder is placed, and no product module imports a later layer, tests or scripts", () => {
  const all = files("lib");
  const folders = new Set(all.map(folderOf).filter((f) => f !== "mod"));
  for (const f of folders) assert(LAYERS.includes(f), `lib/${f}/ is not in LAYERS (tests/layers_test.ts)`);
  const bad: string[] = [];
  let edges = 0;
  for (const file of all.filter((f) => !f.endsWith("_test.ts"))) {
    const from = folderOf(file);
    for (const spec of importsOf(Deno.readTextFileSync(`${REPO_ROOT}/${file}`))) {
      const target = resolve(file, spec);
      const to = folderOf(target);
      if (!target.startsWith("lib/")) {
        bad.push(`${file} imports ${target} (product code may not import ${to}/)`);
        continue;
      }
      if (to === from || from === "mod") continue;
      edges++;
      if (LAYERS.indexOf(to) > LAYERS.indexOf(from)) bad.push(`${file} (${from}) imports ${target} (${to})`);
    }
  }
  assertEquals(bad, [], `upward imports:\n${bad.join("\n")}`);
  assert(edges > 50, `only ${edges} imports between folders found: is the parser broken?`);
});

Deno.test("layers: the import parser sees static, multi-line, re-export and dynamic imports, not comments", () => {
  const src = [
    'import * as tf from "@tensorflow/tfjs";',
    "import {",
    "  a,",
    "  type B,",
    '} from "../data/mod.ts";',
    'export * from "./cells.ts";',
    'export { c } from "../methods/registry.ts";',
    'import "./side_effect.ts";',
    ' * import { planPreset } from "../experiments/plan.ts";',
    '  const { writeReport } = await import("../report/report.ts");',
    '// await import("../reproduce/mod.ts");',
  ].join("\n");
  assertEquals(importsOf(src), [
    "../data/mod.ts",
    "./cells.ts",
    "../methods/registry.ts",
    "./side_effect.ts",
    "../report/report.ts",
  ]);
});

Deno.test(`layers: no file under lib/ is longer than ${MAX_LINES} lines (but the T5 model)`, () => {
  const long = files("lib").filter((f) => !LONG_ALLOWED.has(f)).map((f) => ({
    f,
    n: Deno.readTextFileSync(`${REPO_ROOT}/${f}`).split("\n").length - 1,
  })).filter(({ n }) => n > MAX_LINES);
  assertEquals(long.map(({ f, n }) => `${f}: ${n}`), []);
});
