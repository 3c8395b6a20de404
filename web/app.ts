/**
 * The page: load the backbone the app serves, parse pasted sentences, fine-tune with FISH-DIP (or
 * full fine-tuning) while drawing the loss and the mask, stop and resume, predict a typed sentence,
 * download the sparse delta.
 *
 * `?backend=webgpu|wasm|cpu` picks the backend (default WebGPU, falling back to wasm with a notice).
 * `globalThis.fishdip` exposes the run's state for the browser test.
 *
 * @module
 */
/// <reference lib="dom" />
import { methodConfig } from "../lib/methods/registry.ts";
import type { PredictionRecord } from "../lib/train/predict_file.ts";
import { initWebBackend, type WebBackend, type WebBackendInfo } from "./backend.ts";
import {
  loadBackboneBytes,
  type LoadedBackbone,
  maskByLayer,
  type MaskReport,
  parseUserText,
  Session,
  tokenizeSentence,
} from "./session.ts";

/** Where the build puts the backbone, the sample and the wasm binaries (see scripts/web_build.ts). */
const MODEL_DIR = "model/";
const WASM_DIR = "tfjs/";

/** What the browser test reads. */
interface PageState {
  ready: boolean;
  error?: string;
  backend?: WebBackendInfo;
  step: number;
  total: number;
  losses: { step: number; loss: number }[];
  mask?: MaskReport;
  running: boolean;
  prediction?: PredictionRecord;
  stepsPerSecond?: number;
  delta?: { changed: number; total: number; bytes: number };
}

const state: PageState = { ready: false, step: 0, total: 0, losses: [], running: false };
(globalThis as unknown as { fishdip: PageState }).fishdip = state;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const num = (id: string) => Number($<HTMLInputElement>(id).value);

let backbone: LoadedBackbone | undefined;
let session: Session | undefined;
let sampleTypeNames = "";

async function fetchBytes(path: string): Promise<Uint8Array> {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function showError(where: string, e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  state.error = `${where}: ${msg}`;
  const el = $(where);
  el.textContent = msg;
  el.classList.add("error");
  console.error(e);
}

async function loadSample(): Promise<void> {
  $<HTMLTextAreaElement>("data").value = await (await fetch(`${MODEL_DIR}sample.jsonl`)).text();
  sampleTypeNames = await (await fetch(`${MODEL_DIR}sample_type_names.json`)).text();
  $<HTMLTextAreaElement>("type-names").value = sampleTypeNames;
  $<HTMLSelectElement>("format").value = "auto";
}

/** The previous run's curve stays on the chart (grey), so FISH-DIP and full fine-tuning compare. */
let previous: { label: string; losses: { step: number; loss: number }[] } | undefined;
let currentLabel = "";

function drawLoss(): void {
  const svg = $("loss-chart");
  const pts = state.losses;
  const all = [...pts, ...(previous?.losses ?? [])];
  if (all.length === 0) {
    svg.innerHTML = "";
    return;
  }
  const W = 400, H = 160, pad = 24;
  const maxL = Math.max(...all.map((p) => p.loss)), minL = Math.min(0, ...all.map((p) => p.loss));
  const n = Math.max(state.total, ...all.map((p) => p.step));
  const x = (s: number) => pad + ((W - 2 * pad) * (s - 1)) / Math.max(1, n - 1);
  const y = (l: number) => H - pad - ((H - 2 * pad) * (l - minL)) / Math.max(1e-9, maxL - minL);
  const line = (ps: { step: number; loss: number }[]) =>
    ps.map((p) => `${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(" ");
  svg.innerHTML = (previous
    ? `<polyline class="previous" points="${line(previous.losses)}"/>` +
      `<text x="${pad + 4}" y="${H - 6}" class="previous">grey: ${previous.label}</text>`
    : "") +
    `<polyline points="${line(pts)}"/>` +
    `<text x="${pad + 4}" y="12">${currentLabel}</text>` +
    `<text x="2" y="${pad}">${maxL.toFixed(2)}</text><text x="2" y="${H - pad}">${minL.toFixed(2)}</text>` +
    `<text x="${W - pad - 40}" y="${H - 6}">step ${pts.at(-1)?.step ?? 0}</text>`;
}

function drawMask(m: MaskReport): void {
  state.mask = m;
  const el = $("mask");
  const layers = maskByLayer(m.perParam);
  $("mask-caption").textContent = Object.keys(m.perParam).length === 0
    ? `mask at step ${m.step}: every parameter trains (full fine-tuning)`
    : `mask at step ${m.step}: ${m.kept.toLocaleString()} of ${m.total.toLocaleString()} entries ` +
      `(${(100 * m.kept / m.total).toFixed(3)} %), share per layer`;
  el.innerHTML = "";
  for (const { layer, kept } of layers) {
    const share = kept / Math.max(1, m.kept);
    const row = document.createElement("div");
    row.className = "mask-row";
    row.innerHTML = `<span>${layer}</span><div><div class="mask-bar" style="width:${
      (100 * share).toFixed(1)
    }%"></div></div><span>${(100 * share).toFixed(1)} %</span>`;
    el.append(row);
  }
}

function setButtons(): void {
  const running = session?.isRunning ?? false;
  state.running = running;
  $<HTMLButtonElement>("start").disabled = !backbone || running;
  $<HTMLButtonElement>("stop").disabled = !running;
  $<HTMLButtonElement>("resume").disabled = !session || running || session.done;
  $<HTMLButtonElement>("download").disabled = !session || running;
  $<HTMLButtonElement>("predict").disabled = !backbone || running;
}

async function train(resume: boolean): Promise<void> {
  try {
    if (!backbone) return;
    if (!resume || !session) {
      // A new run starts from the backbone's own weights.
      if (session && session.losses.length > 0) previous = { label: currentLabel, losses: session.losses };
      session?.dispose();
      backbone.model.dispose();
      backbone = loadBackboneBytes(await backboneBytes());
      const data = parseUserText(
        $<HTMLTextAreaElement>("data").value,
        $<HTMLSelectElement>("format").value as "auto" | "conll" | "jsonl",
        $<HTMLTextAreaElement>("type-names").value.trim() || undefined,
      );
      $("data-status").textContent = `${data.examples.length} sentences; entity types ${
        data.schema.entityTypes.map((t) => t.short).join(", ")
      }${data.schema.relationTypes.length ? "; relation types " : ""}${
        data.schema.relationTypes.map((t) => t.short).join(", ")
      }`;
      const method = $<HTMLSelectElement>("method").value === "full"
        ? methodConfig("full")
        : methodConfig("fishdip", { k: num("k"), m: num("m"), n: num("n") });
      session = new Session(backbone, data, {
        method,
        seed: num("seed"),
        epochs: 100,
        batchSize: num("batch"),
        maxSteps: num("steps"),
        maxInputLength: 256,
        maxOutputLength: 256,
        padLabels: "longest",
      });
      currentLabel = method.name === "full"
        ? "full fine-tuning"
        : `FISH-DIP k=${num("k")} m=${num("m")} n=${num("n")}`;
      state.losses = session.losses;
      state.total = session.total;
      state.step = 0;
      drawLoss();
    }
    const s = session;
    const recent: number[] = [];
    const status = $("train-status");
    status.classList.remove("error");
    status.textContent = s.step === 0 ? "computing the first mask…" : `resuming at step ${s.step}…`;
    const run = s.run({
      onStep: (r) => {
        recent.push(r.ms);
        if (recent.length > 5) recent.shift();
        state.stepsPerSecond = 1000 * recent.length / recent.reduce((a, b) => a + b, 0);
        state.step = r.step;
        status.textContent = `step ${r.step}/${r.total}  loss ${r.loss.toFixed(4)}  ` +
          `${state.stepsPerSecond.toFixed(2)} steps/s  lr ${r.lr.toExponential(2)}`;
        drawLoss();
      },
      onMask: drawMask,
      // A paint between steps keeps the page live while WebGPU or wasm computes.
      yieldEvery: () => new Promise((r) => setTimeout(r, 0)),
    });
    setButtons();
    await run;
    status.textContent += s.done ? "  (done)" : "  (stopped: resume continues this run)";
  } catch (e) {
    showError("train-status", e);
  } finally {
    setButtons();
  }
}

let cachedBytes: Awaited<ReturnType<typeof fetchBackbone>> | undefined;
async function fetchBackbone() {
  const [config, weights, spiece] = await Promise.all(
    ["config.json", "model.safetensors", "spiece.model"].map((f) => fetchBytes(MODEL_DIR + f)),
  );
  const id = (await (await fetch(`${MODEL_DIR}id.txt`)).text()).trim();
  return { id, config, weights, spiece };
}
async function backboneBytes() {
  cachedBytes ??= await fetchBackbone();
  return cachedBytes;
}

function renderPrediction(rec: PredictionRecord): void {
  const out = $("prediction");
  out.innerHTML = "";
  let i = 0;
  for (const e of rec.entities) {
    if (e.start < i) continue;
    if (e.start > i) out.append(rec.tokens.slice(i, e.start).join(" ") + " ");
    const mark = document.createElement("mark");
    mark.dataset.type = e.type;
    mark.textContent = e.text;
    const type = document.createElement("span");
    type.className = "type";
    type.textContent = e.type;
    mark.append(type);
    out.append(mark, " ");
    i = e.end;
  }
  out.append(rec.tokens.slice(i).join(" "));
  const rels = rec.relations.map((r) =>
    `${rec.entities[r.head].text} —${r.type}→ ${rec.entities[r.tail].text}`
  );
  if (rels.length) out.append(document.createElement("br"), rels.join("; "));
}

async function predict(): Promise<void> {
  try {
    if (!backbone) return;
    const tokens = tokenizeSentence($<HTMLInputElement>("sentence").value);
    if (tokens.length === 0) return;
    $<HTMLButtonElement>("predict").disabled = true;
    $("prediction").textContent = "predicting…";
    // Before any run, the backbone predicts with the sample's types.
    const s = session ?? new Session(
      backbone,
      parseUserText($<HTMLTextAreaElement>("data").value, "auto", sampleTypeNames || undefined),
      {
        method: methodConfig("full"),
        seed: 1,
        epochs: 1,
        batchSize: 1,
        maxInputLength: 256,
        maxOutputLength: 256,
        padLabels: "longest",
      },
    );
    const [p] = await s.predict([tokens]);
    if (s !== session) s.dispose();
    state.prediction = p.record;
    $("prediction-raw").textContent = p.output;
    renderPrediction(p.record);
  } catch (e) {
    showError("prediction", e);
  } finally {
    setButtons();
  }
}

async function download(): Promise<void> {
  if (!session) return;
  const { bytes, changed, total } = await session.delta();
  state.delta = { changed, total, bytes: bytes.byteLength };
  const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "application/octet-stream" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "delta.safetensors";
  a.click();
  URL.revokeObjectURL(a.href);
  $("train-status").textContent = `delta: ${changed.toLocaleString()} of ${total.toLocaleString()} entries ` +
    `changed (${(100 * changed / total).toFixed(3)} %), ${bytes.byteLength.toLocaleString()} bytes`;
}

async function main(): Promise<void> {
  $("start").addEventListener("click", () => train(false));
  $("resume").addEventListener("click", () => train(true));
  $("stop").addEventListener("click", () => session?.stop());
  $("predict").addEventListener("click", predict);
  $("download").addEventListener("click", download);
  $("load-sample").addEventListener("click", loadSample);
  try {
    const requested = (new URLSearchParams(location.search).get("backend") ?? "webgpu") as WebBackend;
    const info = await initWebBackend(requested, new URL(WASM_DIR, location.href).href);
    state.backend = info;
    $("backend").textContent = `backend: ${info.backend}${info.adapter ? ` (adapter: ${info.adapter})` : ""}`;
    if (info.notice) {
      $("notice").textContent = info.notice;
      $("notice").hidden = false;
    }
    await loadSample();
    $("train-status").textContent = "loading the backbone…";
    backbone = loadBackboneBytes(await backboneBytes());
    $("train-status").textContent = `backbone ${backbone.id} loaded; press start`;
    state.ready = true;
  } catch (e) {
    showError("train-status", e);
  } finally {
    setButtons();
  }
}

main();
