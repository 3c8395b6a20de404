/**
 * Adafactor's state as safetensors tensors and metadata: the one (de)serialiser the fine-tuning
 * checkpoints and the pretraining state both use.
 *
 * Layout: for every parameter `NAME`, its moments as 1-D float32 tensors `PREFIX + NAME/KEY`
 * (KEY one of `exp_avg_sq_row`, `exp_avg_sq_col`, `exp_avg_sq`, `exp_avg`, whichever the
 * configuration keeps), and two metadata strings: `config` (the {@link AdafactorConfig}) and
 * `params` (`{NAME: {step, shape}}`). The prefix lets the state share a file with the weights.
 *
 * ```ts
 * import { adafactorStateTensors, adafactorStateFrom } from "./adafactor_state.ts";
 * const { tensors, metadata } = adafactorStateTensors(await opt.saveState(), "opt/");
 * // ... write them with writeSafetensorsFile, read them back with readSafetensors, then:
 * opt.loadState(adafactorStateFrom(file.tensors, file.metadata, "opt/", "state.safetensors"));
 * ```
 *
 * @module
 */
import type { AdafactorParamStateDump, AdafactorStateDump } from "./adafactor.ts";

const MOMENT_KEYS = ["exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq", "exp_avg"] as const;

/** A float32 tensor as the safetensors writer takes it. */
export interface F32Entry {
  dtype: "F32";
  shape: number[];
  data: Float32Array;
}

/** The state as tensors (names prefixed) and the two metadata strings. */
export function adafactorStateTensors(
  dump: AdafactorStateDump,
  prefix = "",
): { tensors: Map<string, F32Entry>; metadata: { config: string; params: string } } {
  const tensors = new Map<string, F32Entry>();
  const params: Record<string, { step: number; shape: number[] }> = {};
  for (const [name, s] of Object.entries(dump.params)) {
    params[name] = { step: s.step, shape: s.shape };
    for (const key of MOMENT_KEYS) {
      const a = s[key];
      if (a) tensors.set(`${prefix}${name}/${key}`, { dtype: "F32", shape: [a.length], data: a });
    }
  }
  return { tensors, metadata: { config: JSON.stringify(dump.config), params: JSON.stringify(params) } };
}

/**
 * Reads the state back from a file's tensors and metadata. `file` names the source in errors: a
 * missing or unreadable metadata entry is reported with it; missing or mis-sized moments are
 * reported by `Adafactor.loadState`, which checks every array against the parameters.
 */
export function adafactorStateFrom(
  tensors: ReadonlyMap<string, { data: ArrayLike<number> }>,
  metadata: Record<string, string> | undefined,
  prefix: string,
  file: string,
): AdafactorStateDump {
  const read = (key: string) => {
    const text = metadata?.[key];
    if (text === undefined) throw new Error(`${file}: no optimizer "${key}" in the metadata`);
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Error(`${file}: optimizer "${key}" metadata is not JSON (${(e as Error).message})`);
    }
  };
  const meta = read("params") as Record<string, { step: number; shape: number[] }>;
  const dump: AdafactorStateDump = { format: "fishdip-adafactor-v1", config: read("config"), params: {} };
  for (const [name, m] of Object.entries(meta)) {
    const entry: AdafactorParamStateDump = { step: m.step, shape: m.shape };
    for (const key of MOMENT_KEYS) {
      const t = tensors.get(`${prefix}${name}/${key}`);
      if (t) entry[key] = t.data as Float32Array;
    }
    dump.params[name] = entry;
  }
  return dump;
}
