/**
 * A user's own annotated files, read strictly: CoNLL columns, JSON lines, and SpERT's JSON list.
 *
 * The benchmark loaders (`conll.ts`, `spert.ts`) know their datasets' types in advance; a user's
 * files declare theirs by using them. So these readers return {@link RawRecord}s whose types are
 * still strings, each remembering the line it came from; `user.ts` turns them into examples once
 * the label inventory is known, and can still point at the line of a type it rejects.
 *
 * Nothing is dropped or repaired on the way. A file that is not UTF-8, a span outside its
 * sentence, an unknown tag, a relation to an entity that does not exist, two entities that cross
 * (TANL's format cannot write them, and its formatter would drop one without a word) or a token
 * with a space in it is a {@link DataFormatError} `FILE:LINE: what is wrong`. Only `-DOCSTART-`
 * lines are skipped, as every CoNLL reader does.
 *
 * @module
 */
import {
  badField,
  cutShort,
  DataFormatError,
  decodeUtf8,
  isIndex,
  isObject,
  parseJson,
  pySplit,
  shortLine,
  show,
  textLines,
} from "./io.ts";

// Strict decoding lives with the benchmark loaders' reader; user code has always imported it here.
export { decodeUtf8 };

/** The file formats a user's data may come in. */
export type UserFormat = "conll" | "jsonl" | "spert";

/** Every {@link UserFormat}, for messages and flags. */
export const USER_FORMATS: readonly UserFormat[] = ["conll", "jsonl", "spert"];

/** An entity as written in a file: its type is still the file's string. `end` is exclusive. */
export interface RawEntity {
  type: string;
  start: number;
  end: number;
  /** 1-based line where it is written (CoNLL: the line of its first token). */
  line: number;
}

/** A relation as written in a file; `head` and `tail` index the record's entities. */
export interface RawRelation {
  type: string;
  head: number;
  tail: number;
  line: number;
}

/** One sentence of a user's file, before its types are resolved. */
export interface RawRecord {
  tokens: string[];
  /** `undefined`: the record carries no annotation (prediction input without gold). */
  entities?: RawEntity[];
  relations: RawRelation[];
  /** 1-based line where the sentence starts. */
  line: number;
  /** The record's own `id`, when it has one (kept in predictions). */
  id?: string;
}

/** The tagging scheme a CoNLL file turned out to use. */
export type TagScheme = "IOB1" | "IOB2" | "BIOES" | "none";

/** What a reader returns: the records, and for CoNLL the tag scheme it detected. */
export interface ParsedUserFile {
  records: RawRecord[];
  scheme?: TagScheme;
}

/**
 * Reads a file as UTF-8 (a leading byte-order mark is dropped). Bytes that are not UTF-8 are an
 * error naming the line and column, rather than U+FFFD characters in the training data.
 */
export function readUtf8(path: string, display = path): string {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DataFormatError(display, "", "file not found");
    throw e;
  }
  return decodeUtf8(bytes, display);
}

const TAG = /^([BIES])-(\S+)$/;

/**
 * CoNLL columns: the token first, the tag last, whitespace between, a blank line between
 * sentences, `-DOCSTART-` lines skipped. Every line of a file has the same number of columns
 * (a token with a space in it shows up as one more). One column throughout: tokens without tags
 * (prediction input), unless `requireTags`.
 *
 * The scheme is detected from the tags: `S-`/`E-` tags make it BIOES, checked strictly (every
 * `B-` closed by `E-`, every `I-`/`E-` continuing its type); otherwise an `I-` tag that begins an
 * entity makes it IOB1 (CoNLL-2003's own), else IOB2. Entities are read by TANL's rule (a new one
 * wherever the type changes or a tag starts with `B-` or `S-`), which reads all three alike.
 */
export function parseConllRecords(text: string, file: string, requireTags = false): ParsedUserFile {
  const lines = textLines(text);
  const sentences: { tokens: string[]; tags: string[]; lines: number[] }[] = [];
  let cur = { tokens: [] as string[], tags: [] as string[], lines: [] as number[] };
  let columns: { n: number; line: number } | undefined;
  const flush = () => {
    if (cur.tokens.length > 0) sentences.push(cur);
    cur = { tokens: [], tags: [], lines: [] };
  };
  lines.forEach((line, i) => {
    const n = i + 1;
    const cols = pySplit(line);
    if (cols.length === 0 || cols[0] === "-DOCSTART-") return flush();
    if (columns === undefined) columns = { n: cols.length, line: n };
    if (cols.length !== columns.n) {
      throw DataFormatError.atLine(
        file,
        n,
        `${cols.length} column${cols.length === 1 ? "" : "s"}, but line ${columns.line} has ` +
          `${columns.n} (${cutShort(text, lines, i) ?? "a token with a space in it?"}): ${shortLine(line)}`,
      );
    }
    if (cols.length === 1 && requireTags) {
      throw DataFormatError.atLine(
        file,
        n,
        `no tag column (expected "token ... TAG", tag last): ${shortLine(line)}`,
      );
    }
    const tag = cols.length > 1 ? cols[cols.length - 1] : "O";
    if (tag !== "O" && !TAG.test(tag)) {
      throw DataFormatError.atLine(
        file,
        n,
        `unknown tag ${
          JSON.stringify(tag)
        } (expected O, B-TYPE, I-TYPE, E-TYPE or S-TYPE in the last column)`,
      );
    }
    cur.tokens.push(cols[0]);
    cur.tags.push(tag);
    cur.lines.push(n);
  });
  flush();
  const hasTags = columns !== undefined && columns.n > 1;
  const scheme = hasTags ? detectScheme(sentences) : undefined;
  const records = sentences.map(({ tokens, tags, lines }): RawRecord => {
    if (scheme === "BIOES") checkBioes(tags, lines, file);
    return {
      tokens,
      entities: hasTags ? spansOf(tags, lines) : undefined,
      relations: [],
      line: lines[0],
    };
  });
  return { records, scheme };
}

const typeOf = (tag: string) => (tag === "O" ? null : tag.slice(2));

function detectScheme(sentences: { tags: string[] }[]): TagScheme {
  let b = false, iStarts = false;
  for (const { tags } of sentences) {
    for (let j = 0; j < tags.length; j++) {
      const p = tags[j][0];
      if (p === "S" || p === "E") return "BIOES";
      if (p === "B") b = true;
      if (p === "I" && (j === 0 || typeOf(tags[j - 1]) !== typeOf(tags[j]))) iStarts = true;
    }
  }
  return iStarts ? "IOB1" : b ? "IOB2" : "none";
}

function checkBioes(tags: string[], lines: number[], file: string): void {
  tags.forEach((tag, j) => {
    const [p, type] = [tag[0], typeOf(tag)];
    const prev = j > 0 ? tags[j - 1] : "O", next = j + 1 < tags.length ? tags[j + 1] : "O";
    const continues = (prev[0] === "B" || prev[0] === "I") && typeOf(prev) === type;
    if ((p === "I" || p === "E") && !continues) {
      throw DataFormatError.atLine(
        file,
        lines[j],
        `tag ${tag} after ${prev}: in BIOES (this file has S-/E- tags) an entity starts with B- or S-`,
      );
    }
    if ((p === "B" || p === "I") && !((next[0] === "I" || next[0] === "E") && typeOf(next) === type)) {
      throw DataFormatError.atLine(
        file,
        lines[j],
        `tag ${tag} before ${next}: in BIOES (this file has S-/E- tags) an entity ends with E-${type}`,
      );
    }
  });
}

/** TANL's `NERDataset` rule for where entities begin and end (see `conll.ts`). */
function spansOf(tags: string[], lines: number[]): RawEntity[] {
  const out: RawEntity[] = [];
  let open: RawEntity | null = null;
  for (let j = 0; j <= tags.length; j++) {
    const tag = j < tags.length ? tags[j] : "O";
    const prev = j > 0 ? tags[j - 1] : "O";
    const boundary = typeOf(tag) !== typeOf(prev) || tag[0] === "B" || tag[0] === "S";
    if (!boundary) continue;
    if (open) out.push({ ...open, end: j });
    open = null;
    // An E- tag here would begin an entity, but E- makes a file BIOES, checked before this.
    if (tag === "O") continue;
    open = { type: tag.slice(2), start: j, end: j + 1, line: lines[j] };
  }
  return out;
}

/**
 * One JSON object per line: `{"tokens": [...], "entities": [{"start", "end", "type"}],
 * "relations": [{"head", "tail", "type"}]}`, `end` exclusive, `head`/`tail` indexing `entities`,
 * `relations` optional. Blank lines are allowed; other keys (`id`, `text`) are ignored.
 */
export function parseJsonlRecords(text: string, file: string): ParsedUserFile {
  const records: RawRecord[] = [];
  textLines(text).forEach((line, i) => {
    if (line.trim() === "") return;
    records.push(recordFrom(parseJson(line, file, i), file, i + 1));
  });
  return { records };
}

/** SpERT's JSON: one list of the same objects as {@link parseJsonlRecords} reads. */
export function parseSpertRecords(text: string, file: string): ParsedUserFile {
  const data = parseJson(text, file);
  if (!Array.isArray(data)) throw new DataFormatError(file, "", "expected a JSON list of sentences (SpERT)");
  const lines = arrayItemLines(text);
  return { records: data.map((x, i) => recordFrom(x, file, lines[i] ?? 1, `item ${i}: `)) };
}

/** Validates one sentence object; errors name `file:line` (and `prefix`, a SpERT item). */
export function recordFrom(x: unknown, file: string, line: number, prefix = ""): RawRecord {
  const fail = (msg: string) => DataFormatError.atLine(file, line, prefix + msg);
  if (!isObject(x)) throw fail(`expected a JSON object, got ${show(x)}`);
  const tokens = x.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0) {
    throw fail(badField(x, "tokens", "a non-empty list of strings"));
  }
  tokens.forEach((t, k) => {
    if (typeof t !== "string" || t === "" || pySplit(t).length !== 1 || pySplit(t)[0] !== t) {
      throw fail(`token ${k} (${show(t)}) must be a non-empty string without spaces`);
    }
  });
  const record: RawRecord = { tokens: tokens as string[], relations: [], line };
  if (typeof x.id === "string" || typeof x.id === "number") record.id = String(x.id);
  if (x.entities === undefined) {
    if (x.relations !== undefined) throw fail(`"relations" without "entities"`);
    return record;
  }
  if (!Array.isArray(x.entities)) throw fail(`"entities" must be a list, got ${show(x.entities)}`);
  const entities = x.entities.map((y: unknown, j: number): RawEntity => {
    if (!isObject(y)) throw fail(`entity ${j} is not an object: ${show(y)}`);
    if (typeof y.type !== "string" || y.type.trim() === "") {
      throw fail(`entity ${j}: "type" must be a non-empty string, got ${show(y.type)}`);
    }
    for (const key of ["start", "end"]) {
      if (y[key] === undefined) throw fail(`entity ${j}: ${badField(y, key, "a token index")}`);
    }
    if (!isIndex(y.start) || !isIndex(y.end) || y.start >= y.end || y.end > tokens.length) {
      throw fail(
        `entity ${j}: span out of range: [${show(y.start)}, ${show(y.end)}) is not inside the ` +
          `${tokens.length} tokens (start < end <= ${tokens.length}, end exclusive)`,
      );
    }
    return { type: y.type, start: y.start, end: y.end, line };
  });
  checkSpans(entities, fail);
  const rels = x.relations ?? [];
  if (!Array.isArray(rels)) throw fail(`"relations" must be a list, got ${show(rels)}`);
  record.relations = rels.map((y: unknown, j: number): RawRelation => {
    if (!isObject(y)) throw fail(`relation ${j} is not an object: ${show(y)}`);
    if (typeof y.type !== "string" || y.type.trim() === "") {
      throw fail(`relation ${j}: "type" must be a non-empty string, got ${show(y.type)}`);
    }
    for (const end of ["head", "tail"] as const) {
      if (y[end] === undefined) {
        throw fail(`relation ${j}: ${badField(y, end, "an index into the entities")}`);
      }
      if (!isIndex(y[end]) || (y[end] as number) >= entities.length) {
        throw fail(
          `relation ${j}: ${end} ${show(y[end])} is not an entity (the sentence has ${entities.length}, ` +
            `indexed from 0)`,
        );
      }
    }
    return { type: y.type, head: y.head as number, tail: y.tail as number, line };
  });
  record.entities = entities;
  return record;
}

/** Duplicate and crossing entities: TANL's target sentence would silently lose one of them. */
function checkSpans(entities: RawEntity[], fail: (msg: string) => Error): void {
  for (let a = 0; a < entities.length; a++) {
    for (let b = a + 1; b < entities.length; b++) {
      const x = entities[a], y = entities[b];
      if (x.start === y.start && x.end === y.end && x.type === y.type) {
        throw fail(`entity ${b} repeats entity ${a} (${x.type} [${x.start}, ${x.end}))`);
      }
      const [p, q] = x.start <= y.start ? [x, y] : [y, x];
      if (p.start < q.start && q.start < p.end && p.end < q.end) {
        throw fail(
          `entities ${a} [${x.start}, ${x.end}) and ${b} [${y.start}, ${y.end}) cross; TANL's format ` +
            `writes nested spans, not crossing ones`,
        );
      }
    }
  }
}

/** The 1-based line on which each element of a top-level JSON array starts. */
export function arrayItemLines(text: string): number[] {
  const out: number[] = [];
  let depth = 0, line = 1, inString = false, expectValue = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") line++;
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r" || c === "\n") continue;
    if (depth === 1 && expectValue && c !== "]") {
      out.push(line);
      expectValue = false;
    }
    if (c === '"') inString = true;
    else if (c === "[" || c === "{") {
      depth++;
      if (depth === 1) expectValue = true;
    } else if (c === "]" || c === "}") depth--;
    else if (c === "," && depth === 1) expectValue = true;
  }
  return out;
}

/** Parses a user's file in `format` (see the readers above). */
export function parseUserRecords(
  text: string,
  file: string,
  format: UserFormat,
  opts: { requireTags?: boolean } = {},
): ParsedUserFile {
  switch (format) {
    case "conll":
      return parseConllRecords(text, file, opts.requireTags);
    case "jsonl":
      return parseJsonlRecords(text, file);
    case "spert":
      return parseSpertRecords(text, file);
  }
}
