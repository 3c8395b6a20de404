/**
 * `deno task reproduce [--preset P] [--only TABLE] [--shard i/N] [--backend B] ...`
 *
 * Runs the paper's tables as an experiment grid headless: every cell not yet in the results
 * store is trained and evaluated (lib/reproduce/run_cell.ts), then the tables (CSV, Markdown),
 * figures (SVG, PNG) and the manifest are written under results/. An interrupted run continues
 * where it stopped; shards split the grid across machines, and `--workers N` runs N shards at
 * once on this machine (lib/reproduce/workers.ts). The options: lib/reproduce/cli.ts.
 */
import { runCommand } from "../lib/config/cli.ts";
import { REPRODUCE_USAGE_FULL, reproduceCommand } from "../lib/reproduce/cli.ts";

// One handler for every failure: the error's name and what to do, exit 1 (2 for a bad command
// line), a stack trace only with FISHDIP_DEBUG=1.
await runCommand(() => reproduceCommand(Deno.args, new URL(import.meta.url).pathname), {
  usage: REPRODUCE_USAGE_FULL,
});
