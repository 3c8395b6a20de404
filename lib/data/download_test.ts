import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { ignoreWithoutData } from "../../tests/support.ts";
import { dataDir } from "../config/paths.ts";
import { downloadFiles, DOWNLOADS, filesFor, type RemoteFile, sha256Hex, verifyDataDir } from "./download.ts";
import { bringYourOwnText, main, parseDownloadArgs } from "../../scripts/download_data.ts";

/** Serves `routes` (URL path -> bytes, or a file path to read) on 127.0.0.1, a free port; 404 otherwise. */
async function withServer(
  routes: (path: string) => Uint8Array | null,
  fn: (base: string, hits: string[]) => Promise<void>,
): Promise<void> {
  const hits: string[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req) => {
      const path = new URL(req.url).pathname;
      hits.push(path);
      const body = routes(path);
      return body === null
        ? new Response("not found", { status: 404 })
        : new Response(body as Uint8Array<ArrayBuffer>);
    },
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, hits);
  } finally {
    ac.abort();
    await server.finished;
  }
}

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("download: fetch, verify, skip a verified copy, reject a changed file, report a 404", async () => {
  const tmp = Deno.makeTempDirSync({ prefix: "fishdip-dl-" });
  try {
    const good = enc('{"hello": "world"}\n');
    const files: RemoteFile[] = [
      {
        path: "x/good.json",
        source: "spert",
        remote: "x/good.json",
        size: good.length,
        sha256: await sha256Hex(good),
      },
      {
        path: "x/changed.json",
        source: "fewrel",
        remote: "changed.json",
        size: good.length,
        sha256: await sha256Hex(good),
      },
      { path: "x/absent.json", source: "hf", remote: "absent.json" },
    ];
    const lines: string[] = [];
    const routes = (p: string) =>
      p === "/s/x/good.json" ? good : p === "/f/changed.json" ? enc('{"hello": "w0rld"}\n') : null;
    await withServer(routes, async (base, hits) => {
      const sources = { spert: `${base}/s`, fewrel: `${base}/f`, hf: `${base}/h` };
      const log = (l: string) => lines.push(l);
      const first = await downloadFiles(files, { dataDir: tmp, sources, log });
      assertEquals(first.map((r) => r.status), ["downloaded", "failed", "failed"]);
      assertStringIncludes(first[1].error!, "SHA-256");
      assertStringIncludes(first[2].error!, "HTTP 404");
      assertEquals(Deno.readFileSync(`${tmp}/x/good.json`), good);
      // Nothing is left behind for the failed files: no copy, no `.part`.
      assertEquals([...Deno.readDirSync(`${tmp}/x`)].map((e) => e.name), ["good.json"]);
      const second = await downloadFiles(files.slice(0, 1), { dataDir: tmp, sources, log });
      assertEquals(second.map((r) => r.status), ["present"]);
      assertEquals(hits, ["/s/x/good.json", "/f/changed.json", "/h/absent.json"]);
      // A corrupted local copy is replaced; --no-verify keeps what the server sends.
      Deno.writeTextFileSync(`${tmp}/x/good.json`, "truncated");
      assertEquals(
        (await downloadFiles(files.slice(0, 1), { dataDir: tmp, sources, log }))[0].status,
        "downloaded",
      );
      assertEquals(Deno.readFileSync(`${tmp}/x/good.json`), good);
      const kept = await downloadFiles(files.slice(1, 2), { dataDir: tmp, sources, log, verify: false });
      assertEquals(kept[0].status, "downloaded");
    });
    assertEquals(lines.some((l) => l.includes("replacing   x/good.json")), true);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("download: command line", () => {
  const a = parseDownloadArgs([
    "conll04",
    "--base-url",
    "http://m/x/",
    "--fewrel-url",
    "http://f",
    "--force",
  ]);
  if (a === "help") throw new Error("unexpected help");
  assertEquals(a.names, ["conll04"]);
  assertEquals(a.sources, { spert: "http://m/x/spert", fewrel: "http://f", hf: "http://m/x/hf" });
  assertEquals(a.force, true);
  const d = parseDownloadArgs([]);
  if (d === "help") throw new Error("unexpected help");
  assertEquals(d.names, ["conll04", "ade", "fewrel", "t5"]);
  const all = parseDownloadArgs(["all"]);
  if (all === "help") throw new Error("unexpected help");
  assertEquals(all.names, Object.keys(DOWNLOADS));
  for (const name of ["ontonotes", "ace2005_joint_er", "conll05_srl", "multi_woz", "conll03"]) {
    assertStringIncludes(bringYourOwnText(), name);
  }
});

Deno.test({
  name:
    "download real: `main` fetches conll04, fewrel and t5 from a local mirror of the shared copies and verifies them",
  ignore: ignoreWithoutData("conll04/conll04_train.json") || ignoreWithoutData("t5/spiece.model") ||
    ignoreWithoutData("fewrel/val_wiki.json"),
  async fn() {
    const shared = dataDir();
    const tmp = Deno.makeTempDirSync({ prefix: "fishdip-dl-" });
    const routes = (p: string) => {
      const m = /^\/mirror\/(spert|fewrel|hf)\/(.+)$/.exec(p);
      if (!m) return null;
      const local = m[1] === "hf" ? `t5/${m[2]}` : m[1] === "fewrel" ? `fewrel/${m[2]}` : m[2];
      try {
        return Deno.readFileSync(`${shared}/${local}`);
      } catch {
        return null;
      }
    };
    try {
      await withServer(routes, async (base) => {
        const lines: string[] = [];
        const status = await main(
          ["conll04", "fewrel", "t5", "--data", tmp, "--base-url", `${base}/mirror`],
          (l) => lines.push(l),
        );
        assertEquals(status, 0, lines.join("\n"));
        assertStringIncludes(lines.join("\n"), "10 downloaded, 0 already present, 0 failed");
        assertStringIncludes(lines.join("\n"), "bring your own copy");
        const again = await main(
          ["conll04", "--data", tmp, "--base-url", `${base}/mirror`],
          (l) => lines.push(l),
        );
        assertEquals(again, 0);
        const missing = await main(
          ["fewrel_train", "--data", tmp, "--base-url", `${base}/mirror`],
          (l) => lines.push(l),
        );
        assertEquals(missing, 1);
      });
      const checked = await verifyDataDir(tmp, ["conll04", "fewrel", "t5"]);
      assertEquals(checked.every((r) => r.status === "ok"), true);
    } finally {
      Deno.removeSync(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "download real: the pinned hashes match every file of the shared data directory",
  ignore: ignoreWithoutData("ade/ade_full.json") || ignoreWithoutData("conll03/train.txt"),
  async fn() {
    const results = await verifyDataDir(dataDir());
    const bad = results.filter((r) => r.status !== "ok" && r.path !== "fewrel/train_wiki.json");
    assertEquals(bad, []);
    assertEquals(results.length, 4 + 22 + 5 + 1 + 1 + 3);
  },
});

Deno.test("download: a stalled server is given up after the idle timeout", async () => {
  const tmp = Deno.makeTempDirSync({ prefix: "fishdip-dl-" });
  const ac = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} }, () => {
    // Headers at once, then no bytes; the stream closes by itself later so the server can stop.
    const body = new ReadableStream({
      start(c) {
        setTimeout(() => {
          try {
            c.close();
          } catch {
            // already closed by the client going away
          }
        }, 1500);
      },
    });
    return new Response(body);
  });
  try {
    const file: RemoteFile = { path: "s/slow.json", source: "spert", remote: "slow.json", size: 3 };
    const started = Date.now();
    const [r] = await downloadFiles([file], {
      dataDir: tmp,
      sources: { spert: `http://127.0.0.1:${server.addr.port}` },
      idleTimeoutMs: 200,
      log: () => {},
    });
    assertEquals(r.status, "failed");
    assertStringIncludes(r.error!, "no data from http://127.0.0.1");
    assertEquals(Date.now() - started < 1400, true);
    await new Promise((resolve) => setTimeout(resolve, 1600));
  } finally {
    ac.abort();
    await server.finished;
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("download: a prototype key is an unknown dataset, not Object.prototype's member", () => {
  for (const name of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
    assertThrows(() => filesFor([name]), Error, "unknown dataset");
  }
  assertEquals(filesFor(["conll04"]), DOWNLOADS.conll04);
  assertThrows(() => filesFor(["ontonotes"]), Error, "cannot be downloaded");
});
