/**
 * `deno task download-model NAME [options]`: downloads a Hugging Face T5 checkpoint (config.json,
 * safetensors weights, spiece.model and the tokenizer/generation configs) into the user's Hugging
 * Face cache, where transformers finds it too and every `--backbone NAME` looks first.
 *
 * ```sh
 * deno task download-model t5-small
 * deno task download-model google/t5-v1_1-base --revision refs/pr/1
 * HF_ENDPOINT=https://hf-mirror.com deno task download-model t5-large
 * deno task download-model t5-small --out /scratch/t5-small   # a plain folder instead
 * ```
 *
 * Rerunning resumes an interrupted download and skips finished files; each run asks the hub which
 * commit the revision is now.
 *
 * @module
 */
import { DEFAULT_ENDPOINT, downloadModel, downloadSettings } from "../lib/checkpoint/download.ts";
import { locateModel } from "../lib/checkpoint/locate.ts";
import { runCommand, UsageError } from "../lib/config/cli.ts";

const USAGE = `usage: deno task download-model NAME [options]

Downloads a Hugging Face T5 checkpoint (config.json, model.safetensors or its shards, spiece.model,
tokenizer and generation configs) into the Hugging Face cache, in the layout transformers reads.

  NAME                 hub repository, e.g. t5-small, t5-large, google/t5-v1_1-base
  --revision REV       branch, tag, commit or refs/pr/N (default: main)
  --cache-dir DIR      the cache (default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)
  --endpoint URL       hub base URL (default: $HF_ENDPOINT or ${DEFAULT_ENDPOINT})
  --out DIR            fill a plain folder instead of the cache
  --retries N          resume attempts per file after a broken connection (default: 3)
  --quiet              no progress output
  -h, --help           this text

A gated or private repository needs a token: HF_TOKEN, or the login that \`huggingface-cli login\`
stored. With HF_HUB_OFFLINE=1 nothing is downloaded: the command only reports what the cache holds.`;

/** Parsed command line. */
export interface Args {
  name: string;
  revision?: string;
  cacheDir?: string;
  endpoint?: string;
  out?: string;
  retries?: number;
  quiet: boolean;
}

const VALUE_OPTIONS: Record<string, keyof Args> = {
  revision: "revision",
  "cache-dir": "cacheDir",
  endpoint: "endpoint",
  out: "out",
  retries: "retries",
};

/** Parses the command line; throws a UsageError on bad input. */
export function parseArgs(argv: string[]): Args | "help" {
  const values: Record<string, string> = {};
  const positional: string[] = [];
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") return "help";
    if (a === "--quiet" || a === "-q") {
      quiet = true;
      continue;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const key = a.slice(2, eq < 0 ? undefined : eq);
      if (!(key in VALUE_OPTIONS)) throw new UsageError(`unknown option ${a}`);
      const value = eq < 0 ? argv[++i] : a.slice(eq + 1);
      if (value === undefined || value === "") throw new UsageError(`option --${key} needs a value`);
      values[VALUE_OPTIONS[key]] = value;
      continue;
    }
    positional.push(a);
  }
  if (positional.length !== 1) throw new UsageError(`expected exactly one model NAME`);
  let retries: number | undefined;
  if (values.retries !== undefined) {
    retries = Number(values.retries);
    if (!Number.isInteger(retries) || retries < 0) {
      throw new UsageError(`--retries must be a whole number >= 0`);
    }
  }
  return {
    name: positional[0],
    revision: values.revision,
    cacheDir: values.cacheDir,
    endpoint: values.endpoint,
    out: values.out,
    retries,
    quiet,
  };
}

async function main(): Promise<number> {
  const args = parseArgs(Deno.args);
  if (args === "help") {
    console.log(USAGE);
    return 0;
  }
  const { name, out, ...opts } = args;
  if (downloadSettings(opts).offline && out === undefined) {
    // Offline, the useful answer is whether the cache already has it.
    const found = await locateModel(name, { ...opts, download: false });
    console.error(`${name}: complete in ${found.dir} (offline: nothing downloaded)`);
    return 0;
  }
  const res = await downloadModel(name, { ...opts, out });
  let bytes = 0;
  for (const f of res.files) bytes += (await Deno.stat(`${res.dir}/${f}`)).size;
  console.error(
    `${name}: ${res.files.length} files (${(bytes / 1e6).toFixed(1)} MB) at commit ${res.commit} in ` +
      `${res.dir} (${res.downloaded.length} downloaded now)\n` +
      (out === undefined
        ? `use it with: --backbone ${name}${
          args.revision ? `@${args.revision}` : ""
        } (transformers finds it too)`
        : `use it with: --backbone ${res.dir}`),
  );
  return 0;
}

// A lookup or download that fails ends through the shared handler: the error's name and what to do.
if (import.meta.main) await runCommand(main, { usage: USAGE });
