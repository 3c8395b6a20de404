/**
 * The PyTorch side of a GPU check: finding a `python3` whose torch sees a CUDA device, and running
 * `../shared/bench/torch_t5_step.py --device cuda` on a shape with a time limit.
 *
 * Several interpreters may be on a machine (a pyenv shim first on `PATH`, Debian's `/usr/bin/python3`
 * with `python3-torch`), so each candidate is asked in turn and the first with torch is kept.
 *
 * @module
 */

/** What a Python interpreter says about its torch. */
export interface TorchProbe {
  python: string;
  torch?: string;
  cuda: boolean;
  gpu?: string;
  /** Why there is no usable torch+CUDA (absent when `cuda` is true). */
  reason?: string;
}

const PROBE = "import json,torch;c=torch.cuda.is_available();" +
  "print(json.dumps({'torch':torch.__version__,'cuda':c,'gpu':torch.cuda.get_device_name(0) if c else None}))";

/** Runs a command with a time limit; never throws (a missing program is a normal situation). */
export async function runWithTimeout(
  cmd: string,
  args: string[],
  timeoutS: number,
): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean; missing?: boolean }> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutS * 1000);
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    })
      .output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), timedOut };
  } catch (e) {
    const missing = e instanceof Deno.errors.NotFound;
    return { code: -1, stdout: "", stderr: e instanceof Error ? e.message : String(e), timedOut, missing };
  } finally {
    clearTimeout(timer);
  }
}

/** Asks each candidate interpreter for torch and CUDA; the first with CUDA wins, else the first with torch. */
export async function probeTorch(
  candidates: readonly string[] = ["python3", "/usr/bin/python3"],
  timeoutS = 60,
): Promise<TorchProbe> {
  let best: TorchProbe | undefined;
  const reasons: string[] = [];
  for (const python of [...new Set(candidates)]) {
    const r = await runWithTimeout(python, ["-c", PROBE], timeoutS);
    if (r.missing) {
      reasons.push(`${python}: not found`);
      continue;
    }
    if (r.code !== 0) {
      const last = r.stderr.trim().split("\n").pop() ?? "";
      reasons.push(`${python}: ${r.timedOut ? `timed out after ${timeoutS} s` : last || `exit ${r.code}`}`);
      continue;
    }
    try {
      const j = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
        torch: string;
        cuda: boolean;
        gpu?: string;
      };
      const p: TorchProbe = { python, torch: j.torch, cuda: j.cuda, gpu: j.gpu ?? undefined };
      if (p.cuda) return p;
      reasons.push(`${python}: torch ${j.torch} without CUDA`);
      best ??= p;
    } catch {
      reasons.push(`${python}: unreadable answer`);
    }
  }
  return { ...(best ?? { python: candidates[0], cuda: false }), reason: reasons.join("; ") };
}

/** A T5 shape in the comparator's explicit flags. */
export interface TorchShape {
  d_model: number;
  d_ff: number;
  d_kv: number;
  num_heads: number;
  num_layers: number;
}

/** One comparator run. */
export interface TorchRunOptions {
  python: string;
  script: string;
  shape: TorchShape;
  batch: number;
  srcLen: number;
  tgtLen: number;
  tf32: boolean;
  steps: number;
  warmup: number;
  timeoutS: number;
  /** `cuda` (default) or `cpu`. */
  device?: string;
  /** `step` (default) or `scoring`. */
  mode?: "step" | "scoring";
}

/** The comparator's JSON line, or why there is none. */
export interface TorchRunResult {
  ok: boolean;
  args: string[];
  seconds: number;
  // deno-lint-ignore no-explicit-any
  json?: Record<string, any>;
  error?: string;
}

/** The comparator's arguments for a run (explicit dimensions, so any shape works). */
export function torchArgs(o: TorchRunOptions): string[] {
  const s = o.shape;
  return [
    o.script,
    ...[
      "--d-model",
      s.d_model,
      "--d-ff",
      s.d_ff,
      "--d-kv",
      s.d_kv,
      "--heads",
      s.num_heads,
      "--layers",
      s.num_layers,
    ],
    ...["--batch", o.batch, "--src-len", o.srcLen, "--tgt-len", o.tgtLen],
    ...["--steps", o.steps, "--warmup", o.warmup, "--device", o.device ?? "cuda", "--mode", o.mode ?? "step"],
    ...(o.tf32 ? ["--tf32"] : []),
    "--json",
  ].map(String);
}

/** Runs the comparator once; a failure or time-out is reported, not thrown. */
export async function runTorchStep(o: TorchRunOptions): Promise<TorchRunResult> {
  const args = torchArgs(o);
  const t0 = performance.now();
  const r = await runWithTimeout(o.python, args, o.timeoutS);
  const seconds = (performance.now() - t0) / 1000;
  if (r.code !== 0) {
    const tail = r.stderr.trim().split("\n").slice(-3).join(" | ");
    return {
      ok: false,
      args,
      seconds,
      error: r.timedOut ? `timed out after ${o.timeoutS} s` : `exit ${r.code}: ${tail}`,
    };
  }
  const line = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  try {
    return { ok: true, args, seconds, json: JSON.parse(line ?? "") };
  } catch {
    return { ok: false, args, seconds, error: `no JSON line in: ${r.stdout.slice(-200)}` };
  }
}
