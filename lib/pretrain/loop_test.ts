import { assertEquals } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { TINY_T5 } from "../../tests/tiny_t5.ts";
import { createT5, type T5Model } from "../t5/model.ts";
import type { T5Tokenizer } from "../tokenizer/mod.ts";
import { loadPretrainState, pretrainOptimizer, type PretrainState, runPretraining } from "./loop.ts";
import type { Objective } from "./tasks.ts";

await initBackend("cpu", { quiet: true });

const CONFIG = TINY_T5;
const TOK = { padId: 0, eosId: 1 } as T5Tokenizer;
const COPY: Objective = {
  name: "toy_copy",
  sample: (rng) => {
    const ids = Array.from({ length: 2 + rng.int(4) }, () => 3 + rng.int(30));
    return { inputs: [...ids, 1], targets: [...ids, 1] };
  },
};
const SPAN: Objective = {
  name: "toy_span",
  sample: (rng) => ({ inputs: [3 + rng.int(30), 39, 1], targets: [39, 3 + rng.int(30), 1] }),
};

async function run(work: string, maxSteps: number): Promise<T5Model> {
  const model = createT5(CONFIG, { seed: 3 });
  const optimizer = pretrainOptimizer(model);
  let state: PretrainState = { step: 0, rng: 11, tokensSeen: 0, inputTokensSeen: 0, seconds: 0, seed: 3 };
  try {
    state = await loadPretrainState(`${work}/state.safetensors`, model, optimizer);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await runPretraining({
    work,
    model,
    tokenizer: TOK,
    config: {},
    optimizer,
    state,
    mixture: [{ objective: COPY, weight: 0.6 }, { objective: SPAN, weight: 0.4 }],
    batch: 3,
    maxSteps,
    minutes: 0,
    saveEvery: 1e9,
    evalEvery: 1e9,
    logEvery: 2,
    held: { span: [SPAN.sample({ int: () => 1 } as never)] },
    probe: [],
  });
  optimizer.dispose();
  return model;
}

Deno.test("pretraining: a run stopped at step 3 and resumed ends with an uninterrupted run's weights", async () => {
  const a = await Deno.makeTempDir(), b = await Deno.makeTempDir();
  const whole = await run(a, 6);
  (await run(b, 3)).dispose();
  const resumed = await run(b, 6);
  for (const [name, v] of whole.params) {
    assertEquals(await resumed.param(name).data(), await v.data(), name);
  }
  const log = (await Deno.readTextFile(`${b}/log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(log.map((r) => r.step), [2, 4, 6]);
  whole.dispose();
  resumed.dispose();
  await Deno.remove(a, { recursive: true });
  await Deno.remove(b, { recursive: true });
});
