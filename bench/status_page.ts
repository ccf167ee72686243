/**
 * Benchmark 8, the status page (issue 14 item 6): the real daemon (a subprocess, `service start`) monitoring
 * 10,000 streamers on a fresh PostgreSQL database, against the fake Kick and fake Pusher in this process.
 *
 * - `GET /` and `GET /api/v1/streamers`: latency of sequential requests, paced, p50/p99 (target p99 ≤ 50 ms);
 * - 1,000 Server-Sent Events clients on `GET /api/v1/stream` (raw sockets, so the client side costs little):
 *   the time from a streamer going live on the fake Pusher until the last client has the transition
 *   (target ≤ 200 ms), and from the first client to the last (the fan-out alone);
 * - the daemon's CPU while idle with the page open (one SSE client connected) and its RSS with 1,000 clients.
 */
import { startBenchDaemon } from "./daemon_rig.ts";
import {
  cpuShareOver,
  delay,
  type Figure,
  processRssBytes,
  quantile,
  round,
  waitUntil,
} from "./lib.ts";

export interface StatusPageBenchOptions {
  streamers?: number;
  sseClients?: number;
  /** Requests per route for the latency figures. */
  requests?: number;
  idleSeconds?: number;
}

async function health(port: number): Promise<Record<string, unknown> | null> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/healthz`)).json();
  } catch {
    return null;
  }
}

/** Latencies of `count` sequential GETs of `path`, one every `paceMs` (the page's cache expires between). */
async function latencies(port: number, path: string, count: number, paceMs: number) {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}`);
    await response.arrayBuffer();
    const ms = performance.now() - started;
    times.push(ms);
    await delay(Math.max(0, paceMs - ms));
  }
  return times.sort((a, b) => a - b);
}

/** An SSE client on a raw socket: resolves `arrived` with the time it sees `marker`. */
async function sseClient(port: number, marker: string) {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  await connection.write(
    new TextEncoder().encode(
      `GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
    ),
  );
  let connected!: () => void;
  const ready = new Promise<void>((resolve) => connected = resolve);
  const arrived = (async () => {
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(16 * 1024);
    let text = "";
    while (true) {
      const n = await connection.read(buffer).catch(() => null);
      if (n === null) return NaN;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
      if (text.includes("kick-monitor transitions")) connected();
      if (text.includes(marker)) return performance.now();
      if (text.length > 64 * 1024) text = text.slice(-1024);
    }
  })();
  return { ready, arrived, close: () => connection.close() };
}

/** Runs benchmark 8 and returns its figures. */
export async function runStatusPage(options: StatusPageBenchOptions = {}): Promise<Figure[]> {
  const count = options.streamers ?? 10_000;
  const clients = options.sseClients ?? 1_000;
  const requests = options.requests ?? 200;
  const idleSeconds = options.idleSeconds ?? 10;
  const daemon = await startBenchDaemon({
    name: "page",
    streamers: count,
    live: (i) => ({ title: `<b>stream</b> ${i}` }),
    env: { KICK_MONITOR_OFFLINE_GRACE: "0" },
  });
  const sockets: { close(): void }[] = [];
  try {
    const { port, pid, world } = daemon;
    await waitUntil("every channel subscribed and the start-up pass written", async () => {
      const h = await health(port);
      return h !== null && Number(h.subscribed_channels) >= count * 2 && h.last_poll_at !== null &&
        h.journal_backlog === 0;
    }, { timeoutMs: 180_000, everyMs: 200 });
    await delay(3_000);

    // Idle with the page open: the page loaded once, its SSE client connected, nothing happening.
    await latencies(port, "/", 1, 0);
    const watcher = await sseClient(port, "never-seen-marker");
    sockets.push(watcher);
    await watcher.ready;
    await delay(5_000);
    const rssIdle = processRssBytes(pid);
    const cpuShare = await cpuShareOver(pid, idleSeconds);

    // Latency: warm up, then sequential requests paced at 20 ms (the snapshot re-reads every 30 s).
    await latencies(port, "/", 10, 0);
    await latencies(port, "/api/v1/streamers", 10, 0);
    const page = await latencies(port, "/", requests, 20);
    const api = await latencies(port, "/api/v1/streamers", requests, 20);

    const rssBeforeClients = processRssBytes(pid);
    // 1,000 SSE clients; one streamer goes live.
    const target = daemon.slugs[5]; // offline so far
    const marker = `"slug":"${target}"`;
    const listeners = [];
    for (let i = 0; i < clients; i++) {
      const client = await sseClient(port, marker);
      sockets.push(client);
      listeners.push(client);
    }
    await Promise.all(listeners.map((l) => l.ready));
    await delay(2_000);
    const rssWithClients = processRssBytes(pid);
    const wentLive = performance.now();
    world.goLive(target, { title: "fan-out" });
    const arrivals = await Promise.race([
      Promise.all(listeners.map((l) => l.arrived)),
      delay(30_000).then(() => null),
    ]);
    if (arrivals === null) throw new Error("the transition did not reach every SSE client in 30 s");
    const first = Math.min(...arrivals);
    const last = Math.max(...arrivals);

    const name = `8 status page (${count.toLocaleString("en")} streamers, PostgreSQL)`;
    const p99Page = quantile(page, 0.99);
    const p99Api = quantile(api, 0.99);
    return [
      {
        benchmark: name,
        figure: `GET / p99 (${requests} requests; p50 ${round(quantile(page, 0.5), 1)} ms)`,
        unit: "ms",
        ours: round(p99Page, 1),
        peer: null,
        ratio: null,
        target: "≤ 50 ms",
        pass: p99Page <= 50,
        note: `max ${round(page.at(-1)!, 1)} ms`,
      },
      {
        benchmark: name,
        figure: `GET /api/v1/streamers p99 (${requests} requests; p50 ${
          round(quantile(api, 0.5), 1)
        } ms)`,
        unit: "ms",
        ours: round(p99Api, 1),
        peer: null,
        ratio: null,
        target: "≤ 50 ms",
        pass: p99Api <= 50,
        note: `max ${round(api.at(-1)!, 1)} ms`,
      },
      {
        benchmark: name,
        figure: `go-live → last of ${clients.toLocaleString("en")} SSE clients`,
        unit: "ms",
        ours: round(last - wentLive, 1),
        peer: null,
        ratio: null,
        target: "≤ 200 ms",
        pass: last - wentLive <= 200,
        note: `first client after ${round(first - wentLive, 1)} ms; fan-out first → last ${
          round(last - first, 1)
        } ms`,
      },
      {
        benchmark: name,
        figure: `CPU when idle, page open (${idleSeconds} s window)`,
        unit: "% of a core",
        ours: round(cpuShare * 100, 2),
        peer: null,
        ratio: null,
        target: "≤ 1%",
        pass: cpuShare <= 0.01,
        note: "one SSE client connected",
      },
      {
        benchmark: name,
        figure: "RSS when idle, page open",
        unit: "MB",
        ours: round(rssIdle / 1024 / 1024, 1),
        peer: null,
        ratio: null,
        target: "≤ 200 MB",
        pass: rssIdle <= 200 * 1024 * 1024,
        note: "after settling, one page load and its SSE client",
      },
      {
        benchmark: name,
        figure: `RSS with ${clients.toLocaleString("en")} SSE clients`,
        unit: "MB",
        ours: round(rssWithClients / 1024 / 1024, 1),
        peer: null,
        ratio: null,
        target: "(reported)",
        pass: null,
        note: `${round(rssBeforeClients / 1024 / 1024, 1)} MB before them (after the latency runs)`,
      },
    ];
  } finally {
    for (const socket of sockets) {
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
    await daemon.stop();
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runStatusPage(), null, 2));
}
