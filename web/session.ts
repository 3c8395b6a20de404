/**
 * One fine-tuning run held in memory, with no DOM and no file system: what the web app drives, and
 * what the Deno reference run (`scripts/web_reference.ts`) drives with the same bytes, so that a
 * browser's losses can be compared with Deno's number for number.
 *
 * Every piece is the library's: the safetensors parser and tokenizer take bytes, the user-format
 * readers take text, and a step is `sparseTrainStep` with the trainer's data order and dropout
 * seeds (`epochOrder`, `seed·1000003 + step`). The loop itself is the trainer's without its files:
 * the trainer keeps stop/resume in checkpoints on disk, a page keeps the optimizer and mask alive
 * in memory instead, so a stopped run continues exactly where it was.
 *
 * Imports stay narrow (no `lib/mod.ts`, no `lib/backend/mod.ts`): those pull in FFI and file-system
 * code that a browser bundle must not contain.
 *
 * @module
 */
import { parseSafetensors } from "../lib/checkpoint/safetensors.ts";
import { parseT5Config, t5ParameterShapes } from "../lib/t5/config.ts";
import { exportT5Weights, t5FromWeights, type T5Model } from "../lib/t5/model.ts";
import { T5Tokenizer } from "../lib/tokenizer/t5_tokenizer.ts";
import {
  parseUserRecords,
  readTypeNames,
  recordsToExamples,
  type UserFormat,
  userSchema,
} from "../lib/data/user.ts";
import type { DatasetSchema, Example } from "../lib/data/types.ts";
import { buildFeatures, chunk, collate, type Feature } from "../lib/train/features.ts";
import { createMethod, type MethodConfig, type MethodSetup } from "../lib/methods/registry.ts";
import { EarlyStop, sparseTrainStep } from "../lib/methods/step.ts";
import { maskStatsOf, type MethodContext } from "../lib/methods/types.ts";
import { Adafactor } from "../lib/optim/adafactor.ts";
import { epochOrder, maskCounts, totalSteps } from "../lib/train/trainer.ts";
import { predictExamples, type Prediction } from "../lib/train/predict_file.ts";
import { deltaBytes, deltaSize, sparseDelta, weightsFingerprint } from "../lib/train/delta.ts";
import { type RunInfo, runInfoJson } from "../lib/train/fine_tune.ts";
import { DELTA_BASE_KEY, DELTA_RUN_KEY } from "../lib/train/tuned_model.ts";

/** The three files of a backbone folder, as bytes. */
export interface BackboneBytes {
  /** The folder's name, recorded in the delta (`deno task predict --base` needs the same weights). */
  id: string;
  config: Uint8Array;
  weights: Uint8Array;
  spiece: Uint8Array;
}

/** A loaded backbone: the model, its tokenizer, and its original weights (for the delta). */
export interface LoadedBackbone {
  id: string;
  model: T5Model;
  tokenizer: T5Tokenizer;
  base: Map<string, Float32Array>;
}

/** Builds the T5 model from bytes; every expected tensor must be in the file under its own name. */
export function loadBackboneBytes(b: BackboneBytes, dropoutSeed = 0): LoadedBackbone {
  const config = parseT5Config(JSON.parse(new TextDecoder().decode(b.config)));
  const file = parseSafetensors(b.weights, `${b.id}/model.safetensors`);
  const base = new Map<string, Float32Array>();
  const missing: string[] = [];
  for (const { name, shape } of t5ParameterShapes(config)) {
    const t = file.tensors.get(name);
    if (!t) {
      missing.push(name);
      continue;
    }
    if (t.shape.join(",") !== shape.join(",")) {
      throw new Error(`${b.id}: ${name} has shape [${t.shape}], the config says [${shape}]`);
    }
    base.set(name, t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>));
  }
  if (missing.length > 0) throw new Error(`${b.id}: model.safetensors lacks ${missing.join(", ")}`);
  const tokenizer = T5Tokenizer.fromBytes(b.spiece, `${b.id}/spiece.model`);
  const model = t5FromWeights(config, base, { dropoutSeed });
  return { id: b.id, model, tokenizer, base };
}

/** A user's labelled sentences, parsed and typed. */
export interface UserData {
  schema: DatasetSchema;
  examples: Example[];
}

/**
 * Parses pasted CoNLL columns or JSON lines (`auto`: JSON when the first non-blank character is
 * `{`). `typeNames` is `type_names.json`'s text (optional), as `--type-names` reads it.
 */
export function parseUserText(
  text: string,
  format: UserFormat | "auto" = "auto",
  typeNames?: string,
): UserData {
  const fmt: UserFormat = format === "auto" ? (text.trimStart().startsWith("{") ? "jsonl" : "conll") : format;
  const file = `pasted.${fmt}`;
  const parsed = parseUserRecords(text, file, fmt, { requireTags: true });
  if (parsed.records.length === 0) throw new Error("no sentences in the pasted text");
  const missing = parsed.records.find((r) => r.entities === undefined);
  if (missing) throw new Error(`${file}:${missing.line}: no "entities" (every sentence needs them)`);
  const names = typeNames ? readTypeNames(JSON.parse(typeNames)) : undefined;
  const schema = userSchema([{ file, records: parsed.records }], names, "pasted");
  return { schema, examples: recordsToExamples(parsed.records, schema, file, "train") };
}

/** Splits a typed sentence into tokens: words (with inner hyphens and apostrophes) and punctuation. */
export function tokenizeSentence(s: string): string[] {
  return s.match(/[\p{L}\p{N}]+(?:[-'’][\p{L}\p{N}]+)*|[^\s\p{L}\p{N}]/gu) ?? [];
}

/** Settings of a run; the defaults are small enough for a page. */
export interface RunSettings {
  method: MethodConfig;
  seed: number;
  epochs: number;
  batchSize: number;
  /** Also the schedule's length; default epochs × batches. */
  maxSteps?: number;
  lr?: number;
  maxInputLength: number;
  maxOutputLength: number;
  /** `longest` pads labels per batch (fast); `max` as TANL trains. */
  padLabels: "max" | "longest";
}

/** What one step reports. */
export interface StepReport {
  step: number;
  total: number;
  loss: number;
  lr: number;
  gradNorm: number;
  refreshed: boolean;
  ms: number;
}

/** A mask snapshot: selected entries per parameter, and the parameters' sizes. */
export interface MaskReport {
  step: number;
  kept: number;
  total: number;
  perParam: Record<string, number>;
}

/** One run: prepare once, then `run` (again after `stop`) until `done`. */
export class Session {
  readonly info: RunInfo;
  readonly features: Feature[];
  readonly total: number;
  step = 0;
  losses: { step: number; loss: number }[] = [];
  masks: MaskReport[] = [];
  stoppedEarly?: number;
  private setup: MethodSetup<Feature>;
  private optimizer?: Adafactor;
  private ctx: MethodContext<Feature, ReturnType<typeof collate>>;
  private earlyStop = new EarlyStop();
  private stopRequested = false;
  private running = false;
  private prepared = false;

  constructor(readonly backbone: LoadedBackbone, readonly data: UserData, readonly settings: RunSettings) {
    this.info = {
      format: "fishdip-run-v1",
      backbone: backbone.id,
      method: settings.method,
      seed: settings.seed,
      maxInputLength: settings.maxInputLength,
      maxOutputLength: settings.maxOutputLength,
      schema: data.schema,
      data: { train: "pasted in the web app" },
    };
    this.features = buildFeatures(data.examples, data.schema, backbone.tokenizer, {
      maxInputLength: settings.maxInputLength,
      maxOutputLength: settings.maxOutputLength,
    });
    this.total = totalSteps(this.features.length, settings);
    this.setup = createMethod<Feature>(settings.method, { model: backbone.model, seed: settings.seed });
    this.ctx = {
      model: this.setup.trainable,
      data: { examples: this.features, collate: (fs) => this.collate(fs) },
      trainBatchSize: settings.batchSize,
      totalSteps: this.total,
    };
  }

  get done(): boolean {
    return this.step >= this.total || this.stoppedEarly !== undefined;
  }

  get isRunning(): boolean {
    return this.running;
  }

  private collate(fs: readonly Feature[]) {
    const s = this.settings;
    return collate(fs, { padLabelsTo: s.padLabels === "longest" ? "longest" : s.maxOutputLength });
  }

  private recordMask(step: number): MaskReport {
    // Counts only: on webgpu the mask stays on the GPU.
    const stats = maskStatsOf(this.setup.method);
    const perParam = maskCounts(stats);
    const total = [...this.setup.trainable.parameters().values()].reduce((a, p) => a + p.size, 0);
    const kept = stats?.keptCount ?? total;
    const r = { step, kept, total, perParam };
    this.masks.push(r);
    return r;
  }

  /** Asks a running loop to stop after the step in progress. */
  stop(): void {
    if (this.running) this.stopRequested = true;
  }

  /**
   * Trains until the run is done or {@link stop} is called; callable again to resume. Yields to
   * the event loop between steps (`yieldEvery`) so a page stays responsive.
   */
  async run(hooks: {
    onStep?: (r: StepReport) => void;
    onMask?: (r: MaskReport) => void;
    yieldEvery?: () => Promise<void>;
  } = {}): Promise<void> {
    if (this.running) throw new Error("already running");
    this.running = true;
    this.stopRequested = false;
    const model = this.backbone.model, s = this.settings;
    try {
      if (!this.prepared) {
        this.optimizer = new Adafactor(this.setup.trainable.parameters(), {
          ...this.setup.adafactor,
          lr: s.lr ?? 1e-2,
        });
        model.setDropoutSeed(s.seed * 1_000_003);
        await this.setup.method.prepare(this.ctx);
        this.prepared = true;
        const m = this.recordMask(0);
        hooks.onMask?.(m);
      }
      const perEpoch = Math.ceil(this.features.length / s.batchSize);
      while (!this.done && !this.stopRequested) {
        const epoch = Math.floor(this.step / perEpoch);
        const idx = chunk(epochOrder(this.features.length, s.seed, epoch), s.batchSize)[this.step % perEpoch];
        const batch = this.collate(idx.map((i) => this.features[i]));
        const step = this.step + 1;
        model.setDropoutSeed(s.seed * 1_000_003 + step);
        const t0 = performance.now();
        const r = await sparseTrainStep({
          step,
          totalSteps: this.total,
          batch,
          ctx: this.ctx,
          method: this.setup.method,
          optimizer: this.optimizer!,
          baseLr: s.lr ?? 1e-2,
          maxGradNorm: 1.0,
        });
        this.step = step;
        this.losses.push({ step, loss: r.loss });
        if (this.earlyStop.update(r.loss)) this.stoppedEarly = step;
        if (r.refreshed) {
          const m = this.recordMask(step);
          hooks.onMask?.(m);
        }
        hooks.onStep?.({ ...r, step, total: this.total, ms: performance.now() - t0 });
        await hooks.yieldEvery?.();
      }
    } finally {
      this.running = false;
    }
  }

  /** Predicts entities (and relations) for sentences given as token lists. */
  async predict(sentences: string[][]): Promise<Prediction[]> {
    const examples: Example[] = sentences.map((tokens, i) => ({
      id: `typed-${i}`,
      tokens,
      entities: [],
      relations: [],
    }));
    const backbone = { ...this.backbone, dir: this.backbone.id };
    return await predictExamples({ backbone, info: this.info }, examples, { progress: false });
  }

  /**
   * The sparse delta against the backbone in the project's format, with what `deno task predict
   * --base DIR --delta FILE` needs (the run record and the base's fingerprint).
   */
  async delta(): Promise<{ bytes: Uint8Array; changed: number; total: number }> {
    const tuned = await exportT5Weights(this.backbone.model);
    const base = this.backbone.base;
    const delta = sparseDelta(base, tuned);
    const bytes = deltaBytes(delta, {
      base: this.backbone.id,
      method: this.info.method.name,
      [DELTA_BASE_KEY]: weightsFingerprint(base),
      [DELTA_RUN_KEY]: runInfoJson(this.info),
    });
    const total = [...base.values()].reduce((a, w) => a + w.length, 0);
    return { bytes, changed: deltaSize(delta), total };
  }

  /** Frees the optimizer and the method (the model belongs to the caller). */
  dispose(): void {
    this.optimizer?.dispose();
    this.setup.dispose();
  }
}

/**
 * Groups a mask's per-parameter counts by layer: `encoder.block.0`, `decoder.block.3`, `shared`,
 * `encoder.final_layer_norm`, ... in model order.
 */
export function maskByLayer(perParam: Record<string, number>): { layer: string; kept: number }[] {
  const out = new Map<string, number>();
  for (const [name, n] of Object.entries(perParam)) {
    const m = name.match(/^(encoder|decoder)\.block\.(\d+)\./);
    const layer = m ? `${m[1]}.block.${m[2]}` : name.replace(/\.weight$/, "");
    out.set(layer, (out.get(layer) ?? 0) + n);
  }
  return [...out].map(([layer, kept]) => ({ layer, kept }));
}
