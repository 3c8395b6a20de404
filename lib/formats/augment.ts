/**
 * TANL's `augment_sentence`: write typed spans into a sentence as `[ words | tag | rel = tail ]`.
 *
 * Spans must form a tree. They are sorted by (start, -end), so an outer span comes before the spans
 * it contains, and a span that crosses one on the current nesting path is dropped (TANL logs a
 * warning and drops it too). Nested spans are expanded recursively.
 *
 * @module
 */

/** A span to annotate: its tag tuples, start and exclusive end (TANL's `(tags, start, end)`). */
export interface Augmentation {
  /** `[["person"], ["born in", "here"]]` becomes `| person | born in = here`. */
  tags: string[][];
  start: number;
  end: number;
}

/** The special tokens; TANL uses `[`, `|`, `=`, `]` everywhere. */
export interface AugmentTokens {
  begin: string;
  sep: string;
  relationSep: string;
  end: string;
}

/** TANL's tokens `[`, `|`, `=`, `]`. */
export const TANL_TOKENS: AugmentTokens = { begin: "[", sep: "|", relationSep: "=", end: "]" };

/** The outcome of {@link augmentSentence}: the sentence and the spans that had to be dropped. */
export interface Augmented {
  sentence: string;
  /** Spans crossing another span (not nested in it), left out of the sentence. */
  dropped: Augmentation[];
}

/**
 * Annotates `tokens` with `augmentations`; also reports the spans dropped for crossing others.
 *
 * ```ts
 * augment(["Tolkien", "was", "born", "here"], [
 *   { tags: [["person"], ["born in", "here"]], start: 0, end: 1 },
 *   { tags: [["location"]], start: 3, end: 4 },
 * ]).sentence // "[ Tolkien | person | born in = here ] was born [ here | location ]"
 * ```
 */
export function augment(
  tokens: readonly string[],
  augmentations: readonly Augmentation[],
  special: AugmentTokens = TANL_TOKENS,
): Augmented {
  // Array.prototype.sort is stable, as Python's sorted is, so equal keys keep the caller's order.
  const spans = [...augmentations].sort((a, b) => a.start - b.start || b.end - a.end);
  const ROOT = -1;
  const children = new Map<number, number[]>([[ROOT, []]]);
  const stack = [ROOT];
  const dropped: Augmentation[] = [];
  // Python's augmentations[-1] is the last span; TANL indexes the root that way. The test can
  // then never fire for the root (the last span starts no earlier), but we keep the same lookup.
  const at = (k: number) => (k >= 0 ? spans[k] : spans[spans.length - 1]);

  spans.forEach((x, j) => {
    if (stack.some((k) => at(k).start < x.start && x.start < at(k).end && at(k).end < x.end)) {
      dropped.push(x);
      return;
    }
    while (stack[stack.length - 1] >= 0) {
      const top = spans[stack[stack.length - 1]];
      if (top.start <= x.start && x.start <= x.end && x.end <= top.end) break;
      stack.pop();
    }
    children.get(stack[stack.length - 1])!.push(j);
    stack.push(j);
    children.set(j, []);
  });

  const expand = (root: number): string[] => {
    const out: string[] = [];
    const [rootStart, rootEnd] = root >= 0 ? [spans[root].start, spans[root].end] : [0, tokens.length];
    let i = rootStart;
    for (const j of children.get(root)!) {
      const { tags, start, end } = spans[j];
      out.push(...pySliceList(tokens, i, start), special.begin, ...expand(j));
      for (const tag of tags) {
        // An empty first element means "no type": TANL then writes only the `= x` parts.
        if (tag[0]) out.push(special.sep, tag[0]);
        for (const x of tag.slice(1)) out.push(special.relationSep, x);
      }
      out.push(special.end);
      i = end;
    }
    out.push(...pySliceList(tokens, i, rootEnd));
    return out;
  };

  return { sentence: expand(ROOT).join(" "), dropped };
}

/** TANL's `augment_sentence`: the annotated sentence only. */
export function augmentSentence(
  tokens: readonly string[],
  augmentations: readonly Augmentation[],
  special: AugmentTokens = TANL_TOKENS,
): string {
  return augment(tokens, augmentations, special).sentence;
}

/** Python's `list[a:b]` (negative indices from the end, clamped). */
function pySliceList<T>(xs: readonly T[], a: number, b: number): T[] {
  const n = xs.length;
  const norm = (i: number) => (i < 0 ? Math.max(0, n + i) : Math.min(i, n));
  const s = norm(a), e = norm(b);
  return e > s ? xs.slice(s, e) : [];
}
