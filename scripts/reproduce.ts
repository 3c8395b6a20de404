/**
 * `deno task reproduce [--preset P] [--only TABLE] [--shard i/N] [--backend B] ...`
 *
 * Runs the paper's tables as an experiment grid headless: every cell not yet in the results
 * store is trained and evaluated (see lib/train/run_cell.ts), then the tables (CSV, Markdown),
 * figures (SVG, PNG) and the manifest are written under results/. An interrupted run continues
 * where it stopped; shards split the grid across machines, and `--workers N` runs N shards at
 * once on this machine (lib/experiments/workers.ts).
 */
import { BACKEND_NAMES, parseBackendName } from "../lib/backend/mod.ts";
import { parseReproduceArgs, REPRODUCE_USAGE } from "../lib/experiments/runner.ts";
import { runWorkers } from "../lib/experiments/workers.ts";
import { fetchMissingDatasets, reproduce } from "../lib/train/reproduce.ts";
import { dataDir } from "../lib/config/paths.ts";

function takeBackend(args: string[]): { backend?: string; rest: string[] } {
  const rest: string[] = [];
  let backend: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--backend") backend = args[++i];
    else if (a.startsWith("--backend=")) backend = a.slice("--backend=".length);
    else rest.push(a);
  }
  return { backend, rest };
}

const { backend, rest } = takeBackend(Deno.args);
let args;
try {
  args = parseReproduceArgs(rest);
} catch (e) {
  console.error(
    `${(e as Error).message}\n\n${REPRODUCE_USAGE}\n  --backend B       ${BACKEND_NAMES.join(" | ")}`,
  );
  Deno.exit(2);
}
if (args.help) {
  console.log(
    `${REPRODUCE_USAGE}\n  --backend B       ${BACKEND_NAMES.join(" | ")} (default auto, or $TF_BACKEND)`,
  );
  Deno.exit(0);
}
const backendName = backend ? parseBackendName(backend) : undefined;
if (args.workers && args.workers > 1 && !args.list && !args.reportOnly) {
  // The parent downloads once, the workers train their shards, then the parent writes the report.
  await fetchMissingDatasets(dataDir(args.dataDir));
  const codes = await runWorkers(Deno.args, args.workers, { script: new URL(import.meta.url).pathname });
  const failed = codes.flatMap((code, k) => (code === 0 ? [] : [`w${k + 1}`]));
  if (!args.noReport) {
    await reproduce({ ...args, backend: backendName, reportOnly: true });
  }
  if (failed.length) {
    console.error(`worker(s) ${failed.join(", ")} exited with an error; rerun to retry their failed cells`);
    Deno.exit(1);
  }
  Deno.exit(0);
}
const summary = await reproduce({
  ...args,
  backend: backendName,
  // A worker's parent has already fetched the datasets; workers must not race to write them.
  download: !Deno.env.get("FISHDIP_WORKER"),
});
if (summary.failed.length > 0) {
  console.error(
    `${summary.failed.length} cell(s) failed; they are retried on the next run (results/failures.jsonl)`,
  );
  Deno.exit(1);
}
