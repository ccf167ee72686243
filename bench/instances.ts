/**
 * Benchmark 9, several monitors: 100,000 streamers (200,000 Pusher channels) shared by 4 monitors
 * (`deno run -A main.ts service start` subprocesses with distinct KICK_MONITOR_INSTANCE) on one fresh PostgreSQL
 * database, against the simulated Kick and Pusher in this process. Measures:
 * - the time from spawning the monitors until every streamer is owned (a live lease in `streamer_leases`) and
 *   every channel has a subscriber in the simulated Pusher;
 * - each monitor's RSS (/proc/<pid>/status) 5 s later;
 * - lease upkeep at steady state: the sum over the monitors of kick_monitor_lease_queries_total over a window,
 *   per second (target < 50/s in all, whatever the number of streamers);
 * - the time to rebalance after one monitor is killed with SIGKILL: until the survivors hold every lease
 *   (target ≤ TTL + 5 s), and until every channel is subscribed again.
 * Needs leases (sql/005_leases.sql); without them it fails at once saying so.
 */
import postgres from "postgres";
import { openStore } from "../src/store/store.ts";
import { startFakeKick } from "../src/sim/kick.ts";
import { startFakePusher } from "../src/sim/pusher.ts";
import { FakeWorld } from "../src/sim/world.ts";
import {
  createBenchDatabase,
  delay,
  type Figure,
  freePort,
  processRssBytes,
  round,
  waitUntil,
} from "./lib.ts";
import { health } from "./scale.ts";
import { spawnBenchDaemon } from "./daemon_rig.ts";

export interface InstancesOptions {
  /** Streamers shared by the monitors (default 100,000; BENCH_INSTANCES_STREAMERS overrides). */
  streamers?: number;
  /** Monitors (default 4). */
  monitors?: number;
  /** KICK_MONITOR_LEASE_TTL (default 15 s, the default of the setting). */
  ttlSeconds?: number;
  /** Seconds of the steady-state window for lease queries (default 20). */
  steadySeconds?: number;
}

const NEEDS_LEASES =
  "benchmark 9 needs leases (sql/005_leases.sql), which this build does not have";
/** How long the whole start may take before the benchmark gives up. */
const START_TIMEOUT_MS = 600_000;

interface Monitor {
  name: string;
  port: number;
  child: Deno.ChildProcess;
}

/** A progress line on stderr, so a run cut short still shows what it measured. */
function progress(line: string): void {
  console.error(`[bench 9 ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

/** The sum of a counter's samples (all label sets) in a /metrics text; null when absent or unreachable. */
async function counter(port: number, name: string): Promise<number | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
      signal: AbortSignal.timeout(5_000),
    });
    const text = await response.text();
    let total: number | null = null;
    for (const line of text.split("\n")) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      if (rest[0] !== " " && rest[0] !== "{") continue;
      total = (total ?? 0) + Number(rest.slice(rest.lastIndexOf(" ") + 1));
    }
    return total;
  } catch {
    return null;
  }
}

/** Runs benchmark 9 and returns its figures. */
export async function runInstances(options: InstancesOptions = {}): Promise<Figure[]> {
  const migration = new URL("../sql/005_leases.sql", import.meta.url);
  if (!(await Deno.stat(migration).then(() => true, () => false))) throw new Error(NEEDS_LEASES);
  const count = options.streamers ??
    Number(Deno.env.get("BENCH_INSTANCES_STREAMERS") ?? 100_000);
  const monitorCount = options.monitors ?? 4;
  const ttlSeconds = options.ttlSeconds ?? 15;
  const steadySeconds = options.steadySeconds ?? 20;
  const world = new FakeWorld();
  const rows = [];
  for (let i = 0; i < count; i++) {
    const streamer = world.addStreamer(`many_${i}`);
    rows.push({
      slug: streamer.slug,
      broadcasterUserId: streamer.broadcasterUserId,
      channelId: streamer.channelId,
      chatroomId: streamer.chatroomId,
    });
    if (i % 10 === 0) world.goLive(streamer.slug);
  }
  const channels = [...world.streamers.values()].flatMap((s) => [
    `channel.${s.channelId}`,
    `channel_${s.channelId}`,
  ]);
  const database = await createBenchDatabase("instances");
  const kick = await startFakeKick({ world, clientId: "bench", clientSecret: "bench-secret" });
  const pusher = await startFakePusher({ world, receivedLimit: 1_000 });
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  const dataRoot = await Deno.makeTempDir({ prefix: "kick-bench-instances-" });
  const monitors: Monitor[] = [];
  try {
    const store = await openStore({ databaseUrl: database.url });
    try {
      await store.migrate();
      await store.addStreamers(rows);
    } finally {
      await store.close();
    }
    /** Streamers whose live lease is held by one of `owners` (any owner when null). */
    const owned = async (owners: string[] | null): Promise<number> => {
      const [row] = owners === null
        ? await sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM streamer_leases WHERE owner IS NOT NULL AND expires_at > now()`
        : await sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM streamer_leases
           WHERE owner = ANY(${owners}::text[]) AND expires_at > now()`;
      return row.n;
    };
    const allSubscribed = () => channels.every((channel) => pusher.subscribers(channel) > 0);

    const started = performance.now();
    for (let i = 1; i <= monitorCount; i++) {
      const name = `bench-m${i}`;
      const port = freePort();
      const dataDir = `${dataRoot}/${name}`;
      await Deno.mkdir(dataDir);
      // No periodic pass inside the windows: lease upkeep is what is measured.
      const child = spawnBenchDaemon({
        databaseUrl: database.url,
        kickUrl: kick.url,
        pusherUrl: pusher.url,
        dataDir,
        port,
        env: { KICK_MONITOR_INSTANCE: name, KICK_MONITOR_LEASE_TTL: String(ttlSeconds) },
      });
      monitors.push({ name, port, child });
    }
    await waitUntil("every streamer owned and every channel subscribed", async () => {
      return (await owned(null)) === count && allSubscribed();
    }, { timeoutMs: START_TIMEOUT_MS, everyMs: 500 });
    const startSeconds = (performance.now() - started) / 1000;
    progress(`every streamer owned and subscribed after ${round(startSeconds, 2)} s`);
    const perMonitor = await Promise.all(monitors.map(async (m) => {
      const [row] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM streamer_leases WHERE owner = ${m.name} AND expires_at > now()`;
      return row.n;
    }));

    // Settle: let timers, GC and the connection pools quiet down.
    await delay(5_000);
    const rss = monitors.map((m) => processRssBytes(m.child.pid));
    progress(`RSS ${rss.map((b) => round(b / 1024 / 1024, 1)).join(" / ")} MB`);

    // Lease upkeep at steady state, from the monitors' own count of lease statements.
    const queriesBefore = await Promise.all(
      monitors.map((m) => counter(m.port, "kick_monitor_lease_queries_total")),
    );
    const windowStart = performance.now();
    await delay(steadySeconds * 1000);
    const queriesAfter = await Promise.all(
      monitors.map((m) => counter(m.port, "kick_monitor_lease_queries_total")),
    );
    const windowSeconds = (performance.now() - windowStart) / 1000;
    const counted = queriesBefore.every((q) => q !== null) && queriesAfter.every((q) => q !== null);
    const queriesPerSecond = counted
      ? queriesAfter.reduce((sum: number, q, i) => sum + q! - queriesBefore[i]!, 0) / windowSeconds
      : NaN;
    progress(`lease queries ${round(queriesPerSecond, 1)}/s over ${round(windowSeconds, 1)} s`);

    // Rebalance: kill one; the survivors must hold every lease.
    const victim = monitors[monitors.length - 1];
    const survivors = monitors.slice(0, -1).map((m) => m.name);
    const killedAt = performance.now();
    victim.child.kill("SIGKILL");
    await victim.child.status;
    monitors.pop();
    await waitUntil("the survivors own every streamer", async () => {
      return (await owned(survivors)) === count;
    }, { timeoutMs: 120_000 + ttlSeconds * 1000, everyMs: 250 });
    const rebalanceSeconds = (performance.now() - killedAt) / 1000;
    progress(`the survivors own every streamer ${round(rebalanceSeconds, 2)} s after the kill`);
    // Reported, not required: the lease figure is the target; a slow resubscription is a note.
    const resubscribed = await waitUntil("every channel subscribed again", () => allSubscribed(), {
      timeoutMs: 120_000,
      everyMs: 250,
    }).then(() => true, () => false);
    const resubscribedSeconds = (performance.now() - killedAt) / 1000;
    const subscribedBy = await Promise.all(monitors.map((m) => health(m.port)));

    const name = `9 instances (${
      count.toLocaleString("en")
    } streamers, ${monitorCount} monitors, one PostgreSQL)`;
    const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);
    const maxRss = Math.max(...rss);
    return [
      {
        benchmark: name,
        figure: "time until every streamer is owned and subscribed (spawn → leases + fake Pusher)",
        unit: "s",
        ours: round(startSeconds, 2),
        peer: null,
        ratio: null,
        target: "(reported)",
        pass: null,
        note: `owned per monitor ${perMonitor.join(" / ")}; ${pusher.connections()} sockets`,
      },
      {
        benchmark: name,
        figure: "RSS per monitor (largest)",
        unit: "MB",
        ours: mb(maxRss),
        peer: null,
        ratio: null,
        target: "(reported)",
        pass: null,
        note: `each: ${rss.map(mb).join(" / ")} MB`,
      },
      {
        benchmark: name,
        figure: `lease queries at steady state, all monitors (${steadySeconds} s window)`,
        unit: "queries/s",
        ours: round(queriesPerSecond, 1),
        peer: null,
        ratio: null,
        target: "< 50/s",
        pass: counted && queriesPerSecond < 50,
        note: counted ? undefined : "a monitor did not expose kick_monitor_lease_queries_total",
      },
      {
        benchmark: name,
        figure: "rebalance after SIGKILL of one (until the survivors own all)",
        unit: "s",
        ours: round(rebalanceSeconds, 2),
        peer: null,
        ratio: null,
        target: `≤ TTL + 5 s (${ttlSeconds + 5} s)`,
        pass: rebalanceSeconds <= ttlSeconds + 5,
        note: (resubscribed
          ? `every channel subscribed again after ${round(resubscribedSeconds, 2)} s; `
          : `channels still unsubscribed ${round(resubscribedSeconds, 0)} s after the kill; `) +
          `survivors report ${
            subscribedBy.map((h) =>
              h?.subscribed_channels ?? "?"
            ).join(" / ")
          } channels`,
      },
    ];
  } finally {
    for (const monitor of monitors) {
      try {
        monitor.child.kill("SIGTERM");
      } catch {
        // already gone
      }
    }
    await Promise.all(monitors.map((m) => m.child.status));
    await sql.end({ timeout: 1 });
    await pusher.close();
    await kick.close();
    await database.drop();
    await Deno.remove(dataRoot, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await runInstances(), null, 2));
}
