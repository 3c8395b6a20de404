import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import {
  copyDenoise,
  padPairs,
  randomSegmentation,
  randomSpansNoiseMask,
  Rng,
  spanCorrupt,
  spansToSentinels,
} from "./span_corruption.ts";

/** round(float32(n) * float32(0.15)) with ties to even, written out for the reference values. */
function t5Round(n: number): number {
  const x = Math.fround(Math.fround(n) * Math.fround(0.15));
  const f = Math.floor(x);
  return x - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(x);
}

Deno.test("T5's float32 rounding of the noise count: 30 -> 4 and 70 -> 10 (ties to even)", () => {
  const rng = new Rng(1);
  assertEquals(randomSpansNoiseMask(30, rng).filter((m) => m).length, 4);
  assertEquals(randomSpansNoiseMask(70, rng).filter((m) => m).length, 10);
  assertEquals(randomSpansNoiseMask(64, rng).filter((m) => m).length, 10);
});

/** Runs of equal values in a mask, as [value, length] pairs. */
function runs(mask: boolean[]): [boolean, number][] {
  const out: [boolean, number][] = [];
  for (const m of mask) {
    if (out.length && out[out.length - 1][0] === m) out[out.length - 1][1]++;
    else out.push([m, 1]);
  }
  return out;
}

Deno.test("randomSegmentation: positive lengths summing to the item count", () => {
  const rng = new Rng(3);
  for (let t = 0; t < 200; t++) {
    const n = 1 + rng.int(60), k = 1 + rng.int(n);
    const seg = randomSegmentation(n, k, rng);
    assertEquals(seg.length, k);
    assertEquals(seg.reduce((a, b) => a + b, 0), n);
    assert(seg.every((x) => x >= 1));
  }
});

Deno.test("randomSpansNoiseMask: T5's counts (15% noise, mean span 3), non-noise first, noise last", () => {
  const rng = new Rng(7);
  for (const length of [10, 57, 64, 100, 114, 512]) {
    for (let t = 0; t < 50; t++) {
      const mask = randomSpansNoiseMask(length, rng);
      assertEquals(mask.length, length);
      // t5: num_noise = round(float32(length) * 0.15), num_spans = round(num_noise / 3), both >= 1.
      const noise = Math.min(Math.max(t5Round(length), 1), length - 1);
      const spans = Math.max(Math.round(noise / 3), 1);
      assertEquals(mask.filter((m) => m).length, noise);
      const r = runs(mask);
      assertEquals(r.length, 2 * spans, `alternating spans for length ${length}`);
      assertEquals(r[0][0], false);
      assertEquals(r[r.length - 1][0], true);
    }
  }
});

Deno.test("randomSpansNoiseMask: mean noise span length is about 3 over many draws", () => {
  const rng = new Rng(11);
  let spans = 0, noise = 0;
  for (let t = 0; t < 500; t++) {
    const mask = randomSpansNoiseMask(200, rng);
    const r = runs(mask).filter(([m]) => m);
    spans += r.length;
    noise += r.reduce((a, [, n]) => a + n, 0);
  }
  assertAlmostEquals(noise / spans, 3, 0.01);
  assertAlmostEquals(noise / (500 * 200), 0.15, 1e-9);
});

Deno.test("spanCorrupt: sentinel layout interleaves as in T5, and inputs + targets rebuild the text", () => {
  const rng = new Rng(5);
  const sentinel = (i: number) => 1000 - i;
  for (let t = 0; t < 100; t++) {
    const ids = Array.from({ length: 20 + rng.int(60) }, (_, i) => 10 + i);
    const { inputs, targets } = spanCorrupt(ids, rng, sentinel, 1);
    assertEquals(inputs[inputs.length - 1], 1);
    assertEquals(targets[targets.length - 1], 1);
    // Targets start with <extra_id_0>; inputs end (before EOS) with the last sentinel.
    assertEquals(targets[0], 1000);
    const inSent = inputs.filter((x) => x > 900), tgSent = targets.filter((x) => x > 900);
    assertEquals(inSent, tgSent);
    assertEquals(inSent, inSent.map((_, i) => 1000 - i));
    assertEquals(inputs[inputs.length - 2], inSent[inSent.length - 1]);
    // Fill each input sentinel with the tokens that follow the same sentinel in the targets.
    const fill = new Map<number, number[]>();
    let cur = -1;
    for (const x of targets.slice(0, -1)) {
      if (x > 900) fill.set(cur = x, []);
      else fill.get(cur)!.push(x);
    }
    const rebuilt = inputs.slice(0, -1).flatMap((x) => (x > 900 ? fill.get(x)! : [x]));
    assertEquals(rebuilt, ids);
    // 15% noise: the target side holds round(0.15 n) tokens.
    assertEquals(targets.length - 1 - tgSent.length, t5Round(ids.length));
  }
});

Deno.test("spansToSentinels: one sentinel per run", () => {
  assertEquals(spansToSentinels([1, 2, 3, 4, 5], [false, true, true, false, true], (i) => 100 + i), [
    1,
    100,
    4,
    101,
  ]);
});

Deno.test("copyDenoise: target is the clean sentence; without noise the input equals it", () => {
  const rng = new Rng(1);
  const ids = [5, 6, 7, 8, 9, 10, 11, 12];
  assertEquals(copyDenoise(ids, rng, 1), { inputs: [...ids, 1], targets: [...ids, 1] });
  const noisy = copyDenoise(ids, rng, 1, { dropRate: 0.3, swapRate: 0.3 });
  assertEquals(noisy.targets, [...ids, 1]);
  assert(noisy.inputs.length <= ids.length + 1);
});

Deno.test("padPairs: pads inputs with pad and labels with -100", () => {
  const b = padPairs([{ inputs: [5, 1], targets: [7, 8, 1] }, { inputs: [5, 6, 7, 1], targets: [1] }], 0);
  assertEquals(b.inputIds, [[5, 1, 0, 0], [5, 6, 7, 1]]);
  assertEquals(b.attentionMask, [[1, 1, 0, 0], [1, 1, 1, 1]]);
  assertEquals(b.labels, [[7, 8, 1], [1, -100, -100]]);
  assertEquals(b.targetTokens, 4);
  assertEquals(b.inputTokens, 6);
});

Deno.test("Rng: reproducible from its saved state", () => {
  const a = new Rng(42);
  a.next();
  const saved = a.state;
  const x = [a.next(), a.next()];
  const b = new Rng(0);
  b.state = saved;
  assertEquals([b.next(), b.next()], x);
});
