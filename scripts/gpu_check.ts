/**
 * `deno task gpu-check`: what a WebGPU machine gives this project, in one run.
 *
 * 1. The adapter (vendor, architecture, software or not) and the limits a T5 depends on.
 * 2. T5 fixture parity on the backend (forward, losses, gradients, greedy ids): the comparisons
 *    and tolerances the fixture tests assert (lib/t5/parity.ts).
 * 3. Per shape (default t5-small, t5-base, t5-large at batch 8, source 256, target 128, and
 *    t5-large at batch 32): the FISH-DIP training step and its phases, a mask refresh, the reads
 *    back to the host, and greedy decoding.
 * 4. Where `python3` has torch with CUDA: `torch_t5_step.py --device cuda` on the same shapes,
 *    strict float32 and with `--tf32`, and the ratios to the WebGPU step.
 *
 * Every part has a time limit, and a watchdog writes what was measured and exits when the whole
 * limit (`--total-time`, 470 s) is reached. Results go to `<out>/gpu-check.json` and
 * `<out>/gpu-check.md`.
 *
 * ```sh
 * deno task gpu-check                      # a GPU machine: the full check
 * deno task gpu-check --quick --out out/gpu-check   # a software adapter: tiny shape, short lengths
 * deno task gpu-check --shapes t5-small --no-torch
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { describeBackend, initBackend, parseBackendName } from "../lib/backend/mod.ts";
import {
  describeGpuAdapter,
  formatBytes,
  formatGpuAdapter,
  type GpuAdapterReport,
} from "../lib/backend/gpu_adapter.ts";
import { checkT5Parity, type ParityRecord, type ParityReport } from "../lib/t5/parity.ts";
import { benchShape, GPU_SHAPES, releaseGpuPool, type ShapeBenchResult } from "../lib/gpu/bench.ts";
import {
  type BindingCheck,
  checkBindings,
  formatBindingTable,
  WEBGPU_DEFAULT_LIMITS,
} from "../lib/gpu/bindings.ts";
import { probeTorch, runTorchStep, type TorchProbe, type TorchRunResult } from "../lib/gpu/torch.ts";
import { fixturesDir, REPO_ROOT } from "../lib/config/paths.ts";

const HELP = `deno task gpu-check [options]
  --out DIR              where gpu-check.json and gpu-check.md go (default out/gpu-check)
  --backend NAME         tfjs backend to time (default webgpu; cpu/wasm for a dry run)
  --shapes LIST          comma-separated: ${
  Object.keys(GPU_SHAPES).join(", ")
} (default t5-small,t5-base,t5-large)
  --batch N --src-len N --tgt-len N   step shape (8, 256, 128)
  --large-batch N        also t5-large at this batch when t5-large is listed (32; 0: no)
  --steps N --warmup N   timed and untimed training steps per shape (5, 1)
  --refresh-examples N   training examples a refresh scores (32)
  --gen-batch N --gen-max-length N   greedy decoding batch and length (8, 64)
  --pass-gib G           activation GiB one gradient pass may keep before slicing the batch (64)
  --shape-time S         seconds per shape on the backend (120)
  --parity-time S        seconds the parity part may take before the rest is skipped (120)
  --torch-time S         seconds per PyTorch run (90)
  --total-time S         hard limit of the whole check (470)
  --python CMD           interpreter with torch (default: python3, then /usr/bin/python3)
  --torch-script PATH    torch_t5_step.py (default ../shared/bench/torch_t5_step.py, or $FISHDIP_TORCH_SCRIPT)
  --torch-device DEV     cuda (default); cpu only to try the comparison path without a GPU
  --no-torch --no-parity --no-bench   skip a part
  --quick                tiny shape, batch 2, source 32, target 16, 2 steps, decoding to 8:
                         proves the check on a software adapter in a few minutes`;

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: "out/gpu-check" },
    backend: { type: "string", default: "webgpu" },
    shapes: { type: "string" },
    batch: { type: "string" },
    "src-len": { type: "string" },
    "tgt-len": { type: "string" },
    "large-batch": { type: "string", default: "32" },
    steps: { type: "string" },
    warmup: { type: "string" },
    "refresh-examples": { type: "string" },
    "gen-batch": { type: "string" },
    "gen-max-length": { type: "string" },
    "pass-gib": { type: "string", default: "64" },
    "shape-time": { type: "string", default: "120" },
    "parity-time": { type: "string", default: "120" },
    "torch-time": { type: "string", default: "90" },
    "total-time": { type: "string", default: "470" },
    python: { type: "string" },
    "torch-script": { type: "string" },
    "torch-device": { type: "string", default: "cuda" },
    "no-torch": { type: "boolean", default: false },
    "no-parity": { type: "boolean", default: false },
    "no-bench": { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (v.help) {
  console.log(HELP);
  Deno.exit(0);
}

function num(name: keyof typeof v, quick: number, full: number): number {
  const s = v[name];
  const n = s === undefined ? (v.quick ? quick : full) : Number(s);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got "${s}"`);
  return n;
}

const started = performance.now();
const totalS = num("total-time", 470, 470);
const remaining = () => totalS - (performance.now() - started) / 1000;
const opts = {
  shapes: (v.shapes ?? (v.quick ? "tiny" : "t5-small,t5-base,t5-large")).split(",").map((s) => s.trim())
    .filter(Boolean),
  batch: num("batch", 2, 8),
  srcLen: num("src-len", 32, 256),
  tgtLen: num("tgt-len", 16, 128),
  largeBatch: num("large-batch", 0, 32),
  steps: num("steps", 2, 5),
  warmup: num("warmup", 1, 1),
  refreshExamples: num("refresh-examples", 4, 32),
  genBatch: num("gen-batch", 2, 8),
  genMaxLength: num("gen-max-length", 8, 64),
  passBytes: num("pass-gib", 64, 64) * 2 ** 30,
  shapeTimeS: num("shape-time", 120, 120),
  parityTimeS: num("parity-time", 120, 120),
  torchTimeS: num("torch-time", 90, 90),
};
for (const s of opts.shapes) {
  if (!GPU_SHAPES[s]) throw new Error(`unknown shape "${s}": one of ${Object.keys(GPU_SHAPES).join(", ")}`);
}
const outDir = v.out!;
const torchScript = v["torch-script"] ?? Deno.env.get("FISHDIP_TORCH_SCRIPT") ??
  `${REPO_ROOT}/../shared/bench/torch_t5_step.py`;

/** One shape's run on the backend and its PyTorch counterparts. */
interface ShapeRow {
  /** The shape's name (GPU_SHAPES). */
  shape?: string;
  /** The step's largest tensors against the adapter's buffer limits (lib/gpu/bindings.ts). */
  bindings?: BindingCheck;
  bench?: ShapeBenchResult;
  torchFp32?: TorchRunResult;
  torchTf32?: TorchRunResult;
  /** WebGPU step time over PyTorch's (above 1: WebGPU is slower). */
  ratioFp32?: number;
  ratioTf32?: number;
}

const report: {
  tool: string;
  startedAt: string;
  options: typeof opts & { quick: boolean; totalS: number };
  runtime: { deno: string; v8: string; os: string; arch: string };
  backend?: string;
  adapter?: GpuAdapterReport | null;
  parity?: ParityReport;
  torch?: TorchProbe & { skipped?: string };
  shapes: ShapeRow[];
  notes: string[];
  seconds?: number;
  complete: boolean;
} = {
  tool: "gpu-check",
  startedAt: new Date().toISOString(),
  options: { ...opts, quick: v.quick!, totalS },
  runtime: { deno: Deno.version.deno, v8: Deno.version.v8, os: Deno.build.os, arch: Deno.build.arch },
  shapes: [],
  notes: [],
  complete: false,
};

function fmt(x: number | undefined, digits = 3): string {
  return x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
}

function markdown(): string {
  const L: string[] = ["# GPU check", ""];
  L.push(
    `Started ${report.startedAt}; Deno ${report.runtime.deno} on ${report.runtime.os}/${report.runtime.arch}; ` +
      `backend ${report.backend ?? "–"}; ${
        report.complete ? "complete" : "**incomplete** (time limit or error)"
      }` +
      (report.seconds !== undefined ? `, ${report.seconds.toFixed(0)} s.` : "."),
  );
  L.push("");
  const a = report.adapter;
  if (a) {
    L.push(
      `Adapter: ${a.summary}${a.software ? " (**software**)" : ""}; vendor \`${a.vendor}\`, ` +
        `architecture \`${a.architecture || "–"}\`, device \`${a.device || "–"}\`.`,
    );
    L.push("");
    L.push("| limit | value |", "|---|---|");
    for (const [k, x] of Object.entries(a.limits)) {
      L.push(`| ${k} | ${k.endsWith("Size") ? `${formatBytes(x)} (${x})` : x} |`);
    }
    L.push("");
  } else if (a === null) L.push("Adapter: none (no WebGPU in this runtime).", "");
  const p = report.parity;
  if (p) {
    const bad = p.records.filter((r) => !r.ok);
    L.push(
      `## Fixture parity on ${p.backend}: ${
        p.ok ? "**pass**" : bad.length ? "**FAIL**" : "**incomplete**"
      } ` +
        `(${p.records.length - bad.length}/${p.records.length} within tolerance, ${p.seconds.toFixed(1)} s)` +
        (p.error ? `; error: ${p.error}` : ""),
    );
    L.push("");
    L.push("| config | group | worst check | value | tolerance |", "|---|---|---|---|---|");
    const groups = new Map<string, typeof p.records[number]>();
    for (const r of p.records) {
      const k = `${r.config} ${r.group}`;
      const prev = groups.get(k);
      const score = (
        x: typeof r,
      ) => (x.tolerance === 0 ? (x.value > 0 ? Infinity : 0) : x.value / x.tolerance);
      if (!prev || score(r) > score(prev)) groups.set(k, r);
    }
    for (const r of groups.values()) {
      L.push(
        `| ${r.config} | ${r.group} | ${r.what.replaceAll("|", "\\|")} | ${r.value.toExponential(2)}${
          r.ok ? "" : " **FAIL**"
        } | ` +
          `${r.tolerance.toExponential(0)} |`,
      );
    }
    L.push("");
  }
  if (report.shapes.length) {
    L.push("## FISH-DIP step, refresh and decoding", "");
    L.push(
      "| shape | params M | batch | src+tgt | step s | tokens/s | fwd+loss | backward | mask | clip | adafactor | " +
        "refresh s (first) | reads/step (bytes) | reads/refresh | decode sent/s | GPU held | torch fp32 s | ratio | torch tf32 s | ratio |",
      "|" + "---|".repeat(20),
    );
    for (const row of report.shapes) {
      const b = row.bench;
      if (!b) continue;
      const ph = b.phasesS;
      const held = b.gpuAllocatedPeakBytes === undefined ? "–" : formatBytes(b.gpuAllocatedPeakBytes);
      const tf32 = row.torchTf32?.json?.median_s as number | undefined;
      const fp32 = row.torchFp32?.json?.median_s as number | undefined;
      const torchCell = (t: TorchRunResult | undefined, s: number | undefined) =>
        s !== undefined ? fmt(s) : t?.error ? `(${t.error.slice(0, 40)})` : "–";
      L.push(
        `| ${b.shape} | ${(b.params / 1e6).toFixed(1)} | ${b.batch} | ${b.srcLen}+${b.tgtLen} | ${
          fmt(b.stepMedianS)
        } | ` +
          `${fmt(b.tokensPerS, 0)} | ${fmt(ph?.forward_loss)} | ${fmt(ph?.backward)} | ${fmt(ph?.mask)} | ` +
          `${fmt(ph?.clip)} | ${fmt(ph?.adafactor)} | ${fmt(b.refreshS, 2)} (${fmt(b.refreshFirstS, 2)}) | ` +
          `${b.stepReadbacks ? `${b.stepReadbacks.downloads} (${b.stepReadbacks.downloadBytes})` : "–"} | ` +
          `${b.refreshReadbacks?.downloads ?? "–"} | ${fmt(b.generate?.sentencesPerS, 2)} | ${held} | ` +
          `${torchCell(row.torchFp32, fp32)} | ${fmt(row.ratioFp32, 2)} | ${
            torchCell(row.torchTf32, tf32)
          } | ` +
          `${fmt(row.ratioTf32, 2)} |`,
      );
    }
    L.push("");
    L.push(
      "Step: `sparseTrainStep` median (forward, loss, backward, FISH-DIP mask at k = 1 %, clip, Adafactor). " +
        "Phases: one more step with the device drained after each phase. Refresh: a training-mode mask " +
        "recomputation (scoring pass, n per-sample gradients, global top-k); in brackets the first mask, " +
        "which also compiles shaders. Reads: buffers copied from the GPU (webgpu). Ratio: WebGPU step / " +
        "PyTorch step (above 1: WebGPU slower). Decoding: greedy, random weights, full length.",
    );
    L.push("");
    for (const row of report.shapes) {
      const b = row.bench;
      if (b && (b.skipped.length || b.error)) {
        L.push(
          `- ${b.shape} b${b.batch}: ${[...b.skipped, ...(b.error ? [`error: ${b.error}`] : [])].join("; ")}`,
        );
      }
    }
  }
  for (const row of report.shapes) {
    if (!row.bindings) continue;
    L.push("", `## Storage bindings of ${row.shape}`, "", formatBindingTable(row.bindings));
  }
  if (report.torch) {
    L.push("");
    L.push(
      report.torch.cuda
        ? `PyTorch: ${report.torch.python}, torch ${report.torch.torch}, GPU ${report.torch.gpu}.`
        : `PyTorch comparison skipped: ${
          report.torch.skipped ?? report.torch.reason ?? "no torch with CUDA"
        }.`,
    );
  }
  for (const n of report.notes) L.push(`- ${n}`);
  return L.join("\n") + "\n";
}

async function writeResults(): Promise<void> {
  report.seconds = (performance.now() - started) / 1000;
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(`${outDir}/gpu-check.json`, JSON.stringify(report, null, 1) + "\n");
  await Deno.writeTextFile(`${outDir}/gpu-check.md`, markdown());
}

// The watchdog: a part that hangs or overruns (a huge shape on a slow adapter) must not keep the
// machine; what was measured so far is written and the process ends.
const parityLive: ParityRecord[] = [];
const watchdog = setTimeout(async () => {
  report.notes.push(`stopped by the ${totalS} s limit of the whole check`);
  report.parity ??= {
    backend: report.backend ?? "",
    ok: false,
    records: parityLive,
    seconds: 0,
    error: "stopped by the time limit",
  };
  console.error(`gpu-check: ${totalS} s limit reached; writing partial results`);
  try {
    await writeResults();
  } finally {
    Deno.exit(3);
  }
}, totalS * 1000);

const log = (line: string) => console.log(line);

// 1. Adapter.
report.adapter = (await describeGpuAdapter()) ?? null;
console.log(
  report.adapter ? formatGpuAdapter(report.adapter) : "adapter: none (no WebGPU adapter in this runtime)",
);
const info = await initBackend(parseBackendName(v.backend!), { quiet: true });
report.backend = info.backend;
console.log(describeBackend(info));
if (report.adapter?.software && info.backend === "webgpu" && !v.quick && !v.shapes) {
  report.notes.push(
    "software adapter: the default shapes take far too long here; use --quick or --shapes tiny",
  );
  console.log(`note: ${report.notes.at(-1)}`);
}

// 2. Parity.
if (!v["no-parity"]) {
  console.log(`fixture parity on ${info.backend} (fixtures: ${fixturesDir()})`);
  report.parity = await checkT5Parity({
    onRecord: (r) => {
      parityLive.push(r);
      console.log(
        `  ${r.config} ${r.group}: ${r.what}: ${r.value.toExponential(3)} (tolerance ${
          r.tolerance.toExponential(0)
        })` +
          (r.ok ? "" : "  FAIL"),
      );
    },
  });
  console.log(
    `parity: ${report.parity.ok ? "pass" : "FAIL"} in ${report.parity.seconds.toFixed(1)} s` +
      (report.parity.error ? ` (error: ${report.parity.error})` : ""),
  );
  if (report.parity.seconds > opts.parityTimeS) {
    report.notes.push(
      `parity took ${report.parity.seconds.toFixed(0)} s, over its ${opts.parityTimeS} s limit`,
    );
  }
  await writeResults();
}

// 3 and 4. Shapes, each with its PyTorch runs right after (so a time-out loses whole shapes, not
// all the ratios).
let torch: TorchProbe | undefined;
if (!v["no-torch"]) {
  const candidates = v.python ? [v.python] : ["python3", "/usr/bin/python3"];
  torch = await probeTorch(candidates, 60);
  let skipped: string | undefined;
  if (v["torch-device"] === "cuda" && !torch.cuda) skipped = `no torch with CUDA (${torch.reason})`;
  else if (!torch.torch) skipped = `no torch (${torch.reason})`;
  else {
    try {
      await Deno.stat(torchScript);
    } catch {
      skipped = `comparator not found at ${torchScript}`;
    }
  }
  report.torch = { ...torch, ...(skipped ? { skipped } : {}) };
  console.log(
    skipped ? `PyTorch comparison skipped: ${skipped}` : `PyTorch: ${torch.python}, torch ${torch.torch}` +
      (torch.gpu ? `, GPU ${torch.gpu}` : ""),
  );
  if (skipped) torch = undefined;
} else report.torch = { python: "", cuda: false, skipped: "--no-torch" };

const runs: { shape: string; batch: number }[] = [];
for (const s of opts.shapes) {
  runs.push({ shape: s, batch: opts.batch });
  if (s === "t5-large" && opts.largeBatch > 0 && opts.largeBatch !== opts.batch) {
    runs.push({ shape: s, batch: opts.largeBatch });
  }
}
// The limits tfjs's device gets: tfjs-backend-webgpu 4.22 requests the adapter's own
// maxStorageBufferBindingSize and maxBufferSize (node_modules/@tensorflow/tfjs-backend-webgpu/
// dist/base.js, requiredLimits); without an adapter, WebGPU's defaults.
const bindingLimits = {
  maxStorageBufferBindingSize: report.adapter?.limits.maxStorageBufferBindingSize ??
    WEBGPU_DEFAULT_LIMITS.maxStorageBufferBindingSize,
  maxBufferSize: report.adapter?.limits.maxBufferSize ?? WEBGPU_DEFAULT_LIMITS.maxBufferSize,
};
for (const [i, run] of runs.entries()) {
  const row: ShapeRow = { shape: run.shape };
  report.shapes.push(row);
  row.bindings = checkBindings(GPU_SHAPES[run.shape], {
    batch: run.batch,
    source: opts.srcLen,
    target: opts.tgtLen,
  }, bindingLimits);
  console.log(`storage bindings of ${run.shape} (${row.bindings.exceeding.length} over the limits):`);
  console.log(formatBindingTable(row.bindings).replace(/^/gm, "  "));
  const torchRuns = torch ? 2 : 0;
  // Leave the PyTorch runs of this shape their time, and stop starting shapes near the end.
  const budget = Math.min(opts.shapeTimeS, remaining() - torchRuns * Math.min(opts.torchTimeS, 30) - 10);
  if (!v["no-bench"]) {
    if (budget < 15) {
      report.notes.push(`${run.shape} b${run.batch} and later shapes skipped: out of time`);
      console.log(report.notes.at(-1));
      report.shapes.pop();
      break;
    }
    row.bench = await benchShape({
      shape: run.shape,
      batch: run.batch,
      srcLen: opts.srcLen,
      tgtLen: opts.tgtLen,
      steps: opts.steps,
      warmup: opts.warmup,
      refreshExamples: opts.refreshExamples,
      genBatch: opts.genBatch,
      genMaxLength: opts.genMaxLength,
      timeLimitS: budget,
      passBytes: opts.passBytes,
      log,
    });
    const freed = releaseGpuPool();
    if (freed) console.log(`  released ${formatBytes(freed)} of pooled GPU buffers`);
    console.log(`  tfjs tensors left: ${tf.memory().numTensors}`);
  }
  if (torch) {
    for (const tf32 of [false, true]) {
      const t = Math.min(opts.torchTimeS, remaining() - 5);
      if (t < 10) {
        report.notes.push(`PyTorch ${run.shape} b${run.batch}${tf32 ? " tf32" : ""} skipped: out of time`);
        continue;
      }
      const res = await runTorchStep({
        python: torch.python,
        script: torchScript,
        shape: GPU_SHAPES[run.shape],
        batch: run.batch,
        srcLen: opts.srcLen,
        tgtLen: opts.tgtLen,
        tf32,
        steps: opts.steps,
        warmup: Math.max(1, opts.warmup),
        timeoutS: t,
        device: v["torch-device"],
      });
      const s = res.json?.median_s as number | undefined;
      console.log(
        `  torch ${run.shape} b${run.batch} ${tf32 ? "tf32" : "fp32"}: ` +
          (res.ok
            ? `step median ${fmt(s)} s, phases ${JSON.stringify(res.json?.phase_median_s)}`
            : res.error),
      );
      const ratio = s && row.bench?.stepMedianS ? row.bench.stepMedianS / s : undefined;
      if (tf32) [row.torchTf32, row.ratioTf32] = [res, ratio];
      else [row.torchFp32, row.ratioFp32] = [res, ratio];
      if (ratio !== undefined) {
        console.log(`  ratio webgpu / torch ${tf32 ? "tf32" : "fp32"}: ${ratio.toFixed(2)}`);
      }
    }
  }
  await writeResults();
  if (i === runs.length - 1) break;
}

report.complete = true;
clearTimeout(watchdog);
await writeResults();
console.log(`\n${markdown()}`);
console.log(`wrote ${outDir}/gpu-check.json and ${outDir}/gpu-check.md in ${report.seconds!.toFixed(0)} s`);
// Exit status: 1 when parity failed (the numbers are wrong), else 0.
Deno.exit(report.parity && !report.parity.ok ? 1 : 0);
