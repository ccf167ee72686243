/**
 * Benchmark 4, scale: the real daemon (`deno run -A main.ts service start`, a subprocess) monitoring 10,000
 * streamers (20,000 Pusher channels: `channel.{id}` and `channel_{id}`) on a fresh PostgreSQL database, against
 * the fake Kick and fake Pusher in this process. Measures the time from spawning the process until /healthz
 * reports every channel subscribed, the RSS once the start-up reconciliation is written and the process has
 * settled, and its CPU use while idle (/proc/<pid>/stat over a quiet window, nobody polling it).
 */
import { startBenchDaemon } from "./daemon_rig.ts";
import { cpuShareOver, delay, type Figure, processRssBytes, round, waitUntil } from "./lib.ts";

export interface ScaleOptions {
  streamers?: number;
  /** Seconds of the idle CPU window (default 10). */
  idleSeconds?: number;
}

/** The parts of a daemon's /healthz the benchmarks read. */
export interface Health {
  subscribed_channels: number;
  sockets_connected: number;
  last_poll_at: string | null;
  journal_backlog: number;
}

/** A daemon's /healthz on 127.0.0.1:`port`, or null while it does not answer. */
export async function health(port: number): Promise<Health | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    return await response.json() as Health;
  } catch {
    return null;
  }
}

/** Runs benchmark 4 and returns its figures. */
export async function runScale(options: ScaleOptions = {}): Promise<Figure[]> {
  const count = options.streamers ?? 10_000;
  const idleSeconds = options.idleSeconds ?? 10;
  const daemon = await startBenchDaemon({
    name: "scale",
    streamers: count,
    denoArgs: Deno.env.get("BENCH_INSPECT")
      ? [`--inspect=127.0.0.1:${Deno.env.get("BENCH_INSPECT")}`]
      : [],
    env: Deno.env.get("BENCH_CHANNELS_PER_SOCKET")
      ? { KICK_MONITOR_CHANNELS_PER_SOCKET: Deno.env.get("BENCH_CHANNELS_PER_SOCKET")! }
      : {},
  });
  try {
    const { port, pid, pusher } = daemon;
    const channels = count * 2;
    const started = daemon.spawnedAt;
    let last: Health | null = null;
    await waitUntil("every channel subscribed", async () => {
      last = await health(port);
      return last !== null && last.subscribed_channels >= channels;
    }, { timeoutMs: 120_000, everyMs: 100 });
    const subscribeSeconds = (performance.now() - started) / 1000;
    await waitUntil("the start-up reconciliation to be committed", async () => {
      last = await health(port);
      return last !== null && last.last_poll_at !== null && last.journal_backlog === 0;
    }, { timeoutMs: 120_000, everyMs: 250 });
    // Settle: let timers, GC and the connection pool quiet down.
    await delay(5_000);
    if (Deno.env.get("BENCH_INSPECT")) await profileIdle(Number(Deno.env.get("BENCH_INSPECT")));
    const rss = processRssBytes(pid);
    const cpuShare = await cpuShareOver(pid, idleSeconds);
    const rssAfter = processRssBytes(pid);
    const name = `4 scale (${count.toLocaleString("en")} streamers, ${
      channels.toLocaleString("en")
    } channels, one daemon)`;
    return [
      {
        benchmark: name,
        figure: "time to subscribe all (process spawn → /healthz)",
        unit: "s",
        ours: round(subscribeSeconds, 2),
        peer: null,
        ratio: null,
        target: "≤ 10 s",
        pass: subscribeSeconds <= 10,
        note: `${pusher.connections()} sockets`,
      },
      {
        benchmark: name,
        figure: "RSS after settling",
        unit: "MB",
        ours: round(rss / 1024 / 1024, 1),
        peer: null,
        ratio: null,
        target: "≤ 200 MB",
        pass: rss <= 200 * 1024 * 1024,
        note: `${round(rssAfter / 1024 / 1024, 1)} MB after the idle window`,
      },
      {
        benchmark: name,
        figure: `CPU when idle (${idleSeconds} s window)`,
        unit: "% of a core",
        ours: round(cpuShare * 100, 2),
        peer: null,
        ratio: null,
        target: "≤ 1%",
        pass: cpuShare <= 0.01,
        note: "/proc/<pid>/stat has 10 ms resolution",
      },
    ];
  } finally {
    await daemon.stop();
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runScale(), null, 2));
}

/** Diagnostics (BENCH_INSPECT=port): a 10 s CPU profile of the idle daemon, self time by function, to stderr. */
async function profileIdle(port: number): Promise<void> {
  const [target] = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve) => ws.onopen = resolve);
  let id = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.id !== undefined) pending.get(data.id)?.(data.result);
  };
  const call = (method: string, params: unknown = {}) =>
    new Promise<unknown>((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  console.error("heap before GC", JSON.stringify(await call("Runtime.getHeapUsage")));
  await call("HeapProfiler.collectGarbage");
  console.error("heap after GC", JSON.stringify(await call("Runtime.getHeapUsage")));
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 200 });
  await call("Profiler.start");
  await delay(10_000);
  const { profile } = await call("Profiler.stop") as {
    profile: {
      nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
      samples: number[];
      timeDeltas: number[];
    };
  };
  ws.close();
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  profile.samples.forEach((nodeId, i) => {
    const frame = byNode.get(nodeId)!.callFrame;
    const key = `${frame.functionName || "(anonymous)"} ${
      frame.url.split("/").slice(-2).join("/")
    }:${frame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const top = [...self].filter(([key]) => !key.startsWith("(idle)")).sort((a, b) => b[1] - a[1])
    .slice(0, 25);
  for (const [key, us] of top) console.error(`${(us / 1000).toFixed(1).padStart(8)} ms  ${key}`);
}
