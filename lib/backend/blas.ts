/**
 * Native BLAS behind the tfjs wasm backend (`wasm+blas`): matrix products through `cblas_sgemm`.
 *
 * The tfjs wasm backend is single-threaded in Deno (its threaded build needs workers that Deno's
 * emscripten glue cannot start) and reaches about 30 GFLOP/s with SIMD. OpenBLAS or Apple's
 * Accelerate reach several times that on one core and scale with cores. This module keeps the
 * wasm backend as the tensor library (memory, every other kernel, gradients) and replaces only the
 * kernels that dominate a training step, `BatchMatMul` and `_FusedMatMul`, with versions that call
 * `cblas_sgemm` through Deno FFI, directly on the wasm heap: a tfjs wasm tensor is a contiguous
 * block of the module's linear memory at `dataIdMap.get(dataId).memoryOffset`, so the native code
 * reads and writes it in place, with no copy.
 *
 * This module loads the library and exposes `sgemm`; the kernels are in `blas_kernels.ts`.
 *
 * Needs `--allow-ffi` (tests and tasks run with `-A`).
 *
 * @module
 */

/** CBLAS enum values (`cblas.h`), shared with the kernels in `blas_kernels.ts`. */
export const CBLAS_ROW_MAJOR = 101;
/** `CblasNoTrans`. */
export const CBLAS_NO_TRANS = 111;
/** `CblasTrans`. */
export const CBLAS_TRANS = 112;

const SYMBOLS = {
  cblas_sgemm: {
    // order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  // order, trans, M, N, alpha, A, lda, x, incx, beta, y, incy. Optional: the reductions that use
  // it fall back to their wasm paths without it.
  cblas_sgemv: {
    parameters: ["i32", "i32", "i32", "i32", "f32", "buffer", "i32", "buffer", "i32", "f32", "buffer", "i32"],
    result: "void",
    optional: true,
  },
  // OpenBLAS only; Accelerate has no such symbol (it sizes its own thread pool).
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
} as const;

type BlasLib = Deno.DynamicLibrary<typeof SYMBOLS>;

/** A loaded BLAS library. */
export interface Blas {
  /** The path (or soname) that loaded. */
  path: string;
  /** OpenBLAS's build description (`openblas_get_config`), or "Accelerate"/"unknown". */
  config: string;
  /** Threads BLAS uses (what `openblas_get_num_threads` reports after setting it). */
  threads: number;
  /** The raw FFI symbols. */
  symbols: BlasLib["symbols"];
}

/**
 * Paths tried, in order, when `FISHDIP_BLAS_LIB` is unset. On Debian/Ubuntu `libopenblas.so.0` is
 * the update-alternatives link that the packages `libopenblas0-pthread` (preferred, priority 100)
 * or `libopenblas0-openmp` install; the explicit directories are tried too, in case the link is
 * missing. macOS ships cblas in the Accelerate framework.
 */
export function defaultBlasCandidates(): string[] {
  if (Deno.build.os === "darwin") {
    return [
      "/System/Library/Frameworks/Accelerate.framework/Accelerate",
      "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
      "/usr/local/opt/openblas/lib/libopenblas.dylib",
    ];
  }
  if (Deno.build.os === "windows") return ["libopenblas.dll", "openblas.dll"];
  const triple = Deno.build.arch === "aarch64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  return [
    "libopenblas.so.0",
    `/usr/lib/${triple}/openblas-pthread/libopenblas.so.0`,
    `/usr/lib/${triple}/openblas-openmp/libopenblas.so.0`,
    `/usr/lib/${triple}/openblas-serial/libopenblas.so.0`,
    "libopenblas.so",
    "/usr/lib64/libopenblas.so.0", // Fedora, RHEL
  ];
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/** The thread count from `FISHDIP_BLAS_THREADS`, else the number of logical cores. */
export function blasThreadsFromEnv(): number {
  const s = env("FISHDIP_BLAS_THREADS");
  const n = s === undefined ? NaN : Number(s);
  if (Number.isInteger(n) && n > 0) return n;
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

let loaded: Blas | undefined;
let loadError: string | undefined;

/**
 * Loads a BLAS library once (later calls return the same one). Tries `FISHDIP_BLAS_LIB` (a path,
 * or several separated by `:`) or else {@link defaultBlasCandidates}. Returns undefined when none
 * loads; {@link blasLoadError} then says why.
 */
export function loadBlas(opts: { path?: string; threads?: number } = {}): Blas | undefined {
  if (loaded) {
    if (opts.threads !== undefined) setBlasThreads(opts.threads);
    return loaded;
  }
  const fromEnv = opts.path ?? env("FISHDIP_BLAS_LIB");
  const candidates = fromEnv ? fromEnv.split(":").filter((s) => s.length > 0) : defaultBlasCandidates();
  const errors: string[] = [];
  for (const path of candidates) {
    let lib: BlasLib;
    try {
      lib = Deno.dlopen(path, SYMBOLS);
    } catch (e) {
      errors.push((e as Error).message.split("\n")[0]);
      continue;
    }
    const s = lib.symbols;
    let config = "unknown";
    if (s.openblas_get_config) {
      const p = s.openblas_get_config();
      if (p) config = new Deno.UnsafePointerView(p).getCString();
    } else if (path.includes("Accelerate")) {
      config = "Accelerate";
    }
    loaded = { path, config, threads: 1, symbols: s };
    setBlasThreads(opts.threads ?? blasThreadsFromEnv());
    return loaded;
  }
  // Short enough for the one-line backend report: the paths tried and the first reason.
  loadError = errors.length > 0 ? `tried ${candidates.join(", ")}; ${errors[0]}` : "no candidate paths";
  return undefined;
}

/** Why {@link loadBlas} found no library (undefined if it has not failed). */
export function blasLoadError(): string | undefined {
  return loadError;
}

/** Sets the number of BLAS threads (OpenBLAS only; a no-op on libraries without the call). */
export function setBlasThreads(n: number): void {
  if (!loaded) return;
  const s = loaded.symbols;
  if (s.openblas_set_num_threads) {
    s.openblas_set_num_threads(Math.max(1, Math.floor(n)));
    loaded.threads = s.openblas_get_num_threads ? s.openblas_get_num_threads() : n;
  } else {
    loaded.threads = n;
  }
}

/**
 * Row-major single-precision GEMM on plain arrays: `c = alpha·op(a)·op(b) + beta·c`, with `a` of
 * shape [m,k] (or [k,m] when `transA`), `b` [k,n] (or [n,k]), `c` [m,n]. Exposed for tests and
 * benchmarks; the kernels call the FFI symbol directly on wasm-heap views.
 */
export function sgemm(
  blas: Blas,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  alpha = 1,
  beta = 0,
): void {
  blas.symbols.cblas_sgemm(
    CBLAS_ROW_MAJOR,
    transA ? CBLAS_TRANS : CBLAS_NO_TRANS,
    transB ? CBLAS_TRANS : CBLAS_NO_TRANS,
    m,
    n,
    k,
    alpha,
    a,
    transA ? m : k,
    b,
    transB ? k : n,
    beta,
    c,
    n,
  );
}
