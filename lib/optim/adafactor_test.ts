import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertLess, assertThrows } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { fixturesDir } from "../config/paths.ts";
import { ignoreWithoutFixtures } from "../../tests/support.ts";
import { Adafactor, FISHDIP_ADAFACTOR } from "./adafactor.ts";
import { l2Norm } from "./reduce.ts";
import { maxDiff, readTensors, stats } from "../../tests/compare.ts";
import type { TensorEntry } from "../checkpoint/safetensors.ts";

const ADAFACTOR_DIR = "t5/t5-tiny-v1_0/adafactor";
const BACKEND = (Deno.env.get("TF_BACKEND") ?? "cpu") as "cpu" | "wasm";

function toTensor(e: TensorEntry): tf.Tensor {
  return tf.tensor(Float32Array.from(e.data as ArrayLike<number>), e.shape, "float32");
}

/** A variable holding `t`'s values; `t` is disposed (tf.variable keeps its own reference). */
function variableOf(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t);
  t.dispose();
  return v;
}

async function f32(t: tf.Tensor): Promise<Float32Array> {
  return (await t.data()) as Float32Array;
}

Deno.test("adafactor: defaults are FISH-DIP's settings", () => {
  assertEquals(FISHDIP_ADAFACTOR.lr, 1e-2);
  assertEquals(FISHDIP_ADAFACTOR.eps, [1e-30, 1e-3]);
  assertEquals(FISHDIP_ADAFACTOR.clipThreshold, 1);
  assertEquals(FISHDIP_ADAFACTOR.decayRate, -0.8);
  assertEquals(FISHDIP_ADAFACTOR.beta1, null);
  assertEquals(FISHDIP_ADAFACTOR.weightDecay, 0);
  assert(
    FISHDIP_ADAFACTOR.scaleParameter && !FISHDIP_ADAFACTOR.relativeStep && !FISHDIP_ADAFACTOR.warmupInit,
  );
  assertThrows(() => new Adafactor(new Map(), { relativeStep: true }));
  assertThrows(() => new Adafactor(new Map(), { warmupInit: true }));
});

Deno.test({
  name: "adafactor fixture: unit tensors, 3 steps with a gradient mask in step 2",
  ignore: ignoreWithoutFixtures(`${ADAFACTOR_DIR}/adafactor_unit.safetensors`),
  async fn() {
    await initBackend(BACKEND, { quiet: true });
    const f = await readTensors(`${fixturesDir()}/${ADAFACTOR_DIR}/adafactor_unit.safetensors`);
    const names = [...f.keys()].filter((k) => k.startsWith("init/")).map((k) => k.slice("init/".length));
    assert(names.length > 0, "no init/ tensors in the fixture");
    const before = tf.memory().numTensors;
    const params = new Map(names.map((n) => [n, variableOf(toTensor(f.get(`init/${n}`)!))]));
    const opt = new Adafactor(params);
    let steps = 0, worst = 0, worstWhat = "";
    for (let k = 1; f.has(`grad_step${k}/${names[0]}`); k++) {
      steps = k;
      const prev = new Map<string, Float32Array>();
      for (const n of names) prev.set(n, (await f32(params.get(n)!)).slice());
      const masks = new Map<string, Uint8Array>();
      const grads = new Map<string, tf.Tensor>();
      for (const n of names) {
        const m = f.get(`mask_step${k}/${n}`);
        const g = toTensor(f.get(`grad_step${k}/${n}`)!);
        if (m) {
          masks.set(n, m.data as Uint8Array);
          grads.set(n, tf.tidy(() => g.mul(toTensor(m))));
          g.dispose();
        } else grads.set(n, g);
      }
      opt.step(grads);
      for (const g of grads.values()) g.dispose();
      for (const n of names) {
        const got = await f32(params.get(n)!);
        const d = maxDiff(got, f.get(`param_after_step${k}/${n}`)!.data as Float32Array);
        if (d.rel > worst) [worst, worstWhat] = [d.rel, `step ${k} param ${n}`];
        assertLess(d.rel, 1e-6, `step ${k} param ${n}: max diff ${d.abs} (scale ${d.scale})`);
        const st = opt.getState(n)!;
        assertEquals(st.step, k);
        for (
          const [key, t] of [
            ["exp_avg_sq_row", st.expAvgSqRow],
            ["exp_avg_sq_col", st.expAvgSqCol],
            ["exp_avg_sq", st.expAvgSq],
          ] as const
        ) {
          const ref = f.get(`state_after_step${k}/${n}/${key}`);
          assertEquals(ref === undefined, t === undefined, `step ${k} ${n}: state ${key} presence`);
          if (!ref || !t) continue;
          const ds = maxDiff(await f32(t), ref.data as Float32Array);
          if (ds.rel > worst) [worst, worstWhat] = [ds.rel, `step ${k} state ${n}/${key}`];
          assertLess(ds.rel, 1e-6, `step ${k} state ${n}/${key}: max diff ${ds.abs} (scale ${ds.scale})`);
        }
        // Masked entries keep their exact bits (no first moment, no weight decay).
        const m = masks.get(n);
        if (m) {
          const p0 = new Uint32Array(prev.get(n)!.buffer), p1 = new Uint32Array(got.slice().buffer);
          for (let i = 0; i < m.length; i++) if (m[i] === 0) assertEquals(p1[i], p0[i], `${n}[${i}] moved`);
        }
      }
    }
    assert(steps >= 3, `expected at least 3 steps, found ${steps}`);
    console.log(
      `  adafactor unit fixture (${BACKEND}): ${steps} steps, worst max|diff|/max|ref| = ${
        worst.toExponential(2)
      } (${worstWhat})`,
    );
    opt.dispose();
    for (const p of params.values()) p.dispose();
    assertEquals(tf.memory().numTensors, before, "tensor leak");
  },
});

Deno.test({
  name: "adafactor fixture: t5-tiny-v1_0 step 1 from the stored gradients",
  ignore: ignoreWithoutFixtures(`${ADAFACTOR_DIR}/adafactor.json`),
  async fn() {
    await initBackend(BACKEND, { quiet: true });
    const root = `${fixturesDir()}/t5/t5-tiny-v1_0`;
    const model = await readTensors(`${root}/model.safetensors`);
    const grads = await readTensors(`${root}/grads.safetensors`);
    const after = await readTensors(`${root}/adafactor/params_after_step1.safetensors`);
    const state = await readTensors(`${root}/adafactor/state_after_step1.safetensors`);
    const info = JSON.parse(await Deno.readTextFile(`${root}/adafactor/adafactor.json`));
    const step1 = info.steps.find((s: { step: number }) => s.step === 1);
    // Parameters whose gradient is stored in full; vocabulary-sized ones are summaries (`NAME@rows`).
    const full = [...model.keys()].filter((n) => grads.has(n));
    const summarised = [...model.keys()].filter((n) => !grads.has(n));
    assert(full.length > 0);
    const before = tf.memory().numTensors;
    const params = new Map(full.map((n) => [n, variableOf(toTensor(model.get(n)!))]));
    const g = new Map(full.map((n) => [n, toTensor(grads.get(n)!)]));
    const opt = new Adafactor(params);
    const report = await opt.step(g, { report: true });
    for (const t of g.values()) t.dispose();
    let worstP = 0, worstS = 0, worstStats = 0, worstLr = 0, fullCompared = 0;
    for (const n of full) {
      const got = await f32(params.get(n)!);
      const ref = after.get(n);
      if (ref) {
        fullCompared++;
        const d = maxDiff(got, ref.data as Float32Array);
        worstP = Math.max(worstP, d.rel);
        assertLess(d.rel, 1e-6, `${n}: max diff ${d.abs} (scale ${d.scale})`);
      }
      // Every parameter has float64 statistics: sum, sum of squares, sum |x|, max |x|.
      const refStats = after.get(`${n}@stats`)!.data as Float64Array;
      const s = stats(got);
      for (let i = 1; i < 4; i++) {
        const rel = Math.abs(s[i] - refStats[i]) / Math.abs(refStats[i]);
        worstStats = Math.max(worstStats, rel);
        assertLess(rel, 1e-5, `${n}@stats[${i}]: ${s[i]} vs ${refStats[i]}`);
      }
      const st = opt.getState(n)!;
      for (
        const [key, t] of [
          ["exp_avg_sq_row", st.expAvgSqRow],
          ["exp_avg_sq_col", st.expAvgSqCol],
          ["exp_avg_sq", st.expAvgSq],
        ] as const
      ) {
        const r = state.get(`${n}.${key}`);
        assertEquals(r === undefined, t === undefined, `${n}: state ${key} presence`);
        if (!r || !t) continue;
        const d = maxDiff(await f32(t), r.data as Float32Array);
        worstS = Math.max(worstS, d.rel);
        assertLess(d.rel, 1e-6, `${n}.${key}: max diff ${d.abs} (scale ${d.scale})`);
      }
      const lrRel = Math.abs(report.lrUsed.get(n)! - step1.lr_used[n]) / step1.lr_used[n];
      worstLr = Math.max(worstLr, lrRel);
      // torch 1.13's CPU norm sums squares in eight float32 lanes (AVX2); ours is a more accurate
      // sum, so the parameter scale (hence lr) differs by up to ~1e-4 relative on big tensors.
      assertLess(lrRel, 1e-4, `${n}: lr used ${report.lrUsed.get(n)} vs ${step1.lr_used[n]}`);
    }
    // The vocabulary-sized tensor: its learning rate (from the full weights) and its row state at
    // the stored rows (step 1: beta2t = 0, so the state is mean over columns of g^2 + eps1).
    for (const n of summarised) {
      const w = toTensor(model.get(n)!);
      const rmsT = tf.tidy(() => l2Norm(w).div(Math.sqrt(w.size)));
      const rms = (await f32(rmsT))[0];
      rmsT.dispose();
      w.dispose();
      const lr = Math.fround(Math.max(FISHDIP_ADAFACTOR.eps[1], rms) * FISHDIP_ADAFACTOR.lr!);
      const lrRel = Math.abs(lr - step1.lr_used[n]) / step1.lr_used[n];
      worstLr = Math.max(worstLr, lrRel);
      assertLess(lrRel, 1e-4, `${n}: lr ${lr} vs ${step1.lr_used[n]}`);
      const rowIds = grads.get(`${n}@row_index`)!.data as Int32Array;
      const rows = grads.get(`${n}@rows`)!;
      const cols = rows.shape[1];
      const refRowIds = state.get(`${n}.exp_avg_sq_row@row_index`)!.data as Int32Array;
      const refRows = state.get(`${n}.exp_avg_sq_row@rows`)!.data as Float32Array;
      assertEquals([...refRowIds], [...rowIds]);
      const mine = tf.tidy(() => toTensor(rows).square().add(FISHDIP_ADAFACTOR.eps[0]).mean(-1));
      const d = maxDiff(await f32(mine), refRows);
      mine.dispose();
      worstS = Math.max(worstS, d.rel);
      assertLess(d.rel, 1e-6, `${n}.exp_avg_sq_row at stored rows (${cols} columns)`);
    }
    console.log(
      `  adafactor step 1 from stored grads (${BACKEND}): ${full.length} tensors stepped, ${fullCompared} compared in full; ` +
        `max rel diff params ${worstP.toExponential(2)}, states ${worstS.toExponential(2)}, ` +
        `@stats ${worstStats.toExponential(2)}, lr ${worstLr.toExponential(2)}; ` +
        `${summarised.join(", ")} checked at stored rows only (its gradient is a summary)`,
    );
    opt.dispose();
    for (const p of params.values()) p.dispose();
    assertEquals(tf.memory().numTensors, before, "tensor leak");
  },
});

Deno.test("adafactor: state save/load resumes bit-identically; masked entries never move", async () => {
  await initBackend(BACKEND, { quiet: true });
  const before = tf.memory().numTensors;
  const mk = () =>
    new Map<string, tf.Variable>([
      ["w", variableOf(tf.tensor2d([[0.5, -1, 2], [0.25, 3, -0.75]]))],
      ["b", variableOf(tf.tensor1d([0.1, -0.2, 0.3]))],
    ]);
  const grad = (t: number) =>
    new Map<string, tf.Tensor>([
      ["w", tf.tensor2d([[0.1 * t, 0, -0.3], [0.2, -0.5 * t, 0]])],
      ["b", tf.tensor1d([0, 0.4, -0.1 * t])],
    ]);
  const a = mk(), b = mk();
  const oa = new Adafactor(a);
  for (let t = 1; t <= 2; t++) {
    const g = grad(t);
    oa.step(g, { lr: 1e-2 * (4 - t) / 3 });
    g.forEach((x) => x.dispose());
  }
  const saved = await oa.saveState();
  // A fresh optimizer on copies of the parameters continues exactly where `oa` is.
  for (const [n, v] of b) v.assign(a.get(n)!);
  const ob = new Adafactor(b);
  ob.loadState(structuredClone(saved)); // plain data: survives a structured clone / file round trip
  assertEquals(ob.getState("w")!.step, 2);
  const w0 = (await f32(a.get("w")!)).slice();
  const g = grad(3);
  oa.step(g, { lr: 1e-2 / 3 });
  ob.step(g, { lr: 1e-2 / 3 });
  g.forEach((x) => x.dispose());
  for (const n of ["w", "b"]) assertEquals(await f32(a.get(n)!), await f32(b.get(n)!), n);
  // w[0][1] and w[1][2] had zero gradient in step 3: bit-identical.
  const w1 = await f32(a.get("w")!);
  assertEquals([w1[1], w1[5]], [w0[1], w0[5]]);
  assert(w1[0] !== w0[0]);
  assertThrows(() => ob.loadState({ ...saved, params: { w: { ...saved.params.w, shape: [3, 2] } } }));
  assertEquals(ob.getState("w")!.step, 3, "a failed load leaves the state unchanged");
  oa.dispose();
  ob.dispose();
  for (const v of [...a.values(), ...b.values()]) v.dispose();
  assertEquals(tf.memory().numTensors, before, "tensor leak");
});

Deno.test("adafactor: first moment, weight decay and relative step follow HF's formulas", async () => {
  await initBackend(BACKEND, { quiet: true });
  const p = new Map([["v", variableOf(tf.tensor1d([1, -2]))]]);
  const opt = new Adafactor(p, {
    lr: null,
    relativeStep: true,
    beta1: 0.9,
    weightDecay: 0.1,
    scaleParameter: false,
  });
  const g = new Map([["v", tf.tensor1d([0.5, 0.5])]]);
  opt.step(g);
  // Step 1: v = g^2 + eps1, update = g/|g| = ±1 (RMS 1, no clipping), lr = min(1e-2, 1) = 1e-2,
  // m = 0.1 * update; p <- p - wd*lr*p - m.
  const got = await f32(p.get("v")!);
  const lr = 1e-2;
  const expect = [1 - 0.1 * lr * 1 - 0.1 * lr, -2 - 0.1 * lr * -2 - 0.1 * lr];
  assertLess(Math.abs(got[0] - expect[0]), 1e-6);
  assertLess(Math.abs(got[1] - expect[1]), 1e-6);
  g.forEach((x) => x.dispose());
  opt.dispose();
  p.get("v")!.dispose();
});
