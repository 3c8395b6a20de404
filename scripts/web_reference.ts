// The web app's run in Deno: the same session module, the same bytes and settings, so the browser
// test can compare a page's losses with these. Prints one JSON object on stdout.
//
//   deno run -A scripts/web_reference.ts --backend cpu --steps 3 --k 0.01 --m 2 --n 2 --batch 4 \
//     --data tests/your_data/train.jsonl --limit 8 [--type-names tests/your_data/type_names.json]
// --limit keeps the first N non-blank lines (N sentences of JSON lines).
import { parseArgs } from "node:util";
import { initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { methodConfig } from "../lib/methods/registry.ts";
import { loadBackboneBytes, parseUserText, Session } from "../web/session.ts";
import { WEB_BACKBONE } from "./web_build.ts";

const { values } = parseArgs({
  options: {
    backend: { type: "string", default: "cpu" },
    steps: { type: "string", default: "3" },
    method: { type: "string", default: "fishdip" },
    k: { type: "string", default: "0.01" },
    m: { type: "string", default: "2" },
    n: { type: "string", default: "2" },
    batch: { type: "string", default: "4" },
    seed: { type: "string", default: "1" },
    data: { type: "string", default: "tests/your_data/train.jsonl" },
    // The app loads the sample with its type names; without them the targets' words differ.
    "type-names": { type: "string", default: "tests/your_data/type_names.json" },
    limit: { type: "string", default: "8" },
  },
});

await initBackend(parseBackendName(values.backend!), { quiet: true });
const dir = WEB_BACKBONE;
const backbone = loadBackboneBytes({
  id: dir.split("/").at(-1)!,
  config: await Deno.readFile(`${dir}/config.json`),
  weights: await Deno.readFile(`${dir}/model.safetensors`),
  spiece: await Deno.readFile(`${dir}/spiece.model`),
});
const text = (await Deno.readTextFile(values.data!)).split("\n").filter((l) => l.trim()).slice(
  0,
  Number(values.limit),
).join("\n");
const data = parseUserText(
  text,
  "auto",
  values["type-names"] ? await Deno.readTextFile(values["type-names"]) : undefined,
);
const method = values.method === "full"
  ? methodConfig("full")
  : methodConfig("fishdip", { k: Number(values.k), m: Number(values.m), n: Number(values.n) });
const session = new Session(backbone, data, {
  method,
  seed: Number(values.seed),
  epochs: 100,
  batchSize: Number(values.batch),
  maxSteps: Number(values.steps),
  maxInputLength: 256,
  maxOutputLength: 256,
  padLabels: "longest",
});
await session.run();
const last = session.masks.at(-1);
console.log(JSON.stringify({
  backend: values.backend,
  losses: session.losses,
  mask: last ? { kept: last.kept, total: last.total } : null,
}));
session.dispose();
backbone.model.dispose();
