/**
 * `deno task gpu-pack [--out DIR] [--max-mib 60]`: a folder that runs `deno task gpu-check` on a
 * Linux x86-64 machine with no internet, no Deno and no npm packages (a rented GPU box).
 *
 * Contents of the folder (default `.cache/gpu-pack/`, git-ignored):
 * - `deno.xz`: this Deno binary, xz-compressed (about 96 MB to about 31 MB);
 * - `gpu_check.js`: `scripts/gpu_check.ts` bundled with tfjs (core, cpu, webgpu) by `deno bundle`;
 * - `fixtures/t5/`: the T5 fixture files the parity check reads;
 * - `torch_t5_step.py`: the PyTorch comparator;
 * - `run.sh`: unpacks Deno to /tmp once, then runs the check from an empty folder, writing to
 *   `$OUT` when set (the device tool's convention) or `./gpu-results`; extra arguments go to the
 *   check (`./run.sh --quick`).
 *
 * The compressed binary is kept between runs while the binary it came from is unchanged.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fixturesDir, REPO_ROOT } from "../lib/config/paths.ts";
import { formatBytes } from "../lib/backend/gpu_adapter.ts";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: `${REPO_ROOT}/.cache/gpu-pack` },
    "max-mib": { type: "string", default: "60" },
    "torch-script": { type: "string", default: `${REPO_ROOT}/../shared/bench/torch_t5_step.py` },
    help: { type: "boolean", default: false },
  },
});
if (v.help) {
  console.log("deno task gpu-pack [--out DIR (.cache/gpu-pack)] [--max-mib 60] [--torch-script PATH]");
  Deno.exit(0);
}
const out = v.out!;
const maxBytes = Number(v["max-mib"]) * 2 ** 20;

// Both inputs from outside the repository are checked before any work, so a checkout without
// ../shared fails in a second with what to pass rather than after the bundling.
function requireFile(path: string, what: string, flag: string): void {
  try {
    if (Deno.statSync(path).isFile) return;
  } catch { /* reported below */ }
  console.error(`gpu-pack: ${what} not found: ${path} (${flag})`);
  Deno.exit(2);
}
requireFile(v["torch-script"]!, "the PyTorch comparator", "pass --torch-script PATH");
requireFile(`${fixturesDir()}/t5/index.json`, "the T5 fixtures", "set FIXTURES_DIR");

async function run(cmd: string, args: string[], opts: { stdout?: string } = {}): Promise<void> {
  const file = opts.stdout
    ? await Deno.open(opts.stdout, { write: true, create: true, truncate: true })
    : undefined;
  const child = new Deno.Command(cmd, {
    args,
    stdout: file ? "piped" : "inherit",
    stderr: "inherit",
  }).spawn();
  if (file) await child.stdout.pipeTo(file.writable);
  const status = await child.status;
  if (!status.success) throw new Error(`${cmd} ${args.join(" ")} failed with exit ${status.code}`);
}

await Deno.mkdir(`${out}/fixtures/t5`, { recursive: true });

// 1. Deno, compressed once per binary.
const denoPath = Deno.realPathSync(Deno.execPath());
const st = Deno.statSync(denoPath);
const stamp = `${denoPath} ${st.size} ${st.mtime?.getTime()} ${Deno.version.deno}`;
let oldStamp = "";
try {
  oldStamp = Deno.readTextFileSync(`${out}/deno.xz.source`);
} catch { /* first run */ }
let packed = false;
try {
  packed = Deno.statSync(`${out}/deno.xz`).isFile;
} catch { /* not yet */ }
if (oldStamp !== stamp || !packed) {
  console.log(`compressing ${denoPath} (${formatBytes(st.size)}) with xz -6 ...`);
  const t0 = performance.now();
  await run("xz", ["-6", "-T0", "-c", denoPath], { stdout: `${out}/deno.xz.tmp` });
  await Deno.rename(`${out}/deno.xz.tmp`, `${out}/deno.xz`);
  Deno.writeTextFileSync(`${out}/deno.xz.source`, stamp);
  console.log(
    `  ${formatBytes(Deno.statSync(`${out}/deno.xz`).size)} in ${
      ((performance.now() - t0) / 1000).toFixed(0)
    } s`,
  );
} else console.log(`deno.xz is current (${formatBytes(Deno.statSync(`${out}/deno.xz`).size)})`);

// 2. The check, bundled with its npm dependencies into one file.
console.log("bundling scripts/gpu_check.ts ...");
await run(Deno.execPath(), [
  "bundle",
  "--platform",
  "deno",
  "--config",
  `${REPO_ROOT}/deno.json`,
  "-o",
  `${out}/gpu_check.js`,
  `${REPO_ROOT}/scripts/gpu_check.ts`,
]);

// 3. Fixtures: what the parity check reads (index, batch, and per configuration its config,
// outputs, weights, forward and gradient files).
const src = `${fixturesDir()}/t5`;
const index = JSON.parse(Deno.readTextFileSync(`${src}/index.json`)) as { configs: Record<string, unknown> };
const files = ["index.json", "batch.json"];
for (const name of Object.keys(index.configs)) {
  await Deno.mkdir(`${out}/fixtures/t5/${name}`, { recursive: true });
  for (
    const f of [
      "config.json",
      "outputs.json",
      "model.safetensors",
      "forward.safetensors",
      "grads.safetensors",
    ]
  ) {
    files.push(`${name}/${f}`);
  }
}
for (const f of files) Deno.copyFileSync(`${src}/${f}`, `${out}/fixtures/t5/${f}`);

// 4. The comparator.
Deno.copyFileSync(v["torch-script"]!, `${out}/torch_t5_step.py`);

// 5. The launcher.
const runSh = `#!/usr/bin/env bash
# Runs the FISH-DIP GPU check on a Linux x86-64 machine without Deno or internet.
#   ./run.sh            the full check (t5-small, t5-base, t5-large; about 8 minutes on a GPU)
#   ./run.sh --quick    tiny shape, short lengths (a software adapter)
# Results: $OUT when set, else ./gpu-results (gpu-check.json, gpu-check.md, gpu-check.log).
# WebGPU needs a Vulkan loader (libvulkan.so.1) and the GPU's Vulkan driver.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
results=\${OUT:-$PWD/gpu-results}
mkdir -p "$results"
results=$(cd "$results" && pwd)
work=\${GPU_PACK_TMP:-/tmp/fishdip-gpu-pack}
mkdir -p "$work/run"
if [ ! -x "$work/deno" ] || [ "$here/deno.xz" -nt "$work/deno" ]; then
  if command -v xz >/dev/null; then xz -dc "$here/deno.xz" >"$work/deno.tmp"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \\
    "$here/deno.xz" "$work/deno.tmp"
  fi || { echo "run.sh: could not unpack deno.xz" >&2; exit 2; }
  chmod +x "$work/deno.tmp" && mv "$work/deno.tmp" "$work/deno"
fi
if [ -z "\${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ]; then
  export XDG_RUNTIME_DIR; XDG_RUNTIME_DIR=$(mktemp -d); chmod 700 "$XDG_RUNTIME_DIR"
fi
export XDG_CACHE_HOME=\${XDG_CACHE_HOME:-$work/cache}
export DENO_DIR=$work/deno-dir DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
export FIXTURES_DIR=$here/fixtures FISHDIP_TORCH_SCRIPT=$here/torch_t5_step.py
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 || echo "run.sh: no libvulkan.so.1 in the loader cache; WebGPU may find no adapter" >&2
# An empty working folder: no deno.json or node_modules can be picked up.
cd "$work/run"
"$work/deno" --version | head -1
"$work/deno" run -A --no-config --no-lock "$here/gpu_check.js" --out "$results" "$@" 2>&1 | tee "$results/gpu-check.log"
exit "\${PIPESTATUS[0]}"
`;
Deno.writeTextFileSync(`${out}/run.sh`, runSh);
Deno.chmodSync(`${out}/run.sh`, 0o755);

// 6. Sizes.
let total = 0;
const lines: string[] = [];
const walk = (dir: string, rel = "") => {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`, r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) walk(p, r);
    else if (e.isFile && !r.endsWith(".tmp")) {
      const size = Deno.statSync(p).size;
      total += size;
      if (!r.startsWith("fixtures/")) lines.push(`  ${r}: ${formatBytes(size)}`);
    }
  }
};
walk(out);
console.log(`${out}:`);
console.log(lines.sort().join("\n"));
console.log(`  fixtures/t5 (${files.length} files) included; total ${formatBytes(total)} (${total} bytes)`);
if (total > maxBytes) {
  console.error(`gpu-pack: ${formatBytes(total)} is over the ${v["max-mib"]} MiB limit`);
  Deno.exit(1);
}
