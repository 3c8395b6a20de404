import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { gloveInitEmbedding, parseWinkEmbeddings } from "./glove.ts";

const WINK = JSON.stringify({
  dimensions: 4,
  vectors: {
    the: [1, 0, 0, 0, 1, 0],
    cat: [0, 1, 0, 0, 1, 1],
    dog: [0, 0.9, 0.1, 0, 0.9, 2],
    paris: [0, 0, 0, 1, 1, 3],
  },
});

Deno.test("parseWinkEmbeddings: keeps the first `dimensions` numbers, names the file on bad input", () => {
  const g = parseWinkEmbeddings(WINK);
  assertEquals(g.dims, 4);
  assertEquals([...g.vectors.get("cat")!], [0, 1, 0, 0]);
  assertThrows(() => parseWinkEmbeddings('{"words": []}', "x.json"), Error, "x.json");
  assertThrows(
    () => parseWinkEmbeddings('{"dimensions": 4, "vectors": {"a": [1, 2]}}', "y.json"),
    Error,
    'y.json: vector of "a" has 2 numbers',
  );
});

Deno.test("gloveInitEmbedding: replaces GloVe words' rows only, keeps their geometry, target scale", () => {
  const d = 64;
  const pieces = ["<pad>", "▁The", "▁cat", "s", "▁dog", "▁Paris", "▁zzz", "cat"];
  const before = Float32Array.from({ length: pieces.length * d }, (_, i) => (i % 7) - 3);
  const emb = before.slice();
  const { replaced } = gloveInitEmbedding(emb, d, pieces, parseWinkEmbeddings(WINK), {
    seed: 3,
    skip: (id) => id === 0,
    targetStd: 1,
  });
  // ▁The, ▁cat, ▁dog, ▁Paris and the word-internal "cat"; not <pad> (skipped), "s", "▁zzz".
  assertEquals(replaced, 5);
  const row = (id: number) => emb.slice(id * d, (id + 1) * d);
  for (const id of [0, 3, 6]) assertEquals(row(id), before.slice(id * d, (id + 1) * d));
  assertEquals(row(2), row(7)); // same word, same vector
  const cos = (a: Float32Array, b: Float32Array) => {
    let ab = 0, aa = 0, bb = 0;
    for (let i = 0; i < a.length; i++) (ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i]);
    return ab / Math.sqrt(aa * bb);
  };
  // cat and dog are close in the toy vectors (cos 0.99), cat and paris orthogonal: the random
  // projection to 64 dimensions keeps that ordering.
  assert(cos(row(2), row(4)) > 0.8, `cat/dog ${cos(row(2), row(4))}`);
  assert(Math.abs(cos(row(2), row(5))) < 0.5, `cat/paris ${cos(row(2), row(5))}`);
  let sq = 0, n = 0, sum = 0;
  for (const id of [1, 2, 4, 5, 7]) for (const x of row(id)) (sq += x * x, sum += x, n++);
  assertAlmostEquals(sum / n, 0, 1e-5);
  assertAlmostEquals(Math.sqrt(sq / n), 1, 1e-4);
});
