/**
 * Reading the reference T5 fixtures (`<fixtures>/t5/`) and comparing numbers: the helpers of the
 * fixture comparisons (lib/t5/parity.ts, run by the fixture tests and the GPU check).
 * Nothing here is hard-coded about the fixtures: configurations come from `t5/index.json`,
 * shapes and names from the files themselves.
 *
 * @module
 */
import { fixturesDir } from "../config/paths.ts";
import { readSafetensors, type SafetensorsFile, type TensorEntry } from "../checkpoint/safetensors.ts";
import { parseT5Config, type T5Config } from "./config.ts";
import { t5FromWeights, type T5Model } from "./model.ts";

/** The shared batch (`t5/batch.json`). */
export interface FixtureBatch {
  input_ids: number[][];
  attention_mask: number[][];
  labels_pad0: number[][];
  labels_ignore: number[][];
  decoder_input_ids: number[][];
  input_lengths: number[];
  target_lengths: number[];
}

/** One configuration's folder. */
export interface FixtureConfig {
  name: string;
  dir: string;
  config: T5Config;
  // deno-lint-ignore no-explicit-any
  outputs: any;
}

/** The `t5/` fixtures folder. */
export function t5FixturesDir(): string {
  return `${fixturesDir()}/t5`;
}

/** Reads a JSON file. */
export async function readJson<T = unknown>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}

/** Every configuration named in `t5/index.json`, with its parsed config and outputs. */
export async function fixtureConfigs(): Promise<FixtureConfig[]> {
  const dir = t5FixturesDir();
  const index = await readJson<{ configs: Record<string, unknown> }>(`${dir}/index.json`);
  const out: FixtureConfig[] = [];
  for (const name of Object.keys(index.configs)) {
    const cdir = `${dir}/${name}`;
    out.push({
      name,
      dir: cdir,
      config: parseT5Config(await readJson(`${cdir}/config.json`)),
      outputs: await readJson(`${cdir}/outputs.json`),
    });
  }
  return out;
}

/** The shared batch. */
export function fixtureBatch(): Promise<FixtureBatch> {
  return readJson<FixtureBatch>(`${t5FixturesDir()}/batch.json`);
}

/** Reads `<config>/<file>.safetensors`. */
export function fixtureTensors(fc: FixtureConfig, file: string): Promise<SafetensorsFile> {
  return readSafetensors(`${fc.dir}/${file}.safetensors`);
}

/** The model of a configuration with its BF16 (widened to float32) weights, on the current backend. */
export async function fixtureModel(fc: FixtureConfig): Promise<T5Model> {
  const file = await fixtureTensors(fc, "model");
  const weights = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const [name, t] of file.tensors) weights.set(name, { data: t.data as Float32Array, shape: t.shape });
  return t5FromWeights(fc.config, weights);
}

/** Max absolute difference of two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Max absolute value. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Entry `name` of a file, or a loud error. */
export function entry(file: SafetensorsFile, name: string): TensorEntry {
  const t = file.tensors.get(name);
  if (!t) throw new Error(`fixture tensor "${name}" is missing`);
  return t;
}

/** Sum, sum of squares, sum of absolute values, max absolute value (float64), as `@stats`. */
export function stats(a: ArrayLike<number>): [number, number, number, number] {
  let s = 0, sq = 0, sa = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    s += v;
    sq += v * v;
    sa += Math.abs(v);
    m = Math.max(m, Math.abs(v));
  }
  return [s, sq, sa, m];
}

/** Names of tensors stored in full (not as `NAME@...` summaries) and of summarised tensors. */
export function splitNames(file: SafetensorsFile): { full: string[]; summarised: string[] } {
  const full: string[] = [], summarised = new Set<string>();
  for (const k of file.tensors.keys()) {
    const at = k.indexOf("@");
    if (at < 0) full.push(k);
    else summarised.add(k.slice(0, at));
  }
  return { full, summarised: [...summarised] };
}

/**
 * Compares a vocabulary-sized (rows, cols) tensor with its stored summary. Returns the largest
 * differences relative to the reference's largest magnitude: of the stored rows, of each
 * `@block64_sum` / `@block64_sumsq` (divided by the block's entry count, i.e. per entry; undefined
 * when the file has no block sums), and of
 * the `@stats` entries (sum and sums per entry; max directly).
 */
export function compareSummary(
  file: SafetensorsFile,
  name: string,
  values: Float32Array,
  cols: number,
): { rows: number; blocks?: number; stats: number; scale: number } {
  const ref = entry(file, `${name}@stats`).data;
  const scale = ref[3];
  const idx = entry(file, `${name}@row_index`).data;
  const rowsRef = entry(file, `${name}@rows`).data;
  let rows = 0;
  for (let r = 0; r < idx.length; r++) {
    for (let c = 0; c < cols; c++) {
      rows = Math.max(rows, Math.abs(values[idx[r] * cols + c] - rowsRef[r * cols + c]));
    }
  }
  let blocks: number | undefined;
  const bs = file.tensors.get(`${name}@block64_sum`), bq = file.tensors.get(`${name}@block64_sumsq`);
  if (bs && bq) {
    const nRows = values.length / cols;
    blocks = 0;
    for (let b = 0; b < bs.data.length; b++) {
      let s = 0, q = 0;
      const end = Math.min(nRows, 64 * b + 64);
      for (let i = 64 * b * cols; i < end * cols; i++) {
        s += values[i];
        q += values[i] * values[i];
      }
      const n = (end - 64 * b) * cols;
      blocks = Math.max(blocks, Math.abs(s - bs.data[b]) / n, Math.abs(q - bq.data[b]) / n / scale);
    }
  }
  const st = stats(values);
  const n = values.length;
  const statDiff = Math.max(
    Math.abs(st[0] - ref[0]) / n,
    Math.abs(st[1] - ref[1]) / n / scale,
    Math.abs(st[2] - ref[2]) / n,
    Math.abs(st[3] - ref[3]),
  );
  return {
    rows: rows / scale,
    blocks: blocks === undefined ? undefined : blocks / scale,
    stats: statDiff / scale,
    scale,
  };
}
