import { assert, assertEquals, assertNotEquals, assertRejects } from "@std/assert";
import { methodConfig } from "../methods/registry.ts";
import {
  checkRunIdentity,
  defaultRunDir,
  IDENTITY_FILE,
  identityDifferences,
  RunIdentityError,
} from "./run_identity.ts";

const identity = (k: number, fraction = 0.01) => ({
  kind: "benchmark",
  dataset: "conll04",
  fraction,
  method: { ...methodConfig("fishdip"), k },
  seed: 1,
  maxInputLength: 256,
  backbone: "fishdip-t5-mini",
  backboneWeights: "0badc0de",
});

Deno.test("run identity: the differing fields are named with both values", () => {
  assertEquals(identityDifferences(identity(0.01), identity(0.01)), []);
  assertEquals(identityDifferences(identity(0.01, 0.05), identity(0.05)), [
    "fraction: 0.05 saved, 0.01 now",
    "method.k: 0.01 saved, 0.05 now",
  ]);
  assertEquals(identityDifferences({ a: 1 }, { b: [1, 2] }), [
    "a: 1 saved, absent now",
    "b: absent saved, [1,2] now",
  ]);
});

Deno.test("run identity: the default run folder names data, fraction, method settings and seed, and differs by k", () => {
  const parts = (k: number) => ({
    data: "conll04",
    fraction: 0.01,
    method: { ...methodConfig("fishdip"), k },
    seed: 1,
  });
  const a = defaultRunDir(parts(0.01), identity(0.01));
  assert(/^runs\/conll04-1pct-fishdip-k0\.01-m100-nrule-s1-[0-9a-f]{8}$/.test(a), a);
  assertNotEquals(defaultRunDir(parts(0.05), identity(0.05)), a);
  // The hash covers what the name does not show (here the backbone's weights).
  assertNotEquals(defaultRunDir(parts(0.01), { ...identity(0.01), backboneWeights: "1" }), a);
  assertEquals(
    defaultRunDir({ data: "my train", method: methodConfig("lora"), seed: 2 }, {}).replace(
      /-[0-9a-f]{8}$/,
      "",
    ),
    "runs/my_train-lora-rank8-alpha16-targetsq+v-s2",
  );
});

Deno.test("run identity: recorded in a new folder; another run's checkpoints refused; an old folder unverified", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = `${dir}/run`;
    assertEquals(await checkRunIdentity(run, identity(0.01)), "new");
    assertEquals(JSON.parse(await Deno.readTextFile(`${run}/${IDENTITY_FILE}`)), identity(0.01));
    // No checkpoint yet: nothing to protect, the identity is rewritten.
    assertEquals(await checkRunIdentity(run, identity(0.02)), "new");
    await Deno.mkdir(`${run}/checkpoint-6`);
    assertEquals(await checkRunIdentity(run, identity(0.02)), "same");
    const e = await assertRejects(
      () => checkRunIdentity(run, identity(0.05)),
      RunIdentityError,
      "holds another run",
    );
    assertEquals((e as RunIdentityError).differences, ["method.k: 0.02 saved, 0.05 now"]);
    assertEquals(
      JSON.parse(await Deno.readTextFile(`${run}/${IDENTITY_FILE}`)).method.k,
      0.02,
      "left as it was",
    );
    await Deno.remove(`${run}/${IDENTITY_FILE}`);
    assertEquals(await checkRunIdentity(run, identity(0.05)), "unverified");
    await Deno.writeTextFile(`${run}/${IDENTITY_FILE}`, "{trunc");
    await assertRejects(() => checkRunIdentity(run, identity(0.05)), RunIdentityError, "unreadable");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
