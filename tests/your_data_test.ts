// The two commands a user with their own files runs, end to end in fresh processes: finetune on
// CoNLL files with --type-names, then predict from the run folder, the saved model and base + delta
// (the same predictions each way); and what a user sees when a file is wrong.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { saveCheckpoint, type SaveTensor } from "../lib/checkpoint/checkpoint.ts";
import { REPO_ROOT } from "../lib/config/paths.ts";
import { parseT5Config, t5ParameterShapes } from "../lib/t5/config.ts";

const DATA = `${REPO_ROOT}/tests/your_data`;

async function deno(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    cwd: REPO_ROOT,
    env: { FISHDIP_BLAS_THREADS: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** A tiny random T5 with the offline backbone's vocabulary: trains and decodes in seconds. */
async function tinyBackbone(dir: string): Promise<void> {
  const config = {
    model_type: "t5",
    vocab_size: 24960,
    d_model: 16,
    d_kv: 8,
    d_ff: 32,
    num_layers: 1,
    num_decoder_layers: 1,
    num_heads: 2,
    relative_attention_num_buckets: 8,
  };
  const tensors = new Map<string, SaveTensor>();
  let seed = 3;
  for (const { name, shape } of t5ParameterShapes(parseT5Config(config))) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from(
      { length: n },
      () => ((seed = (seed * 48271) % 2147483647) / 2147483647) - 0.5,
    );
    tensors.set(name, { shape, data });
  }
  await saveCheckpoint(dir, tensors, config, {
    tokenizer: `${REPO_ROOT}/data/models/fishdip-t5-mini/spiece.model`,
  });
}

Deno.test({
  name: "your own data: finetune --train FILE, then predict from the run, the saved model and base + delta",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "your_data_cli_" });
    try {
      await tinyBackbone(`${dir}/tiny`);
      const common = ["--backbone", `${dir}/tiny`, "--backend", "cpu", "--max-len", "24"];
      const ftArgs = [
        "scripts/finetune.ts",
        "--train",
        `${DATA}/train.conll`,
        "--test",
        `${DATA}/dev.conll`,
        "--type-names",
        `${DATA}/type_names.json`,
        "--max-steps",
        "2",
        "--batch",
        "4",
        "--pad-labels",
        "longest",
        "--run-dir",
        `${dir}/run`,
        "--export-delta",
        "--save",
        ...common,
      ];
      const ft = await deno(ftArgs);
      assertEquals(ft.code, 0, ft.err);
      // The folder records the run's identity: resuming it with another k is refused, naming the field.
      const other = await deno([...ftArgs, "--resume", "--k", "0.05"]);
      assertEquals(other.code, 1, other.err);
      assertStringIncludes(other.err, `error (RunIdentityError): ${dir}/run holds another run`);
      assertStringIncludes(other.err, "method.k: 0.01 saved, 0.05 now");
      assertStringIncludes(
        ft.err,
        `train: ${DATA}/train.conll: 40 sentences, 81 entities, 0 relations, IOB2 tags`,
      );
      assertStringIncludes(ft.err, 'entity types: PER ("person"), ORG ("organization"), LOC ("location")');
      assertStringIncludes(ft.err, "no --dev file: the final model is scored on --test");
      assertStringIncludes(ft.out, "all entities");
      assertStringIncludes(ft.out, `predict with: deno task predict --model ${dir}/run`);

      const outputs: string[] = [];
      for (
        const src of [["--model", `${dir}/run`], ["--model", `${dir}/run/model`], [
          "--delta",
          `${dir}/run/delta.safetensors`,
        ]]
      ) {
        const out = `${dir}/pred-${outputs.length}.jsonl`;
        const p = await deno([
          "scripts/predict.ts",
          ...src,
          "--input",
          `${DATA}/new_sentences.txt`,
          "--output",
          out,
          "--backend",
          "cpu",
        ]);
        assertEquals(p.code, 0, p.err);
        assertStringIncludes(p.out, `6 sentence(s) -> ${out}`);
        assertStringIncludes(p.err, "predict [####################] 6/6");
        outputs.push(await Deno.readTextFile(out));
      }
      assertEquals(outputs[1], outputs[0]);
      assertEquals(outputs[2], outputs[0]);
      const first = JSON.parse(outputs[0].split("\n")[0]);
      assertEquals(first.tokens, ["Ada", "Brenner", "joined", "Cobalt", "Works", "last", "winter", "."]);
      assert(Array.isArray(first.entities) && Array.isArray(first.relations));

      // Annotated input: per-type scores printed and written beside the output.
      const scored = await deno([
        "scripts/predict.ts",
        "--model",
        `${dir}/run`,
        "--input",
        `${DATA}/dev.conll`,
        "--output",
        `${dir}/dev.pred.conll`,
        "--output-format",
        "conll",
        "--backend",
        "cpu",
      ]);
      assertEquals(scored.code, 0, scored.err);
      assertStringIncludes(scored.err, "(with gold annotation)");
      assertStringIncludes(scored.out, `(per type: ${dir}/dev.pred.scores.json)`);
      const scores = JSON.parse(await Deno.readTextFile(`${dir}/dev.pred.scores.json`));
      assertEquals(scores.entities.gold, 20);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "your own data: a bad file is one line naming file, line and fault (no stack); flag mistakes exit 2",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "your_data_bad_" });
    try {
      await Deno.writeTextFile(
        `${dir}/bad.jsonl`,
        '{"tokens": ["a", "b"], "entities": [{"start": 1, "end": 5, "type": "X"}]}\n',
      );
      const bad = await deno(["scripts/finetune.ts", "--train", `${dir}/bad.jsonl`, "--backend", "cpu"]);
      assertEquals(bad.code, 1);
      assertEquals(
        bad.err.trim(),
        `error (DataFormatError): ${dir}/bad.jsonl:1: entity 0: span out of range: [1, 5) is not inside the 2 tokens (start < end <= 2, end exclusive)\n` +
          "what to do: fix or replace the file named above (at the line it gives; --format chooses how it is read)",
      );
      const both = await deno(["scripts/finetune.ts", "--train", `${dir}/bad.jsonl`, "--dataset", "conll04"]);
      assertEquals(both.code, 2);
      assertStringIncludes(both.err, "give --dataset NAME or --train FILE, not both");
      const stray = await deno(["scripts/finetune.ts", "--dataset", "conll04", "--dev", "x.conll"]);
      assertEquals(stray.code, 2);
      assertStringIncludes(stray.err, "--dev goes with --train");
      const noModel = await deno([
        "scripts/predict.ts",
        "--model",
        `${dir}`,
        "--input",
        "x.txt",
        "--output",
        "y",
        "--backend",
        "cpu",
      ]);
      assertEquals(noModel.code, 1);
      assertStringIncludes(noModel.err, "neither a run folder (no run.json) nor a saved model");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
