/**
 * The Hugging Face settings a researcher already has, read from the same environment variables
 * and with the same defaults as Python's `huggingface_hub` (its `constants.py`), so that this
 * project, transformers, PEFT and the datasets library share one model cache and one login:
 *
 * | setting   | from                                                                     |
 * | --------- | ------------------------------------------------------------------------ |
 * | home      | `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface` |
 * | cache     | `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `<home>/hub`            |
 * | endpoint  | `HF_ENDPOINT`, else `https://huggingface.co` (trailing `/` dropped)        |
 * | token     | `HF_TOKEN`, else `HUGGING_FACE_HUB_TOKEN`, else the file `HF_TOKEN_PATH` (default `<home>/token`, what `huggingface-cli login` writes) |
 * | offline   | `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is 1, ON, YES or TRUE         |
 *
 * ```ts
 * const hub = hubSettings();            // from Deno.env
 * hub.cacheDir;                         // e.g. ~/.cache/huggingface/hub, expanded
 * hubSettings({ offline: true });       // an explicit value wins over the environment
 * ```
 *
 * @module
 */
import { homedir } from "node:os";

/** The public hub. */
export const DEFAULT_ENDPOINT = "https://huggingface.co";

/** Reads one environment variable; `undefined` when unset (or when env access is not granted). */
export type EnvLookup = (name: string) => string | undefined;

/** The process environment; a missing `--allow-env` reads as unset rather than throwing. */
export const processEnv: EnvLookup = (name) => {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
};

/** Resolved Hugging Face settings. */
export interface HubSettings {
  /** `HF_HOME`: where huggingface_hub keeps its cache and token. */
  home: string;
  /** `HF_HUB_CACHE`: the model cache (`models--ORG--NAME/{refs,snapshots,blobs}`). */
  cacheDir: string;
  /** `HF_ENDPOINT`: the hub or a mirror, without a trailing slash. */
  endpoint: string;
  /** Access token for gated and private repositories, if any. */
  token?: string;
  /** Where the token came from (an environment variable or a file), for error messages. */
  tokenSource?: string;
  /** `HF_HUB_OFFLINE=1`: never touch the network; use the cache or fail. */
  offline: boolean;
}

/** Explicit values (command-line flags, test fixtures) that take precedence over the environment. */
export type HubOverrides = Partial<Pick<HubSettings, "cacheDir" | "endpoint" | "token" | "offline">>;

const TRUE_VALUES = new Set(["1", "ON", "YES", "TRUE"]);

/** huggingface_hub's reading of a boolean variable: only 1/ON/YES/TRUE (any case) are true. */
export function isTrue(value: string | undefined): boolean {
  return value !== undefined && TRUE_VALUES.has(value.toUpperCase());
}

/**
 * `~` and `$VAR` / `${VAR}` expansion, as Python's `os.path.expandvars(os.path.expanduser(...))`
 * applies to HF_HOME, HF_HUB_CACHE and HF_TOKEN_PATH (unknown variables are left as written).
 */
export function expandPath(path: string, env: EnvLookup = processEnv): string {
  // Python's order: the user's home first, then variables (so a variable's own "~" stays as is).
  const home = env("HOME") || homedir();
  const user = path === "~" || path.startsWith("~/") ? home + path.slice(1) : path;
  return user.replace(/\$(\w+)|\$\{(\w+)\}/g, (m, a, b) => env(a ?? b) ?? m);
}

/** Reads the settings from `env`, with `overrides` taking precedence. */
export function hubSettings(overrides: HubOverrides = {}, env: EnvLookup = processEnv): HubSettings {
  // `?? ` and not `||`: like os.getenv, a variable set to "" is taken as set.
  const home = expandPath(
    env("HF_HOME") ?? `${env("XDG_CACHE_HOME") ?? `${env("HOME") || homedir()}/.cache`}/huggingface`,
    env,
  );
  const cacheDir = overrides.cacheDir ??
    expandPath(env("HF_HUB_CACHE") ?? env("HUGGINGFACE_HUB_CACHE") ?? `${home}/hub`, env);
  const endpoint = (overrides.endpoint ?? env("HF_ENDPOINT") ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
  const offline = overrides.offline ?? (isTrue(env("HF_HUB_OFFLINE")) || isTrue(env("TRANSFORMERS_OFFLINE")));
  const settings: HubSettings = { home, cacheDir: cacheDir.replace(/(.)\/+$/, "$1"), endpoint, offline };
  if (overrides.token !== undefined) {
    if (overrides.token) Object.assign(settings, { token: overrides.token, tokenSource: "the token option" });
    return settings;
  }
  for (const name of ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]) {
    const value = env(name)?.trim();
    if (value) return { ...settings, token: value, tokenSource: name };
  }
  const tokenPath = expandPath(env("HF_TOKEN_PATH") ?? `${home}/token`, env);
  try {
    const value = Deno.readTextFileSync(tokenPath).trim();
    if (value) return { ...settings, token: value, tokenSource: tokenPath };
  } catch {
    // No stored login: anonymous access, which is all public models need.
  }
  return settings;
}
