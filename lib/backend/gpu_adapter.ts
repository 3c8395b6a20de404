/**
 * What the WebGPU adapter is and which of its limits decide whether a T5 fits: the largest buffer
 * (`maxBufferSize`) and the largest storage binding a shader may read (`maxStorageBufferBindingSize`).
 * tfjs-backend-webgpu asks its device for the adapter's own limits, so these are what tfjs gets.
 *
 * ```ts
 * import { describeGpuAdapter, formatGpuAdapter } from "./lib/backend/gpu_adapter.ts";
 * const a = await describeGpuAdapter();
 * console.log(a ? formatGpuAdapter(a) : "no WebGPU adapter");
 * ```
 *
 * @module
 */
import { probeWebGpu } from "./mod.ts";

/** The limits a T5 step depends on (bytes or counts, as WebGPU reports them). */
export const GPU_LIMIT_NAMES = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupsPerDimension",
] as const;

/** One adapter, as the runtime describes it. */
export interface GpuAdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The one-line description `lib/backend/mod.ts` logs (vendor, architecture, device, description). */
  summary: string;
  /** A software adapter (lavapipe, llvmpipe, SwiftShader): correct but far slower than a GPU. */
  software: boolean;
  limits: Partial<Record<(typeof GPU_LIMIT_NAMES)[number], number>>;
  features: string[];
}

interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  limits?: Record<string, number>;
  features?: Iterable<string>;
}

/** Describes the default adapter; undefined when the runtime has no WebGPU or no adapter. */
export async function describeGpuAdapter(): Promise<GpuAdapterReport | undefined> {
  // probeWebGpu also points XDG_RUNTIME_DIR somewhere valid, which silences the Vulkan loader.
  const probe = await probeWebGpu();
  if (!probe) return undefined;
  const gpu = (globalThis.navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const adapter = (await gpu?.requestAdapter()) as AdapterLike | null | undefined;
  if (!adapter) return undefined;
  const info = adapter.info ?? {};
  const limits: GpuAdapterReport["limits"] = {};
  for (const name of GPU_LIMIT_NAMES) {
    const v = adapter.limits?.[name];
    if (typeof v === "number") limits[name] = v;
  }
  return {
    vendor: String(info.vendor ?? ""),
    architecture: String(info.architecture ?? ""),
    device: String(info.device ?? ""),
    description: String(info.description ?? ""),
    summary: probe.description,
    software: probe.fallback,
    limits,
    features: adapter.features ? [...adapter.features].sort() : [],
  };
}

/** `1 GiB`, `128 MiB`, or the plain number below 1 KiB. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0, v = n;
  while (v >= 1024 && i < units.length - 1) [v, i] = [v / 1024, i + 1];
  return i === 0 ? `${n} B` : `${Number.isInteger(v) ? v : v.toFixed(2)} ${units[i]}`;
}

/** A few lines for a terminal: who made the adapter, whether it is software, and its limits. */
export function formatGpuAdapter(a: GpuAdapterReport): string {
  const lines = [
    `adapter: ${a.summary}${a.software ? " (software)" : ""}`,
    `  vendor "${a.vendor}", architecture "${a.architecture}", device "${a.device}"` +
    (a.description ? `, description "${a.description}"` : ""),
  ];
  for (const [k, v] of Object.entries(a.limits)) {
    lines.push(`  ${k}: ${k.endsWith("Size") ? `${formatBytes(v)} (${v})` : v}`);
  }
  return lines.join("\n");
}
