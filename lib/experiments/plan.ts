/**
 * The paper's tables as data, and a preset expanded into them: which runs (cells) each table
 * entry averages, which cells a preset trains, and which wait for missing data.
 *
 * ```ts
 * const plan = planPreset("quick", { dataDir: "../shared/data" });
 * for (const cell of shard(plan.cells, 1, 4)) console.log(cellId(cell), cellLabel(cell)); // shard 1 of 4
 * plan.entries.filter((e) => e.needs.length); // rows shown as "needs ontonotes"
 * ```
 *
 * @module
 */
import { type Availability, datasetAvailability, type DatasetName, DATASETS } from "../data/registry.ts";
import { subsetSize } from "../data/sampling.ts";
import { numFisherSamples } from "../methods/fishdip.ts";
import {
  type MethodConfig,
  methodConfig,
  type MethodConfigs,
  type MethodName,
  METHODS,
} from "../methods/registry.ts";
import {
  type Cell,
  cellId,
  cellLabel,
  type EpisodeSpec,
  epochsForSteps,
  evalKey,
  type EvalTarget,
  trainSteps,
} from "./cells.ts";
import {
  PAPER_FEWREL_EPOCHS,
  PRESET_SPECS,
  type PresetName,
  type PresetSpec,
  withStepBudget,
} from "./presets.ts";

/** The paper's tables. */
export type TableName =
  | "lowResource"
  | "fewShot"
  | "peft"
  | "ablationK"
  | "ablationM"
  | "ablationN"
  | "fixedVsDynamic"
  | "sparseMethods";

/** All tables, in report order. */
export const TABLES: readonly TableName[] = [
  "lowResource",
  "fewShot",
  "peft",
  "ablationK",
  "ablationM",
  "ablationN",
  "fixedVsDynamic",
  "sparseMethods",
];

/** Titles of the tables. */
export const TABLE_TITLES: Record<TableName, string> = {
  lowResource: "Low-resource sequence labelling: full fine-tuning vs FISH vs FISH-DIP",
  fewShot: "Few-shot relation classification on FewRel (accuracy)",
  peft: "FISH-DIP vs parameter-efficient fine-tuning",
  ablationK: "Ablation: percentage k of trainable parameters",
  ablationM: "Ablation: mask refresh interval m (optimizer steps)",
  ablationN: "Ablation: number n of regressing samples",
  fixedVsDynamic: "Ablation: fixed vs dynamic mask",
  sparseMethods: "Beyond the paper: which sparse mask? FISH-DIP against later sparse fine-tuning methods",
};

/**
 * One table cell: the runs (one per seed) whose `metric` under `key` is averaged and shown at
 * (`row`, `column`). `needs` lists the datasets that are missing; such entries are shown as
 * "needs DATASET" and their cells are not run.
 */
export interface Entry {
  table: TableName;
  row: string;
  column: string;
  /** Evaluation key (see {@link evalKey}) and metric name read from each run. */
  key: string;
  metric: string;
  /** Grouping for figures (a dataset and metric), and the x value (fraction, k, m, n). */
  group: string;
  x?: number;
  method: MethodName;
  /** The scored runs, one per seed (FewRel: per episode). */
  cells: Cell[];
  /** Runs these depend on (FewRel meta-training), not scored by this entry. */
  requires?: Cell[];
  needs: DatasetName[];
  /** Notes printed under the table (eval subsample, stand-in data, etc.). */
  note?: string;
}

/** Generation length at evaluation (reference: `max_seq_length_eval`, else `max_seq_length`). */
function evalLength(dataset: DatasetName, spec: PresetSpec): number {
  if (spec.name !== "paper") return spec.maxOutputLengthEval ?? spec.maxOutputLength;
  return DATASETS[dataset].paperEvalLength ?? spec.maxOutputLength;
}

/** The options of {@link planPreset}. */
export interface PlanOptions {
  /** Data directory for availability checks (`--data`; default `$FISHDIP_DATA` or `<repo>/data`). */
  dataDir?: string;
  /** Precomputed availability (tests); overrides `dataDir`. */
  availability?: Record<DatasetName, Availability>;
  /** Restrict to these tables (`--only`). */
  only?: TableName[];
  /**
   * Restrict to the rows of these datasets (`--datasets`): an entry is kept when the dataset its
   * cells train on (FewRel episodes: `fewrel`) is listed; meta-training cells come with it.
   */
  datasets?: DatasetName[];
  /**
   * Restrict to the rows trained on these fractions of their training data (`--fractions`, e.g.
   * `[0.01]`: the smallest subsets first); FewRel episodes, which have none, are left out.
   */
  fractions?: number[];
  /** Override the backbone id of every cell (a user-supplied checkpoint). */
  backbone?: string;
}

/** A preset expanded: the table entries, and the unique runnable cells (dependencies first). */
export interface Plan {
  /** The preset's label (its name, or e.g. `cpu-600steps`): where its report goes. */
  preset: string;
  /** The backbones the cells start from, comma-separated (one, unless the preset picks per dataset). */
  backbone: string;
  entries: Entry[];
  /** Unique cells whose data is present, meta-training cells before the cells they initialise. */
  cells: Cell[];
  /** Unique cells not run for lack of data, with the datasets they need. */
  blocked: { cell: Cell; needs: DatasetName[] }[];
}

function pct(f: number): string {
  return `${+(f * 100).toFixed(3)}%`;
}

/** Expands a preset into table entries and cells, marking the ones whose data is missing. */
export function planPreset(preset: PresetName | PresetSpec, opts: PlanOptions = {}): Plan {
  const spec = typeof preset === "string" ? PRESET_SPECS[preset] : preset;
  if (spec.tableSteps && Object.keys(spec.tableSteps).length > 0) return planWithTableSteps(spec, opts);
  // Per-dataset presets start each dataset's rows from the offline backbone that never saw its
  // labels or evaluation sentences; a user's --backbone replaces every one.
  const backboneOf = (dataset: DatasetName): string =>
    opts.backbone ??
      (spec.backbonePerDataset ? DATASETS[dataset].offlineBackbone ?? spec.backbone : spec.backbone);
  const avail = opts.availability ?? datasetAvailability(opts.dataDir);
  const only = opts.only ? new Set(opts.only) : undefined;
  const entries: Entry[] = [];

  const epochsFor = (dataset: DatasetName, fraction: number | undefined, episode?: EpisodeSpec): number => {
    if (spec.epochs === "paper") {
      if (episode) return PAPER_FEWREL_EPOCHS[episode.shots];
      if (DATASETS[dataset].metaTraining) return 1;
      const e = DATASETS[dataset].paperEpochs?.[fraction!];
      if (e === undefined) throw new Error(`no reference epochs for ${dataset} at ${fraction}`);
      return e;
    }
    if (DATASETS[dataset].metaTraining) return 1; // one pass, as the reference
    const examples = episode
      ? episode.ways * episode.shots
      : subsetSize(fraction!, DATASETS[dataset].trainSize);
    return epochsForSteps(spec.epochs.steps, examples, spec.batchSize);
  };

  // The preset's m (and the batch n's rule counts) are FISH-DIP's; every other setting is the
  // registry's default.
  const fishdipPreset = { m: spec.m, ...(spec.nBatch === undefined ? {} : { nBatch: spec.nBatch }) };
  const presetMethod = (name: MethodName): MethodConfig =>
    name === "fishdip" ? methodConfig("fishdip", fishdipPreset) : methodConfig(name);

  /**
   * The reference's step counter runs on across the seeds of one job (`--episodes 1-3` in one
   * process), so the run of the i-th seed refreshes as if i earlier runs' steps had been counted.
   */
  const countedSteps = (cell: Cell, seedIndex: number): Cell => {
    if (!spec.referenceStepCounter || cell.method.name !== "fishdip" || seedIndex === 0) return cell;
    return { ...cell, method: { ...cell.method, stepOffset: seedIndex * trainSteps(cell) } };
  };

  const evalTargets = (dataset: DatasetName): EvalTarget[] => {
    const names: DatasetName[] = [dataset, ...(DATASETS[dataset].alsoScoredOn ?? [])];
    return names.map((d) => ({ dataset: d, split: DATASETS[d].evalSplit, subsample: spec.evalSubsample[d] }));
  };

  const lowResourceCell = (
    dataset: DatasetName,
    fraction: number,
    method: MethodConfig,
    seed: number,
  ): Cell => ({
    dataset,
    task: DATASETS[dataset].task,
    fraction,
    method,
    optimizer: { name: "adafactor", lr: 1e-2 },
    seed,
    epochs: epochsFor(dataset, fraction),
    batchSize: spec.batchSize,
    maxInputLength: (DATASETS[dataset].lengthFactor ?? 1) * spec.maxInputLength,
    maxOutputLength: (DATASETS[dataset].lengthFactor ?? 1) * spec.maxOutputLength,
    maxOutputLengthEval: evalLength(dataset, spec),
    ...(spec.name === "paper" && DATASETS[dataset].paperEvalLength !== undefined
      ? { maxInputLengthEval: DATASETS[dataset].paperEvalLength }
      : {}),
    padLabels: spec.padLabels,
    decoding: "greedy",
    backbone: backboneOf(dataset),
    evaluate: evalTargets(dataset),
    maxSteps: spec.maxSteps,
  });

  const needsOf = (cells: Cell[]): DatasetName[] => {
    const need = new Set<DatasetName>();
    for (const c of cells) {
      for (const d of [c.dataset, ...c.evaluate.map((t) => t.dataset)]) if (!avail[d].available) need.add(d);
    }
    return [...need];
  };

  const subsampleNote = (dataset: DatasetName): string | undefined => {
    const n = spec.evalSubsample[dataset];
    return n !== undefined && n < DATASETS[dataset].evalSize
      ? `${DATASETS[dataset].label} ${DATASETS[dataset].evalSplit} scored on a fixed subset of ${n} examples`
      : undefined;
  };

  /** Rows of one metric of a dataset-fraction setting, one entry per method column. */
  const settingEntries = (
    table: TableName,
    setting: { dataset: DatasetName; fraction: number },
    methods: { column: string; method: MethodConfig; x?: number; row?: string }[],
    seeds: number[],
  ) => {
    const { dataset, fraction } = setting;
    for (const target of evalTargets(dataset)) {
      const info = DATASETS[target.dataset];
      for (const metric of info.metrics) {
        const metricLabel = metric.replace(/_/g, " ").replace("f1", "F1");
        for (const m of methods) {
          const cells = seeds.map((s, i) => countedSteps(lowResourceCell(dataset, fraction, m.method, s), i));
          entries.push({
            table,
            row: m.row ?? `${info.label} ${metricLabel}, ${pct(fraction)}`,
            column: m.row ? `${info.label} ${pct(fraction)} ${metricLabel}` : m.column,
            key: evalKey(target),
            metric,
            group: `${info.label} ${metricLabel}`,
            x: m.x ?? fraction,
            method: m.method.name,
            cells,
            needs: needsOf(cells),
            note: subsampleNote(target.dataset),
          });
        }
      }
    }
  };

  const want = (t: TableName) => !only || only.has(t);

  if (want("lowResource")) {
    for (const { dataset, fractions } of spec.lowResource) {
      const seeds = DATASETS[dataset].task === "dst" ? spec.dstSeeds : spec.seeds;
      for (const fraction of fractions) {
        settingEntries(
          "lowResource",
          { dataset, fraction },
          spec.lowResourceMethods.map((name) => ({
            column: METHODS[name].label,
            method: presetMethod(name),
          })),
          seeds,
        );
      }
    }
  }

  /** A FewRel episode setting's entry for one method: its episodes and the meta-training they start from. */
  const standIn = DATASETS[spec.meta.dataset].standIn;
  /** What a FewRel cell (meta-training or episode) is, before its data, seed and schedule. */
  const rankingCell = (dataset: DatasetName, method: MethodConfig) => ({
    dataset,
    task: "relation_classification" as const,
    method,
    optimizer: { name: "adafactor" as const, lr: 1e-2 },
    batchSize: spec.batchSize,
    maxInputLength: spec.maxInputLength,
    maxOutputLength: spec.maxOutputLength,
    maxOutputLengthEval: spec.maxOutputLength,
    padLabels: spec.padLabels,
    decoding: "rank" as const,
    backbone: backboneOf(dataset),
    maxSteps: spec.maxSteps,
  });
  const metaCell = (method: MethodConfig): Cell => ({
    ...rankingCell(spec.meta.dataset, method),
    fraction: spec.meta.fraction,
    seed: 1,
    epochs: epochsFor(spec.meta.dataset, spec.meta.fraction),
    evaluate: [],
    saveCheckpoint: true,
  });
  const episodeEntry = (table: TableName, ep: EpisodeSpec, name: MethodName) => {
    const method = presetMethod(name);
    const meta = metaCell(method);
    const cells = spec.episodes.map((seed, i): Cell =>
      countedSteps({
        ...rankingCell("fewrel", method),
        episode: { ...ep },
        seed,
        epochs: epochsFor("fewrel", undefined, ep),
        evaluate: [{ dataset: "fewrel", split: "test" }],
        init: cellId(meta),
      }, i)
    );
    entries.push({
      table,
      // The few-shot table has only FewRel rows; elsewhere the row names the dataset.
      row: table === "fewShot" ? `${ep.ways}-way ${ep.shots}-shot` : `FewRel ${ep.ways}-way ${ep.shots}-shot`,
      column: METHODS[name].label,
      key: "fewrel/test",
      metric: "relation_f1",
      group: `${ep.ways}-way`,
      x: ep.shots,
      method: name,
      cells,
      requires: [meta],
      needs: needsOf([meta, ...cells]),
      note: standIn
        ? `meta-trained on ${pct(spec.meta.fraction)} of ${standIn.of} ` +
          `(${standIn.for} is not available); ${ep.queries} queries per class, ${spec.episodes.length} episodes`
        : `${ep.queries} queries per class, ${spec.episodes.length} episodes`,
    });
  };

  if (want("fewShot")) {
    for (const ep of spec.fewShot) for (const name of spec.fewShotMethods) episodeEntry("fewShot", ep, name);
  }

  if (want("peft")) {
    for (const setting of spec.peft) {
      settingEntries(
        "peft",
        setting,
        spec.peftMethods.map((name) => ({ column: METHODS[name].label, method: presetMethod(name) })),
        spec.ablationSeeds,
      );
    }
  }

  const fishdip = (patch: Partial<MethodConfigs["fishdip"]>): MethodConfig =>
    methodConfig("fishdip", { ...fishdipPreset, ...patch });
  const ablation = (table: TableName, rows: { row: string; x: number; method: MethodConfig }[]) =>
    settingEntries(
      table,
      spec.ablation,
      rows.map((r) => ({ column: "", row: r.row, x: r.x, method: r.method })),
      spec.ablationSeeds,
    );
  if (want("ablationK")) {
    ablation("ablationK", spec.kValues.map((k) => ({ row: `k = ${pct(k)}`, x: k, method: fishdip({ k }) })));
  }
  if (want("ablationM")) {
    ablation("ablationM", spec.mValues.map((m) => ({ row: `m = ${m}`, x: m, method: fishdip({ m }) })));
  }
  if (want("ablationN")) {
    // The value the reference rule gives for this setting is the default run itself: reuse it.
    const examples = subsetSize(spec.ablation.fraction, DATASETS[spec.ablation.dataset].trainSize);
    const rule = numFisherSamples(examples, spec.nBatch ?? spec.batchSize);
    ablation(
      "ablationN",
      spec.nValues.map((n) =>
        n === rule
          ? { row: `n = ${n} (rule)`, x: n, method: fishdip({ n: "rule" }) }
          : { row: `n = ${n}`, x: n, method: fishdip({ n }) }
      ),
    );
  }
  if (want("fixedVsDynamic")) {
    const rowOf: Partial<Record<MethodName, string>> = {
      random: "Random mask (fixed)",
      fish: "FISH mask (fixed, all samples)",
      fishdip: "FISH-DIP (dynamic)",
    };
    ablation(
      "fixedVsDynamic",
      spec.fixedVsDynamicMethods.map((name, i) => ({
        row: rowOf[name] ?? METHODS[name].label,
        x: i,
        method: presetMethod(name),
      })),
    );
  }

  if (want("sparseMethods")) {
    const { settings, episodes, methods } = spec.sparseMethods;
    const columns = methods.map((name) => ({ column: METHODS[name].label, method: presetMethod(name) }));
    for (const setting of settings) settingEntries("sparseMethods", setting, columns, spec.seeds);
    for (const ep of episodes) for (const name of methods) episodeEntry("sparseMethods", ep, name);
  }

  // Unique cells in entry order, dependencies (meta-training) before their dependants.
  const seen = new Map<string, Cell>();
  const blocked = new Map<string, { cell: Cell; needs: DatasetName[] }>();
  const datasets = opts.datasets ? new Set<string>(opts.datasets) : undefined;
  const listed = (f: number | undefined) =>
    f !== undefined && opts.fractions!.some((x) => Math.abs(x - f) < 1e-9);
  const kept = entries.filter((e) =>
    (!datasets || e.cells.some((c) => datasets.has(c.dataset))) &&
    (!opts.fractions || e.cells.some((c) => listed(c.fraction)))
  );
  for (const e of kept) {
    for (const c of [...(e.requires ?? []), ...e.cells]) {
      const id = cellId(c);
      const needs = needsOf([c]);
      if (c.init && !seen.has(c.init) && !blocked.has(c.init)) {
        throw new Error(`cell ${cellLabel(c)} depends on ${c.init}, which no earlier cell defines`);
      }
      if (c.init && blocked.has(c.init)) {
        needs.push(...blocked.get(c.init)!.needs.filter((d) => !needs.includes(d)));
      }
      if (needs.length) {
        if (!blocked.has(id)) blocked.set(id, { cell: c, needs });
      } else if (!seen.has(id)) seen.set(id, c);
    }
  }
  const cells = [...seen.values()];
  const backbone = planBackbone(cells, spec, opts);
  return { preset: spec.label ?? spec.name, backbone, entries: kept, cells, blocked: [...blocked.values()] };
}

/**
 * A preset some of whose tables have their own step budget (`PresetSpec.tableSteps`): each group
 * of tables planned as `withStepBudget` plans it, then joined in report order. Cells shared by
 * tables of one budget are one cell; the same setting at two budgets is two.
 */
function planWithTableSteps(spec: PresetSpec, opts: PlanOptions): Plan {
  const { tableSteps, ...base } = spec;
  const groups = new Map<number | undefined, TableName[]>();
  for (const table of TABLES.filter((t) => !opts.only || opts.only.includes(t))) {
    const steps = tableSteps![table];
    groups.set(steps, [...(groups.get(steps) ?? []), table]);
  }
  const parts = [...groups].map(([steps, only]) =>
    planPreset(steps === undefined ? base : withStepBudget(base, steps), { ...opts, only })
  );
  const rank = (e: Entry) => TABLES.indexOf(e.table);
  const entries = parts.flatMap((p) => p.entries).sort((a, b) => rank(a) - rank(b)); // stable
  const unique = <T>(
    items: T[],
    id: (item: T) => string,
  ) => [...new Map(items.map((x) => [id(x), x])).values()];
  const cells = unique(parts.flatMap((p) => p.cells), cellId);
  const blocked = unique(parts.flatMap((p) => p.blocked), (b) => cellId(b.cell));
  return {
    preset: spec.label ?? spec.name,
    backbone: planBackbone(cells, spec, opts),
    entries,
    cells,
    blocked,
  };
}

/**
 * The backbones a plan's cells start from, as its report names them; without runnable cells, the
 * one every cell would use unless a dataset has its own.
 */
function planBackbone(cells: Cell[], spec: PresetSpec, opts: PlanOptions): string {
  return cells.length
    ? [...new Set(cells.map((c) => c.backbone))].join(", ")
    : opts.backbone ?? spec.backbone;
}

/** The tables present in a plan, in report order. */
export function tablesOf(plan: Plan): TableName[] {
  const present = new Set(plan.entries.map((e) => e.table));
  return TABLES.filter((t) => present.has(t));
}
