/**
 * Where the project finds its inputs: the data directory (datasets, tokenizer) and the fixtures.
 *
 * One setting each, resolved in this order: an explicit argument (the `--data` flag of every
 * command), the environment variable, then the default. Relative paths are taken from the current
 * working directory; the defaults are anchored at the repository root so that notebooks (whose
 * working directory is `notebooks/`) and commands agree.
 *
 * @module
 */

/** The repository root (the folder holding `deno.json`). */
export const REPO_ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Environment variable naming the data directory. */
export const DATA_ENV = "FISHDIP_DATA";

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

function absolute(p: string): string {
  if (p.startsWith("/")) return p.replace(/\/$/, "");
  return `${Deno.cwd()}/${p}`.replace(/\/\.\//g, "/").replace(/\/$/, "");
}

/** The data directory: `explicit` (a `--data` flag), else `$FISHDIP_DATA`, else `<repo>/data`. */
export function dataDir(explicit?: string): string {
  return absolute(explicit ?? env(DATA_ENV) ?? `${REPO_ROOT}/data`);
}

/** The fixtures directory: `$FIXTURES_DIR`, else `<repo>/../shared/fixtures`. */
export function fixturesDir(): string {
  return absolute(env("FIXTURES_DIR") ?? `${REPO_ROOT}/../shared/fixtures`);
}

/** Whether a file or folder exists (any stat error counts as absent). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** {@link pathExists}, synchronously. */
export function pathExistsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Thrown when a dataset file is absent; the message says which file and how to get it. */
export class MissingDataError extends Error {
  constructor(readonly path: string, readonly dataset: string, readonly how: string) {
    super(
      `missing ${dataset} file: ${path}\n` +
        `  ${how}\n` +
        `  The data directory is set with --data DIR or ${DATA_ENV}=DIR (now: ${
          path.slice(0, path.lastIndexOf("/"))
        }).`,
    );
    this.name = "MissingDataError";
  }
}

/** How to obtain a dataset that is not there, shown in {@link MissingDataError}. */
export function howToGet(dataset: string, downloadable: boolean): string {
  return downloadable
    ? `Run \`deno task download ${dataset}\` (needs internet), or copy the files there by hand.`
    : `${dataset} is licensed and cannot be downloaded automatically: bring your own copy ` +
      `in the layout described in data/README.md.`;
}

/**
 * Resolves `relative` inside the data directory and checks that it exists.
 *
 * ```ts
 * const train = requireDataFile("conll04/conll04_train.json", "conll04");
 * ```
 */
export function requireDataFile(
  relative: string,
  dataset: string,
  opts: { dataDir?: string; downloadable?: boolean } = {},
): string {
  const path = `${dataDir(opts.dataDir)}/${relative}`;
  try {
    Deno.statSync(path);
  } catch {
    throw new MissingDataError(path, dataset, howToGet(dataset, opts.downloadable ?? true));
  }
  return path;
}
