// The web app in a real browser: builds and serves it, opens it in Debian's chromium-headless-shell
// with WebGPU (SwiftShader), runs a few FISH-DIP steps on a tiny sample (stopping and resuming
// half-way), and checks that WebGPU was used, that the losses equal a Deno run of the same seed and
// data (scripts/web_reference.ts, wasm) within float32 tolerance, that the mask keeps exactly
// k % of the parameters, that the delta downloads in the project's format and that a prediction
// renders. Writes a screenshot (default results/web_app.png).
//
//   deno run -A scripts/web_check.ts [--steps 3] [--screenshot results/web_app.png] [--no-build]
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../lib/config/paths.ts";
import { keepCount } from "../lib/methods/mask.ts";
import { readDeltaFile } from "../lib/train/delta.ts";
import { Browser, CHROMIUM, haveChromium, WEBGPU_FLAGS } from "./web_cdp.ts";
import { buildWeb } from "./web_build.ts";
import { serveWeb } from "./web_serve.ts";

/**
 * The run both sides do: 4 sample sentences, batches of 2, the first mask only. Small because
 * SwiftShader compiles a WebGPU pipeline per new shape (about a minute per step on two busy cores).
 */
export const CHECK_RUN = { k: 0.01, m: 100, n: 1, batch: 2, seed: 1, limit: 4 };
/**
 * Float32 losses of the same run on WebGPU and on wasm agree to this relative difference (measured:
 * 2e-5 at step 1, 5e-5 at step 2; the kernels sum in different orders).
 */
export const LOSS_RTOL = 2e-4;

interface PageState {
  ready: boolean;
  error?: string;
  backend?: { backend: string; adapter?: string; notice?: string };
  step: number;
  total: number;
  losses: { step: number; loss: number }[];
  mask?: { kept: number; total: number };
  running: boolean;
  prediction?: { tokens: string[]; entities: { text: string; type: string }[] };
  delta?: { changed: number; total: number; bytes: number };
}

/** Runs the check; returns what it measured (throws on the first failed expectation). */
export async function webCheck(
  opts: { steps: number; screenshot?: string; build: boolean; log?: (s: string) => void },
) {
  const log = opts.log ?? console.log;
  if (!haveChromium()) throw new Error(`${CHROMIUM} not found: apt-get install chromium-headless-shell`);
  if (opts.build) await buildWeb();
  const server = serveWeb({ port: 0, quiet: true });
  const url = `http://127.0.0.1:${server.addr.port}/?backend=webgpu`;
  const downloads = await Deno.makeTempDir({ prefix: "fishdip-web-downloads-" });
  const browser = await Browser.launch(url, WEBGPU_FLAGS);
  const st = () => browser.evaluate<PageState>("fishdip");
  try {
    await browser.waitFor("globalThis.fishdip && (fishdip.ready || fishdip.error)", 120_000, "the backbone");
    let s = await st();
    if (s.error) throw new Error(`the page failed: ${s.error}`);
    log(`page ready: backend ${s.backend?.backend} (adapter ${s.backend?.adapter ?? "none"})`);
    if (s.backend?.backend !== "webgpu") throw new Error(`expected WebGPU, got ${JSON.stringify(s.backend)}`);

    const r = CHECK_RUN;
    await browser.evaluate(`(() => {
      const set = (id, v) => { document.getElementById(id).value = String(v); };
      const data = document.getElementById("data");
      data.value = data.value.split("\\n").filter((l) => l.trim()).slice(0, ${r.limit}).join("\\n");
      set("method", "fishdip"); set("k", ${r.k}); set("m", ${r.m}); set("n", ${r.n});
      set("batch", ${r.batch}); set("steps", ${opts.steps}); set("seed", ${r.seed});
      document.getElementById("start").click();
    })()`);
    // Stop during the first step (the first mask is in place once it starts), then resume: the
    // run must continue as if never stopped.
    await browser.waitFor("fishdip.mask || fishdip.error", 600_000, "the first mask");
    await browser.evaluate(`document.getElementById("stop").click()`);
    await browser.waitFor("!fishdip.running", 600_000, "the stop");
    const stoppedAt = (await st()).step;
    log(`stopped at step ${stoppedAt}; resuming`);
    if (stoppedAt >= opts.steps) throw new Error("the stop came too late to test resuming");
    await browser.evaluate(`document.getElementById("resume").click()`);
    await browser.waitFor(
      `(fishdip.step >= ${opts.steps} && !fishdip.running) || fishdip.error`,
      600_000,
      `${opts.steps} steps`,
    );
    s = await st();
    if (s.error) throw new Error(`the page failed: ${s.error}`);
    log(`browser losses: ${s.losses.map((l) => l.loss.toFixed(6)).join(", ")}`);

    const ref = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${REPO_ROOT}/scripts/web_reference.ts`,
        "--backend",
        "wasm",
        "--steps",
        String(opts.steps),
        ...Object.entries(r).flatMap(([k, v]) => [`--${k}`, String(v)]),
      ],
      stderr: "inherit",
    }).outputSync();
    if (!ref.success) throw new Error("the Deno reference run failed");
    const deno = JSON.parse(new TextDecoder().decode(ref.stdout)) as {
      losses: { step: number; loss: number }[];
      mask: { kept: number; total: number };
    };
    log(`deno losses:    ${deno.losses.map((l) => l.loss.toFixed(6)).join(", ")}`);
    if (s.losses.length !== deno.losses.length) throw new Error("different numbers of steps");
    let worst = 0;
    s.losses.forEach((l, i) => {
      worst = Math.max(
        worst,
        Math.abs(l.loss - deno.losses[i].loss) / Math.max(1, Math.abs(deno.losses[i].loss)),
      );
    });
    log(`largest relative loss difference: ${worst.toExponential(2)} (tolerance ${LOSS_RTOL})`);
    if (!(worst <= LOSS_RTOL)) throw new Error(`losses differ by ${worst} > ${LOSS_RTOL}`);

    const mask = s.mask!;
    const want = keepCount(mask.total, r.k);
    log(`mask: ${mask.kept} of ${mask.total} kept (k = ${r.k}: ${want}); Deno's: ${deno.mask.kept}`);
    if (mask.kept !== want || deno.mask.kept !== want) throw new Error("the mask does not keep exactly k %");

    await browser.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: downloads });
    await browser.evaluate(`document.getElementById("download").click()`);
    await browser.waitFor("fishdip.delta", 120_000, "the delta");
    const file = `${downloads}/delta.safetensors`;
    const deadline = Date.now() + 30_000;
    while (!(await Deno.stat(file).then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error("the delta was not downloaded");
      await new Promise((res) => setTimeout(res, 200));
    }
    const { delta, metadata } = await readDeltaFile(file);
    const changed = [...delta.values()].reduce((a, d) => a + d.indices.length, 0);
    log(`delta: ${changed} entries changed (${metadata.format}, base ${metadata.base})`);
    if (changed === 0 || changed !== (await st()).delta?.changed) throw new Error("the delta is wrong");

    await browser.evaluate(`document.getElementById("predict").click()`);
    await browser.waitFor("fishdip.prediction || fishdip.error", 300_000, "a prediction");
    s = await st();
    const shown = await browser.evaluate<string>(`document.getElementById("prediction").textContent`);
    log(`prediction: ${shown}`);
    if (!s.prediction || !shown.includes(s.prediction.tokens[0])) throw new Error("no prediction rendered");
    if (opts.screenshot) {
      await Deno.writeFile(opts.screenshot, await browser.screenshot());
      log(`screenshot: ${opts.screenshot}`);
    }
    return { losses: s.losses, deno: deno.losses, worst, mask, changed, prediction: s.prediction };
  } catch (e) {
    log(browser.console.slice(-20).join("\n"));
    throw e;
  } finally {
    await browser.close();
    await server.shutdown();
    await Deno.remove(downloads, { recursive: true }).catch(() => {});
  }
}

/**
 * Without WebGPU flags headless Chromium has no adapter: the page must fall back to wasm, say so
 * in a visible notice, and still load the backbone. Returns the notice.
 */
export async function fallbackCheck(opts: { build: boolean }): Promise<string> {
  if (opts.build) await buildWeb();
  const server = serveWeb({ port: 0, quiet: true });
  const browser = await Browser.launch(`http://127.0.0.1:${server.addr.port}/?backend=webgpu`);
  try {
    await browser.waitFor("globalThis.fishdip && (fishdip.ready || fishdip.error)", 120_000, "the backbone");
    const s = await browser.evaluate<PageState>("fishdip");
    if (s.error) throw new Error(`the page failed: ${s.error}`);
    if (s.backend?.backend !== "wasm") {
      throw new Error(`expected the wasm fallback, got ${s.backend?.backend}`);
    }
    const notice = await browser.evaluate<{ hidden: boolean; text: string }>(
      `(() => { const n = document.getElementById("notice"); return { hidden: n.hidden, text: n.textContent }; })()`,
    );
    if (notice.hidden || !notice.text.includes("WebGPU")) throw new Error("no visible fallback notice");
    return notice.text;
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      steps: { type: "string", default: "2" },
      screenshot: { type: "string", default: `${REPO_ROOT}/results/web_app.png` },
      "no-build": { type: "boolean", default: false },
    },
  });
  await webCheck({ steps: Number(values.steps), screenshot: values.screenshot, build: !values["no-build"] });
  console.log("web check passed");
}
