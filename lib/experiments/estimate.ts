/**
 * How long cells take, before running them: the work in a cell (optimizer steps, examples passed
 * through for masks, sentences generated, FewRel candidates scored), rates measured on finished
 * runs, and shards of a grid balanced by estimated time.
 *
 * @module
 */
import { DATASETS } from "../data/registry.ts";
import { type Cell, cellId, regressingSamples, trainExamples, trainSteps } from "./cells.ts";

/**
 * Seconds per step, per generated sentence and per FewRel candidate measured on a 2-core machine
 * (the quick preset's run on the offline backbone; per mask example, from the first cpu-preset
 * cells, scaled to that step rate). Only their ratios matter: they weigh cells
 * against each other when {@link shard} balances shards, and they are constants, not the local
 * store's rates, so that every machine of a SLURM array computes the same partition.
 */
export const NOMINAL_RATES: WorkRates = { step: 1.61, generated: 0.207, candidate: 0.169, mask: 0.09 };

/**
 * The `i`-th of `n` shards (1-based, as `--shard i/N`, SLURM array indices and `--workers`),
 * balanced by estimated time: cells are grouped with the cell they take their weights from (a
 * FewRel meta-training cell and its episodes must run on one machine), and the groups are dealt,
 * longest first, to the shard with the least work so far (ties: lowest shard, then cell id). The
 * partition depends only on `cells`, so machines agree as long as they plan the same grid (same
 * preset, `--only` and data); every cell lands in exactly one shard. (Hashing ids instead split
 * the cpu preset 86 min against 3.7 h over two shards, since one group holds every FewRel cell.)
 */
export function shard(cells: Cell[], i: number, n: number): Cell[] {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(i) || i < 1 || i > n) {
    throw new Error(`bad shard ${i}/${n}: need integers 1 <= i <= N`);
  }
  const rootOf = (c: Cell) => c.init ?? cellId(c);
  const groups = Map.groupBy(cells, rootOf);
  const byCost = [...groups].map(([root, g]) => ({ root, cost: estimateSeconds(g, NOMINAL_RATES) ?? 0 }))
    .sort((a, b) => b.cost - a.cost || (a.root < b.root ? -1 : a.root > b.root ? 1 : 0));
  const load = new Array<number>(n).fill(0);
  const owner = new Map<string, number>();
  for (const { root, cost } of byCost) {
    const j = load.indexOf(Math.min(...load));
    load[j] += cost;
    owner.set(root, j);
  }
  return cells.filter((c) => owner.get(rootOf(c)) === i - 1);
}

/** Parses `--shard i/N` (`"2/4"`). */
export function parseShard(s: string): { i: number; n: number } {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`--shard expects i/N (for example 2/4), got ${JSON.stringify(s)}`);
  const i = Number(m[1]), n = Number(m[2]);
  shard([], i, n);
  return { i, n };
}

/**
 * Examples a cell's mask passes through the model: FISH-DIP scores the whole training subset and
 * takes n per-sample gradients for the initial mask and at every m-th step; the fixed FISH mask
 * does that once (n = all: a gradient per example). Forward-only scoring at batch 16 and batch-1
 * gradients cost about the same per example here, so they are counted alike. This work grows with
 * the subset while the step budget does not (CoNLL-2003 10 %: 1,400 examples scored 7 times).
 */
export function maskExamples(cell: Cell): number {
  const N = trainExamples(cell), m = cell.method;
  if (m.name === "fishdip") {
    const refreshes = 1 + Math.floor(trainSteps(cell) / m.m);
    return refreshes * (N + (regressingSamples(cell) ?? 0));
  }
  if (m.name === "fish") return N + (m.n === "all" ? N : Math.min(m.n, N));
  return 0;
}

/**
 * A rough amount of work per cell, to size presets before timing them: training examples seen
 * (epochs × subset), examples passed through for masks ({@link maskExamples}), and examples
 * generated at evaluation (FewRel: N·Q queries × N candidates scored by NLL). Multiply by
 * measured seconds per example of the backbone.
 */
export function estimateWork(cells: Cell[]): {
  trainExamples: number;
  evalExamples: number;
  steps: number;
  generated: number;
  candidates: number;
  mask: number;
} {
  let trainN = 0, generated = 0, candidates = 0, steps = 0, mask = 0;
  for (const c of cells) {
    trainN += c.epochs * trainExamples(c);
    steps += trainSteps(c);
    mask += maskExamples(c);
    for (const t of c.evaluate) {
      if (c.episode) candidates += c.episode.ways * c.episode.queries * c.episode.ways;
      else generated += Math.min(t.subsample ?? Infinity, DATASETS[t.dataset].evalSize);
    }
  }
  return { trainExamples: trainN, evalExamples: generated + candidates, steps, generated, candidates, mask };
}

/** Seconds per optimizer step, per generated evaluation sentence, per FewRel candidate scored and per mask example. */
export interface WorkRates {
  step: number;
  generated: number;
  candidate: number;
  /** Seconds per example passed through for a mask (see {@link maskExamples}). */
  mask?: number;
}

/**
 * The rates of finished runs (their cells and timings): training seconds without the mask's
 * over steps, evaluation seconds over sentences generated, and over FewRel candidates scored,
 * mask seconds over mask examples. A rate with no finished run of its kind is `undefined`.
 */
export function measuredRates(
  runs: { cell: Cell; timings: { train: number; eval: number; mask?: number } }[],
): Partial<WorkRates> {
  let steps = 0, train = 0, gen = 0, genS = 0, cand = 0, candS = 0, maskN = 0, maskS = 0;
  for (const r of runs) {
    const w = estimateWork([r.cell]);
    const m = r.timings.mask ?? 0;
    steps += w.steps;
    train += r.timings.train - m;
    if (w.mask && r.timings.mask !== undefined) (maskN += w.mask, maskS += m);
    if (r.cell.episode) (cand += w.candidates, candS += r.timings.eval);
    else if (w.generated) (gen += w.generated, genS += r.timings.eval);
  }
  return {
    step: steps ? train / steps : undefined,
    generated: gen ? genS / gen : undefined,
    candidate: cand ? candS / cand : undefined,
    mask: maskN ? maskS / maskN : undefined,
  };
}

/** Estimated seconds of `cells` at `rates`; `undefined` when a rate the cells need is unknown. */
export function estimateSeconds(cells: Cell[], rates: Partial<WorkRates>): number | undefined {
  const w = estimateWork(cells);
  const part = (n: number, rate: number | undefined) => (n === 0 ? 0 : rate === undefined ? NaN : n * rate);
  const s = part(w.steps, rates.step) + part(w.generated, rates.generated) +
    part(w.candidates, rates.candidate) + part(w.mask, rates.mask);
  return Number.isNaN(s) ? undefined : s;
}
