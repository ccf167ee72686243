/**
 * Benchmark 2, event-to-commit latency through the whole pipeline: the real Monitor (Pusher source, status
 * machine, fsync'd journal, batched database writer) in this process, fed by the fake Pusher of
 * bench/latency_feeder.ts (another process, so the monitor's event loop carries only the monitor) at a steady
 * 1,000 transitions/s: FakeWorld flips 2,000 streamers online and offline, each change published as Kick does on
 * both `channel.{id}` and `channel_{id}` (2,000 frames/s). Latency runs from the moment the fake sends the frame
 * to the moment the monitor reports the transition's row committed (`onCommitted`), on the shared epoch clock
 * (`performance.timeOrigin + performance.now()`). Offline grace is 0.
 */
import { validateSettings } from "../src/config.ts";
import { createKickClients, openConfiguredStore } from "../src/resources.ts";
import { Monitor } from "../src/monitor/monitor.ts";
import { configureLogging } from "../src/lib/log.ts";
import type { Transition } from "../src/domain/types.ts";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createBenchDatabase, type Figure, quantile, round, waitUntil } from "./lib.ts";

export interface LatencyOptions {
  /** Seconds measured per backend (default 10; `--full`: 30). */
  seconds?: number;
  /** Transitions per second (default 1,000). */
  rate?: number;
  streamers?: number;
}

/** Reads one JSON line at a time from a child's stdout. */
class LineReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  async next<T>(): Promise<T> {
    while (!this.#buffer.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("The latency feeder ended early");
      this.#buffer += value;
    }
    const newline = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, newline);
    this.#buffer = this.#buffer.slice(newline + 1);
    return JSON.parse(line) as T;
  }
}

interface FeederHello {
  kickUrl: string;
  pusherUrl: string;
  streamers: [string, number, number, number][];
}

async function runBackend(backend: "postgres" | "pglite", options: LatencyOptions) {
  const seconds = options.seconds ?? 10;
  const rate = options.rate ?? 1_000;
  const count = options.streamers ?? 2_000;
  const warmupMs = 2_000;
  const feeder = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./latency_feeder.ts", import.meta.url).pathname,
      String(count),
      String(rate),
      String(warmupMs),
      String(seconds * 1_000),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const fromFeeder = new LineReader(feeder.stdout);
  const toFeeder = feeder.stdin.getWriter();
  const tell = (command: string) => toFeeder.write(new TextEncoder().encode(`${command}\n`));
  const dataDir = await Deno.makeTempDir({ prefix: "kick-bench-latency-" });
  const database = backend === "postgres" ? await createBenchDatabase("latency") : null;
  let monitor: Monitor | null = null;
  let opened: Awaited<ReturnType<typeof openConfiguredStore>> | null = null;
  let watcher: ReturnType<typeof setInterval> | undefined;
  try {
    const hello = await fromFeeder.next<FeederHello>();
    const settings = validateSettings({
      KICK_CLIENT_ID: "bench",
      KICK_CLIENT_SECRET: "bench-secret",
      KICK_OAUTH_URL: hello.kickUrl,
      KICK_API_URL: hello.kickUrl,
      KICK_WEB_URL: hello.kickUrl,
      KICK_PUSHER_URL: hello.pusherUrl,
      KICK_MONITOR_DATA_DIR: dataDir,
      KICK_MONITOR_OFFLINE_GRACE: "0",
      KICK_MONITOR_POLL_INTERVAL: "86400",
      KICK_MONITOR_HTTP: "off",
      KICK_API_RATE: "1000",
      LOG_LEVEL: "warn",
      ...(database ? { DATABASE_URL: database.url } : {}),
    });
    if (settings.config === null) throw new Error(settings.problems.join("; "));
    const config = settings.config;
    opened = await openConfiguredStore(config);
    await opened.store.addStreamers(
      hello.streamers.map(([slug, userId, channelId, chatroomId]) => ({
        slug,
        broadcasterUserId: userId,
        channelId,
        chatroomId,
      })),
    );
    const { api } = createKickClients(config);
    monitor = await Monitor.create({ config, store: opened.store, api });

    // Commit times per streamer and type, in order: each streamer alternates, so the n-th online commit of a
    // streamer belongs to its n-th go-live.
    const commits = new Map<string, number[]>();
    monitor.onCommitted((transitions: Transition[]) => {
      const now = performance.timeOrigin + performance.now();
      for (const t of transitions) {
        if (t.baseline || t.source !== "pusher") continue;
        const key = `${t.slug}:${t.type}`;
        const list = commits.get(key);
        if (list) list.push(now);
        else commits.set(key, [now]);
      }
    });
    await monitor.start();
    await waitUntil("every channel subscribed", () => {
      return monitor!.status().subscribed_channels >= count * 2;
    }, { timeoutMs: 60_000, everyMs: 50 });

    // The journal compacts (rewrites itself empty) once it passes 4 MB with nothing pending; watch for it, so the
    // figures can say how much of the tail it causes.
    const compactions: number[] = [];
    const journalPath = join(dataDir, "journal.jsonl");
    let journalBytes = 0;
    watcher = setInterval(() => {
      try {
        const size = Deno.statSync(journalPath).size;
        if (size < journalBytes) compactions.push(performance.timeOrigin + performance.now());
        journalBytes = size;
      } catch {
        // not there yet
      }
    }, 10);
    await tell("go");
    const { sends } = await fromFeeder.next<{ sends: [number, number, number, number][] }>();
    const expected = new Map<string, number>();
    for (const [index, online] of sends) {
      const key = `${hello.streamers[index][0]}:${online ? "online" : "offline"}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    await waitUntil("every sent transition committed", () => {
      for (const [key, n] of expected) if ((commits.get(key)?.length ?? 0) < n) return false;
      return true;
    }, { timeoutMs: 30_000, everyMs: 50 }).catch(() => {});
    clearInterval(watcher);

    const seen = new Map<string, number>();
    const samples: [number, number][] = [];
    let missing = 0;
    let inWindow = 0;
    for (const [index, online, sentAt, window] of sends) {
      const key = `${hello.streamers[index][0]}:${online ? "online" : "offline"}`;
      const n = seen.get(key) ?? 0;
      seen.set(key, n + 1);
      if (!window) continue;
      inWindow++;
      const committedAt = commits.get(key)?.[n];
      if (committedAt === undefined) missing++;
      else samples.push([sentAt, committedAt - sentAt]);
    }
    const nearCompaction = (at: number) => compactions.some((c) => Math.abs(at - c) <= 1_000);
    const sorted = samples.map(([, ms]) => ms).sort((a, b) => a - b);
    const quiet = samples.filter(([at]) => !nearCompaction(at)).map(([, ms]) => ms)
      .sort((a, b) => a - b);
    return {
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      max: sorted[sorted.length - 1],
      measured: sorted.length,
      sentInWindow: inWindow,
      missing,
      compactions: compactions.length,
      quietP99: quantile(quiet, 0.99),
      quietCount: quiet.length,
    };
  } finally {
    clearInterval(watcher);
    await monitor?.stop();
    await opened?.close();
    await tell("stop").catch(() => {});
    await toFeeder.close().catch(() => {});
    await feeder.status;
    await database?.drop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/** Runs benchmark 2 on PostgreSQL and PGlite and returns its figures. */
export async function runLatency(options: LatencyOptions = {}): Promise<Figure[]> {
  configureLogging({ level: "warn" });
  const seconds = options.seconds ?? 10;
  const rate = options.rate ?? 1_000;
  const figures: Figure[] = [];
  for (const backend of ["postgres", "pglite"] as const) {
    const r = await runBackend(backend, options);
    const target = backend === "postgres" ? 25 : 50;
    const name = `2 event-to-commit latency, ${backend === "postgres" ? "PostgreSQL" : "PGlite"} (${
      rate.toLocaleString("en")
    }/s for ${seconds} s)`;
    const note = `${r.measured} of ${r.sentInWindow} transitions of the window committed`;
    figures.push(
      {
        benchmark: name,
        figure: "p50",
        unit: "ms",
        ours: round(r.p50, 1),
        peer: null,
        ratio: null,
        target: "(reported)",
        pass: null,
        note,
      },
      {
        benchmark: name,
        figure: "p99",
        unit: "ms",
        ours: round(r.p99, 1),
        peer: null,
        ratio: null,
        target: `≤ ${target} ms`,
        pass: r.p99 <= target && r.missing === 0,
      },
      {
        benchmark: name,
        figure: "p99 away from journal compactions",
        unit: "ms",
        ours: round(r.quietP99, 1),
        peer: null,
        ratio: null,
        target: "(diagnostic)",
        pass: null,
        note:
          `${r.compactions} compaction(s) in the window; ${r.quietCount} transitions sent more than 1 s ` +
          "from one (src/journal/journal.ts; see README, Performance)",
      },
      {
        benchmark: name,
        figure: "max",
        unit: "ms",
        ours: round(r.max, 1),
        peer: null,
        ratio: null,
        target: "(reported)",
        pass: null,
      },
    );
  }
  return figures;
}

// `deno run -A bench/latency.ts [--seconds=N] [--out=FILE]`: bench/run.ts runs it so, in a process of its own.
if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { seconds: { type: "string" }, out: { type: "string" } },
  });
  const figures = await runLatency({
    seconds: values.seconds ? Number(values.seconds) : undefined,
  });
  const json = JSON.stringify(figures, null, 2);
  if (values.out) await Deno.writeTextFile(values.out, json);
  else console.log(json);
}
