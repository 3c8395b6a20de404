/**
 * Choosing where the math runs: WebGPU on a GPU, WebAssembly (SIMD) or plain JavaScript on a CPU.
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

/** Backends a user can ask for. `auto` = WebGPU on a real GPU, else the fastest CPU path. */
export type BackendName = "auto" | "webgpu" | "wasm" | "cpu";

/** The backends {@link initBackend} accepts, for validating flags and environment variables. */
export const BACKEND_NAMES: readonly BackendName[] = ["auto", "webgpu", "wasm", "cpu"];

/** What was chosen, and on what hardware. */
export interface BackendInfo {
  /** The tfjs backend now active. */
  backend: string;
  /** What the user asked for. */
  requested: BackendName;
  /** For WebGPU: the adapter's description (vendor, architecture, device). */
  adapter?: string;
  /** For WebGPU: true when the adapter is a software/fallback one (lavapipe, llvmpipe). */
  fallbackAdapter?: boolean;
  /** Why `auto` chose what it chose. */
  reason: string;
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

/** Asks the runtime for a WebGPU adapter; undefined when WebGPU is absent. */
export async function probeWebGpu(): Promise<{ description: string; fallback: boolean } | undefined> {
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

async function useWasm(): Promise<void> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  wasm.setWasmPaths(wasmBinaryDir());
  registerWasmExtras();
  if (!(await tf.setBackend("wasm"))) throw new Error("the tfjs wasm backend failed to initialise");
}

async function useWebGpu(): Promise<void> {
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) {
    throw new Error("the tfjs webgpu backend failed to initialise (no WebGPU adapter?)");
  }
}

/**
 * Selects and initialises a tfjs backend, and reports it once on stderr.
 *
 * `auto` picks WebGPU only when the adapter is a real GPU (software adapters are slower than
 * wasm), else wasm. The name may also come from the `TF_BACKEND` environment variable.
 */
export async function initBackend(
  requested: BackendName = parseBackendName(envBackend() ?? "auto"),
  opts: InitOptions = {},
): Promise<BackendInfo> {
  tf.env().set("IS_TEST", true); // silences tfjs's "running in Node.js" banner
  let info: BackendInfo;
  if (requested === "cpu") {
    await tf.setBackend("cpu");
    info = { backend: "cpu", requested, reason: "requested" };
  } else if (requested === "wasm") {
    await useWasm();
    info = { backend: "wasm", requested, reason: "requested" };
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
    if (probe && !probe.fallback) {
      await useWebGpu();
      info = {
        backend: "webgpu",
        requested,
        adapter: probe.description,
        fallbackAdapter: false,
        reason: "a hardware WebGPU adapter is present",
      };
    } else {
      await useWasm();
      info = {
        backend: "wasm",
        requested,
        adapter: probe?.description,
        fallbackAdapter: probe?.fallback,
        reason: probe ? "the only WebGPU adapter is a software one" : "no WebGPU adapter",
      };
    }
  }
  current = info;
  if (!opts.quiet) console.error(describeBackend(info));
  return info;
}

/** One line for logs: `backend: wasm (auto: no WebGPU adapter)`. */
export function describeBackend(info: BackendInfo): string {
  const adapter = info.adapter
    ? `; adapter: ${info.adapter}${info.fallbackAdapter ? " (software)" : ""}`
    : "";
  return `backend: ${info.backend} (${info.requested}: ${info.reason}${adapter})`;
}

function envBackend(): string | undefined {
  try {
    return Deno.env.get("TF_BACKEND") || undefined;
  } catch {
    return undefined;
  }
}
