/**
 * Helpers for tests that need what a machine may lack: datasets from the data directory,
 * reference fixtures, and a BLAS library for the `wasm+blas` backend. On a user's machine without them those tests are skipped with a note;
 * in CI (`FISHDIP_REQUIRE_DATA=1`, set by `.ci/run`) a missing file is an error, so a
 * misconfigured run can never pass by skipping.
 *
 * ```ts
 * Deno.test({ name: "conll04 counts", ignore: ignoreWithoutData("conll04/conll04_train.json"), fn() {} });
 * ```
 *
 * @module
 */
import { dataDir, fixturesDir, pathExistsSync } from "../lib/config/paths.ts";
import { loadBlas } from "../lib/backend/blas.ts";

const noted = new Set<string>();

function ignoreUnless(root: string, relative: string, what: string): boolean {
  const path = relative ? `${root}/${relative}` : root;
  if (pathExistsSync(path)) return false;
  if (Deno.env.get("FISHDIP_REQUIRE_DATA")) {
    throw new Error(`${what} required (FISHDIP_REQUIRE_DATA is set) but missing: ${path}`);
  }
  if (!noted.has(path)) {
    noted.add(path);
    console.error(`note: skipping tests that need ${what} ${path}`);
  }
  return true;
}

/** `ignore` value for a test that needs `relative` inside the data directory. */
export function ignoreWithoutData(relative = ""): boolean {
  return ignoreUnless(dataDir(), relative, "the data file");
}

/** `ignore` value for a test that needs `relative` inside the fixtures directory. */
export function ignoreWithoutFixtures(relative = ""): boolean {
  return ignoreUnless(fixturesDir(), relative, "the fixture");
}

/**
 * Whether a BLAS library loads here, so that `wasm+blas` runs its products through it (tests on
 * that backend are ignored where none does; loading needs FFI permission, and a refusal counts
 * as none).
 */
export function blasLoads(): boolean {
  try {
    return loadBlas() !== undefined;
  } catch {
    return false;
  }
}
