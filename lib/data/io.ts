/**
 * Reading dataset files: one error type that names the file and the line (or JSON item), and the
 * few pieces of Python string behaviour the reference loaders depend on.
 *
 * TANL's loaders are Python: `line.split()` splits on Python's whitespace set (which differs from
 * JavaScript's `\s`), `open()` translates `\r\n` and `\r` to `\n`, and a failed `assert` gives no
 * location. Here every malformed input is reported as `FILE:LINE: what is wrong` (or
 * `FILE: item N: ...` for JSON arrays) so a user can open the file at that place.
 *
 * @module
 */
import { requireDataFile } from "../config/paths.ts";

/** A dataset file that does not have the expected format; `message` starts with `file:line:`. */
export class DataFormatError extends Error {
  constructor(
    /** The file as shown to the user: relative to the data directory (`conll03/train.txt`). */
    readonly file: string,
    /** `1234` (a 1-based line), `item 17` (a 0-based JSON array index), or `""` for the whole file. */
    readonly where: string,
    readonly detail: string,
  ) {
    super(
      where === ""
        ? `${file}: ${detail}`
        : /^\d+$/.test(where)
        ? `${file}:${where}: ${detail}`
        : `${file}: ${where}: ${detail}`,
    );
    this.name = "DataFormatError";
  }

  /** An error at a 1-based line of a text or JSON-lines file. */
  static atLine(file: string, line: number, detail: string): DataFormatError {
    return new DataFormatError(file, String(line), detail);
  }

  /** An error at a 0-based item of a JSON array (or a key of a JSON object). */
  static atItem(file: string, item: number | string, detail: string): DataFormatError {
    return new DataFormatError(
      file,
      typeof item === "number" ? `item ${item}` : `key ${JSON.stringify(item)}`,
      detail,
    );
  }
}

/**
 * Python's `str.isspace()` set, which `str.split()` and `str.strip()` use. It differs from
 * JavaScript's `\s`: Python also splits on U+001C..U+001F and U+0085, and not on U+FEFF.
 */
const PY_WS_CLASS =
  "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_WS_RUN = new RegExp(`[${PY_WS_CLASS}]+`);
const PY_STRIP = new RegExp(`^[${PY_WS_CLASS}]+|[${PY_WS_CLASS}]+$`, "g");

/** Python's `s.split()` (no argument): split on runs of whitespace, dropping empty pieces. */
export function pySplit(s: string): string[] {
  return s.split(PY_WS_RUN).filter((t) => t !== "");
}

/** Python's `s.strip()` (no argument). */
export function pyStrip(s: string): string {
  return s.replace(PY_STRIP, "");
}

/**
 * The lines of a text file as Python's text mode yields them, without their line ends: `\r\n`,
 * `\r` and `\n` all end a line, and a final line end does not start an empty line.
 */
export function textLines(text: string): string[] {
  if (text.startsWith("\ufeff")) text = text.slice(1);
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** A data file resolved inside the data directory: its absolute path and its name for messages. */
export interface DataFile {
  path: string;
  /** Relative to the data directory, as shown in error messages (`conll03/train.txt`). */
  display: string;
}

/** Options every loader takes. */
export interface LoadOptions {
  /** The data directory; default `$FISHDIP_DATA`, else `<repo>/data` (see `lib/config/paths.ts`). */
  dataDir?: string;
}

/**
 * Resolves a dataset file, throwing `MissingDataError` (with the download or bring-your-own hint)
 * when it is absent.
 */
export function dataFile(
  relative: string,
  dataset: string,
  downloadable: boolean,
  opts: LoadOptions = {},
): DataFile {
  const path = requireDataFile(relative, dataset, { dataDir: opts.dataDir, downloadable });
  return { path, display: relative };
}

/** Reads a UTF-8 text file (a leading byte-order mark is dropped, as Python's `utf-8-sig` would). */
export function readText(file: DataFile): string {
  const text = Deno.readTextFileSync(file.path);
  return text.startsWith("\ufeff") ? text.slice(1) : text;
}

/** 1-based line of a character offset. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * The offset of the first JSON syntax error in `text`, found by a small scanner; V8's own message
 * no longer says where the error is. Returns `text.length` if the text ends too early.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (w: string) => (text.startsWith(w, i) ? (i += w.length) : fail());
  const string = () => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) fail();
      if (text[i] === "\\") {
        i++;
        if (text[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? "x")) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        string();
        ws();
        literal(":");
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") return void i++;
        else fail();
      }
    } else if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") return void i++;
        else fail();
      }
    } else if (c === '"') string();
    else if (c === "t") literal("true");
    else if (c === "f") literal("false");
    else if (c === "n") literal("null");
    else {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      if (!m) fail();
      i += m![0].length;
    }
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
  } catch (at) {
    if (typeof at === "number") return Math.min(at, text.length);
    throw at;
  }
  return text.length;
}

/**
 * `JSON.parse` with a failure reported as `file:line: invalid JSON (...)`; `lineOffset` is added
 * to the line (for one line of a JSON-lines file, pass its line number minus one).
 */
export function parseJson(text: string, file: string, lineOffset = 0): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const line = lineOf(text, jsonErrorOffset(text));
    throw DataFormatError.atLine(
      file,
      line + lineOffset,
      `invalid JSON (${(e as Error).message.slice(0, 120)})`,
    );
  }
}

/** Reads and parses a whole-file JSON document. */
export function readJson(file: DataFile): unknown {
  return parseJson(readText(file), file.display);
}

/** Describes a value for an error message: its JSON, shortened. */
export function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** True for a JSON value that is a non-negative integer. */
export function isIndex(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

/** True for an array of strings. */
export function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((t) => typeof t === "string");
}

/** True for a plain JSON object. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
