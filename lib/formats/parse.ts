/**
 * TANL's `BaseOutputFormat.parse_output_sentence`: read bracketed spans out of an output sentence
 * and align them to the gold tokens.
 *
 * Two steps, both as in TANL. First a scan with a stack of open spans separates the sentence's
 * words from the annotations (names, `|`-separated tags). Then an edit-distance alignment maps the
 * reconstructed words onto the gold tokens, so that a span keeps its position even when the model
 * misspelt, dropped or added words.
 *
 * @module
 */

import { pySplit, pyStrip } from "./python.ts";
import type { RawEntity } from "./types.ts";
import { TANL_TOKENS } from "./augment.ts";

/** What {@link parseOutputSentence} returns. */
export interface ParsedOutput {
  /** Spans in the order their closing brackets appear, positions in gold tokens. */
  entities: RawEntity[];
  /** The words outside annotations differ from the gold tokens (compared with spaces removed). */
  wrongReconstruction: boolean;
}

interface OpenSpan {
  start: number;
  /** "name" until the span's first `|`, then "other". */
  state: "name" | "other";
  nameTokens: string[];
  otherTokens: string[];
}

/**
 * Parses an output sentence written in TANL's augmented language against the gold `tokens`.
 *
 * ```ts
 * parseOutputSentence(["Tolkien", "wrote", "Beren"], "[ Tolkien | person ] wrote [ Beren | book | author = Tolkien ]")
 * // entities: [{ name: "Tolkien", tags: [["person"]], start: 0, end: 1 },
 * //            { name: "Beren", tags: [["book"], ["author", "Tolkien"]], start: 2, end: 3 }]
 * ```
 */
export function parseOutputSentence(tokens: readonly string[], outputSentence: string): ParsedOutput {
  const { begin, end: close, sep, relationSep } = TANL_TOKENS;
  const outputTokens: string[] = [];
  const unaligned: RawEntity[] = [];

  // Pad the special tokens with spaces so that splitting isolates them (Python's str.replace
  // replaces every occurrence, in this order).
  let padded = outputSentence;
  for (const t of [begin, close, sep, relationSep]) padded = padded.replaceAll(t, ` ${t} `);

  const stack: OpenSpan[] = [];
  for (const token of pySplit(padded)) {
    if (token === begin) {
      stack.push({ start: outputTokens.length, state: "name", nameTokens: [], otherTokens: [] });
    } else if (token === close && stack.length > 0) {
      const { start, state, nameTokens, otherTokens } = stack.pop()!;
      const tags: string[][] = [];
      const groups = splitOn(otherTokens, sep);
      if (state === "other" && groups.length > 0) {
        for (const g of groups) tags.push(g.join(" ").split(` ${relationSep} `));
      }
      unaligned.push({ name: pyStrip(nameTokens.join(" ")), tags, start, end: outputTokens.length });
    } else if (stack.length > 0) {
      if (token === sep) {
        // The first `|` of the innermost span ends its name; later ones separate its tags.
        const top = stack[stack.length - 1];
        if (top.state === "name") top.state = "other";
        else top.otherTokens.push(token);
      } else {
        // A word belongs to the names of the open spans, from the innermost outwards, until a span
        // already past its name claims it as a tag word; only then is it not a sentence word.
        let isSentenceWord = true;
        for (let k = stack.length - 1; k >= 0; k--) {
          const x = stack[k];
          if (x.state === "name") {
            x.nameTokens.push(token);
          } else {
            x.otherTokens.push(token);
            isSentenceWord = false;
            break;
          }
        }
        if (isSentenceWord) outputTokens.push(token);
      }
    } else {
      // Outside every span; this includes a `]` with nothing open.
      outputTokens.push(token);
    }
  }

  const wrongReconstruction = outputTokens.join("") !== tokens.join("");
  const matching = alignTokens(tokens, outputTokens);

  const entities: RawEntity[] = [];
  for (const { name, tags, start, end } of unaligned) {
    let newStart: number | undefined, newEnd: number | undefined;
    for (let j = start; j < end; j++) {
      const i = matching.get(j);
      if (i === undefined) continue;
      if (newStart === undefined) newStart = i;
      newEnd = i;
    }
    // A span none of whose words align is dropped.
    if (newStart !== undefined) entities.push({ name, tags, start: newStart, end: newEnd! + 1 });
  }
  return { entities, wrongReconstruction };
}

/**
 * TANL's alignment: edit distance between gold tokens `a` and output tokens `b`, returning for
 * each aligned output position j the gold position i (`matching[j] = i`). A substitution counts
 * as aligned, like a match.
 *
 * Ties are broken as Python's `min` over `(cost, option)` tuples does: lowest cost, then the
 * lowest option number, i.e. match/substitute (1), then skip a gold token (2), then skip an output
 * token (3).
 */
export function alignTokens(a: readonly string[], b: readonly string[]): Map<number, number> {
  const n = a.length, m = b.length, w = m + 1;
  const cost = new Float64Array((n + 1) * w);
  const best = new Uint8Array((n + 1) * w);
  for (let i = 0; i <= n; i++) {
    for (let j = 0; j <= m; j++) {
      if (i === 0 && j === 0) continue;
      let c = Infinity, opt = 0;
      if (i > 0 && j > 0) {
        c = (a[i - 1] === b[j - 1] ? 0 : 1) + cost[(i - 1) * w + j - 1];
        opt = 1;
      }
      // Strict `<`: on equal cost the lower option number (tried first) wins.
      if (i > 0 && 1 + cost[(i - 1) * w + j] < c) c = 1 + cost[(i - 1) * w + j], opt = 2;
      if (j > 0 && 1 + cost[i * w + j - 1] < c) c = 1 + cost[i * w + j - 1], opt = 3;
      cost[i * w + j] = c;
      best[i * w + j] = opt;
    }
  }

  const matching = new Map<number, number>();
  let i = n - 1, j = m - 1;
  while (i >= 0 && j >= 0) {
    const opt = best[(i + 1) * w + j + 1];
    if (opt === 1) matching.set(j--, i--);
    else if (opt === 2) i--;
    else j--;
  }
  return matching;
}

/** `[list(g) for sep_flag, g in itertools.groupby(xs, lambda z: z == sep) if not sep_flag]`. */
function splitOn(xs: readonly string[], sep: string): string[][] {
  const groups: string[][] = [];
  let cur: string[] = [];
  for (const x of xs) {
    if (x === sep) {
      if (cur.length > 0) groups.push(cur), cur = [];
    } else {
      cur.push(x);
    }
  }
  if (cur.length > 0) groups.push(cur);
  return groups;
}
