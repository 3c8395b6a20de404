/**
 * `deno task predict --model DIR --input FILE --output FILE [options]`
 * `deno task predict --base DIR --delta FILE --input FILE --output FILE [options]`
 *
 * Predicts entities (and relations) on new sentences with a model `deno task finetune` made: its
 * run folder, its saved model (`--save`), or a base checkpoint plus its sparse delta
 * (`--export-delta`). Input: `.txt`, one sentence a line (tokens split on whitespace), or `.jsonl`
 * with `tokens` (CoNLL and SpERT files too). Output: JSON lines `{tokens, entities: [{start, end,
 * type, text}], relations: [{head, tail, type}]}`, or CoNLL columns. When the input is annotated,
 * per-type precision, recall and F1 are printed and written beside the output.
 */
import { parseArgs } from "node:util";
import { initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { USER_FORMATS, type UserFormat } from "../lib/data/user.ts";
import { predictFile } from "../lib/train/predict_file.ts";
import { asUsage, runCommand, UsageError } from "../lib/config/cli.ts";

const USAGE = `deno task predict --model DIR --input FILE --output FILE [options]
deno task predict --base DIR --delta FILE --input FILE --output FILE [options]
  --model DIR         a finetune --run-dir, or the model it saved (RUN_DIR/model, --save)
  --delta FILE        a sparse delta (finetune --export-delta: RUN_DIR/delta.safetensors), applied to
  --base DIR          its base checkpoint, folder or hub name (default: the backbone the delta records)
  --input FILE        .txt: one sentence a line, tokens split on whitespace; .jsonl: {"tokens": [...]}
                      per line; with "entities" (or a CoNLL/SpERT file) the predictions are scored
  --input-format F    txt | ${USER_FORMATS.join(" | ")} (default from the extension; .json = spert)
  --output FILE       predictions, one JSON object a line: tokens, entities (start, end exclusive,
                      type, text), relations (head, tail index entities, type)
  --output-format F   jsonl (default) | conll (token, [gold,] predicted IOB2 tag; blank line between)
  --batch B           sentences decoded together (default 16)
  --max-len L         input and output token limits (default: the run's own); longer sentences
                      are reported, read up to the limit, and flagged in their record
  --backend B         auto | webgpu | wasm | cpu | wasm+blas (default auto)
  --data DIR          data directory (the T5 vocabulary, when a checkpoint has none)`;

// Bad input, a folder that is not a run, a delta for another base: the error handler names the
// error and what to do (lib/config/cli.ts).
await runCommand(main, { usage: USAGE });

async function main(): Promise<number | void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      base: { type: "string" },
      delta: { type: "string" },
      input: { type: "string" },
      "input-format": { type: "string" },
      output: { type: "string" },
      "output-format": { type: "string", default: "jsonl" },
      batch: { type: "string", default: "16" },
      "max-len": { type: "string" },
      backend: { type: "string", default: "auto" },
      data: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  function usageError(message: string): never {
    throw new UsageError(message);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.model && !values.delta) usageError("give --model DIR, or --delta FILE (and --base DIR)");
  if (!values.input || !values.output) usageError("give --input FILE and --output FILE");
  const outputFormat = values["output-format"];
  if (outputFormat !== "jsonl" && outputFormat !== "conll") {
    usageError(`--output-format must be jsonl or conll, got "${outputFormat}"`);
  }
  const inputFormat = values["input-format"];
  if (
    inputFormat !== undefined && inputFormat !== "txt" &&
    !(USER_FORMATS as readonly string[]).includes(inputFormat)
  ) {
    usageError(`--input-format must be txt, ${USER_FORMATS.join(", ")}; got "${inputFormat}"`);
  }
  function positive(name: string, v: string | undefined): number | undefined {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!Number.isInteger(x) || x < 1) {
      usageError(`--${name} must be a whole number of at least 1, got "${v}"`);
    }
    return x;
  }
  const maxLen = positive("max-len", values["max-len"]);

  await initBackend(asUsage(() => parseBackendName(values.backend!)));
  const t0 = performance.now();
  const summary = await predictFile({
    model: values.model,
    base: values.base,
    delta: values.delta,
    input: values.input,
    inputFormat: inputFormat as UserFormat | "txt" | undefined,
    output: values.output,
    outputFormat,
    batchSize: positive("batch", values.batch),
    maxInputLength: maxLen,
    maxOutputLength: maxLen,
    backboneOptions: { dataDir: values.data },
  });
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `${summary.sentences} sentence(s) -> ${summary.output} (${seconds.toFixed(1)} s)` +
      (summary.scores
        ? `; entity F1 ${(100 * summary.scores.entities.f1).toFixed(2)}` +
          (summary.scores.relations
            ? `, relation F1 ${(100 * summary.scores.relations.f1).toFixed(2)}`
            : "") +
          ` (per type: ${summary.scoresPath})`
        : ""),
  );
}
