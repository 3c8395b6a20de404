/**
 * NER in CoNLL column files: CoNLL-2003 (`word POS chunk NER`) and OntoNotes 5 as TANL reads it
 * (`data/ontonotes/{split}.txt`, one token per line, the tag in the last column).
 *
 * The reader is TANL's `NERDataset.load_data_single_split`:
 * - the token is the first whitespace-separated column and the tag the last; `O` means outside;
 * - a blank line or a line starting with `-DOCSTART-` ends the sentence; every other line is a
 *   token;
 * - an entity ends, and a new one may begin, wherever the tag's type changes, the tag goes to or
 *   from `O`, or the tag starts with `B-` or `S-`. That one rule reads IOB1 (CoNLL-2003's own
 *   scheme, where `B-` only separates two adjacent entities of one type), IOB2 and IOBES alike;
 * - the tag that begins an entity must start with `B-`, `I-` or `S-` and name a known type.
 *
 * Deliberate differences, all on input TANL would reject, crash on or misread: a line holding only
 * whitespace ends the sentence (TANL raises `IndexError`); a continuation tag with a prefix other
 * than `B-`/`I-`/`E-`/`S-` (`X-PER` after `I-PER`) is an error (TANL accepts it silently); and a
 * token line must have the file's number of columns (CoNLL-2003: exactly four; otherwise at least
 * two, and as many as the file's first token line). TANL reads a one-column line as a token
 * outside any entity, so a line cut short (the last line of a truncated file, a tag lost in an
 * edit) would quietly become training data with a wrong label; with too few of four columns the
 * "tag" it reads is the POS or chunk column. Every error names the file and line, and quotes it.
 *
 * @module
 */
import type { DatasetSchema, Example, LabelType } from "./types.ts";
import {
  cutShort,
  dataFile,
  DataFormatError,
  type LoadOptions,
  pySplit,
  readText,
  requireExamples,
  shortLine,
  textLines,
} from "./io.ts";

/** Builds a schema's type list from TANL's `short -> natural` dictionary (same order). */
export function labelTypes(natural: Record<string, string>): LabelType[] {
  return Object.entries(natural).map(([short, nat]) => ({ short, natural: nat }));
}

/** CoNLL-2003 NER, with TANL's natural names. */
export const CONLL03_SCHEMA: DatasetSchema = {
  name: "conll03",
  task: "ner",
  entityTypes: labelTypes({ LOC: "location", MISC: "miscellaneous", ORG: "organization", PER: "person" }),
  relationTypes: [],
};

/** OntoNotes 5 NER: the 18 types with TANL's natural names. */
export const ONTONOTES_SCHEMA: DatasetSchema = {
  name: "ontonotes",
  task: "ner",
  entityTypes: labelTypes({
    CARDINAL: "cardinal",
    DATE: "date",
    EVENT: "event",
    FAC: "facility",
    GPE: "country city state",
    LANGUAGE: "language",
    LAW: "law",
    LOC: "location",
    MONEY: "monetary",
    NORP: "nationality religious political group",
    ORDINAL: "ordinal",
    ORG: "organization",
    PERCENT: "percent",
    PERSON: "person",
    PRODUCT: "product",
    QUANTITY: "quantity",
    TIME: "time",
    WORK_OF_ART: "work_of_art",
  }),
  relationTypes: [],
};

const TAG = /^([BIES])-(.+)$/;

/** How many columns a column file's token lines have, for {@link parseConllNer}. */
export interface ConllColumns {
  /** Exactly this many; default: at least two, and as many as the first token line. */
  columns?: number;
  /** What the columns are, for messages (`word POS chunk NER`). */
  layout?: string;
}

/**
 * Parses a CoNLL column file into NER examples with ids `split-index`.
 *
 * `file` is only used in error messages. Entity types are looked up by their short name in
 * `schema.entityTypes`; the returned entities share those `LabelType` objects.
 *
 * ```ts
 * const [ex] = parseConllNer("EU NNP I-NP I-ORG\nrejects VBZ I-VP O\n", "x.txt", "train", CONLL03_SCHEMA);
 * // ex.entities[0] -> { type: { short: "ORG", natural: "organization" }, start: 0, end: 1 }
 * ```
 */
export function parseConllNer(
  text: string,
  file: string,
  split: string,
  schema: DatasetSchema,
  opts: ConllColumns = {},
): Example[] {
  const types = new Map(schema.entityTypes.map((t) => [t.short, t]));
  const examples: Example[] = [];
  let tokens: string[] = [];
  let labels: (string | null)[] = [];
  let lineNos: number[] = [];

  const flush = () => {
    if (tokens.length === 0) return;
    examples.push(sentenceToExample(`${split}-${examples.length}`, tokens, labels, lineNos, file, types));
    tokens = [];
    labels = [];
    lineNos = [];
  };

  const lines = textLines(text);
  // The first token line's column count, which every later token line must have.
  let first: { n: number; line: number } | undefined;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    if (line.startsWith("-DOCSTART-")) {
      flush();
      continue;
    }
    const cols = pySplit(line);
    if (cols.length === 0) {
      flush();
      continue;
    }
    const want = opts.columns ?? first?.n;
    if (cols.length < 2 || (want !== undefined && cols.length !== want)) {
      const expected = opts.columns !== undefined
        ? `expected ${opts.columns}${opts.layout ? ` (${opts.layout})` : ""}`
        : first !== undefined
        ? `but line ${first.line} has ${first.n}`
        : "expected at least 2 (token ... TAG, the tag last)";
      const why = cutShort(text, lines, n) ??
        (want === undefined || cols.length < want ? "a column is missing" : "a token with a space in it?");
      throw DataFormatError.atLine(
        file,
        n + 1,
        `${cols.length} column${cols.length === 1 ? "" : "s"}, ${expected}; ${why}: ${shortLine(line)}`,
      );
    }
    first ??= { n: cols.length, line: n + 1 };
    tokens.push(cols[0]);
    labels.push(cols[cols.length - 1] !== "O" ? cols[cols.length - 1] : null);
    lineNos.push(n + 1);
  }
  flush();
  return examples;
}

function sentenceToExample(
  id: string,
  tokens: string[],
  labels: (string | null)[],
  lineNos: number[],
  file: string,
  types: Map<string, LabelType>,
): Example {
  const entities: Example["entities"] = [];
  let start: number | null = null;
  let type: LabelType | null = null;
  for (let j = 0; j <= labels.length; j++) {
    const label = j < labels.length ? labels[j] : null;
    const prev = j > 0 ? labels[j - 1] : null;
    let m: RegExpExecArray | null = null;
    if (label !== null) {
      m = TAG.exec(label);
      if (m === null) {
        throw DataFormatError.atLine(
          file,
          lineNos[j],
          `tag ${JSON.stringify(label)} is not IOB (expected O, B-TYPE, I-TYPE, E-TYPE or S-TYPE)`,
        );
      }
    }
    // TANL compares label[2:] (the type) of neighbouring tags.
    const boundary = (label === null) !== (prev === null) ||
      (label !== null && prev !== null &&
        (label.slice(2) !== prev.slice(2) || label.startsWith("B-") || label.startsWith("S-")));
    if (!boundary) continue;
    if (start !== null && type !== null) {
      entities.push({ type, start, end: j });
      start = null;
      type = null;
    }
    if (label !== null && m !== null) {
      if (m[1] === "E") {
        throw DataFormatError.atLine(file, lineNos[j], `tag ${JSON.stringify(label)} cannot begin an entity`);
      }
      const t = types.get(m[2]);
      if (t === undefined) {
        throw DataFormatError.atLine(
          file,
          lineNos[j],
          `unknown entity type ${JSON.stringify(m[2])} in tag ${JSON.stringify(label)} (known: ${
            [...types.keys()].join(", ")
          })`,
        );
      }
      start = j;
      type = t;
    }
  }
  return { id, tokens, entities, relations: [] };
}

const NE_CELL = /^(?:\(([A-Za-z_$-]+)(\*\)|\*|\))|\*|\*\))$/;

/**
 * Parses OntoNotes in the CoNLL-2012 `*_conll` layout (what the CoNLL-2012 scripts build from the
 * LDC release): `#begin document` / `#end document` lines, one token per line with the word in
 * column 4 and the named entity in column 11 in bracket notation (`(PERSON*`, `*`, `*)`,
 * `(GPE)`), a blank line between sentences. The spans are exactly those of the BIO export TANL
 * reads, so both layouts give the same examples.
 */
export function parseConll2012Ner(
  text: string,
  file: string,
  split: string,
  schema: DatasetSchema,
): Example[] {
  const types = new Map(schema.entityTypes.map((t) => [t.short, t]));
  const examples: Example[] = [];
  let tokens: string[] = [];
  let entities: Example["entities"] = [];
  let open: { type: LabelType; start: number; line: number } | null = null;
  const flush = () => {
    if (open !== null) {
      throw DataFormatError.atLine(
        file,
        open.line,
        `entity (${open.type.short} opened here is not closed in its sentence`,
      );
    }
    if (tokens.length > 0) {
      examples.push({ id: `${split}-${examples.length}`, tokens, entities, relations: [] });
    }
    tokens = [];
    entities = [];
  };
  const lines = textLines(text);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const cols = pySplit(line);
    if (cols.length === 0 || line.startsWith("#begin document") || line.startsWith("#end document")) {
      flush();
      continue;
    }
    const fail = (msg: string) => DataFormatError.atLine(file, n + 1, msg);
    if (cols.length < 11) {
      throw fail(
        `expected at least 11 columns (CoNLL-2012), found ${cols.length}${
          cutShort(text, lines, n) ? ` (${cutShort(text, lines, n)})` : ""
        }: ${shortLine(line)}`,
      );
    }
    const cell = cols[10];
    const m = NE_CELL.exec(cell);
    if (m === null) throw fail(`named-entity cell ${JSON.stringify(cell)} is not (TYPE*, *, *) or (TYPE)`);
    const j = tokens.length;
    tokens.push(cols[3]);
    if (m[1] !== undefined) {
      if (open !== null) throw fail(`entity (${m[1]} starts inside the open entity (${open.type.short}`);
      const type = types.get(m[1]);
      if (type === undefined) throw fail(`unknown entity type ${JSON.stringify(m[1])}`);
      open = { type, start: j, line: n + 1 };
    }
    if (cell.endsWith(")")) {
      if (open === null) throw fail(`${JSON.stringify(cell)} closes an entity that was never opened`);
      entities.push({ type: open.type, start: open.start, end: j + 1 });
      open = null;
    }
  }
  flush();
  return examples;
}

/** The splits of the column-file NER datasets. */
export type NerSplit = "train" | "dev" | "test";

/**
 * Loads CoNLL-2003 (`conll03/{split}.txt`: `train`, `dev` = eng.testa, `test` = eng.testb).
 *
 * CoNLL-2003 is Reuters text under the Reuters corpus terms, so the downloader does not fetch it:
 * the user brings the three files (data/README.md).
 */
export function loadConll03(split: NerSplit, opts: LoadOptions = {}): Example[] {
  const file = dataFile(`conll03/${split}.txt`, "conll03", false, opts);
  const examples = parseConllNer(readText(file), file.display, split, CONLL03_SCHEMA, {
    columns: 4,
    layout: "word POS chunk NER",
  });
  return requireExamples(examples, file.display, "conll03", split, "no token lines in the file");
}

/**
 * Loads OntoNotes 5 NER from `ontonotes/{split}.txt`: token-per-line files with the BIO tag in the
 * last column (the export TANL expects), or the CoNLL-2012 `*_conll` layout with bracketed
 * entities (recognised by its `#begin document` lines). LDC-licensed: bring your own.
 */
export function loadOntonotes(split: NerSplit, opts: LoadOptions = {}): Example[] {
  const file = dataFile(`ontonotes/${split}.txt`, "ontonotes", false, opts);
  const text = readText(file);
  // A CoNLL-2012 `*_conll` file starts with `#begin document`; TANL's export has no such lines.
  const examples = /^#begin document/m.test(text.slice(0, 4096))
    ? parseConll2012Ner(text, file.display, split, ONTONOTES_SCHEMA)
    : parseConllNer(text, file.display, split, ONTONOTES_SCHEMA);
  return requireExamples(examples, file.display, "ontonotes", split, "no token lines in the file");
}
