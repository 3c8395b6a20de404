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

/**
 * A dataset file that does not have the expected format; `message` starts with `file:line:`.
 * `hint`, when given, is what the command-line tools print as "what to do" (`lib/config/cli.ts`);
 * without it they print the generic advice for this error's name.
 */
export class DataFormatError extends Error {
  constructor(
    /** The file as shown to the user: relative to the data directory (`conll03/train.txt`). */
    readonly file: string,
    /** `1234` (a 1-based line), `item 17` (a 0-based JSON array index), or `""` for the whole file. */
    readonly where: string,
    readonly detail: string,
    readonly hint?: string,
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
  static atLine(file: string, line: number, detail: string, hint?: string): DataFormatError {
    return new DataFormatError(file, String(line), detail, hint);
  }

  /** An error at a 0-based item of a JSON array (or a key of a JSON object). */
  static atItem(file: string, item: number | string, detail: string, hint?: string): DataFormatError {
    return new DataFormatError(
      file,
      typeof item === "number" ? `item ${item}` : `key ${JSON.stringify(item)}`,
      detail,
      hint,
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

/**
 * Reads a UTF-8 text file (a leading byte-order mark is dropped, as Python's `utf-8-sig` would).
 * Bytes that are not UTF-8 are an error at their line (see {@link decodeUtf8}).
 */
export function readText(file: DataFile): string {
  return decodeUtf8(Deno.readFileSync(file.path), file.display);
}

/** What to do about a file that is not UTF-8. */
const NOT_UTF8_HINT = "save the file as UTF-8 (from Latin-1: iconv -f latin1 -t utf-8 FILE > NEW), " +
  "or replace it with a fresh copy";

/**
 * Decodes UTF-8 strictly (one leading byte-order mark is dropped). Bytes that are not UTF-8 are a
 * {@link DataFormatError} naming the line, the byte and the line's text: a lenient decoder would
 * put U+FFFD characters into the training data, and tokens no dataset has would go unnoticed.
 */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  // ignoreBOM keeps the mark so that exactly one is dropped, as `utf-8-sig` does.
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw notUtf8(bytes, file, decoder);
  }
  return text.startsWith("\ufeff") ? text.slice(1) : text;
}

/**
 * The error for bytes that failed to decode: the first line (numbered as {@link textLines} numbers
 * them, `\r\n`, `\r` and `\n` ending a line) that does not decode on its own. Line ends are ASCII
 * and never inside a multi-byte sequence, so the line that fails holds the first bad byte.
 */
function notUtf8(bytes: Uint8Array, file: string, decoder: TextDecoder): DataFormatError {
  let line = 1, start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 10 && bytes[i] !== 13) continue;
    const lineBytes = bytes.subarray(start, i);
    try {
      decoder.decode(lineBytes);
    } catch {
      const at = firstInvalidUtf8(lineBytes);
      const shown = new TextDecoder("utf-8").decode(lineBytes);
      return DataFormatError.atLine(
        file,
        line,
        `not UTF-8 (byte 0x${lineBytes[at].toString(16).padStart(2, "0")} at byte ${at + 1} of ` +
          `the line: ${shortLine(shown)})`,
        NOT_UTF8_HINT,
      );
    }
    if (bytes[i] === 13 && bytes[i + 1] === 10) i++;
    line++;
    start = i + 1;
  }
  // Unreachable: a file that fails to decode has a line that fails.
  return new DataFormatError(file, "", "not UTF-8", NOT_UTF8_HINT);
}

/** Offset of the first byte that does not continue a valid UTF-8 sequence (the length if none). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    // Sequence length and the range of its second byte (which excludes overlongs and surrogates).
    const [n, lo, hi] = c < 0x80
      ? [1, 0, 0]
      : c >= 0xc2 && c <= 0xdf
      ? [2, 0x80, 0xbf]
      : c === 0xe0
      ? [3, 0xa0, 0xbf]
      : c === 0xed
      ? [3, 0x80, 0x9f]
      : c >= 0xe1 && c <= 0xef
      ? [3, 0x80, 0xbf]
      : c === 0xf0
      ? [4, 0x90, 0xbf]
      : c === 0xf4
      ? [4, 0x80, 0x8f]
      : c >= 0xf1 && c <= 0xf3
      ? [4, 0x80, 0xbf]
      : [0, 0, 0];
    if (n === 0) return i;
    if (n > 1 && !(b[i + 1] >= lo && b[i + 1] <= hi)) return i;
    for (let k = 2; k < n; k++) if (!(b[i + k] >= 0x80 && b[i + k] <= 0xbf)) return i;
    i += n;
  }
  return Math.max(0, b.length - 1);
}

/** A line of a file for an error message: quoted, and shortened past 60 characters. */
export function shortLine(line: string): string {
  const s = line.length > 60 ? `${line.slice(0, 57)}...` : line;
  return JSON.stringify(s);
}

/**
 * For a column-count error on line `i`: a note when it is the file's last line and no line end
 * follows it (a file cut off mid-line), else undefined.
 */
export function cutShort(text: string, lines: string[], i: number): string | undefined {
  return i === lines.length - 1 && !/[\r\n]$/.test(text) ? "the file's last line, cut short?" : undefined;
}

/**
 * Throws when a file gave no examples: an empty file (or one cut short before its first sentence)
 * would otherwise train on nothing or score 0.00 as if measured.
 */
export function requireExamples<T>(
  items: T[],
  file: string,
  dataset: string,
  split: string,
  why: string,
): T[] {
  if (items.length === 0) {
    throw new DataFormatError(file, "", `the ${split} split of ${dataset} has no examples (${why})`);
  }
  return items;
}

/**
 * What is wrong with the field `key` of a record, for an error message: `missing "key" (expected
 * WHAT)` when the record lacks it, else `"key" must be WHAT, got VALUE`.
 */
export function badField(record: Record<string, unknown>, key: string, what: string): string {
  return record[key] === undefined
    ? `missing "${key}" (expected ${what})`
    : `"${key}" must be ${what}, got ${show(record[key])}`;
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
