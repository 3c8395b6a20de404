// A small Chrome DevTools Protocol client: starts Debian's chromium-headless-shell on a page and
// evaluates expressions in it, with no npm dependency (Deno has WebSocket and fetch built in).

/** Where Debian's `chromium-headless-shell` package puts the browser. */
export const CHROMIUM = Deno.env.get("FISHDIP_CHROMIUM") ?? "/usr/bin/chromium-headless-shell";

/** Flags that give headless Chromium a WebGPU adapter without a GPU (SwiftShader). */
export const WEBGPU_FLAGS = [
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--use-webgpu-adapter=swiftshader",
];

/** Whether the browser is installed. */
export function haveChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

/** A browser with one page, driven over CDP. */
export class Browser {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly console: string[] = [];

  private constructor(private proc: Deno.ChildProcess, private ws: WebSocket, readonly dir: string) {
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data as string);
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
        else p?.resolve(msg.result);
      } else if (msg.method === "Runtime.consoleAPICalled") {
        const args = (msg.params.args as { value?: unknown; description?: string }[])
          .map((a) => a.value ?? a.description).join(" ");
        this.console.push(`${msg.params.type}: ${args}`);
      } else if (msg.method === "Runtime.exceptionThrown") {
        this.console.push(`exception: ${JSON.stringify(msg.params.exceptionDetails.exception?.description)}`);
      }
    };
  }

  /** Starts the browser on `url`; `flags` are added to the defaults (headless, no sandbox for root). */
  static async launch(url: string, flags: string[] = []): Promise<Browser> {
    const dir = await Deno.makeTempDir({ prefix: "fishdip-chromium-" });
    const proc = new Deno.Command(CHROMIUM, {
      args: [
        "--no-sandbox",
        "--remote-debugging-port=0",
        `--user-data-dir=${dir}`,
        "--window-size=1100,1500",
        ...flags,
        "about:blank",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Chromium prints its browser endpoint on stderr; the page's endpoint comes from /json/list.
    const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "", port = "";
    const deadline = Date.now() + 30_000;
    while (!port) {
      if (Date.now() > deadline) throw new Error(`chromium did not start:\n${text}`);
      const { value, done } = await reader.read();
      if (done) throw new Error(`chromium exited:\n${text}`);
      text += value;
      port = text.match(/DevTools listening on ws:\/\/[^:]+:(\d+)\//)?.[1] ?? "";
    }
    // Keep draining stderr so the browser never blocks on a full pipe.
    (async () => {
      while (!(await reader.read().catch(() => ({ done: true }))).done) { /* discard */ }
    })();
    let page: { type: string; webSocketDebuggerUrl: string } | undefined;
    while (!page) {
      const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      page = list.find((t: { type: string }) => t.type === "page");
      if (!page) await new Promise((r) => setTimeout(r, 100));
    }
    const ws = new WebSocket(page.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const b = new Browser(proc, ws, dir);
    // Console and exceptions are captured from the first line of the app on.
    await b.send("Runtime.enable");
    await b.send("Page.enable");
    await b.send("Page.navigate", { url });
    return b;
  }

  /** Sends one CDP command and waits for its result. */
  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /** Evaluates `expression` in the page (promises awaited) and returns its value as JSON. */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    }) as {
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) {
      throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    }
    return r.result.value as T;
  }

  /** Polls `expression` until it is truthy; throws after `timeoutMs` with `what` in the message. */
  async waitFor<T>(expression: string, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await this.evaluate<T>(expression);
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** A PNG of the whole page. */
  async screenshot(): Promise<Uint8Array> {
    const r = await this.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true }) as {
      data: string;
    };
    return Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0));
  }

  async close(): Promise<void> {
    try {
      await this.send("Browser.close");
    } catch { /* already closing */ }
    this.ws.close();
    try {
      this.proc.kill("SIGKILL");
    } catch { /* exited */ }
    await this.proc.status;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
