/**
 * The real daemon for benchmarks 4 and 8: `deno run -A main.ts service start` as a subprocess on a fresh
 * PostgreSQL database holding `streamers` streamers (with channel ids, every `liveEvery`th one live), against
 * the fake Kick and fake Pusher in this process. `stop()` ends the process and removes everything.
 */
import { openStore } from "../src/store/store.ts";
import { startFakeKick } from "../src/sim/kick.ts";
import { type FakePusher, startFakePusher } from "../src/sim/pusher.ts";
import { FakeWorld, type GoLiveOptions } from "../src/sim/world.ts";
import { createBenchDatabase, freePort } from "./lib.ts";

/** Options of {@link startBenchDaemon}. */
export interface BenchDaemonOptions {
  /** Names the database (`kick_bench_{name}_…`) and the slugs (`{name}_{i}`). */
  name: string;
  streamers: number;
  /** Every `liveEvery`th streamer is live from the start (default 10). */
  liveEvery?: number;
  /** What a live streamer's broadcast says (default: the fake's). */
  live?: (index: number) => GoLiveOptions;
  /** Deno flags before main.ts (e.g. --inspect). */
  denoArgs?: string[];
  /** Variables on top of the rig's. */
  env?: Record<string, string>;
}

/** A running daemon and its fakes. */
export interface BenchDaemon {
  world: FakeWorld;
  pusher: FakePusher;
  /** The slugs, in the order added. */
  slugs: string[];
  /** KICK_MONITOR_HTTP's port. */
  port: number;
  pid: number;
  /** performance.now() just before the spawn. */
  spawnedAt: number;
  stop(): Promise<void>;
}

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Seeds the database and the fakes, then spawns the daemon (it is not yet ready: wait on /healthz). */
export async function startBenchDaemon(options: BenchDaemonOptions): Promise<BenchDaemon> {
  const world = new FakeWorld();
  const rows = [];
  for (let i = 0; i < options.streamers; i++) {
    const streamer = world.addStreamer(`${options.name}_${i}`);
    rows.push({
      slug: streamer.slug,
      broadcasterUserId: streamer.broadcasterUserId,
      channelId: streamer.channelId,
      chatroomId: streamer.chatroomId,
    });
    if (i % (options.liveEvery ?? 10) === 0) world.goLive(streamer.slug, options.live?.(i));
  }
  const database = await createBenchDatabase(options.name);
  const kick = await startFakeKick({ world, clientId: "bench", clientSecret: "bench-secret" });
  const pusher = await startFakePusher({ world, receivedLimit: 1_000 });
  const dataDir = await Deno.makeTempDir({ prefix: `kick-bench-${options.name}-` });
  let child: Deno.ChildProcess | null = null;
  const stop = async () => {
    if (child !== null) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
    }
    await pusher.close();
    await kick.close();
    await database.drop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  try {
    const store = await openStore({ databaseUrl: database.url });
    try {
      await store.migrate();
      await store.addStreamers(rows);
    } finally {
      await store.close();
    }
    const port = freePort();
    const spawnedAt = performance.now();
    child = spawnBenchDaemon({
      databaseUrl: database.url,
      kickUrl: kick.url,
      pusherUrl: pusher.url,
      dataDir,
      port,
      denoArgs: options.denoArgs,
      env: options.env,
    });
    return {
      world,
      pusher,
      slugs: rows.map((r) => r.slug),
      port,
      pid: child.pid,
      spawnedAt,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Where {@link spawnBenchDaemon}'s daemon finds its database, the fakes and its own directory and port. */
export interface BenchDaemonProcess {
  databaseUrl: string;
  kickUrl: string;
  pusherUrl: string;
  dataDir: string;
  port: number;
  /** Deno flags before main.ts (e.g. --inspect). */
  denoArgs?: string[];
  /** Variables on top of these (e.g. KICK_MONITOR_INSTANCE). */
  env?: Record<string, string>;
}

/** Spawns `deno run -A main.ts service start` as the benchmarks run it (benchmarks 4, 8 and 9). */
export function spawnBenchDaemon(options: BenchDaemonProcess): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...(options.denoArgs ?? []), MAIN, "service", "start"],
    env: {
      DATABASE_URL: options.databaseUrl,
      KICK_CLIENT_ID: "bench",
      KICK_CLIENT_SECRET: "bench-secret",
      KICK_OAUTH_URL: options.kickUrl,
      KICK_API_URL: options.kickUrl,
      KICK_WEB_URL: options.kickUrl,
      KICK_PUSHER_URL: options.pusherUrl,
      KICK_MONITOR_DATA_DIR: options.dataDir,
      KICK_MONITOR_HTTP: `127.0.0.1:${options.port}`,
      // The start-up reconciliation is benchmark 5's subject; here it should just be done.
      KICK_API_RATE: "1000",
      // No periodic pass inside the measured windows.
      KICK_MONITOR_POLL_INTERVAL: "86400",
      LOG_LEVEL: "warn",
      ...options.env,
    },
    cwd: options.dataDir,
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}
