import { assertEquals } from "@std/assert";
import { DEFAULT_ENDPOINT, expandPath, hubSettings, isTrue } from "./hf_env.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("hubSettings: huggingface_hub's defaults and variables", () => {
  const base = { HOME: "/h" };
  const d = hubSettings({}, env(base));
  assertEquals([d.home, d.cacheDir, d.endpoint, d.offline, d.token], [
    "/h/.cache/huggingface",
    "/h/.cache/huggingface/hub",
    DEFAULT_ENDPOINT,
    false,
    undefined,
  ]);
  assertEquals(hubSettings({}, env({ ...base, XDG_CACHE_HOME: "/x" })).cacheDir, "/x/huggingface/hub");
  assertEquals(hubSettings({}, env({ ...base, HF_HOME: "~/hf" })).cacheDir, "/h/hf/hub");
  assertEquals(hubSettings({}, env({ ...base, HUGGINGFACE_HUB_CACHE: "/legacy" })).cacheDir, "/legacy");
  // The new variable wins over the legacy one, and both over HF_HOME; $VARS are expanded.
  const both = { ...base, HF_HOME: "/home2", HUGGINGFACE_HUB_CACHE: "/legacy", HF_HUB_CACHE: "$HOME/c/" };
  assertEquals(hubSettings({}, env(both)).cacheDir, "/h/c");
  assertEquals(hubSettings({ cacheDir: "/flag" }, env(both)).cacheDir, "/flag");
  assertEquals(
    hubSettings({}, env({ ...base, HF_ENDPOINT: "http://mirror.test/" })).endpoint,
    "http://mirror.test",
  );
  assertEquals(
    hubSettings({ endpoint: "http://flag" }, env({ HF_ENDPOINT: "http://e" })).endpoint,
    "http://flag",
  );
});

Deno.test("hubSettings: HF_HUB_OFFLINE as huggingface_hub reads it", () => {
  for (const v of ["1", "ON", "yes", "True"]) assertEquals(isTrue(v), true, v);
  for (const v of ["0", "false", "", "off", undefined]) assertEquals(isTrue(v), false, `${v}`);
  assertEquals(hubSettings({}, env({ HF_HUB_OFFLINE: "1" })).offline, true);
  assertEquals(hubSettings({}, env({ TRANSFORMERS_OFFLINE: "yes" })).offline, true);
  assertEquals(hubSettings({}, env({ HF_HUB_OFFLINE: "0" })).offline, false);
  assertEquals(hubSettings({ offline: false }, env({ HF_HUB_OFFLINE: "1" })).offline, false);
});

Deno.test("hubSettings: token from HF_TOKEN, the legacy variable, or the stored login", async () => {
  const home = await Deno.makeTempDir({ prefix: "hf_home_" });
  try {
    assertEquals(hubSettings({}, env({ HF_HOME: home })).token, undefined);
    await Deno.writeTextFile(`${home}/token`, "hf_stored\n"); // as `huggingface-cli login` leaves it
    const stored = hubSettings({}, env({ HF_HOME: home }));
    assertEquals([stored.token, stored.tokenSource], ["hf_stored", `${home}/token`]);
    await Deno.writeTextFile(`${home}/other`, "hf_other");
    assertEquals(hubSettings({}, env({ HF_HOME: home, HF_TOKEN_PATH: `${home}/other` })).token, "hf_other");
    const legacy = hubSettings({}, env({ HF_HOME: home, HUGGING_FACE_HUB_TOKEN: "hf_legacy" }));
    assertEquals([legacy.token, legacy.tokenSource], ["hf_legacy", "HUGGING_FACE_HUB_TOKEN"]);
    const first = hubSettings(
      {},
      env({ HF_HOME: home, HF_TOKEN: "hf_env", HUGGING_FACE_HUB_TOKEN: "hf_legacy" }),
    );
    assertEquals([first.token, first.tokenSource], ["hf_env", "HF_TOKEN"]);
    // An explicit empty token means anonymous, whatever the environment says.
    assertEquals(hubSettings({ token: "" }, env({ HF_HOME: home, HF_TOKEN: "hf_env" })).token, undefined);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("expandPath: ~ and $VAR like Python's expanduser + expandvars", () => {
  const e = env({ HOME: "/h", A: "/a", T: "~/t" });
  assertEquals(expandPath("~", e), "/h");
  assertEquals(expandPath("~/x", e), "/h/x");
  assertEquals(expandPath("$A/x/${A}", e), "/a/x//a");
  assertEquals(expandPath("$UNSET/x", e), "$UNSET/x");
  assertEquals(expandPath("$T", e), "~/t"); // a variable's own ~ is not expanded (expanduser runs first)
  assertEquals(expandPath("x~/y", e), "x~/y");
});
