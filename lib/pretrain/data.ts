/**
 * The pretraining stream: token ids of each corpus source (written by `scripts/build_corpus.ts`)
 * and the sampler that turns them into span-corruption and copy examples.
 *
 * @module
 */
import { copyDenoise, type Rng, type Seq2SeqIds, spanCorrupt } from "./span_corruption.ts";

/** One source's sentences as token ids (no EOS): ids concatenated, sentence i = ids[offsets[i]..offsets[i+1]). */
export interface TokenSource {
  name: string;
  ids: Uint16Array;
  offsets: Uint32Array;
}

/** Reads `<prefix>.ids` (uint16) and `<prefix>.offsets` (uint32). */
export function readTokenSource(name: string, prefix: string): TokenSource {
  const ids = Deno.readFileSync(`${prefix}.ids`);
  const offs = Deno.readFileSync(`${prefix}.offsets`);
  return {
    name,
    ids: new Uint16Array(ids.buffer, ids.byteOffset, ids.byteLength / 2),
    offsets: new Uint32Array(offs.buffer, offs.byteOffset, offs.byteLength / 4),
  };
}

/** Sentence count of a source. */
export function sentenceCount(s: TokenSource): number {
  return s.offsets.length - 1;
}

/** Settings of the example sampler. */
export interface SamplerConfig {
  /** Sampling weight of each source by name (unlisted sources: 0). */
  weights: Record<string, number>;
  /** Raw tokens per span-corruption example (T5 packs text; so do we, across sentence ends). */
  spanLength: number;
  /** Longest copy example in tokens (longer sentences are cut). */
  copyMaxLength: number;
  /** Shortest copy example: short sentences are joined with the next ones up to this. */
  copyMinLength: number;
  /** Share of copy examples that are lightly corrupted (deletions, swaps) rather than exact copies. */
  copyNoisyShare: number;
}

/** The sampler's defaults: 64-token spans, copies of 8..64 tokens, half of them noisy. */
export const DEFAULT_SAMPLER: SamplerConfig = {
  weights: { brown: 0.25, nlp_corpus: 0.2, gcide: 0.25, conll03_train: 0.25, conll04_train: 0.05 },
  spanLength: 64,
  copyMaxLength: 64,
  copyMinLength: 8,
  copyNoisyShare: 0.5,
};

/** Draws examples from weighted sources. */
export class ExampleSampler {
  private readonly cumulative: number[] = [];
  private readonly active: TokenSource[] = [];
  constructor(
    sources: readonly TokenSource[],
    readonly config: SamplerConfig,
    readonly sentinel: (i: number) => number,
    readonly eosId: number,
  ) {
    let total = 0;
    for (const s of sources) {
      const w = config.weights[s.name] ?? 0;
      if (w <= 0 || sentenceCount(s) === 0) continue;
      total += w;
      this.active.push(s);
      this.cumulative.push(total);
    }
    if (!this.active.length) throw new Error("no source with a positive weight and sentences");
    for (let i = 0; i < this.cumulative.length; i++) this.cumulative[i] /= total;
  }

  /** A source by weight. */
  pickSource(rng: Rng): TokenSource {
    const u = rng.next();
    const i = this.cumulative.findIndex((c) => u < c);
    return this.active[i < 0 ? this.active.length - 1 : i];
  }

  /** `spanLength` consecutive tokens from a random sentence start (wrapping at the end). */
  packedTokens(src: TokenSource, rng: Rng): number[] {
    const L = Math.min(this.config.spanLength, src.ids.length);
    let start = src.offsets[rng.int(sentenceCount(src))];
    if (start + L > src.ids.length) start = src.ids.length - L;
    return Array.from(src.ids.subarray(start, start + L));
  }

  /** One sentence (joined with the following ones while shorter than `copyMinLength`), cut to `copyMaxLength`. */
  sentenceTokens(src: TokenSource, rng: Rng): number[] {
    const n = sentenceCount(src);
    let i = rng.int(n);
    const out: number[] = [];
    while (out.length < this.config.copyMinLength && i < n) {
      for (const id of src.ids.subarray(src.offsets[i], src.offsets[i + 1])) out.push(id);
      i++;
    }
    return out.slice(0, this.config.copyMaxLength);
  }

  /** A span-corruption example. */
  span(rng: Rng): Seq2SeqIds {
    return spanCorrupt(this.packedTokens(this.pickSource(rng), rng), rng, this.sentinel, this.eosId);
  }

  /** A copy (or lightly corrupted copy) example. */
  copy(rng: Rng): Seq2SeqIds {
    const ids = this.sentenceTokens(this.pickSource(rng), rng);
    const noisy = rng.next() < this.config.copyNoisyShare;
    return copyDenoise(ids, rng, this.eosId, noisy ? { dropRate: 0.05, swapRate: 0.03 } : {});
  }
}
