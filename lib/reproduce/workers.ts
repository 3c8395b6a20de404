/**
 * `deno task reproduce --workers N`: N processes on one machine, each taking the next pending cell
 * of the grid that no other has claimed (`--claim`, see `runGrid`) with its share of the cores for
 * BLAS, then one report over the shared results store.
 *
 * Why: the offline backbone is too small to keep two BLAS threads busy (much of a step is
 * single-threaded wasm), so on 2 cores two one-thread processes get more done than one process
 * with two threads.
 *
 * ```ts
 * const codes = await runWorkers(["--preset", "cpu"], 2, { script: "scripts/reproduce.ts" });
 * ```
 *
 * @module
 */
import { shard } from "../experiments/estimate.ts";

/**
 * The command line of worker `i` of `n`: the user's arguments without `--workers`, plus `--claim`
 * (the workers share the pending cells one at a time, so none sits idle while another still has a
 * queue, whatever the cells' real lengths) and `--shard i/N`, which then only names its store file.
 */
export function workerArgs(args: string[], i: number, n: number): string[] {
  shard([], i, n); // validates i and n
  const out: string[] = [];
  for (let k = 0; k < args.length; k++) {
    if (args[k] === "--workers") k++;
    else if (!args[k].startsWith("--workers=")) out.push(args[k]);
  }
  return [...out, "--shard", `${i}/${n}`, "--claim", "--no-report"];
}

/** BLAS threads per worker: the cores shared out evenly, at least one. */
export function workerBlasThreads(cores: number, workers: number): number {
  return Math.max(1, Math.floor(cores / workers));
}

/** Options of {@link runWorkers}. */
export interface RunWorkersOptions {
  /** The script each worker runs (`scripts/reproduce.ts`). */
  script: string;
  /** Where each worker's output lines go, prefixed `wI| ` (default: stderr). */
  log?: (line: string) => void;
  /** Cores to share out for BLAS (default: `navigator.hardwareConcurrency`). */
  cores?: number;
}

/**
 * Starts `n` workers (`deno run -A SCRIPT ...args --shard i/n --no-report`) and waits for all of
 * them; returns each worker's exit code, in worker order. `FISHDIP_BLAS_THREADS` is set to the
 * worker's share of the cores unless the caller's environment sets it; `FISHDIP_WORKER=i/n` tells
 * the worker not to download datasets (the parent does that once, before starting them).
 */
export async function runWorkers(args: string[], n: number, opts: RunWorkersOptions): Promise<number[]> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const threads = Deno.env.get("FISHDIP_BLAS_THREADS") ??
    String(workerBlasThreads(opts.cores ?? navigator.hardwareConcurrency ?? 1, n));
  const children = Array.from({ length: n }, (_, k) => {
    const i = k + 1;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", opts.script, ...workerArgs(args, i, n)],
      env: { FISHDIP_BLAS_THREADS: threads, FISHDIP_WORKER: `${i}/${n}` },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const prefix = `w${i}| `;
    return Promise.all([
      prefixLines(child.stdout, prefix, log),
      prefixLines(child.stderr, prefix, log),
      child.status,
    ]).then(([, , status]) => status.code);
  });
  return await Promise.all(children);
}

/** Forwards a stream line by line (progress bars redraw with `\r`: those count as lines too). */
async function prefixLines(stream: ReadableStream<Uint8Array>, prefix: string, log: (l: string) => void) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split(/\r\n|\r|\n/);
    rest = parts.pop()!;
    for (const p of parts) if (p.trim()) log(prefix + p);
  }
  if (rest.trim()) log(prefix + rest);
}
