/**
 * Headless Chromium driven over the DevTools protocol (CDP) with Deno's own WebSocket: no puppeteer, whose
 * Node internals are fragile under Deno's npm layer and which would download its own browser. The browser is
 * Debian's `chromium` (CHROMIUM_PATH overrides); {@link findChromium} returns null where none is installed so
 * the test can skip with a clear message. `close()` ends the process and removes its profile even after a
 * failure.
 */

/** What a page reported as an error: exceptions, console.error, and browser log errors (CSP violations…). */
export interface PageError {
  kind: string;
  text: string;
}

/** One tab. */
export interface CdpPage {
  /** Loads `url` and waits for its load event. */
  navigate(url: string): Promise<void>;
  /** Evaluates an expression in the page and returns its value (JSON-able). */
  evaluate<T>(expression: string): Promise<T>;
  /** A PNG of what the viewport shows. */
  screenshot(): Promise<Uint8Array>;
  /** Errors the page reported so far. */
  readonly errors: PageError[];
}

/** How a tab looks at the page. */
export interface PageOptions {
  width: number;
  height: number;
  mobile?: boolean;
  dark?: boolean;
}

/** A running browser. */
export interface Chromium {
  /** A new tab; `mobile` emulates a phone, `dark` a `prefers-color-scheme: dark` reader. */
  newPage(viewport?: PageOptions): Promise<CdpPage>;
  close(): Promise<void>;
}

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** The Chromium executable, or null when none is installed. */
export function findChromium(): string | null {
  const configured = Deno.env.get("CHROMIUM_PATH");
  for (const path of configured ? [configured] : CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  return null;
}

type Message = {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  sessionId?: string;
  result?: Record<string, unknown>;
  error?: { message: string };
};

/** Starts headless Chromium (`--no-sandbox`: CI runs as root) with a throwaway profile. */
export async function launchChromium(executable: string): Promise<Chromium> {
  const profile = await Deno.makeTempDir({ prefix: "kick-monitor-chromium-" });
  const child = new Deno.Command(executable, {
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-extensions",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--metrics-recording-only",
      `--user-data-dir=${profile}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let socket: WebSocket | null = null;
  const close = async () => {
    try {
      socket?.close();
    } catch {
      // already closed
    }
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  };
  try {
    const endpoint = await devToolsEndpoint(profile, child.status);
    socket = new WebSocket(endpoint);
    await new Promise<void>((resolve, reject) => {
      socket!.onopen = () => resolve();
      socket!.onerror = () => reject(new Error(`cannot reach Chromium's DevTools at ${endpoint}`));
    });
    const connection = new CdpConnection(socket);
    return {
      newPage: (viewport) => connection.newPage(viewport ?? { width: 1200, height: 900 }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Chromium writes its port and browser path to DevToolsActivePort once it listens. */
async function devToolsEndpoint(profile: string, exited: Promise<Deno.CommandStatus>) {
  let gone = false;
  exited.then(() => gone = true);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !gone) {
    try {
      const [port, path] = (await Deno.readTextFile(`${profile}/DevToolsActivePort`)).split("\n");
      if (port && path) return `ws://127.0.0.1:${port.trim()}${path.trim()}`;
    } catch {
      // not yet written
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(gone ? "Chromium exited at start" : "Chromium did not open DevTools in 30 s");
}

class CdpConnection {
  #socket: WebSocket;
  #nextId = 1;
  #pending = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  #listeners = new Set<(message: Message) => void>();

  constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as Message;
      if (message.id !== undefined) {
        const waiter = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(`CDP: ${message.error.message}`));
        else waiter?.resolve(message.result ?? {});
        return;
      }
      for (const listener of this.#listeners) listener(message);
    };
    socket.onclose = () => {
      for (const waiter of this.#pending.values()) {
        waiter.reject(new Error("CDP connection closed"));
      }
      this.#pending.clear();
    };
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string) {
    const id = this.#nextId++;
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(JSON.stringify({ id, method, params, sessionId }));
    });
  }

  /** The next event `method` of `sessionId`, within `timeoutMs`. */
  waitFor(method: string, sessionId: string, timeoutMs: number): Promise<Message> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new Error(`no ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (message: Message) => {
        if (message.method !== method || message.sessionId !== sessionId) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(message);
      };
      this.#listeners.add(listener);
    });
  }

  async newPage(viewport: PageOptions): Promise<CdpPage> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true }) as {
      sessionId: string;
    };
    const errors: PageError[] = [];
    this.#listeners.add((message) => {
      if (message.sessionId !== sessionId) return;
      const params = message.params ?? {};
      if (message.method === "Runtime.exceptionThrown") {
        const details = params.exceptionDetails as {
          text: string;
          exception?: { description?: string };
        };
        errors.push({ kind: "exception", text: details.exception?.description ?? details.text });
      } else if (message.method === "Runtime.consoleAPICalled" && params.type === "error") {
        const args = params.args as { value?: unknown; description?: string }[];
        errors.push({
          kind: "console.error",
          text: args.map((a) => a.description ?? String(a.value)).join(" "),
        });
      } else if (message.method === "Log.entryAdded") {
        const entry = params.entry as { level: string; text: string; url?: string };
        if (entry.level === "error") {
          errors.push({ kind: "log", text: `${entry.text} ${entry.url ?? ""}` });
        }
      } else if (message.method === "Page.javascriptDialogOpening") {
        errors.push({ kind: "dialog", text: String(params.message) });
        this.send("Page.handleJavaScriptDialog", { accept: false }, sessionId).catch(() => {});
      }
    });
    for (const domain of ["Page.enable", "Runtime.enable", "Log.enable"]) {
      await this.send(domain, {}, sessionId);
    }
    await this.send("Emulation.setDeviceMetricsOverride", {
      width: viewport.width,
      height: viewport.height,
      deviceScaleFactor: 1,
      mobile: viewport.mobile ?? false,
    }, sessionId);
    await this.send("Emulation.setEmulatedMedia", {
      features: [{ name: "prefers-color-scheme", value: viewport.dark ? "dark" : "light" }],
    }, sessionId);
    return {
      errors,
      navigate: async (url) => {
        const loaded = this.waitFor("Page.loadEventFired", sessionId, 30_000);
        const result = await this.send("Page.navigate", { url }, sessionId);
        if (typeof result.errorText === "string") {
          throw new Error(`navigating to ${url}: ${result.errorText}`);
        }
        await loaded;
      },
      evaluate: async <T>(expression: string) => {
        const result = await this.send("Runtime.evaluate", {
          expression,
          returnByValue: true,
          awaitPromise: true,
        }, sessionId) as { result: { value?: T }; exceptionDetails?: { text: string } };
        if (result.exceptionDetails) {
          throw new Error(`evaluating ${expression}: ${result.exceptionDetails.text}`);
        }
        return result.result.value as T;
      },
      screenshot: async () => {
        const { data } = await this.send("Page.captureScreenshot", {
          format: "png",
          captureBeyondViewport: false,
        }, sessionId) as { data: string };
        return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      },
    };
  }
}
