/**
 * Times the tokenizer on CoNLL-2003 train (each sentence's words joined by spaces, as TANL's
 * plain input format does). Run: `FISHDIP_DATA=../shared/data deno run -A scripts/bench_tokenizer.ts`.
 *
 * @module
 */

import { requireDataFile } from "../lib/config/paths.ts";
import { T5Tokenizer } from "../lib/tokenizer/t5_tokenizer.ts";

/** Reads the sentences of a CoNLL-2003 file (first column, `-DOCSTART-` lines dropped). */
export function readConllSentences(text: string): string[] {
  const sentences: string[] = [];
  let words: string[] = [];
  for (const line of text.split("\n")) {
    const word = line.trim().split(" ")[0];
    if (!word) {
      if (words.length) sentences.push(words.join(" "));
      words = [];
    } else if (word !== "-DOCSTART-") words.push(word);
  }
  if (words.length) sentences.push(words.join(" "));
  return sentences;
}

if (import.meta.main) {
  const t0 = performance.now();
  const tok = await T5Tokenizer.load();
  const t1 = performance.now();
  const sentences = readConllSentences(
    await Deno.readTextFile(requireDataFile("conll03/train.txt", "conll03")),
  );
  const t2 = performance.now();
  let tokens = 0;
  for (const s of sentences) tokens += tok.encode(s).length;
  const t3 = performance.now();
  console.log(
    `load ${(t1 - t0).toFixed(0)} ms; ${sentences.length} sentences, ${tokens} ids in ${
      ((t3 - t2) / 1000).toFixed(2)
    } s (${(sentences.length / ((t3 - t2) / 1000)).toFixed(0)} sentences/s)`,
  );
}
