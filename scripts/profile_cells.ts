/**
 * `deno task profile`: where a cell's time goes. Runs one small cell of each kind (full
 * fine-tuning, the fixed FISH mask, FISH-DIP, LoRA, a FewRel episode) with a preset's settings but
 * few steps and few evaluation sentences, and prints each cell's time split into training steps,
 * FISH-DIP's scoring pass, the Fisher's per-sample gradients, decoding (or FewRel's ranking), data
 * preparation and the rest.
 *
 * ```sh
 * FISHDIP_BLAS_THREADS=1 deno task profile                       # cpu preset, 20 steps, 20 sentences
 * deno task profile --kinds fishdip --dataset conll03 --fraction 0.1 --steps 30 --eval 50
 * deno task profile --backend wasm --json
 * ```
 *
 * Options: `--preset cpu` (any preset; its cells supply batch size, m, lengths, padding),
 * `--kinds full,fish,fishdip,lora,fewrel`, `--dataset conll04 --fraction 0.05` (the low-resource
 * cells), `--steps 20` (optimizer steps per cell), `--m N` (FISH-DIP's refresh interval; default
 * the preset's), `--eval 20` (evaluation sentences; a FewRel episode scores its query set),
 * `--seed 1`, `--backend wasm+blas`, `--data DIR`, `--json`.
 *
 * Each cell runs as `runCell` (lib/reproduce/run_cell.ts) runs it, with the same helpers, and is
 * timed from outside: the trainable model, the method and the collate function are wrapped in
 * timers, which change no number. Phases:
 * - data: loading the dataset, features (tokenisation) and every batch's padding (collate);
 * - train steps: optimizer steps outside mask computations (forward, backward, mask, clip,
 *   Adafactor);
 * - scoring: a mask computation from its start to its first per-sample gradient (FISH-DIP's
 *   pass over the whole training subset, and the top-n choice);
 * - fisher: the rest of a mask computation (per-sample forward/backward, the squared gradients'
 *   sums, the global top-k);
 * - decoding: greedy generation and parsing/scoring of the outputs, or FewRel's candidate ranking;
 * - other: loading the backbone, creating the method, freeing it.
 *
 * On wasm and cpu every kernel runs synchronously inside the call that issues it, so the time of
 * a call is the time of its computation.
 *
 * @module
 */
import { describeBackend, initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { planPreset } from "../lib/experiments/plan.ts";
import { type PresetName, PRESETS } from "../lib/experiments/presets.ts";
import { type Cell, cellLabel, evalKey } from "../lib/experiments/cells.ts";
import type { DatasetName } from "../lib/data/mod.ts";
import { createMethod } from "../lib/methods/registry.ts";
import type { SparseMethod, TrainableModel } from "../lib/methods/types.ts";
import type { T5Inputs } from "../lib/t5/model.ts";
import { loadBackbone } from "../lib/train/backbone.ts";
import { evaluateGeneration } from "../lib/train/evaluate.ts";
import { buildFeatures, collate, type Feature } from "../lib/train/features.ts";
import { train } from "../lib/train/trainer.ts";
import { evaluationExamples, scoreFewRel, trainingExamples } from "../lib/reproduce/run_cell.ts";
import type { RunContext } from "../lib/reproduce/runner.ts";

/** The phases a cell's time is split into (see the module notes). */
export const PHASES = ["train", "scoring", "fisher", "decoding", "data", "other"] as const;
export type Phase = typeof PHASES[number];

/** One profiled cell. */
export interface CellProfile {
  label: string;
  kind: string;
  steps: number;
  trainExamples: number;
  evalExamples: number;
  totalS: number;
  /** Seconds per phase; they add up to `totalS`. */
  seconds: Record<Phase, number>;
  /** Mask computations (initial and refreshes). */
  maskComputations: number;
  metrics: Record<string, Record<string, number>>;
}

function flag(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
}

/** Accumulates wall time per phase; a mask computation's own split is kept apart. */
class Clock {
  readonly s: Record<Phase, number> = { train: 0, scoring: 0, fisher: 0, decoding: 0, data: 0, other: 0 };
  /** Start of the mask computation in progress, and of its first per-sample gradient. */
  maskStart: number | undefined;
  firstGrad: number | undefined;
  /** Collate time inside the mask computation in progress (counted as data, not mask). */
  maskCollate = 0;
  masks = 0;

  timeSync<T>(phase: Phase, f: () => T): T {
    const t0 = performance.now();
    try {
      return f();
    } finally {
      this.s[phase] += (performance.now() - t0) / 1000;
    }
  }

  async time<T>(phase: Phase, f: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      this.s[phase] += (performance.now() - t0) / 1000;
    }
  }

  /**
   * Wraps a call that may compute a mask (a method's `prepare`, or a `beforeStep` that refreshes):
   * when `counts` says it did, its time goes to scoring and fisher; otherwise to nothing here
   * (the training loop's time covers it).
   */
  async mask<T>(f: () => Promise<T>, counts: (r: T) => boolean = () => true): Promise<T> {
    this.maskStart = performance.now();
    this.firstGrad = undefined;
    this.maskCollate = 0;
    let r: T | undefined, done = false;
    try {
      r = await f();
      done = true;
      return r;
    } finally {
      const end = performance.now();
      if (!done || counts(r as T)) {
        const split = this.firstGrad ?? end;
        this.s.scoring += (split - this.maskStart) / 1000;
        this.s.fisher += (end - split) / 1000 - this.maskCollate;
        this.masks++;
      }
      this.maskStart = undefined;
    }
  }
}

/** The trainable model with every gradient pass noted (a mask computation's first one splits it). */
function timedTrainable(m: TrainableModel<T5Inputs>, clock: Clock): TrainableModel<T5Inputs> {
  return {
    ...m, // the scoring pass's hints too
    lossAndGrads: (b, o, needs) => {
      if (clock.maskStart !== undefined) clock.firstGrad ??= performance.now();
      return m.lossAndGrads(b, o, needs);
    },
  };
}

/**
 * The method with its mask computations timed: `prepare` always, `beforeStep` when it refreshes
 * (one that returns false takes no measurable time and is counted as a training step).
 */
function timedMethod<E>(method: SparseMethod<E, T5Inputs>, clock: Clock): SparseMethod<E, T5Inputs> {
  return new Proxy(method, {
    get(target, prop) {
      if (prop === "prepare") return (ctx: never) => clock.mask(() => target.prepare(ctx));
      if (prop === "beforeStep") {
        return (step: number, ctx: never) => clock.mask(() => target.beforeStep(step, ctx), (r) => r);
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/** Trains and scores `cell` the way `runCell` does, timing each phase. */
export async function profileCell(cell: Cell, ctx: RunContext, kind: string): Promise<CellProfile> {
  const clock = new Clock();
  const t0 = performance.now();
  const backbone = await loadBackbone(cell.backbone, { dataDir: ctx.dataDir, dropoutSeed: cell.seed });
  const { model, tokenizer } = backbone;
  const setup = createMethod<Feature>(cell.method, { model, seed: cell.seed });
  let steps = 0, trainN = 0, evalN = 0;
  const metrics: CellProfile["metrics"] = {};
  try {
    const { features } = clock.timeSync("data", () => {
      const { examples, schema } = trainingExamples(cell, ctx);
      return {
        features: buildFeatures(examples, schema, tokenizer, {
          maxInputLength: cell.maxInputLength,
          maxOutputLength: cell.maxOutputLength,
        }),
      };
    });
    trainN = features.length;
    const tTrain = performance.now();
    const before = { ...clock.s };
    const run = await train({
      model: timedTrainable(setup.trainable, clock),
      method: timedMethod(setup.method, clock),
      examples: features,
      collate: (fs) =>
        clock.timeSync("data", () => {
          const t = performance.now();
          const b = collate(fs, { padLabelsTo: cell.padLabels ?? cell.maxOutputLength });
          if (clock.maskStart !== undefined) clock.maskCollate += (performance.now() - t) / 1000;
          return b;
        }),
      config: {
        epochs: cell.epochs,
        batchSize: cell.batchSize,
        maxSteps: cell.maxSteps,
        seed: cell.seed,
        adafactor: { ...setup.adafactor },
      },
      progress: false,
      reseed: (s) => model.setDropoutSeed(s),
    });
    steps = run.steps;
    // Whatever the training loop spent outside masks and collate is the optimizer steps'.
    const loop = (performance.now() - tTrain) / 1000;
    const inner = (["scoring", "fisher", "data"] as const).reduce((a, p) => a + clock.s[p] - before[p], 0);
    clock.s.train += loop - inner;

    for (const target of cell.evaluate) {
      const ev = clock.timeSync("data", () => evaluationExamples(target, cell, ctx));
      evalN += ev.examples.length;
      metrics[evalKey(target)] = await clock.time(
        "decoding",
        async () =>
          cell.decoding === "rank"
            ? await scoreFewRel(model, tokenizer, ev.examples, ev.schema, cell)
            : (await evaluateGeneration(model, tokenizer, ev.examples, ev.schema, {
              maxInputLength: cell.maxInputLengthEval ?? cell.maxInputLength,
              maxOutputLength: cell.maxOutputLengthEval,
            })).metrics,
      );
    }
  } finally {
    setup.dispose();
    model.dispose();
  }
  const totalS = (performance.now() - t0) / 1000;
  const accounted = PHASES.filter((p) => p !== "other").reduce((a, p) => a + clock.s[p], 0);
  clock.s.other = totalS - accounted;
  return {
    label: cellLabel(cell),
    kind,
    steps,
    trainExamples: trainN,
    evalExamples: evalN,
    totalS,
    seconds: { ...clock.s },
    maskComputations: clock.masks,
    metrics,
  };
}

/** One cell of each kind from the preset's plan, shortened to `steps` and `evalN` sentences. */
export function profileCells(opts: {
  preset: PresetName;
  kinds: string[];
  dataset: DatasetName;
  fraction: number;
  steps: number;
  evalN: number;
  seed: number;
  m?: number;
  dataDir?: string;
}): { kind: string; cell: Cell }[] {
  const plan = planPreset(opts.preset, { dataDir: opts.dataDir });
  const out: { kind: string; cell: Cell }[] = [];
  const shorten = (c: Cell): Cell => {
    const cell: Cell = {
      ...c,
      maxSteps: opts.steps,
      epochs: Math.max(c.epochs, 1),
      evaluate: c.evaluate.map((t) => t.dataset === "fewrel" ? t : { ...t, subsample: opts.evalN }),
      saveCheckpoint: false,
      init: undefined,
    };
    if (opts.m !== undefined && cell.method.name === "fishdip") {
      cell.method = { ...cell.method, m: opts.m } as Cell["method"];
    }
    return cell;
  };
  for (const kind of opts.kinds) {
    // The plan lists each setting's main cell before its ablations (k, m, n variants).
    const pick = kind === "fewrel"
      ? plan.cells.find((c) => c.episode && c.evaluate.length > 0 && c.method.name === "fishdip")
      : plan.cells.find((c) =>
        c.dataset === opts.dataset && c.fraction === opts.fraction && c.seed === opts.seed &&
        c.method.name === kind && c.evaluate.length > 0
      ) ??
        plan.cells.find((c) =>
          c.dataset === opts.dataset && c.method.name === kind && c.evaluate.length > 0
        ) ??
        plan.cells.find((c) => c.method.name === kind && c.evaluate.length > 0 && !c.episode);
    if (!pick) throw new Error(`preset ${opts.preset} has no runnable ${kind} cell (is its data present?)`);
    out.push({ kind, cell: shorten(pick) });
  }
  return out;
}

function table(profiles: CellProfile[]): string {
  const head = ["cell", "total s", ...PHASES.map((p) => `${p} s`), "masks"];
  const rows = profiles.map((p) => [
    `${p.kind}: ${p.label} (${p.trainExamples} train, ${p.steps} steps, ${p.evalExamples} eval)`,
    p.totalS.toFixed(1),
    ...PHASES.map((ph) => `${p.seconds[ph].toFixed(1)} (${(100 * p.seconds[ph] / p.totalS).toFixed(0)}%)`),
    String(p.maskComputations),
  ]);
  const sum = (ph: Phase) => profiles.reduce((a, p) => a + p.seconds[ph], 0);
  const total = profiles.reduce((a, p) => a + p.totalS, 0);
  rows.push([
    "all cells",
    total.toFixed(1),
    ...PHASES.map((ph) => `${sum(ph).toFixed(1)} (${(100 * sum(ph) / total).toFixed(0)}%)`),
    String(profiles.reduce((a, p) => a + p.maskComputations, 0)),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((x, i) => i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i])).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}

if (import.meta.main) {
  const args = Deno.args;
  if (args.includes("--help")) {
    console.log(
      "deno task profile [--preset cpu] [--kinds full,fish,fishdip,lora,fewrel] [--dataset conll04]\n" +
        "  [--fraction 0.05] [--steps 20] [--m N] [--eval 20] [--seed 1] [--backend wasm+blas] [--data DIR] [--json]",
    );
    Deno.exit(0);
  }
  const preset = flag(args, "preset", "cpu") as PresetName;
  if (!PRESETS.includes(preset)) throw new Error(`--preset must be one of ${PRESETS.join(", ")}`);
  const info = await initBackend(parseBackendName(flag(args, "backend", "wasm+blas")), { quiet: true });
  const dataDir = args.includes("--data") ? flag(args, "data", "") : undefined;
  const m = args.includes("--m") ? Number(flag(args, "m", "10")) : undefined;
  const cells = profileCells({
    preset,
    kinds: flag(args, "kinds", "full,fish,fishdip,lora,fewrel").split(","),
    dataset: flag(args, "dataset", "conll04") as DatasetName,
    fraction: Number(flag(args, "fraction", "0.05")),
    steps: Number(flag(args, "steps", "20")),
    evalN: Number(flag(args, "eval", "20")),
    seed: Number(flag(args, "seed", "1")),
    m,
    dataDir,
  });
  const json = args.includes("--json");
  if (!json) console.log(`${describeBackend(info)}; preset ${preset}`);
  const ctx: RunContext = {
    dataDir,
    checkpointDir: await Deno.makeTempDir({ prefix: "fishdip-profile-" }),
    log: () => {},
  };
  const profiles: CellProfile[] = [];
  for (const { kind, cell } of cells) {
    const p = await profileCell(cell, ctx, kind);
    profiles.push(p);
    if (json) console.log(JSON.stringify({ backend: info.backend, ...p }));
    else console.error(`${p.kind}: ${p.totalS.toFixed(1)} s`);
  }
  await Deno.remove(ctx.checkpointDir, { recursive: true });
  if (!json) console.log(table(profiles));
}
