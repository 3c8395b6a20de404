/**
 * `deno task download-model NAME [--out DIR]`: downloads a Hugging Face T5 checkpoint
 * (config.json, safetensors weights, spiece.model) into `data/models/NAME`.
 *
 * ```sh
 * deno task download-model t5-small
 * deno task download-model google/t5-v1_1-base --out /scratch/t5-v1_1-base
 * HF_ENDPOINT=https://hf-mirror.com deno task download-model t5-large
 * ```
 *
 * Rerunning resumes an interrupted download and skips finished files.
 *
 * @module
 */
import { DEFAULT_ENDPOINT, DownloadError, downloadModel } from "../lib/checkpoint/download.ts";
import { CheckpointError } from "../lib/checkpoint/checkpoint.ts";
import { SafetensorsError } from "../lib/checkpoint/safetensors.ts";

const USAGE = `usage: deno task download-model NAME [options]

Downloads a Hugging Face T5 checkpoint (config.json, model.safetensors or its shards, spiece.model).

  NAME                 hub repository, e.g. t5-small, t5-large, google/t5-v1_1-base
  --out DIR            target directory (default: <data dir>/models/NAME)
  --data DIR           data directory for the default --out (default: $FISHDIP_DATA or ./data)
  --endpoint URL       hub base URL (default: $HF_ENDPOINT or ${DEFAULT_ENDPOINT})
  --revision REV       branch, tag, commit or refs/pr/N (default: main)
  --retries N          resume attempts per file after a broken connection (default: 3)
  --quiet              no progress output
  -h, --help           this text

A private or gated repository needs HF_TOKEN in the environment.`;

/** Parsed command line. */
export interface Args {
  name: string;
  out?: string;
  data?: string;
  endpoint?: string;
  revision?: string;
  retries?: number;
  quiet: boolean;
}

/** Parses the command line; throws an Error with a usage hint on bad input. */
export function parseArgs(argv: string[]): Args | "help" {
  const values: Record<string, string> = {};
  const positional: string[] = [];
  let quiet = false;
  const takes = new Set(["out", "data", "endpoint", "revision", "retries"]);
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
      if (!takes.has(key)) throw new Error(`unknown option ${a}\n\n${USAGE}`);
      const value = eq < 0 ? argv[++i] : a.slice(eq + 1);
      if (value === undefined || value === "") throw new Error(`option --${key} needs a value`);
      values[key] = value;
      continue;
    }
    positional.push(a);
  }
  if (positional.length !== 1) throw new Error(`expected exactly one model NAME\n\n${USAGE}`);
  let retries: number | undefined;
  if (values.retries !== undefined) {
    retries = Number(values.retries);
    if (!Number.isInteger(retries) || retries < 0) throw new Error(`--retries must be a whole number >= 0`);
  }
  return {
    name: positional[0],
    out: values.out,
    data: values.data,
    endpoint: values.endpoint,
    revision: values.revision,
    retries,
    quiet,
  };
}

async function main(): Promise<number> {
  let args: Args | "help";
  try {
    args = parseArgs(Deno.args);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  if (args === "help") {
    console.log(USAGE);
    return 0;
  }
  try {
    const res = await downloadModel(args.name, {
      out: args.out,
      dataDir: args.data,
      endpoint: args.endpoint,
      revision: args.revision,
      retries: args.retries,
      quiet: args.quiet,
    });
    let bytes = 0;
    for (const f of res.files) bytes += (await Deno.stat(`${res.dir}/${f}`)).size;
    console.error(
      `${args.name}: ${res.files.length} files (${(bytes / 1e6).toFixed(1)} MB) in ${res.dir}` +
        ` (${res.downloaded.length} downloaded now)\n` +
        `load with: loadCheckpoint(${
          JSON.stringify(res.dir)
        }, expectedParameters) from lib/checkpoint/checkpoint.ts`,
    );
    return 0;
  } catch (e) {
    if (e instanceof DownloadError || e instanceof CheckpointError || e instanceof SafetensorsError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main());
