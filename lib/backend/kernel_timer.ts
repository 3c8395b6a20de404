/**
 * Per-kernel wall-clock timing for synchronous backends (cpu, wasm, wasm+blas), by wrapping every
 * kernel registered for a backend. Used by `scripts/profile_step.ts` to see where a training
 * step's time goes.
 *
 * Why not `tf.profile`: it also reads every kernel output back to check for NaNs, which adds work
 * of the same order as the kernels themselves, and it attributes time only to the outermost
 * kernels. The wrappers here cost one `performance.now()` pair per call. On an asynchronous
 * backend (webgpu) the times would only measure command submission, so this is refused there.
 *
 * Kernels called from inside other kernels (e.g. wasm's `BatchMatMul` calling its `reshape`
 * directly) are not separate registry calls and count towards their caller. Nested registry calls
 * (a kernel that runs another through the engine) are subtracted from the outer kernel, so the
 * totals add up to time spent in kernels, with no double counting.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Accumulated time of one kernel. */
export interface KernelTime {
  kernel: string;
  calls: number;
  /** Milliseconds spent in the kernel itself (nested kernel calls excluded). */
  ms: number;
}

/** Options for {@link installKernelTimer}. */
export interface KernelTimerOptions {
  /**
   * Optional finer key for some calls (e.g. a product's shapes): calls with a key are also
   * accumulated under `kernel + " " + key` in {@link KernelTimer.details}.
   */
  detail?: (kernel: string, inputs: tf.NamedTensorInfoMap, attrs: unknown) => string | undefined;
}

/** An installed timer: read or reset the totals, or remove the wrappers. */
export interface KernelTimer {
  /** Totals since the last reset, slowest first. */
  totals(): KernelTime[];
  /** Totals per {@link KernelTimerOptions.detail} key, slowest first. */
  details(): KernelTime[];
  /** Zeroes the totals (e.g. after warm-up steps). */
  reset(): void;
  /** Restores the original kernels. */
  uninstall(): void;
}

/** Wraps every kernel of `backendName` (default: the active backend) with a timer. */
export function installKernelTimer(
  backendName = tf.getBackend(),
  opts: KernelTimerOptions = {},
): KernelTimer {
  if (backendName === "webgpu" || backendName === "webgl") {
    throw new Error(`kernel timing needs a synchronous backend, not ${backendName}`);
  }
  const table = new Map<string, KernelTime>();
  const detailTable = new Map<string, KernelTime>();
  const originals = tf.getKernelsForBackend(backendName);
  // Time of nested kernel calls, subtracted from their caller.
  const stack: number[] = [];
  for (const cfg of originals) {
    const name = cfg.kernelName;
    const inner = cfg.kernelFunc;
    const entry: KernelTime = { kernel: name, calls: 0, ms: 0 };
    table.set(name, entry);
    tf.unregisterKernel(name, backendName);
    tf.registerKernel({
      ...cfg,
      kernelFunc: (args) => {
        stack.push(0);
        const t0 = performance.now();
        try {
          return inner(args);
        } finally {
          const dt = performance.now() - t0;
          const nested = stack.pop()!;
          entry.calls++;
          entry.ms += dt - nested;
          const key = opts.detail?.(name, args.inputs, args.attrs);
          if (key !== undefined) {
            const k = `${name} ${key}`;
            let d = detailTable.get(k);
            if (!d) detailTable.set(k, d = { kernel: k, calls: 0, ms: 0 });
            d.calls++;
            d.ms += dt - nested;
          }
          if (stack.length > 0) stack[stack.length - 1] += dt;
        }
      },
    });
  }
  return {
    totals: () => [...table.values()].filter((e) => e.calls > 0).sort((a, b) => b.ms - a.ms),
    details: () => [...detailTable.values()].sort((a, b) => b.ms - a.ms),
    reset: () => {
      for (const e of table.values()) e.calls = e.ms = 0;
      detailTable.clear();
    },
    uninstall: () => {
      for (const cfg of originals) {
        tf.unregisterKernel(cfg.kernelName, backendName);
        tf.registerKernel(cfg);
      }
    },
  };
}
