import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { DATA_ENV, dataDir, MissingDataError, REPO_ROOT, requireDataFile } from "./paths.ts";

Deno.test("dataDir: flag beats environment beats default", () => {
  const saved = Deno.env.get(DATA_ENV);
  try {
    Deno.env.set(DATA_ENV, "/env/data");
    assertEquals(dataDir("/flag/data"), "/flag/data");
    assertEquals(dataDir(), "/env/data");
    Deno.env.delete(DATA_ENV);
    assertEquals(dataDir(), `${REPO_ROOT}/data`);
    assertEquals(dataDir("rel/dir"), `${Deno.cwd()}/rel/dir`);
  } finally {
    if (saved === undefined) Deno.env.delete(DATA_ENV);
    else Deno.env.set(DATA_ENV, saved);
  }
});

Deno.test("requireDataFile: a missing file is named, with how to get it", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/conll04`);
    Deno.writeTextFileSync(`${dir}/conll04/conll04_train.json`, "[]");
    assertEquals(
      requireDataFile("conll04/conll04_train.json", "conll04", { dataDir: dir }),
      `${dir}/conll04/conll04_train.json`,
    );
    const e = assertThrows(
      () => requireDataFile("conll04/conll04_dev.json", "conll04", { dataDir: dir }),
      MissingDataError,
    );
    assertStringIncludes(e.message, `${dir}/conll04/conll04_dev.json`);
    assertStringIncludes(e.message, "deno task download conll04");
    assertStringIncludes(e.message, DATA_ENV);
    const licensed = assertThrows(
      () => requireDataFile("ontonotes/train.txt", "ontonotes", { dataDir: dir, downloadable: false }),
      MissingDataError,
    );
    assertStringIncludes(licensed.message, "bring your own copy");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
