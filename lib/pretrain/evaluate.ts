/**
 * What a pretraining run measures: the held-out span-corruption loss and the reconstruction probe
 * (greedy decoding of dev sentences given as input), and the loss-curve summary of a run folder.
 *
 * @module
 */
import type { T5Model } from "../t5/model.ts";
import { t5Generate, t5PerExampleLoss } from "../t5/mod.ts";
import type { T5Tokenizer } from "../tokenizer/mod.ts";
import { DEFAULT_SAMPLER, ExampleSampler, type TokenSource } from "./data.ts";
import { padPairs, Rng, type Seq2SeqIds, spanCorrupt } from "./span_corruption.ts";

/** The seed of the held-out examples every evaluation of a run uses. */
export const HELDOUT_SEED = 20231206;

/** The held-out evaluation set: 256 span examples from the held-out sentences, drawn with `seed`. */
export function heldOutSet(
  sources: TokenSource[],
  sentinel: (i: number) => number,
  eosId: number,
  seed = HELDOUT_SEED,
): { span: Seq2SeqIds[] } {
  const sampler = new ExampleSampler(sources, DEFAULT_SAMPLER, sentinel, eosId);
  const rng = new Rng(seed);
  const span: Seq2SeqIds[] = [];
  for (let i = 0; i < 256; i++) {
    span.push(spanCorrupt(sampler.packedTokens(sampler.pickSource(rng), rng), rng, sentinel, eosId));
  }
  return { span };
}

/** Mean token loss over examples (labels padded with −100), in batches. */
export async function meanLoss(
  model: T5Model,
  examples: Seq2SeqIds[],
  padId: number,
  batch = 32,
): Promise<number> {
  let sum = 0, count = 0;
  for (let i = 0; i < examples.length; i += batch) {
    const b = padPairs(examples.slice(i, i + batch), padId);
    const per = t5PerExampleLoss(model, b);
    const v = await per.data();
    per.dispose();
    b.labels.forEach((row, j) => {
      const n = row.filter((x) => x !== -100).length;
      sum += v[j] * n;
      count += n;
    });
  }
  return sum / count;
}

/** Greedy decoding of each sentence as input; the share reproduced exactly, and per-token accuracy. */
export async function reconstruction(
  model: T5Model,
  tok: T5Tokenizer,
  sentences: string[],
  batch = 16,
): Promise<{ exact: number; tokenAccuracy: number; samples: { input: string; output: string }[] }> {
  let exact = 0, hit = 0, total = 0;
  const samples: { input: string; output: string }[] = [];
  for (let i = 0; i < sentences.length; i += batch) {
    const chunk = sentences.slice(i, i + batch);
    const ids = chunk.map((s) => tok.encode(s, { maxLength: 96 }));
    const maxLen = Math.max(...ids.map((r) => r.length)) + 8;
    const outs = await t5Generate(model, ids, { maxLength: maxLen });
    outs.forEach((o, j) => {
      const want = ids[j];
      const got = o.slice(1);
      const end = got.indexOf(tok.eosId);
      const g = end >= 0 ? got.slice(0, end + 1) : got;
      if (g.length === want.length && g.every((x, k) => x === want[k])) exact++;
      for (let k = 0; k < want.length; k++) if (g[k] === want[k]) hit++;
      total += want.length;
      if (samples.length < 6) {
        samples.push({ input: chunk[j], output: tok.decode(g, { skipSpecialTokens: true }) });
      }
    });
  }
  return { exact: exact / sentences.length, tokenAccuracy: hit / total, samples };
}

/** The probe's inputs: `n` CoNLL04 and CoNLL-2003 dev sentences of 5-40 words (not in the corpus). */
export async function probeSentences(n: number, dataDir?: string): Promise<string[]> {
  const out: string[] = [];
  if (n <= 0) return out;
  try {
    const { loadDataset } = await import("../data/mod.ts");
    for (const name of ["conll04", "conll03"] as const) {
      const ex = loadDataset(name, "dev", { dataDir }).examples.filter((e) =>
        e.tokens.length >= 5 && e.tokens.length <= 40
      );
      for (let i = 0; i < n / 2 && i < ex.length; i++) {
        out.push(ex[Math.floor((i * ex.length) / (n / 2))].tokens.join(" "));
      }
    }
  } catch (e) {
    console.warn(`reconstruction probe: datasets unavailable (${(e as Error).message.split("\n")[0]})`);
  }
  return out;
}

/** One evaluation: held-out span loss, and the reconstruction probe when it has sentences. */
export async function evaluatePretraining(
  model: T5Model,
  tok: T5Tokenizer,
  held: { span: Seq2SeqIds[] },
  probe: string[],
): Promise<{
  heldout_span_loss: number;
  reconstruction_exact?: number;
  reconstruction_token_accuracy?: number;
  samples?: { input: string; output: string }[];
  eval_seconds: number;
}> {
  const t0 = performance.now();
  const spanLoss = await meanLoss(model, held.span, tok.padId);
  const rec = probe.length ? await reconstruction(model, tok, probe) : undefined;
  return {
    heldout_span_loss: spanLoss,
    reconstruction_exact: rec?.exact,
    reconstruction_token_accuracy: rec?.tokenAccuracy,
    samples: rec?.samples,
    eval_seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * The loss curve as a Markdown table (each objective's training loss averaged over about ten equal
 * stretches of steps) plus the evaluations, from `<work>/log.jsonl` and `<work>/eval.jsonl`.
 */
export async function summarizePretraining(work: string): Promise<string> {
  const read = async (f: string) =>
    (await Deno.readTextFile(`${work}/${f}`)).trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
  const log = await read("log.jsonl");
  const evals = await read("eval.jsonl").catch(() => []);
  const last = log[log.length - 1];
  const bins = 10, per = Math.max(1, Math.ceil(log.length / bins));
  const mean = (xs: (number | null | undefined)[]) => {
    const v = xs.filter((x): x is number => typeof x === "number");
    return v.length ? (v.reduce((a, b) => a + b, 0) / v.length).toFixed(3) : "-";
  };
  // span and copy first (the self-supervised objectives), then every other objective logged.
  // (an objective that never ran, such as copy in a multi-task recipe, gets no column).
  const objectives: string[] = [];
  for (const name of ["span", "copy"]) {
    if (log.some((r) => typeof r[`${name}_loss`] === "number")) objectives.push(name);
  }
  for (const r of log) {
    for (const k of Object.keys(r)) {
      const m = /^(.+)_loss$/.exec(k);
      if (m && !objectives.includes(m[1]) && log.some((x) => typeof x[k] === "number")) objectives.push(m[1]);
    }
  }
  const lines = [
    `| steps | minutes | tokens seen | ${
      objectives.map((o) => `${o} loss (train)`).join(" | ")
    } | tokens/s |`,
    `|---|---|---|${objectives.map(() => "---|").join("")}---|`,
  ];
  for (let i = 0; i < log.length; i += per) {
    const b = log.slice(i, i + per), e = b[b.length - 1];
    const losses = objectives.map((o) => mean(b.map((r) => r[`${o}_loss`])));
    lines.push(
      `| ${b[0].step}-${e.step} | ${e.minutes.toFixed(1)} | ${e.tokens.toLocaleString("en-US")} | ${
        losses.join(" | ")
      } | ${e.tokens_per_s} |`,
    );
  }
  lines.push(
    "",
    "| step | minutes | held-out span loss | copy: exact | copy: token accuracy |",
    "|---|---|---|---|---|",
  );
  const pct = (x: number | undefined) => x === undefined ? "-" : (100 * x).toFixed(1) + "%";
  for (const e of evals) {
    lines.push(
      `| ${e.step} | ${e.minutes.toFixed(1)} | ${e.heldout_span_loss.toFixed(3)} | ${
        pct(e.reconstruction_exact)
      } | ${pct(e.reconstruction_token_accuracy)} |`,
    );
  }
  lines.push(
    "",
    `last: step ${last.step}, ${last.minutes} min, ${last.tokens.toLocaleString("en-US")} tokens`,
  );
  return lines.join("\n");
}
