/**
 * `deno task download [DATASET...]`: fetches the freely available datasets into the data
 * directory, each file checked against a pinned size and SHA-256, and says which datasets the
 * user has to bring.
 *
 * ```sh
 * deno task download                      # conll04, ade, fewrel, t5 (the tokenizer's spiece.model)
 * deno task download conll04 --data /scratch/fishdip-data
 * deno task download fewrel_train         # FewRel 1.0 train_wiki.json (the paper's meta-training set)
 * deno task download --verify             # check the files already there; no network
 * deno task download --base-url http://mirror.local/fishdip   # {spert,fewrel,hf}/... under one mirror
 * ```
 *
 * Progress goes to stderr. The exit status is 1 if any file failed.
 *
 * @module
 */
import { dataDir } from "../lib/config/paths.ts";
import {
  BRING_YOUR_OWN,
  DEFAULT_DOWNLOADS,
  defaultSources,
  downloadFiles,
  DOWNLOADS,
  filesFor,
  type Source,
  verifyDataDir,
} from "../lib/data/download.ts";

const USAGE = `usage: deno task download [DATASET...] [options]

Downloads the freely available datasets into the data directory and verifies them.

  DATASET            ${Object.keys(DOWNLOADS).join(", ")}, or all
                     (default: ${DEFAULT_DOWNLOADS.join(" ")})
  --data DIR         data directory (default: $FISHDIP_DATA or <repo>/data)
  --base-url URL     one mirror for every source: URL/spert/..., URL/fewrel/..., URL/hf/...
  --spert-url URL    base of SpERT's datasets (default ${defaultSources().spert})
  --fewrel-url URL   base of FewRel's data folder (default ${defaultSources().fewrel})
  --hf-url URL       base of the t5-small hub repository (default ${defaultSources().hf})
  --force            download again even if a verified copy is present
  --no-verify        keep files that do not match the pinned size / SHA-256 (upstream changed)
  --verify           only check the files already present (no network)
  --list             list the datasets: downloadable and bring-your-own
  -h, --help         this text`;

/** Parsed command line. */
export interface DownloadArgs {
  names: string[];
  data?: string;
  sources: Partial<Record<Source, string>>;
  force: boolean;
  verify: boolean;
  verifyOnly: boolean;
  list: boolean;
}

/** Parses the command line; throws an Error with the usage on bad input. */
export function parseDownloadArgs(argv: string[]): DownloadArgs | "help" {
  const args: DownloadArgs = {
    names: [],
    sources: {},
    force: false,
    verify: true,
    verifyOnly: false,
    list: false,
  };
  const value = (i: number, name: string) => {
    const v = argv[i];
    if (v === undefined || v.startsWith("--")) throw new Error(`option ${name} needs a value\n\n${USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") return "help";
    else if (a === "--force") args.force = true;
    else if (a === "--no-verify") args.verify = false;
    else if (a === "--verify") args.verifyOnly = true;
    else if (a === "--list") args.list = true;
    else if (a === "--data") args.data = value(++i, a);
    else if (a === "--base-url") {
      const base = value(++i, a).replace(/\/$/, "");
      args.sources = { spert: `${base}/spert`, fewrel: `${base}/fewrel`, hf: `${base}/hf`, ...args.sources };
    } else if (a === "--spert-url") args.sources.spert = value(++i, a);
    else if (a === "--fewrel-url") args.sources.fewrel = value(++i, a);
    else if (a === "--hf-url") args.sources.hf = value(++i, a);
    else if (a.startsWith("-")) throw new Error(`unknown option ${a}\n\n${USAGE}`);
    else args.names.push(a);
  }
  if (args.names.includes("all")) args.names = Object.keys(DOWNLOADS);
  if (args.names.length === 0 && !args.verifyOnly) args.names = [...DEFAULT_DOWNLOADS];
  return args;
}

/** The plain statement of what the user must bring, one dataset per line. */
export function bringYourOwnText(): string {
  return [
    "These datasets are not downloaded by this task (licensed text, or they need the reference",
    "preprocessing); bring your own copy into the data directory in this layout (data/README.md):",
    ...Object.entries(BRING_YOUR_OWN).map(([name, layout]) => `  ${name.padEnd(18)} ${layout}`),
  ].join("\n");
}

/** Runs the command; returns the exit status. */
export async function main(argv: string[], log: (line: string) => void = console.error): Promise<number> {
  let args;
  try {
    args = parseDownloadArgs(argv);
    if (args === "help") {
      console.log(USAGE);
      return 0;
    }
  } catch (e) {
    log((e as Error).message);
    return 2;
  }
  const dir = dataDir(args.data);
  if (args.list) {
    console.log(`Downloadable (deno task download NAME): ${Object.keys(DOWNLOADS).join(", ")}\n`);
    console.log(bringYourOwnText());
    return 0;
  }
  if (args.verifyOnly) {
    const names = args.names.length > 0 ? args.names : undefined;
    const results = await verifyDataDir(dir, names);
    for (const r of results) log(`  ${r.status.padEnd(9)} ${r.path}${r.detail ? ` (${r.detail})` : ""}`);
    return results.some((r) => r.status === "mismatch") ? 1 : 0;
  }
  let files;
  try {
    files = filesFor(args.names);
  } catch (e) {
    log((e as Error).message);
    return 2;
  }
  log(`Downloading ${args.names.join(", ")} into ${dir}`);
  const results = await downloadFiles(files, {
    dataDir: dir,
    sources: args.sources,
    force: args.force,
    verify: args.verify,
    log,
  });
  const failed = results.filter((r) => r.status === "failed");
  const got = results.filter((r) => r.status === "downloaded").length;
  log(
    `\n${got} downloaded, ${results.length - got - failed.length} already present, ${failed.length} failed.`,
  );
  log(`\n${bringYourOwnText()}`);
  return failed.length > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
