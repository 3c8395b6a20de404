/**
 * Choosing where the math runs: WebGPU on a GPU, WebAssembly (SIMD) with or without native BLAS,
 * or plain JavaScript on a CPU.
 *
 * | name | what runs | when `auto` picks it |
 * |---|---|---|
 * | `webgpu` | tfjs-backend-webgpu | a hardware WebGPU adapter exists |
 * | `wasm+blas` | tfjs-backend-wasm, matrix products by `cblas_sgemm` over FFI (`blas.ts`) | no hardware GPU, a BLAS library loads |
 * | `wasm` | tfjs-backend-wasm (with the fixes in `wasm_kernels.ts`, `wasm_fast.ts` and `blas.ts`) | otherwise |
 * | `cpu` | tfjs-backend-cpu (slow; a reference) | never |
 *
 * Environment: `TF_BACKEND` (the default name), `FISHDIP_BLAS_LIB` (BLAS library path(s),
 * `:`-separated; default Debian's `libopenblas.so.0` from `libopenblas0-pthread`, or Accelerate on
 * macOS), `FISHDIP_BLAS_THREADS` (default: logical cores), `FISHDIP_WASM_STOCK=1` (tfjs's own
 * wasm kernels for speed comparisons). `wasm+blas` needs `--allow-ffi`; without it, or without a
 * library, it falls back to `wasm` and the report line says why.
 *
 * Nothing happens at import time: call {@link initBackend} once before building a model. Backend
 * packages are imported lazily, because importing `@tensorflow/tfjs-backend-webgpu` alone makes
 * WebGPU the highest-priority backend and breaks any op issued before it has initialised.
 *
 * ```ts
 * import { initBackend } from "./lib/backend/mod.ts";
 * const info = await initBackend("auto"); // prints one line: backend and adapter
 * ```
 *
 * @module
 */
// The union package: it brings the cpu backend and chained ops (`x.sum()`), and shares one
// tfjs-core with the wasm and webgpu packages (npm overrides keep exactly one copy installed).
import * as tf from "@tensorflow/tfjs";
import { registerWasmExtras } from "./wasm_kernels.ts";
import { registerFastWasmKernels } from "./wasm_fast.ts";
import { type Blas, blasLoadError, loadBlas } from "./blas.ts";
import { registerBlasKernels, setBlasEnabled } from "./blas_kernels.ts";

/**
 * Backends a user can ask for. `auto` = WebGPU on a real GPU, else the fastest CPU path
 * (`wasm+blas` when a BLAS library loads, else `wasm`). `wasm+blas` is the tfjs wasm backend with
 * its matrix products done by native BLAS (see `blas.ts`); tfjs itself still calls it "wasm".
 */
export type BackendName = "auto" | "webgpu" | "wasm+blas" | "wasm" | "cpu";

/** The backends {@link initBackend} accepts, for validating flags and environment variables. */
export const BACKEND_NAMES: readonly BackendName[] = ["auto", "webgpu", "wasm+blas", "wasm", "cpu"];

/** What was chosen, and on what hardware. */
export interface BackendInfo {
  /**
   * The backend now active: a tfjs backend name, or `wasm+blas` (for which `tf.getBackend()`
   * says "wasm").
   */
  backend: string;
  /** What the user asked for. */
  requested: BackendName;
  /** For WebGPU: the adapter's description (vendor, architecture, device). */
  adapter?: string;
  /** For WebGPU: true when the adapter is a software/fallback one (lavapipe, llvmpipe). */
  fallbackAdapter?: boolean;
  /** Why `auto` chose what it chose (or why `wasm+blas` fell back to `wasm`). */
  reason: string;
  /** For `wasm+blas`: the BLAS library's path, and the threads it uses. */
  blas?: { path: string; threads: number; config: string };
}

/** Options for {@link initBackend}. */
export interface InitOptions {
  /** Don't print the one-line report. */
  quiet?: boolean;
}

let current: BackendInfo | undefined;

/** The backend chosen by the last {@link initBackend} call, if any. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/** Parses a backend name from a flag or environment variable, with a clear error. */
export function parseBackendName(s: string): BackendName {
  if ((BACKEND_NAMES as readonly string[]).includes(s)) return s as BackendName;
  throw new Error(`unknown backend "${s}": expected one of ${BACKEND_NAMES.join(", ")}`);
}

/** Location of the wasm binaries inside the installed npm package (never a CDN). */
export function wasmBinaryDir(): string {
  // The package is installed by npm into ./node_modules (nodeModulesDir "manual"); resolve from
  // this file so that notebooks and scripts work from any working directory.
  return new URL("../../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url).pathname;
}

interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/**
 * The Vulkan loader prints "XDG_RUNTIME_DIR is invalid or not set" twice on every adapter request
 * when the variable is unset (CI, containers, cron). Points it at a private 0700 directory for
 * this process, removed at exit. Harmless when it cannot (no env/write permission).
 */
function ensureXdgRuntimeDir(): void {
  try {
    const cur = Deno.env.get("XDG_RUNTIME_DIR");
    if (cur && Deno.statSync(cur).isDirectory) return;
    const dir = Deno.makeTempDirSync({ prefix: "fishdip-xdg-" }); // created 0700
    Deno.chmodSync(dir, 0o700);
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
  } catch {
    // No permission: the messages are noise, not errors.
  }
}

/** Asks the runtime for a WebGPU adapter; undefined when WebGPU is absent. */
export async function probeWebGpu(): Promise<{ description: string; fallback: boolean } | undefined> {
  ensureXdgRuntimeDir();
  const gpu = (globalThis.navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } })
    ?.gpu;
  if (!gpu) return undefined;
  let adapter: { info?: GpuAdapterInfoLike; isFallbackAdapter?: boolean } | null;
  try {
    adapter = (await gpu.requestAdapter()) as typeof adapter;
  } catch {
    return undefined;
  }
  if (!adapter) return undefined;
  const info = adapter.info ?? {};
  const description = [info.vendor, info.architecture, info.device, info.description]
    .filter((s) => s && String(s).length > 0).join(" ") || "unknown adapter";
  const fallback = Boolean(adapter.isFallbackAdapter ?? info.isFallbackAdapter) ||
    /llvmpipe|lavapipe|swiftshader|software/i.test(description);
  return { description, fallback };
}

/** Switches to tfjs's wasm backend; with `blas`, its matrix products go to that library. */
async function useWasm(blas?: Blas): Promise<void> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  wasm.setWasmPaths(wasmBinaryDir());
  registerWasmExtras();
  registerFastWasmKernels(); // zero-copy Identity, column Sum/Mean (wasm_fast.ts)
  // Always installed (they defer to the original kernels while switched off), so that `wasm`
  // and `wasm+blas` can alternate within one process, as the parity tests and benchmarks do.
  registerBlasKernels();
  setBlasEnabled(blas !== undefined, blas);
  if (!(await tf.setBackend("wasm"))) throw new Error("the tfjs wasm backend failed to initialise");
}

/** Tries to load BLAS; never throws (a missing library is a normal situation). */
function tryLoadBlas(): Blas | undefined {
  try {
    return loadBlas();
  } catch {
    return undefined; // e.g. no --allow-ffi
  }
}

function blasInfo(b: Blas): BackendInfo["blas"] {
  return { path: b.path, threads: b.threads, config: b.config };
}

async function useWebGpu(): Promise<void> {
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) {
    throw new Error("the tfjs webgpu backend failed to initialise (no WebGPU adapter?)");
  }
}

/**
 * What `auto` picks, given the WebGPU probe ({@link probeWebGpu}) and whether a BLAS library
 * loaded: WebGPU on a hardware adapter only (a software one, lavapipe or SwiftShader, is slower
 * than WebAssembly), else `wasm+blas` when BLAS loaded, else `wasm`; with the report's reason.
 * `blasLoaded` does not matter for a hardware adapter ({@link initBackend} loads BLAS only after).
 */
export function autoBackend(
  probe: { fallback: boolean } | undefined,
  blasLoaded = false,
): { backend: "webgpu" | "wasm+blas" | "wasm"; reason: string } {
  if (probe && !probe.fallback) return { backend: "webgpu", reason: "a hardware WebGPU adapter is present" };
  const why = probe ? "the only WebGPU adapter is a software one" : "no WebGPU adapter";
  return blasLoaded
    ? { backend: "wasm+blas", reason: `${why}, BLAS loaded` }
    : { backend: "wasm", reason: `${why}, no BLAS library` };
}

/**
 * Selects and initialises a tfjs backend, and reports it once on stderr.
 *
 * `auto` picks WebGPU only when the adapter is a real GPU (software adapters are slower than
 * wasm), else `wasm+blas` when a BLAS library loads (see `blas.ts`), else wasm. `wasm+blas`
 * without a loadable library falls back to wasm and says so in the report line. The name may
 * also come from the `TF_BACKEND` environment variable.
 */
export async function initBackend(
  requested: BackendName = parseBackendName(envBackend() ?? "auto"),
  opts: InitOptions = {},
): Promise<BackendInfo> {
  // PROD silences tfjs's "running in Node.js" banner and its other warnings. Not IS_TEST: that
  // also turns on a per-kernel leak check which misfires on wasm for every custom-gradient op
  // (tf.logSoftmax's gradient fails with "Backend 'wasm' has an internal memory leak").
  tf.env().set("PROD", true);
  let info: BackendInfo;
  if (requested === "cpu") {
    await tf.setBackend("cpu");
    info = { backend: "cpu", requested, reason: "requested" };
  } else if (requested === "wasm") {
    await useWasm();
    info = { backend: "wasm", requested, reason: "requested" };
  } else if (requested === "wasm+blas") {
    const blas = tryLoadBlas();
    await useWasm(blas);
    info = blas ? { backend: "wasm+blas", requested, reason: "requested", blas: blasInfo(blas) } : {
      backend: "wasm",
      requested,
      reason:
        `no BLAS library loaded, falling back to plain wasm (${blasLoadError() ?? "FFI not allowed"}; ` +
        "on Debian: apt-get install libopenblas0, or set FISHDIP_BLAS_LIB)",
    };
  } else if (requested === "webgpu") {
    const probe = await probeWebGpu();
    if (!probe) {
      throw new Error(
        "webgpu requested but no WebGPU adapter was found. On Debian install mesa-vulkan-drivers " +
          "and libvulkan1 (a software adapter), or use --backend wasm.",
      );
    }
    await useWebGpu();
    info = {
      backend: "webgpu",
      requested,
      adapter: probe.description,
      fallbackAdapter: probe.fallback,
      reason: "requested",
    };
  } else {
    const probe = await probeWebGpu();
    if (autoBackend(probe).backend === "webgpu") {
      await useWebGpu();
      info = {
        backend: "webgpu",
        requested,
        adapter: probe!.description,
        fallbackAdapter: false,
        reason: autoBackend(probe).reason,
      };
    } else {
      const blas = tryLoadBlas();
      await useWasm(blas);
      const choice = autoBackend(probe, blas !== undefined);
      info = {
        backend: choice.backend,
        requested,
        adapter: probe?.description,
        fallbackAdapter: probe?.fallback,
        reason: choice.reason,
        ...(blas ? { blas: blasInfo(blas) } : {}),
      };
    }
  }
  current = info;
  if (!opts.quiet) console.error(describeBackend(info));
  return info;
}

/** One line for logs: `backend: wasm (auto: no WebGPU adapter, no BLAS library)`. */
export function describeBackend(info: BackendInfo): string {
  const adapter = info.adapter
    ? `; adapter: ${info.adapter}${info.fallbackAdapter ? " (software)" : ""}`
    : "";
  const blas = info.blas ? `; blas: ${info.blas.path}, ${info.blas.threads} threads` : "";
  return `backend: ${info.backend} (${info.requested}: ${info.reason}${adapter}${blas})`;
}

function envBackend(): string | undefined {
  try {
    return Deno.env.get("TF_BACKEND") || undefined;
  } catch {
    return undefined;
  }
}
