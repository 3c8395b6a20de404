// The README's "Adding a method", as a test: a copy of the library gets a new method (train only
// the layer norms' scales) as its own module plus one registry entry, and nothing else. The copy
// must type-check everywhere the methods are used (grid, finetune, reproduce, report, notebooks'
// lib/mod.ts), and the new method must plan into a table with its label, parse from flags, and
// train a T5 through the unchanged trainer, changing only the parameters it owns.
import { assert, assertStringIncludes } from "@std/assert";
import { REPO_ROOT } from "../lib/config/paths.ts";

/** The new method's module, `lib/methods/norms.ts`: the method and its registry entry. */
const NORMS_MODULE = `/**
 * Layer norms only: trains the scale of every layer norm and nothing else (T5 has no biases, so
 * this is the closest to BitFit). A fixed mask, computed from parameter names.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { T5Inputs } from "../t5/model.ts";
import { type ParamMask, SparseMask } from "./mask.ts";
import { type CreateContext, maskSetup, type MethodSetup, type MethodSpec } from "./spec.ts";
import type { MethodContext, SparseMethod } from "./types.ts";

export class NormsOnly<E = unknown, B = unknown> implements SparseMethod<E, B> {
  readonly name = "norms";
  mask: SparseMask | null = null;
  prepare(ctx: MethodContext<E, B>): Promise<void> {
    const params = new Map<string, ParamMask>();
    for (const [name, v] of ctx.model.parameters()) {
      const kept = name.includes("layer_norm") ? Int32Array.from({ length: v.size }, (_, i) => i) : new Int32Array(0);
      params.set(name, { shape: [...v.shape], size: v.size, kept });
    }
    this.restoreMask(new SparseMask(params));
    return Promise.resolve();
  }
  beforeStep(): Promise<boolean> {
    return Promise.resolve(false);
  }
  maskGradients(grads: Map<string, tf.Tensor>): void {
    this.mask!.apply(grads);
  }
  restoreMask(mask: SparseMask | null): void {
    this.mask?.dispose();
    this.mask = mask;
  }
  dispose(): void {
    this.mask?.dispose();
  }
}

export const NORMS_METHOD: MethodSpec<Record<never, never>> = {
  label: "LayerNorm only",
  kind: "mask",
  color: "#edc948",
  description: "Trains only the layer norms' scales",
  source: "a test of the README's 'Adding a method'",
  defaults: Object.freeze({}),
  create<E>(_config: Record<never, never>, ctx: CreateContext): MethodSetup<E> {
    return maskSetup(new NormsOnly<E, T5Inputs>(), ctx);
  },
};
`;

/** Uses the new method the way the grid, the tables, finetune and the trainer do. */
const DRIVER = `
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./lib/backend/mod.ts";
import { type Availability, DATASETS, type DatasetName } from "./lib/data/registry.ts";
import { cellLabel } from "./lib/experiments/cells.ts";
import { planPreset } from "./lib/experiments/plan.ts";
import { PRESET_SPECS } from "./lib/experiments/presets.ts";
import { createMethod, methodConfig, METHODS, parseMethodConfig } from "./lib/methods/registry.ts";
import { buildTables } from "./lib/report/tables.ts";
import { barsWithSpread } from "./lib/report/plots.ts";
import { parseT5Config } from "./lib/t5/config.ts";
import { createT5, type T5Inputs } from "./lib/t5/model.ts";
import { train } from "./lib/train/trainer.ts";

const check = (ok: boolean, what: string) => { if (!ok) throw new Error(what); };
check(METHODS.norms.label === "LayerNorm only", "registry entry");
const availability = {} as Record<DatasetName, Availability>;
for (const d of Object.keys(DATASETS) as DatasetName[]) availability[d] = { available: true, missing: [] };
const plan = planPreset({ ...PRESET_SPECS.smoke, peftMethods: ["full", "norms", "fishdip"] }, { availability, only: ["peft"] });
const mine = plan.cells.filter((c) => c.method.name === "norms");
check(mine.length > 0 && cellLabel(mine[0]).includes(" norms s1"), "planned cells");
const table = buildTables(plan, []).find((t) => t.name === "peft")!;
check(table.columns.includes("LayerNorm only"), "table column: " + table.columns.join(", "));
check(barsWithSpread(table.summaries, { title: "t" }).includes("#edc948"), "figure colour");
check(JSON.stringify(parseMethodConfig("norms", { k: "0.5" })) === '{"name":"norms"}', "finetune flags");

await initBackend("cpu", { quiet: true });
const model = createT5(parseT5Config({
  vocab_size: 32, d_model: 8, d_kv: 4, num_heads: 2, d_ff: 16, num_layers: 1, num_decoder_layers: 1,
  relative_attention_num_buckets: 8, relative_attention_max_distance: 16, dropout_rate: 0,
}), { seed: 1 });
const before = new Map([...model.params].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]));
const setup = createMethod(methodConfig("norms"), { model, seed: 1 });
const batch: T5Inputs = { inputIds: [[5, 9, 7, 1]], attentionMask: [[1, 1, 1, 1]], labels: [[11, 4, 1]] };
await train({
  model: setup.trainable,
  method: setup.method,
  examples: [0, 1, 2, 3],
  collate: () => batch,
  config: { epochs: 1, batchSize: 2, seed: 1, adafactor: setup.adafactor },
  progress: false,
});
for (const [n, v] of model.params) {
  const moved = (v.dataSync() as Float32Array).some((x, i) => x !== before.get(n)![i]);
  check(moved === n.includes("layer_norm"), n + (moved ? " moved" : " did not move"));
}
setup.dispose();
model.dispose();
check(tf.memory().numTensors === 0, "tensors left: " + tf.memory().numTensors);
console.log("norms: planned, tabled, parsed and trained");
`;

async function run(cwd: string, args: string[]): Promise<{ ok: boolean; log: string }> {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { ok: out.success, log: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test({
  name: "adding a method: its module and one registry entry are all it takes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "fishdip-add-method-" });
    try {
      // The library as it is, and the commands that use the registry.
      await new Deno.Command("cp", { args: ["-r", `${REPO_ROOT}/lib`, `${dir}/lib`] }).output();
      await Deno.mkdir(`${dir}/scripts`);
      await Deno.mkdir(`${dir}/tests`);
      for (const f of ["scripts/finetune.ts", "scripts/reproduce.ts", "tests/assert.ts", "deno.json"]) {
        await Deno.copyFile(`${REPO_ROOT}/${f}`, `${dir}/${f}`);
      }
      await Deno.symlink(`${REPO_ROOT}/node_modules`, `${dir}/node_modules`);

      // The two files the README names: the method's module, and its line in the registry.
      await Deno.writeTextFile(`${dir}/lib/methods/norms.ts`, NORMS_MODULE);
      const registry = await Deno.readTextFile(`${dir}/lib/methods/registry.ts`);
      const entry = "  prefix: PREFIX_METHOD,\n";
      assertStringIncludes(registry, entry);
      await Deno.writeTextFile(
        `${dir}/lib/methods/registry.ts`,
        registry
          .replace(entry, `${entry}  norms: NORMS_METHOD,\n`)
          .replace(
            'import { FISHDIP_METHOD } from "./fishdip.ts";\n',
            (m) => `${m}import { NORMS_METHOD } from "./norms.ts";\n`,
          ),
      );
      await Deno.writeTextFile(`${dir}/driver.ts`, DRIVER);

      const checked = await run(dir, [
        "check",
        "--quiet",
        "lib/mod.ts",
        "scripts/finetune.ts",
        "scripts/reproduce.ts",
        "driver.ts",
      ]);
      assert(checked.ok, `the library with the new method does not type-check:\n${checked.log.slice(-3000)}`);
      const ran = await run(dir, ["run", "-A", "driver.ts"]);
      assert(ran.ok, `the new method does not work end to end:\n${ran.log.slice(-3000)}`);
      assertStringIncludes(ran.log, "norms: planned, tabled, parsed and trained");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
