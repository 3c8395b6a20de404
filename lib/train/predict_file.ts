/**
 * Predictions of a fine-tuned model on new sentences, as files: read a `.txt` (one sentence a line)
 * or annotated file, decode greedily in batches with a progress line, write JSON lines (or CoNLL
 * columns), and, when the input carries gold annotation, score it per type.
 *
 * Each output line is `{"tokens": [...], "entities": [{"start", "end", "type", "text"}],
 * "relations": [{"head", "tail", "type"}]}` with the user's own type names, `end` exclusive and
 * `head`/`tail` indexing `entities`: the JSON-lines training format, so predictions can be
 * corrected and trained on. A sentence longer than the model's input limit is read up to the limit
 * and reported (on the log and in the record's `warnings`), as is an output cut at the length limit.
 *
 * ```ts
 * const summary = await predictFile({ model: "runs/mine", input: "new.txt", output: "new.pred.jsonl" });
 * summary.scores?.entities.f1; // when new.txt was an annotated file instead
 * ```
 *
 * @module
 */
import type { DatasetSchema, Example } from "../data/types.ts";
import { loadUserFile, type UserFormat, type UserInput } from "../data/user.ts";
import { entityRelationFormat, type EntityRelationPrediction } from "../formats/mod.ts";
import { evaluateDataset, type TypeScores, typeScores, typeScoresTable } from "../metrics/mod.ts";
import { reconstructionRate } from "./evaluate.ts";
import { t5Generate } from "../t5/generate.ts";
import type { BackboneOptions } from "./backbone.ts";
import { chunk } from "./features.ts";
import { type Progress, progressBar } from "./progress.ts";
import { type FineTunedModel, type FineTunedSource, loadFineTuned } from "./tuned_model.ts";

/** One predicted sentence, in the JSON-lines format. */
export interface PredictionRecord {
  /** The input's own `id`, when it had one. */
  id?: string;
  tokens: string[];
  entities: { start: number; end: number; type: string; text: string }[];
  relations: { head: number; tail: number; type: string }[];
  /** What went wrong on the way (input cut at the limit, output cut at the limit). */
  warnings?: string[];
}

/** Settings of {@link predictExamples}. */
export interface PredictOptions {
  /** Sentences decoded together (default 16). */
  batchSize?: number;
  /** Input and output token limits; default the run's own. */
  maxInputLength?: number;
  maxOutputLength?: number;
  progress?: Progress | false;
}

/** What {@link predictExamples} returns per sentence. */
export interface Prediction {
  /** The generated sentence in TANL's format. */
  output: string;
  record: PredictionRecord;
  /** Input length in tokens when it was over the limit (and was cut to it). */
  inputTokens?: number;
  /** Whether generation stopped at the output limit instead of at its end. */
  outputCut: boolean;
}

/**
 * The record of one prediction: entities in sentence order with the schema's short type names,
 * relations pointing into them. The parser's own order is Python's sorted tuples (type first).
 */
export function predictionRecord(
  example: Example,
  parsed: EntityRelationPrediction,
  schema: DatasetSchema,
): PredictionRecord {
  const shortE = new Map(schema.entityTypes.map((t) => [t.natural, t.short]));
  const shortR = new Map(schema.relationTypes.map((t) => [t.natural, t.short]));
  const entities = [...parsed.entities].sort((a, b) => a[1] - b[1] || b[2] - a[2] || (a[0] < b[0] ? -1 : 1));
  const key = (e: readonly [string, number, number]) => e.join("\u0000");
  const index = new Map(entities.map((e, i) => [key(e), i]));
  return {
    tokens: example.tokens,
    entities: entities.map(([type, start, end]) => ({
      start,
      end,
      type: shortE.get(type) ?? type,
      text: example.tokens.slice(start, end).join(" "),
    })),
    relations: parsed.relations.map(([type, head, tail]) => ({
      head: index.get(key(head))!,
      tail: index.get(key(tail))!,
      type: shortR.get(type) ?? type,
    })).sort((a, b) => a.head - b.head || a.tail - b.tail),
  };
}

/** Predicts `examples` with a loaded fine-tuned model (entity and relation tasks). */
export async function predictExamples(
  tuned: Pick<FineTunedModel, "backbone" | "info">,
  examples: readonly Example[],
  opts: PredictOptions = {},
): Promise<Prediction[]> {
  const { model, tokenizer } = tuned.backbone;
  const schema = tuned.info.schema;
  if (schema.task !== "ner" && schema.task !== "joint_er") {
    throw new Error(`predict writes entities and relations; this model was trained for ${schema.task}`);
  }
  const maxIn = opts.maxInputLength ?? tuned.info.maxInputLength;
  const maxOut = opts.maxOutputLength ?? tuned.info.maxOutputLength;
  const texts = examples.map((e) => entityRelationFormat.formatInput(e, schema));
  const full = texts.map((t) => tokenizer.encode(t));
  // Cut as training cut (Hugging Face truncation, EOS kept last), but never without saying so.
  const ids = full.map((x, i) => (x.length > maxIn ? tokenizer.encode(texts[i], { maxLength: maxIn }) : x));
  const out = new Array<Prediction>(examples.length);
  const progress = opts.progress === false
    ? undefined
    : opts.progress ?? progressBar("predict", examples.length, { unit: "sentences" });
  // Sorted by length, so a batch pads (and decodes) little beyond its own sentences.
  const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length);
  for (const batch of chunk(order, opts.batchSize ?? 16)) {
    const seqs = await t5Generate(model, batch.map((i) => ids[i]), { maxLength: maxOut });
    seqs.forEach((seq, j) => {
      const i = batch[j];
      const output = tokenizer.decode(seq, { skipSpecialTokens: true });
      const record = predictionRecord(
        examples[i],
        entityRelationFormat.parse(output, examples[i], schema),
        schema,
      );
      const warnings: string[] = [];
      const over = full[i].length > maxIn ? full[i].length : undefined;
      if (over) warnings.push(`input is ${over} tokens, over the limit of ${maxIn}: only its start was read`);
      const outputCut = !seq.slice(1).includes(tokenizer.eosId) && seq.length >= maxOut;
      if (outputCut) {
        warnings.push(`output reached the limit of ${maxOut} tokens: later entities are missing`);
      }
      if (warnings.length > 0) record.warnings = warnings;
      out[i] = { output, record, inputTokens: over, outputCut };
    });
    progress?.advance(batch.length);
  }
  progress?.done();
  return out;
}

/** Scores of a fine-tuned model on annotated examples: TANL's metrics and the per-type table. */
export interface ExampleScores {
  /** `evaluateDataset`'s keys (`entity_f1`, ...) and the reconstruction rate. */
  metrics: Record<string, number>;
  scores: TypeScores;
  predictions: Prediction[];
}

/** Predicts annotated `examples` and scores them (a dev or test set). */
export async function scoreExamples(
  tuned: Pick<FineTunedModel, "backbone" | "info">,
  examples: readonly Example[],
  opts: PredictOptions = {},
): Promise<ExampleScores> {
  const predictions = await predictExamples(tuned, examples, opts);
  const outputs = predictions.map((p) => p.output);
  const schema = tuned.info.schema;
  const metrics = evaluateDataset(outputs, examples, schema);
  const rate = reconstructionRate(outputs, examples, schema);
  if (rate !== undefined) metrics.reconstruction_rate = rate;
  return { metrics, scores: typeScores(outputs, examples, schema), predictions };
}

/** Settings of {@link predictFile}. */
export interface PredictFileOptions extends PredictOptions, FineTunedSource {
  /** An already loaded model instead of `model` / `base` + `delta` (not disposed here). */
  tuned?: FineTunedModel;
  input: string;
  output: string;
  /** Default from the input's extension: `.txt` sentences, `.jsonl`, `.json` (SpERT), `.conll`. */
  inputFormat?: UserFormat | "txt";
  /** `jsonl` (default) or `conll` (token, [gold,] predicted tag: conlleval's columns). */
  outputFormat?: "jsonl" | "conll";
  /** Where backbones are looked up (a base or a run's backbone). */
  backboneOptions?: BackboneOptions;
  /** Messages (default stderr). */
  log?: (message: string) => void;
}

/** What {@link predictFile} did. */
export interface PredictFileSummary {
  sentences: number;
  output: string;
  /** Per-type scores, when the input carried gold annotation; also written to `scoresPath`. */
  scores?: TypeScores;
  scoresPath?: string;
  /** Input lines of sentences over the input limit, and of outputs cut at the output limit. */
  overLong: number[];
  outputCut: number[];
  /** What was loaded. */
  model: string;
}

/** The path of the scores file beside an output file: `preds.jsonl` -> `preds.scores.json`. */
export function scoresPathFor(output: string): string {
  return output.replace(/(\.[^./]*)?$/, ".scores.json");
}

/** Reads `input`, predicts, writes `output` (and the scores beside it); see the module notes. */
export async function predictFile(opts: PredictFileOptions): Promise<PredictFileSummary> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const tuned = opts.tuned ?? await loadFineTuned(opts, { ...opts.backboneOptions, log });
  try {
    const schema = tuned.info.schema;
    const input = loadUserFile(opts.input, { schema, format: opts.inputFormat });
    log(
      `${input.examples.length} sentence(s) from ${opts.input}${
        input.gold ? " (with gold annotation)" : ""
      }; ` +
        `model: ${tuned.source}`,
    );
    const preds = await predictExamples(tuned, input.examples, opts);
    preds.forEach((p, i) => {
      if (input.ids[i] !== undefined) p.record = { id: input.ids[i], ...p.record };
    });
    const overLong = input.lines.filter((_, i) => preds[i].inputTokens !== undefined);
    const outputCut = input.lines.filter((_, i) => preds[i].outputCut);
    const maxIn = opts.maxInputLength ?? tuned.info.maxInputLength;
    if (overLong.length > 0) {
      log(
        `warning: ${overLong.length} sentence(s) are longer than the input limit of ${maxIn} tokens and were ` +
          `read only up to it (lines ${brief(overLong)} of ${opts.input}); raise --max-len`,
      );
    }
    if (outputCut.length > 0) {
      log(
        `warning: ${outputCut.length} output(s) stopped at the output limit (lines ${brief(outputCut)}); ` +
          `raise --max-len`,
      );
    }
    await writeOutput(opts.output, opts.outputFormat ?? "jsonl", preds, input, log);
    const summary: PredictFileSummary = {
      sentences: preds.length,
      output: opts.output,
      overLong,
      outputCut,
      model: tuned.source,
    };
    if (input.gold) {
      summary.scores = typeScores(preds.map((p) => p.output), input.examples, schema);
      summary.scoresPath = scoresPathFor(opts.output);
      await Deno.writeTextFile(
        summary.scoresPath,
        JSON.stringify({ input: opts.input, model: tuned.source, ...summary.scores }, null, 2) + "\n",
      );
      log(`${typeScoresTable(summary.scores)}\nscores -> ${summary.scoresPath}`);
    }
    return summary;
  } finally {
    if (!opts.tuned) tuned.dispose();
  }
}

function brief(lines: number[]): string {
  return lines.length <= 5 ? lines.join(", ") : `${lines.slice(0, 5).join(", ")}, ...`;
}

async function writeOutput(
  path: string,
  format: "jsonl" | "conll",
  preds: Prediction[],
  input: UserInput,
  log: (m: string) => void,
): Promise<void> {
  if (format === "jsonl") {
    await Deno.writeTextFile(path, preds.map((p) => JSON.stringify(p.record) + "\n").join(""));
    return;
  }
  let dropped = 0, relations = 0;
  const blocks = preds.map((p, i) => {
    const predicted = iob2(p.record.tokens.length, p.record.entities);
    dropped += predicted.dropped;
    relations += p.record.relations.length;
    const gold = input.gold
      ? iob2(p.record.tokens.length, input.examples[i].entities.map((e) => ({ ...e, type: e.type.short })))
      : undefined;
    return p.record.tokens.map((t, j) => [t, ...(gold ? [gold.tags[j]] : []), predicted.tags[j]].join(" "))
      .join("\n");
  });
  await Deno.writeTextFile(path, blocks.join("\n\n") + "\n");
  if (dropped > 0) log(`note: ${dropped} nested predicted entities are not in the CoNLL columns (use jsonl)`);
  if (relations > 0) log(`note: ${relations} predicted relations are not in the CoNLL columns (use jsonl)`);
}

/** IOB2 tags of spans; a span overlapping one already tagged (nested) is left out and counted. */
export function iob2(
  n: number,
  spans: readonly { start: number; end: number; type: string }[],
): { tags: string[]; dropped: number } {
  const tags = new Array<string>(n).fill("O");
  let dropped = 0;
  // Outer spans first: with nesting, the columns keep the widest span.
  for (const s of [...spans].sort((a, b) => a.start - b.start || b.end - a.end)) {
    if (tags.slice(s.start, s.end).some((t) => t !== "O")) {
      dropped++;
      continue;
    }
    for (let j = s.start; j < s.end; j++) tags[j] = `${j === s.start ? "B" : "I"}-${s.type}`;
  }
  return { tags, dropped };
}
