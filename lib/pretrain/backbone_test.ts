import { assert, assertEquals, assertLessOrEqual } from "@std/assert";
import { REPO_ROOT } from "../config/paths.ts";
import { loadCheckpoint } from "../checkpoint/mod.ts";
import { parseT5Config, t5ParameterShapes } from "../t5/config.ts";
import { t5FromWeights, t5Loss } from "../t5/model.ts";
import { T5Tokenizer } from "../tokenizer/mod.ts";

const DIR = `${REPO_ROOT}/data/models/fishdip-t5-mini`;

function hasCheckpoint(): boolean {
  try {
    Deno.statSync(`${DIR}/model.safetensors`);
    return false;
  } catch {
    console.error(`note: skipping the backbone test, no checkpoint at ${DIR} (build it: see its README.md)`);
    return true;
  }
}

Deno.test({
  name: "the committed fishdip-t5-mini loads like a Hugging Face T5 (loadCheckpoint + T5Tokenizer)",
  ignore: hasCheckpoint(),
  async fn() {
    const config = parseT5Config(JSON.parse(await Deno.readTextFile(`${DIR}/config.json`)));
    const ckpt = await loadCheckpoint(DIR, t5ParameterShapes(config));
    assertEquals(ckpt.tokenizerPath, `${DIR}/spiece.model`);
    const tok = await T5Tokenizer.load(ckpt.tokenizerPath);
    // Every id the tokenizer can produce (pieces + 100 sentinels) has a row in the embedding.
    assertLessOrEqual(tok.vocabSize, config.vocab_size);
    const input = "John Wilkes Booth , who assassinated President Lincoln , was an actor .";
    const target = "[ John Wilkes Booth | person ] , who assassinated [ President Lincoln | person ] .";
    const ids = tok.encode(input), labels = tok.encode(target);
    assert(!ids.includes(tok.unkId) && !labels.includes(tok.unkId));
    assertEquals(tok.decode(ids, { skipSpecialTokens: true }), input);
    const model = t5FromWeights(config, ckpt.tensors);
    const loss = t5Loss(model, { inputIds: [ids], labels: [labels] });
    const v = (await loss.data())[0];
    loss.dispose();
    model.dispose();
    assert(Number.isFinite(v) && v > 0 && v < 20, `loss ${v}`);
  },
});
