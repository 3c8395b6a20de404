/**
 * Whether a T5 step fits WebGPU's buffer limits. Every tensor of tfjs-backend-webgpu is one
 * `GPUBuffer`, and a shader can bind at most `maxStorageBufferBindingSize` bytes of it; a larger
 * tensor cannot be created (`maxBufferSize`) or cannot be read by any kernel. The WebGPU defaults
 * are 128 MiB and 256 MiB; tfjs-backend-webgpu 4.22 requests the adapter's own
 * `maxStorageBufferBindingSize` and `maxBufferSize` when it creates its device (`base.js`:
 * `deviceDescriptor.requiredLimits`), so on a GPU the adapter's limits are the ones that apply.
 *
 * {@link t5TensorSizes} lists the largest tensors of one FISH-DIP step and refresh, computed from
 * the shapes alone (float32, and bool masks, which webgpu stores as 32-bit words), and
 * {@link checkBindings} marks those over the limits. Two buffers of the backend top-k are bounded by
 * construction and not listed: its `[cuts, size]` comparisons (at most 16 MiB) and the packed mask
 * read for a checkpoint (at most 64 MiB a read; `device_mask.ts`).
 *
 * ```ts
 * import { checkBindings, formatBindingTable, WEBGPU_DEFAULT_LIMITS } from "./lib/gpu/bindings.ts";
 * import { GPU_SHAPES } from "./lib/gpu/bench.ts";
 * const c = checkBindings(GPU_SHAPES["t5-large"], { batch: 32, source: 256, target: 128 }, WEBGPU_DEFAULT_LIMITS);
 * console.log(formatBindingTable(c)); // logits [32, 128, 32128]: 502 MiB, over 128 MiB
 * ```
 *
 * @module
 */
import { formatBytes } from "../backend/gpu_adapter.ts";

/** The two limits that decide whether a tensor can exist and be read by a shader, in bytes. */
export interface BindingLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/** WebGPU's default limits (what a device gets when it asks for nothing more). */
export const WEBGPU_DEFAULT_LIMITS: Readonly<BindingLimits> = Object.freeze({
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxBufferSize: 256 * 2 ** 20,
});

/** The T5 dimensions the sizes depend on (vocabulary 32128 and tied embeddings unless given). */
export interface BindingConfig {
  d_model: number;
  d_ff: number;
  d_kv: number;
  num_heads: number;
  vocab_size?: number;
  /** v1.0 ties the output projection to the embedding; v1.1 has its own `lm_head` (same size). */
  tie_word_embeddings?: boolean;
  /** v1.1's gated FFN has two input projections (same size each). */
  is_gated_act?: boolean;
}

/** Rows of a step: batch size, source and target lengths. */
export interface StepShape {
  batch: number;
  source: number;
  target: number;
}

/** One tensor (or a family of same-sized tensors) and its bytes. */
export interface TensorSize {
  name: string;
  shape: number[];
  bytes: number;
  /** What else has this size (gradients, Fisher sums, masks, optimizer intermediates). */
  note?: string;
}

/** A {@link TensorSize} against the limits. */
export interface BindingRow extends TensorSize {
  overBinding: boolean;
  overBuffer: boolean;
}

/** {@link checkBindings}' result. */
export interface BindingCheck {
  shape: StepShape;
  limits: BindingLimits;
  rows: BindingRow[];
  /** Names of the rows over either limit. */
  exceeding: string[];
}

const F32 = 4;

/** The largest tensors of a FISH-DIP step and refresh, largest first. */
export function t5TensorSizes(cfg: BindingConfig, s: StepShape): TensorSize[] {
  const V = cfg.vocab_size ?? 32128,
    d = cfg.d_model,
    H = cfg.num_heads,
    { batch: B, source: S, target: T } = s;
  const inner = H * cfg.d_kv;
  const t = (name: string, shape: number[], note?: string): TensorSize => ({
    name,
    shape,
    bytes: F32 * shape.reduce((a, b) => a * b, 1),
    ...(note ? { note } : {}),
  });
  const rows: TensorSize[] = [
    t(
      "embedding",
      [V, d],
      "its gradient, Fisher sum, mask (bool, 4 bytes on webgpu) and Adafactor update" +
        (cfg.tie_word_embeddings === false ? "; lm_head the same" : ""),
    ),
    t("logits", [B, T, V], "log-softmax and its gradient"),
    t("encoder self-attention scores", [B, H, S, S], "softmax and its gradient"),
    t("cross-attention scores", [B, H, T, S], "softmax and its gradient"),
    t("decoder self-attention scores", [B, H, T, T], "softmax and its gradient"),
    t("encoder FFN activation", [B, S, cfg.d_ff], cfg.is_gated_act ? "gate and linear halves" : "ReLU input"),
    t("decoder FFN activation", [B, T, cfg.d_ff]),
    t("FFN weight wi", [d, cfg.d_ff], "gradient, Fisher sum, mask, Adafactor update"),
    t("attention projection", [d, inner], "q, k, v, o; gradient, Fisher sum, mask"),
    t("encoder hidden states", [B, S, d]),
    t("Adafactor row/column state of the embedding", [V + d]),
  ];
  return rows.sort((a, b) => b.bytes - a.bytes);
}

/** {@link t5TensorSizes} against `limits`: which tensors a shader could not bind or a buffer not hold. */
export function checkBindings(cfg: BindingConfig, s: StepShape, limits: BindingLimits): BindingCheck {
  const rows = t5TensorSizes(cfg, s).map((r) => ({
    ...r,
    overBinding: r.bytes > limits.maxStorageBufferBindingSize,
    overBuffer: r.bytes > limits.maxBufferSize,
  }));
  return {
    shape: { ...s },
    limits: { ...limits },
    rows,
    exceeding: rows.filter((r) => r.overBinding || r.overBuffer).map((r) => r.name),
  };
}

/** A Markdown table of a check, largest first. */
export function formatBindingTable(c: BindingCheck): string {
  const L = [
    `batch ${c.shape.batch}, source ${c.shape.source}, target ${c.shape.target}; ` +
    `maxStorageBufferBindingSize ${formatBytes(c.limits.maxStorageBufferBindingSize)}, ` +
    `maxBufferSize ${formatBytes(c.limits.maxBufferSize)}`,
    "",
    "| tensor | shape | bytes | fits | also this size |",
    "|---|---|---:|---|---|",
  ];
  for (const r of c.rows) {
    const fits = r.overBuffer ? "**over maxBufferSize**" : r.overBinding ? "**over binding limit**" : "yes";
    L.push(`| ${r.name} | [${r.shape.join(", ")}] | ${formatBytes(r.bytes)} | ${fits} | ${r.note ?? ""} |`);
  }
  return L.join("\n");
}
