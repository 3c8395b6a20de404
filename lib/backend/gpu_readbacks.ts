/**
 * Counting device-to-host reads. On a GPU every `await t.data()` of a tensor still on the device
 * waits for the queue to drain and copies the buffer back, so the number and size of those reads
 * per training step bound how well the step can overlap with the next one.
 *
 * The counter wraps the active backend's `read` and `readSync` (the two ways tfjs fetches a
 * tensor's values) and, on webgpu, `getBufferData` (the actual GPU-to-CPU copy; a `read` of a
 * tensor whose values are already cached on the CPU copies nothing). It is a measuring tool:
 * the wrappers only count and call through.
 *
 * ```ts
 * import { countReadbacks } from "./lib/backend/gpu_readbacks.ts";
 * const counter = countReadbacks();
 * // ... one training step ...
 * console.log(counter.stop()); // { reads: 1, readSyncs: 0, downloads: 1, downloadBytes: 4, maxDownloadBytes: 4 }
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Reads seen while the counter ran. */
export interface ReadbackCounts {
  /** `backend.read` calls (`await data()`, `array()`), outermost calls only. */
  reads: number;
  /** `backend.readSync` calls (`dataSync()`, `arraySync()`), outermost calls only. */
  readSyncs: number;
  /** webgpu only: buffers actually copied from the GPU (reads served from a CPU copy excluded). */
  downloads: number;
  /** webgpu only: bytes of those copies. */
  downloadBytes: number;
  /** webgpu only: the largest single copy, bytes. */
  maxDownloadBytes: number;
}

/** A running counter; `stop()` restores the backend and returns the counts. */
export interface ReadbackCounter {
  /** The counts so far (a copy). */
  snapshot(): ReadbackCounts;
  /** Sets every count back to zero. */
  reset(): void;
  /** Restores the backend's own methods; returns the final counts. */
  stop(): ReadbackCounts;
}

type Fn = (...args: unknown[]) => unknown;

/** Starts counting reads on the active backend (one counter at a time per backend). */
export function countReadbacks(): ReadbackCounter {
  const backend = tf.backend() as unknown as Record<string, unknown>;
  const counts: ReadbackCounts = {
    reads: 0,
    readSyncs: 0,
    downloads: 0,
    downloadBytes: 0,
    maxDownloadBytes: 0,
  };
  const saved = new Map<string, unknown>();
  // Backends call read from readSync (cpu) or recurse for complex tensors: count only the outer call.
  let depth = 0;
  const wrap = (name: string, onCall: (args: unknown[]) => void) => {
    const own = Object.prototype.hasOwnProperty.call(backend, name);
    const orig = backend[name];
    if (typeof orig !== "function") return;
    saved.set(name, own ? orig : undefined);
    backend[name] = function (this: unknown, ...args: unknown[]) {
      if (depth === 0) onCall(args);
      depth++;
      let out: unknown;
      try {
        out = (orig as Fn).apply(this, args);
      } finally {
        depth--;
      }
      return out;
    };
  };
  wrap("read", () => counts.reads++);
  wrap("readSync", () => counts.readSyncs++);
  // getBufferData is webgpu's copy; it is called from inside read, so it counts at any depth.
  const getBufferData = backend.getBufferData;
  if (typeof getBufferData === "function") {
    saved.set(
      "getBufferData",
      Object.prototype.hasOwnProperty.call(backend, "getBufferData") ? getBufferData : undefined,
    );
    backend.getBufferData = function (this: unknown, buffer: { size?: number }) {
      counts.downloads++;
      counts.downloadBytes += buffer?.size ?? 0;
      counts.maxDownloadBytes = Math.max(counts.maxDownloadBytes, buffer?.size ?? 0);
      return (getBufferData as Fn).call(this, buffer);
    };
  }
  let stopped = false;
  return {
    snapshot: () => ({ ...counts }),
    reset: () => {
      counts.reads =
        counts.readSyncs =
        counts.downloads =
        counts.downloadBytes =
        counts.maxDownloadBytes =
          0;
    },
    stop: () => {
      if (!stopped) {
        stopped = true;
        for (const [name, own] of saved) {
          // The originals lived on the prototype: deleting the wrapper brings them back.
          if (own === undefined) delete backend[name];
          else backend[name] = own;
        }
      }
      return { ...counts };
    },
  };
}

/** Runs `fn` and returns its result with the reads it caused. */
export async function withReadbackCount<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; counts: ReadbackCounts }> {
  const counter = countReadbacks();
  try {
    const value = await fn();
    return { value, counts: counter.snapshot() };
  } finally {
    counter.stop();
  }
}
