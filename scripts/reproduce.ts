/**
 * `deno task reproduce [--preset P] [--only TABLE] [--shard i/N] [--backend B] ...`
 *
 * Runs the paper's tables as an experiment grid headless: every cell not yet in the results
 * store is trained and evaluated (lib/reproduce/run_cell.ts), then the tables (CSV, Markdown),
 * figures (SVG, PNG) and the manifest are written under results/. An interrupted run continues
 * where it stopped; shards split the grid across machines, and `--workers N` runs N shards at
 * once on this machine (lib/reproduce/workers.ts). The options: lib/reproduce/cli.ts.
 */
import { reproduceCommand } from "../lib/reproduce/cli.ts";

// The exit status is set only on failure, so a successful run ends when its last task does.
const status = await reproduceCommand(Deno.args, new URL(import.meta.url).pathname);
if (status !== 0) Deno.exit(status);
