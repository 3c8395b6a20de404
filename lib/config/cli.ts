/**
 * How every command-line tool ends on an error: one line naming the error, one saying what to do,
 * exit status 1 (2 for a bad command line, with the usage text), and no stack trace unless
 * `FISHDIP_DEBUG=1`. A stack trace tells a user nothing they can act on; the developer who needs it
 * asks for it.
 *
 * ```ts
 * import { runCommand, UsageError } from "./cli.ts";
 * await runCommand(async () => {
 *   if (Deno.args.length === 0) throw new UsageError("give a FILE");
 * }, { usage: "deno task tool FILE" });
 * ```
 *
 * It lives in `config`, the lowest layer, so every tool can use it; it knows the project's error
 * classes by name only (importing them would point upward).
 *
 * @module
 */

/** Environment variable that turns stack traces back on. */
export const DEBUG_ENV = "FISHDIP_DEBUG";

/** A mistake on the command line: the tool exits with status 2 and prints its usage text. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** An error that says what to do about it (`hint`), for failures no existing class names. */
export class CommandError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = "CommandError";
  }
}

/** `f()`, with any Error it throws turned into a {@link UsageError} (a flag's own parser). */
export function asUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw e instanceof Error && !(e instanceof UsageError) ? new UsageError(e.message) : e;
  }
}

/**
 * What to do about each of the project's named errors (by `name`, see the module comment). Their
 * messages already say what and where; the hint says how to get past it.
 */
const HINTS: Record<string, string> = {
  MissingDataError:
    "fetch it with `deno task download DATASET`, or point --data (or $FISHDIP_DATA) at your copy",
  DataFormatError:
    "fix or replace the file named above (at the line it gives; --format chooses how it is read)",
  DownloadError: "check the model name and the network, or download it elsewhere and pass --backbone DIR",
  CheckpointError: "the checkpoint folder is incomplete or damaged: download it again " +
    "(`deno task download-model NAME`) or pass --backbone with another folder",
  TrainingCheckpointError:
    "the run folder's checkpoints are damaged: start the run again in a new --run-dir " +
    "(or remove this one)",
  SafetensorsError: "the weights file is damaged or not safetensors: download or save it again",
  T5ConfigError: "config.json is not a T5 configuration: use the folder of a T5 checkpoint",
  NotFound: "check the path named above",
  PermissionDenied: "check the permissions of the path named above",
  AlreadyExists: "remove it or choose another path",
  SyntaxError: "a file named above is not valid JSON: restore or remove it",
};

/** Errors that mean a bug in the program rather than a fault in its input. */
const BUGS = new Set(["TypeError", "RangeError", "ReferenceError", "InternalError"]);

/** Whether stack traces were asked for. */
export function debugEnabled(): boolean {
  try {
    const v = Deno.env.get(DEBUG_ENV);
    return v !== undefined && v !== "" && v !== "0";
  } catch {
    return false;
  }
}

/**
 * The text a tool prints for `e` and the exit status it ends with (pure, for tests): `error
 * (NAME): message`, then `what to do: ...`; the usage text for a {@link UsageError}; the stack
 * trace only when `debug`.
 */
export function describeError(
  e: unknown,
  options: { usage?: string; debug?: boolean } = {},
): { status: number; text: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  // node:util's parseArgs reports an unknown or malformed flag with an ERR_PARSE_ARGS_* code.
  const code = (err as { code?: unknown }).code;
  if (err instanceof UsageError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))) {
    return { status: 2, text: options.usage ? `${err.message}\n\n${options.usage}` : err.message };
  }
  const name = err.name || "Error";
  const hint = (err as { hint?: unknown }).hint;
  const todo = typeof hint === "string"
    ? hint
    : Object.hasOwn(HINTS, name)
    ? HINTS[name]
    : BUGS.has(name)
    ? `this looks like a bug: rerun with ${DEBUG_ENV}=1 and report the stack trace it prints`
    : `fix what the message above names; rerun with ${DEBUG_ENV}=1 to see where it happened`;
  const lines = [`error (${name}): ${err.message}`, `what to do: ${todo}`];
  if (options.debug && err.stack) lines.push(err.stack);
  return { status: 1, text: lines.join("\n") };
}

/**
 * Runs a tool's `main` and ends the process: with `main`'s status (0 when it returns nothing), or
 * as {@link describeError} says for what it threw.
 */
export async function runCommand(
  main: () => Promise<number | void> | number | void,
  options: { usage?: string } = {},
): Promise<never> {
  let status: number;
  try {
    status = (await main()) ?? 0;
  } catch (e) {
    const d = describeError(e, { usage: options.usage, debug: debugEnabled() });
    console.error(d.text);
    status = d.status;
  }
  Deno.exit(status);
}
