// Dataset inputs are strict: bytes that are not UTF-8, a line with too few columns, a record
// without a required field, an empty file or data too small for the asked episodes are errors
// naming the file and the line (or record), never data read some other way. Each case is a small
// file in a temporary data directory, read by the loader a run uses.
import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { describeError } from "../config/cli.ts";
import { DataFormatError } from "./io.ts";
import { loadConll03, loadOntonotes } from "./conll.ts";
import { loadAde, loadConll04 } from "./spert.ts";
import { checkEpisodeFeasible, fewRelEpisode, loadFewRelFile, parseFewRel, sampleEpisode } from "./fewrel.ts";
import { loadAce2005 } from "./ace2005.ts";
import { loadConll05Srl } from "./srl.ts";
import { loadMultiWoz } from "./multiwoz.ts";
import { parseConllRecords, parseJsonlRecords, readUtf8 } from "./user_formats.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** A data directory holding `files` (relative path -> text or bytes), removed after `f`. */
function withData(files: Record<string, string | Uint8Array>, f: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "fishdip_strict_" });
  try {
    for (const [rel, body] of Object.entries(files)) {
      Deno.mkdirSync(`${dir}/${rel.split("/").slice(0, -1).join("/")}`, { recursive: true });
      Deno.writeFileSync(`${dir}/${rel}`, typeof body === "string" ? enc(body) : body);
    }
    f(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const CONLL = "-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\n";

Deno.test("strict UTF-8: a byte that is not UTF-8 is an error at its file and line, with what to do", () => {
  // "Café" in Latin-1 on line 4 of a CoNLL-2003 file (Deno's lenient reader made it "Caf\uFFFD").
  const bytes = new Uint8Array([...enc(`${CONLL}Caf`), 0xe9, ...enc(" NNP I-NP I-PER\n")]);
  withData({ "conll03/train.txt": bytes }, (dataDir) => {
    const e = assertThrows(() => loadConll03("train", { dataDir }), DataFormatError);
    assertStringIncludes(e.message, 'conll03/train.txt:6: not UTF-8 (byte 0xe9 at byte 4 of the line: "Caf');
    const printed = describeError(e).text;
    assertStringIncludes(printed, "error (DataFormatError): conll03/train.txt:6:");
    assertStringIncludes(printed, "what to do: save the file as UTF-8");
  });
  // JSON datasets too; `\r\n` and `\r` end lines as they do for the parsers.
  const json = new Uint8Array([
    ...enc('[\r\n{"tokens": ["a"],\r"entities": []},\r\n{"tokens": ["'),
    0xff,
    ...enc('"]}]'),
  ]);
  withData({ "conll04/conll04_dev.json": json }, (dataDir) => {
    assertThrows(
      () => loadConll04("dev", { dataDir }),
      DataFormatError,
      "conll04/conll04_dev.json:4: not UTF-8",
    );
  });
  // A cut-off multi-byte sequence at a line's end is caught on that line.
  assertThrows(
    () =>
      withData({
        "conll03/dev.txt": new Uint8Array([...enc("a B C O\nb B C "), 0xc3, ...enc("\nc B C O\n")]),
      }, (d) => loadConll03("dev", { dataDir: d })),
    DataFormatError,
    "conll03/dev.txt:2: not UTF-8 (byte 0xc3 at byte 7",
  );
});

Deno.test("strict UTF-8: a leading byte-order mark is fine, and valid files read as before", () => {
  withData({ "conll03/train.txt": new Uint8Array([0xef, 0xbb, 0xbf, ...enc(CONLL)]) }, (dataDir) => {
    const [ex] = loadConll03("train", { dataDir });
    assertEquals(ex.tokens, ["EU", "rejects"]);
    assertEquals(ex.entities.map((e) => [e.type.short, e.start, e.end]), [["ORG", 0, 1]]);
  });
  withData({ "x.conll": new Uint8Array([0xef, 0xbb, 0xbf, ...enc("Zoë B-PER\n")]) }, (d) => {
    assertEquals(readUtf8(`${d}/x.conll`), "Zoë B-PER\n");
  });
});

Deno.test("columns: a one-column line, a missing column and a truncated last line name file:line and the text", () => {
  const load = (text: string) => () =>
    withData({ "conll03/train.txt": text }, (dataDir) => void loadConll03("train", { dataDir }));
  // TANL reads "Smith" as a token outside any entity; here it is an error.
  assertThrows(
    load(`${CONLL}Peter NNP I-NP I-PER\nSmith\n`),
    DataFormatError,
    'conll03/train.txt:7: 1 column, expected 4 (word POS chunk NER); a column is missing: "Smith"',
  );
  // Three of four columns: the chunk tag would have been read as the entity tag.
  assertThrows(
    load(`${CONLL}Peter NNP I-PER\n`),
    DataFormatError,
    'conll03/train.txt:6: 3 columns, expected 4 (word POS chunk NER); a column is missing: "Peter NNP I-PER"',
  );
  // A file cut off mid-line: the token is there, the tag is not, and no line end follows.
  assertThrows(
    load(`${CONLL}Peter NNP I-NP I-PER\nSmith NNP I-NP`),
    DataFormatError,
    "conll03/train.txt:7: 3 columns, expected 4 (word POS chunk NER); the file's last line, cut short?",
  );
  assertThrows(load(`${CONLL}a b c d e\n`), DataFormatError, "5 columns, expected 4");
  // Long lines are shortened in the message.
  const e = assertThrows(load(`${CONLL}${"x".repeat(200)}\n`), DataFormatError);
  assert(e.message.length < 200, e.message);
  // OntoNotes' token/tag layout: at least two columns, as many as the first token line.
  withData({ "ontonotes/dev.txt": "About\tB-PERCENT\n40\tI-PERCENT\n%\n" }, (dataDir) => {
    assertThrows(
      () => loadOntonotes("dev", { dataDir }),
      DataFormatError,
      'ontonotes/dev.txt:3: 1 column, but line 1 has 2; a column is missing: "%"',
    );
  });
  withData({ "ontonotes/dev.txt": "About\n" }, (dataDir) => {
    assertThrows(
      () => loadOntonotes("dev", { dataDir }),
      DataFormatError,
      "ontonotes/dev.txt:1: 1 column, expected at least 2",
    );
  });
  // CoNLL-2012 rows quote the line too.
  withData(
    { "ontonotes/dev.txt": "#begin document (a); part 000\na 0 0 Hello\n#end document\n" },
    (dataDir) => {
      assertThrows(
        () => loadOntonotes("dev", { dataDir }),
        DataFormatError,
        'ontonotes/dev.txt:2: expected at least 11 columns (CoNLL-2012), found 4: "a 0 0 Hello"',
      );
    },
  );
  // A user's CoNLL file: the truncated last line is named as such.
  assertThrows(
    () => parseConllRecords("Ada B-PER\nLovelace", "u.conll"),
    DataFormatError,
    'u.conll:2: 1 column, but line 1 has 2 (the file\'s last line, cut short?): "Lovelace"',
  );
});

Deno.test("columns: every line is a token, a blank line or -DOCSTART-; nothing else is skipped", () => {
  withData({ "conll03/dev.txt": `${CONLL}  \t \n-DOCSTART- -X- -X- O\nParis NNP I-NP I-LOC` }, (dataDir) => {
    const ex = loadConll03("dev", { dataDir });
    assertEquals(ex.map((e) => e.tokens), [["EU", "rejects"], ["Paris"]]);
  });
});

const SPERT_GOOD = {
  tokens: ["John", "left"],
  entities: [{ type: "Peop", start: 0, end: 1 }],
  relations: [],
};

Deno.test("JSON records: a missing required field is named, with the file and record", () => {
  const conll04 = (items: unknown[]) => () =>
    withData(
      { "conll04/conll04_train.json": JSON.stringify(items) },
      (dataDir) => void loadConll04("train", { dataDir }),
    );
  const { tokens: _, ...noTokens } = SPERT_GOOD;
  assertThrows(
    conll04([SPERT_GOOD, noTokens]),
    DataFormatError,
    'conll04/conll04_train.json: item 1: missing "tokens" (expected a list of strings)',
  );
  assertThrows(
    conll04([{ ...SPERT_GOOD, entities: [{ type: "Peop", end: 1 }] }]),
    DataFormatError,
    'item 0: entity 0: missing "start" (expected a token index)',
  );
  assertThrows(
    conll04([{ ...SPERT_GOOD, entities: [{ start: 0, end: 1 }] }]),
    DataFormatError,
    'item 0: entity 0: missing "type"',
  );
  assertThrows(
    conll04([{ ...SPERT_GOOD, relations: [{ type: "Kill", tail: 0 }] }]),
    DataFormatError,
    'item 0: relation 0: missing "head" (expected an entity index)',
  );
  // FewRel instances.
  const inst = { tokens: ["a", "b"], h: ["a", "Q1", [[0]]], t: ["b", "Q2", [[1]]] };
  const { h: _h, ...noHead } = inst;
  assertThrows(
    () => parseFewRel({ P1: [inst, noHead] }, "fewrel/val_wiki.json", "dev", new Map()),
    DataFormatError,
    'fewrel/val_wiki.json: relation "P1", item 1: missing "h" (expected [name, id, [[token positions]]])',
  );
  assertThrows(
    () => parseFewRel({ P1: [{ ...inst, tokens: undefined }] }, "f.json", "dev", new Map()),
    DataFormatError,
    'item 0: missing "tokens"',
  );
  // A user's JSON lines: the line, and the field.
  const line = (x: unknown) => JSON.stringify(x);
  assertThrows(
    () =>
      parseJsonlRecords(
        `${line({ tokens: ["a"], entities: [] })}\n${
          line({ tokens: ["a"], entities: [{ type: "X", start: 0 }] })
        }\n`,
        "u.jsonl",
      ),
    DataFormatError,
    'u.jsonl:2: entity 0: missing "end" (expected a token index)',
  );
  assertThrows(
    () => parseJsonlRecords(line({ entities: [] }), "u.jsonl"),
    DataFormatError,
    'u.jsonl:1: missing "tokens" (expected a non-empty list of strings)',
  );
  assertThrows(
    () =>
      parseJsonlRecords(
        line({
          tokens: ["a"],
          entities: [{ type: "X", start: 0, end: 1 }],
          relations: [{ type: "R", head: 0 }],
        }),
        "u.jsonl",
      ),
    DataFormatError,
    'u.jsonl:1: relation 0: missing "tail"',
  );
  // ACE 2005's JSON lines.
  withData({ "ace2005_joint_er/dev.json": `${line({ sentences: [["a"]], ner: [[]] })}\n` }, (dataDir) => {
    assertThrows(
      () => loadAce2005("dev", { dataDir }),
      DataFormatError,
      'ace2005_joint_er/dev.json:1: missing "relations"',
    );
  });
});

Deno.test("empty files: an error naming the file and split, for every benchmark loader", () => {
  const cases: [Record<string, string>, (dataDir: string) => unknown, string][] = [
    [
      { "conll03/train.txt": "" },
      (d) => loadConll03("train", { dataDir: d }),
      "conll03/train.txt: the train split",
    ],
    [
      { "conll03/dev.txt": "-DOCSTART- -X- -X- O\n\n" },
      (d) => loadConll03("dev", { dataDir: d }),
      "conll03/dev.txt: the dev split of conll03 has no examples",
    ],
    [{ "ontonotes/test.txt": "\n" }, (d) => loadOntonotes("test", { dataDir: d }), "ontonotes/test.txt:"],
    [
      { "conll04/conll04_test.json": "[]" },
      (d) => loadConll04("test", { dataDir: d }),
      "conll04/conll04_test.json: the test split of conll04 has no examples",
    ],
    [
      { "ade/ade_split_3_train.json": "[]" },
      (d) => loadAde("train", { dataDir: d, fold: 3 }),
      "ade/ade_split_3_train.json:",
    ],
    [
      { "fewrel/val_wiki.json": "{}", "fewrel/pid2name.json": "{}" },
      (d) => loadFewRelFile("val_wiki", "dev", { dataDir: d }),
      "fewrel/val_wiki.json: the dev split of fewrel has no examples",
    ],
    [
      { "ace2005_joint_er/train.json": "" },
      (d) => loadAce2005("train", { dataDir: d }),
      "ace2005_joint_er/train.json:",
    ],
    [
      { "CoNLL2005-SRL/conll05.dev.txt": "" },
      (d) => loadConll05Srl("dev", { dataDir: d }),
      "CoNLL2005-SRL/conll05.dev.txt:",
    ],
    [
      { "multi_woz_2.1/multi_woz_2.1_dev_5_domain.json": '{"examples": []}' },
      (d) => loadMultiWoz("dev", { dataDir: d }),
      "multi_woz_2.1/multi_woz_2.1_dev_5_domain.json:",
    ],
  ];
  for (const [files, load, msg] of cases) {
    withData(files, (dataDir) => {
      const e = assertThrows(() => load(dataDir), DataFormatError, msg);
      assertStringIncludes(e.message, "has no examples");
    });
  }
  // An SRL line with an index but no sentence is not an empty example.
  withData({ "CoNLL2005-SRL/conll05.dev.txt": "3 ||| \n" }, (dataDir) => {
    assertThrows(() => loadConll05Srl("dev", { dataDir }), DataFormatError, "conll05.dev.txt:1: no tokens");
  });
});

const instances = (n: number) =>
  Array.from(
    { length: n },
    (_, i) => ({ tokens: ["x", "y", String(i)], h: ["x", "Q1", [[0]]], t: ["y", "Q2", [[1]]] }),
  );

Deno.test("FewRel episodes: data too small for N-way K-shot with Q queries is refused at load, naming all four", () => {
  // Three relations, of which two have K + Q = 1 + 5 = 6 instances.
  const data = { P1: instances(6), P2: instances(3), P3: instances(7) };
  const files = { "fewrel/val_wiki.json": JSON.stringify(data), "fewrel/pid2name.json": "{}" };
  withData(files, (dataDir) => {
    // Python's random.sample would fail with "Sample larger than population" partway.
    const e = assertThrows(() => fewRelEpisode({ ways: 3, shots: 1, seed: 1 }, { dataDir }), DataFormatError);
    assertEquals(
      e.message,
      "fewrel/val_wiki.json: 3-way 1-shot episodes with 5 queries need 3 relations with at least 6 " +
        "instances (K + Q) each, but 2 of the file's 3 relations qualify (instances of the others: P2 (3))",
    );
    assertStringIncludes(describeError(e).text, "what to do: ask for fewer ways, shots or queries");
    // More ways than relations.
    assertThrows(
      () => fewRelEpisode({ ways: 5, shots: 1, queries: 1, seed: 1 }, { dataDir }),
      DataFormatError,
      "5-way 1-shot episodes with 1 queries need 5 relations with at least 2 instances (K + Q) each, but 3 of",
    );
    // Enough relations qualify: drawn among all three as the reference does; a seed that draws
    // the short one names it instead of failing inside random.sample.
    const grouped = loadFewRelFile("val_wiki", "dev", { dataDir });
    checkEpisodeFeasible(grouped, { ways: 2, shots: 1 });
    const outcomes = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) => {
      try {
        return sampleEpisode(grouped, { ways: 2, shots: 1, seed }).relationTypes.map((t) => t.short).join(
          ",",
        );
      } catch (err) {
        assert(err instanceof DataFormatError, String(err));
        assertStringIncludes(
          err.message,
          `fewrel/val_wiki.json: episode seed ${seed} draws relation P2, which has 3`,
        );
        return "P2";
      }
    });
    assert(outcomes.includes("P2") && outcomes.some((o) => o !== "P2"), outcomes.join(" "));
  });
});
