/**
 * The model card of a multi-task backbone, written by `deno task pretrain --recipe NAME --export
 * DIR` from what the run recorded: the recipe, the leakage counts and the loss curve.
 *
 * @module
 */
import { DATASETS } from "../data/registry.ts";
import type { BackboneRecipe } from "./recipes.ts";

/**
 * The card's lines on which rows the backbone may serve (the leakage rule: it has never seen
 * their labels nor evaluation sentences) and which rows the presets start from it (the dataset
 * registry's `offlineBackbone`, the one place that decides).
 */
export function servesLines(name: string, serves: readonly string[]): string[] {
  const picked = Object.values(DATASETS).filter((d) => d.offlineBackbone === name && !d.metaTraining).map((
    d,
  ) => d.name);
  return [
    `**It may serve the rows of: ${serves.join(", ")}.** It has never seen their labels, nor any of`,
    "their evaluation sentences (below, counted). " +
    (picked.length
      ? `The presets with per-dataset backbones start the rows of ${picked.join(", ")} from it`
      : "No preset starts a dataset's rows from it now"),
    "(`offlineBackbone` in `lib/data/registry.ts`), and every run record names its backbone.",
  ];
}

/** What `scripts/pretrain.ts` writes to `<work>/leakage.json` for a recipe. */
export interface LeakageReport {
  recipe: BackboneRecipe;
  rule: string;
  evaluation_sentences: Record<string, number>;
  distinct_evaluation_keys: number;
  tasks: Record<string, {
    examples: number;
    dropped_as_evaluation_sentences: number;
    kept: number;
    truncated_at_max_length: number;
    target_tokens: number;
  }>;
  corpus_dropped_as_evaluation_sentences: Record<string, number>;
}

const TASK_NAMES: Record<string, string> = {
  conll03: "CoNLL-2003 train (entities)",
  conll04: "CoNLL04 train + dev (entities, relations)",
  ade: "ADE, all 4,272 sentences (entities, relations)",
  fewrel_meta: "FewRel meta-training relations (relation classification)",
};

/** The card as Markdown. `summary` is `summarizePretraining`'s table; `extra` is appended as is. */
export function backboneCard(
  leakage: LeakageReport,
  opts: {
    summary: string;
    minutes: number;
    steps: number;
    tokens: number;
    command: string;
    /** Backend and BLAS threads it trained on (the state's `compute`); unrecorded in older states. */
    compute?: string;
    extra?: string;
  },
): string {
  const r = leakage.recipe;
  const fromSelfSupervised = r.init === "fishdip-t5-mini";
  const weights = Object.entries(r.weights).filter(([, w]) => (w ?? 0) > 0)
    .map(([k, w]) => `${k} ${Math.round(100 * w!)} %`).join(", ");
  const lines = [
    `# ${r.name}`,
    "",
    `A multi-task offline backbone: \`${r.init}\` (${
      fromSelfSupervised ? "the project's self-supervised t5-mini" : "itself a multi-task backbone"
    }, see its card)`,
    "continued on a mixture of T5 span corruption and supervised TANL tasks, as T5 v1.0 itself was",
    "pre-trained on a mixture of unsupervised and supervised tasks. Same shape, vocabulary and",
    "tokenizer as its initial checkpoint; BF16 weights, widened to float32 on loading.",
    "",
    ...servesLines(r.name, r.serves),
    "",
    "## Training",
    "",
    "| setting | value |",
    "|---|---|",
    `| initial checkpoint | \`${r.init}\` |`,
    `| batches by objective | ${weights} (one objective per batch) |`,
    `| batch | ${r.batch} examples |`,
    `| supervised inputs and targets | cut at ${r.maxLength} tokens (EOS kept) |`,
    `| optimizer | Adafactor as T5 pretrained: relative step min(1e-2, 1/√step), parameter-scaled, no momentum, no dropout |`,
    `| steps | ${opts.steps.toLocaleString("en-US")} |`,
    `| tokens seen (inputs + targets) | ${opts.tokens.toLocaleString("en-US")} |`,
    `| time | ${opts.minutes.toFixed(0)} min of one process (${opts.compute ?? "backend not recorded"}) |`,
    ...(r.seed === undefined ? [] : [`| seed of the draws | ${r.seed} |`]),
    "",
    ...(fromSelfSupervised ? [] : [
      `\`data/models/${r.init}\` must be there first (its card says how it was made).`,
      "",
    ]),
    "```sh",
    opts.command,
    "```",
    "",
    "Supervised sources:",
    "",
    "| source | sentences | dropped as evaluation sentences | trained on | cut at the length limit | target tokens |",
    "|---|---:|---:|---:|---:|---:|",
    ...Object.entries(leakage.tasks).map(([name, t]) =>
      `| ${
        TASK_NAMES[name] ?? name
      } | ${t.examples} | ${t.dropped_as_evaluation_sentences} | ${t.kept} | ${t.truncated_at_max_length} | ${
        t.target_tokens.toLocaleString("en-US")
      } |`
    ),
    "",
    "## Leakage rule, counted",
    "",
    `Rule: ${leakage.rule}. Sentences are compared on their lower-cased letters and digits`,
    "(`matchKey` in `lib/pretrain/corpus.ts`).",
    "",
    "Evaluation sentences of the served datasets:",
    "",
    "| split | sentences |",
    "|---|---:|",
    ...Object.entries(leakage.evaluation_sentences).map(([k, v]) => `| ${k} | ${v} |`),
    `| distinct sentences | ${leakage.distinct_evaluation_keys} |`,
    "",
    "Removed from this run's span-corruption corpus because they equal one of those sentences (the",
    "initial checkpoint's own pretraining saw them as unlabelled text):",
    "",
    "| corpus source | sentences removed |",
    "|---|---:|",
    ...Object.entries(leakage.corpus_dropped_as_evaluation_sentences).map(([k, v]) => `| ${k} | ${v} |`),
    "",
    "After removal no training sentence of this run equals an evaluation sentence of a served",
    "dataset; the supervised sources contain none of their labels (`checkLeakageRule`, tested).",
    "",
    "## Loss curve",
    "",
    opts.summary,
  ];
  if (opts.extra) lines.push("", opts.extra);
  return lines.join("\n") + "\n";
}
