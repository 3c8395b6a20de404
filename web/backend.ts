/**
 * Backends in a browser: WebGPU when the browser offers an adapter, else WebAssembly, with the
 * reason kept for a visible notice. The Deno start-up (`lib/backend/mod.ts`) is not used: it
 * also loads native BLAS over FFI and reads environment variables, which a page has no use for.
 * The wasm kernels' fixes are the library's, registered the same way, so `wasm` computes here
 * what it computes in Deno.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { registerWasmExtras } from "../lib/backend/wasm_kernels.ts";
import { registerFastWasmKernels } from "../lib/backend/wasm_fast.ts";
import { registerBlasKernels, setBlasEnabled } from "../lib/backend/blas_kernels.ts";

/** What the page asked for. */
export type WebBackend = "webgpu" | "wasm" | "cpu";

/** What it got, and why, when that differs. */
export interface WebBackendInfo {
  backend: string;
  requested: WebBackend;
  adapter?: string;
  /** Set when the request could not be met (shown to the user). */
  notice?: string;
}

async function adapterDescription(): Promise<string | undefined> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return undefined;
  const adapter = await gpu.requestAdapter().catch(() => null) as
    | { info?: Record<string, string | undefined> }
    | null;
  if (!adapter) return undefined;
  const info = adapter.info ?? {};
  return [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(" ") ||
    "unknown adapter";
}

/** Starts the wasm backend with its binaries served from `wasmDir` (the app's own folder). */
async function useWasm(wasmDir: string): Promise<void> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  wasm.setWasmPaths(wasmDir);
  registerWasmExtras();
  registerFastWasmKernels();
  // The same kernel set as Deno's plain wasm: BLAS kernels installed, switched off.
  registerBlasKernels();
  setBlasEnabled(false);
  if (!(await tf.setBackend("wasm"))) throw new Error("the tfjs wasm backend failed to initialise");
}

/** Selects a backend; WebGPU falls back to wasm (never throws for a missing adapter). */
export async function initWebBackend(requested: WebBackend, wasmDir: string): Promise<WebBackendInfo> {
  tf.env().set("PROD", true);
  if (requested === "cpu") {
    await tf.setBackend("cpu");
    return { backend: "cpu", requested };
  }
  if (requested === "webgpu") {
    const adapter = await adapterDescription();
    let why = "this browser offers no WebGPU adapter";
    if (adapter) {
      try {
        await import("@tensorflow/tfjs-backend-webgpu");
        if (await tf.setBackend("webgpu")) return { backend: "webgpu", requested, adapter };
        why = "the tfjs WebGPU backend failed to start";
      } catch (e) {
        why = `the tfjs WebGPU backend failed to start (${(e as Error).message})`;
      }
    }
    await useWasm(wasmDir);
    return {
      backend: "wasm",
      requested,
      adapter,
      notice: `WebGPU unavailable: ${why}; running on WebAssembly`,
    };
  }
  await useWasm(wasmDir);
  return { backend: "wasm", requested };
}
