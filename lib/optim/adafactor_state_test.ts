import * as tf from "@tensorflow/tfjs";
import { assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { readSafetensors, writeSafetensorsFile } from "../checkpoint/safetensors.ts";
import { Adafactor, FISHDIP_ADAFACTOR } from "./adafactor.ts";
import { adafactorStateFrom, adafactorStateTensors } from "./adafactor_state.ts";

Deno.test("adafactor state: a file round trip restores the moments and steps exactly, with a prefix", async () => {
  await initBackend("cpu");
  const params = new Map<string, tf.Variable>([
    ["w", tf.variable(tf.tensor2d([[1, 2, 3], [4, 5, 6]]))],
    ["b", tf.variable(tf.tensor1d([0.5, -0.5]))],
  ]);
  const opt = new Adafactor(params, FISHDIP_ADAFACTOR);
  for (let i = 0; i < 2; i++) {
    const grads = new Map<string, tf.Tensor>([["w", tf.fill([2, 3], 0.1 * (i + 1))], [
      "b",
      tf.tensor1d([1, -2]),
    ]]);
    opt.step(grads);
    for (const g of grads.values()) g.dispose();
  }
  const saved = await opt.saveState();
  const { tensors, metadata } = adafactorStateTensors(saved, "opt/");
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  await writeSafetensorsFile(path, tensors, { ...metadata, other: "kept apart" });
  const file = await readSafetensors(path);
  const back = adafactorStateFrom(file.tensors, file.metadata, "opt/", path);
  assertEquals(back, saved);
  const fresh = new Adafactor(params, FISHDIP_ADAFACTOR);
  fresh.loadState(back);
  assertEquals(await fresh.saveState(), saved);
  // Without its metadata the file is named in the error.
  assertThrows(() => adafactorStateFrom(file.tensors, {}, "opt/", path), Error, path);
  await Deno.remove(path);
  opt.dispose();
  fresh.dispose();
  for (const v of params.values()) v.dispose();
});
