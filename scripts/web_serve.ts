// Serves the built web app (.cache/web/, from `deno task web:build`) on localhost, with the MIME
// types browsers insist on: application/wasm for tfjs's binaries (streaming compilation needs it)
// and text/javascript for the module bundle.
//
//   deno task web [--port 8017]
import { parseArgs } from "node:util";
import { WEB_DIST } from "./web_build.ts";

const MIME: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  jsonl: "text/plain; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  wasm: "application/wasm",
  safetensors: "application/octet-stream",
  model: "application/octet-stream",
  png: "image/png",
  svg: "image/svg+xml",
};

/** The response for a request path: a file under `root`, or 404 (never a path outside it). */
export async function serveFile(root: string, pathname: string): Promise<Response> {
  const rel = decodeURIComponent(pathname).replace(/^\/+/, "") || "index.html";
  if (rel.split("/").some((p) => p === ".." || p.startsWith("."))) {
    return new Response("not found\n", { status: 404 });
  }
  try {
    const file = await Deno.open(`${root}/${rel}`, { read: true });
    const ext = rel.split(".").at(-1) ?? "";
    return new Response(file.readable, {
      headers: { "content-type": MIME[ext] ?? "application/octet-stream", "cache-control": "no-cache" },
    });
  } catch {
    return new Response("not found\n", { status: 404 });
  }
}

/** Starts the server; `port` 0 picks a free one. */
export function serveWeb(
  opts: { port?: number; root?: string; quiet?: boolean } = {},
): Deno.HttpServer<Deno.NetAddr> {
  const root = opts.root ?? WEB_DIST;
  return Deno.serve(
    {
      hostname: "127.0.0.1",
      port: opts.port ?? 8017,
      onListen: ({ port }) => {
        if (!opts.quiet) console.log(`FISH-DIP web app: http://127.0.0.1:${port}/  (serving ${root})`);
      },
    },
    (req) => serveFile(root, new URL(req.url).pathname),
  );
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { port: { type: "string", default: "8017" } } });
  try {
    await Deno.stat(`${WEB_DIST}/index.html`);
  } catch {
    console.error(`error: ${WEB_DIST} has no build; run: deno task web:build`);
    Deno.exit(1);
  }
  serveWeb({ port: Number(values.port) });
}
