/**
 * A rig for end-to-end tests of the real daemon against the simulated Kick: a fresh PostgreSQL database, the fake
 * Kick (with whatever habits the test switches on) and the fake Pusher, and the environment `main.ts` needs.
 */
import postgres from "postgres";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, type FakeKickHabits, startFakeKick } from "../../src/sim/kick.ts";
import { type FakePusher, startFakePusher } from "../../src/sim/pusher.ts";
import { openStore, type Store } from "../../src/store/store.ts";
import { freePort, runCli, spawnCli, waitFor } from "./cli.ts";
import { simulatedKickEnv } from "./daemon_env.ts";

export interface E2eRig {
  world: FakeWorld;
  kick: FakeKick;
  pusher: FakePusher;
  /** The test's own database, directly (not through the daemon). */
  store: Store;
  env: Record<string, string>;
  httpPort: number;
  /** `streamers list --json`, through the CLI. */
  listStreamers(): Promise<Record<string, unknown>[]>;
  /**
   * Starts `service start` and waits until Pusher has `channels` subscriptions and the start-up reconciliation
   * has recorded every streamer's first status (see `waitForBaselines`; `baselines: false` skips that, for a
   * test with a streamer that is never observed).
   */
  startService(
    channels: number,
    options?: { baselines?: boolean },
  ): Promise<ReturnType<typeof spawnCli>>;
  /** Stops the daemon (SIGTERM) and returns the tail of its log when it did not exit 0. */
  stopService(service: ReturnType<typeof spawnCli>): Promise<string | null>;
  cleanup(): Promise<void>;
}

export interface E2eRigOptions {
  /** `postgres://` URL of a server where the rig may create and drop a database. */
  databaseUrl: string;
  slugs: string[];
  habits?: FakeKickHabits;
  /** Variables on top of simulatedKickEnv's defaults (e.g. KICK_MONITOR_POLL_INTERVAL). */
  env?: Record<string, string>;
}

const SECRET = "e2e-inconsistent-secret-41c7";

/** Sets up the rig; call `cleanup()` in a `finally`. */
export async function startE2eRig(options: E2eRigOptions): Promise<E2eRig> {
  const database = `kick_e2e_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = postgres(options.databaseUrl, { onnotice: () => {}, max: 1 });
  await admin.unsafe(`CREATE DATABASE ${database}`);
  const direct = new URL(options.databaseUrl);
  direct.pathname = `/${database}`;
  const world = new FakeWorld();
  for (const slug of options.slugs) world.addStreamer(slug);
  const kick = await startFakeKick({
    world,
    clientId: "e2e-client",
    clientSecret: SECRET,
    habits: options.habits,
  });
  const pusher = await startFakePusher({ world });
  const dataDir = await Deno.makeTempDir({ prefix: "kick-monitor-e2e-" });
  const httpPort = freePort();
  const env = simulatedKickEnv({
    kickUrl: kick.url,
    pusherUrl: pusher.url,
    clientId: "e2e-client",
    clientSecret: SECRET,
    dataDir,
    httpPort,
    databaseUrl: direct.toString(),
  }, options.env ?? {});
  const store = await openStore({ databaseUrl: direct.toString() });
  return {
    world,
    kick,
    pusher,
    store,
    env,
    httpPort,
    async listStreamers() {
      const listed = await runCli(["streamers", "list", "--json"], env);
      if (listed.code !== 0) throw new Error(`streamers list failed: ${listed.stderr}`);
      return JSON.parse(listed.stdout);
    },
    async startService(channels, { baselines = true } = {}) {
      const service = await startServiceUntilSubscribed(env, httpPort, channels);
      if (baselines) await waitForBaselines(store);
      return service;
    },
    async stopService(service) {
      service.child.kill("SIGTERM");
      const result = await service.output();
      return result.code === 0 ? null : result.stderr.slice(-3000);
    },
    async cleanup() {
      await store.close();
      await pusher.close();
      await kick.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/**
 * Starts `service start` with `env` and waits (up to `timeoutMs`, 30 s by default) until its /healthz on
 * `httpPort` shows `channels` Pusher subscriptions; kills it and throws with its log's tail otherwise.
 */
export async function startServiceUntilSubscribed(
  env: Record<string, string>,
  httpPort: number,
  channels: number,
  timeoutMs = 30_000,
): Promise<ReturnType<typeof spawnCli>> {
  const service = spawnCli(["service", "start"], env);
  try {
    await waitFor(
      `the monitor to subscribe ${channels} channels`,
      async () => (await health(httpPort))?.subscribed_channels === channels,
      timeoutMs,
      100,
    );
  } catch (error) {
    service.child.kill("SIGKILL");
    const { stderr } = await service.output();
    throw new Error(`${error instanceof Error ? error.message : error}\n${stderr.slice(-3000)}`);
  }
  return service;
}

/**
 * Waits until no streamer's status is `unknown`: the start-up reconciliation's first answers are committed.
 * A test that goes live before then races that reconciliation, and an online it answers first is recorded
 * as a baseline (the state found, no event, no notification), which is what CI once caught.
 */
export async function waitForBaselines(store: Store, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    "the start-up reconciliation to record every streamer's first status",
    async () => {
      const rows = await store.db.query<{ unknown: number }>(
        "SELECT count(*)::int AS unknown FROM streamers WHERE status = 'unknown'",
      );
      return rows[0].unknown === 0;
    },
    timeoutMs,
    100,
  );
}

/** The daemon's /healthz report, or null while it does not answer. */
export async function health(port: number): Promise<Record<string, unknown> | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
      signal: AbortSignal.timeout(5_000),
    });
    return await response.json();
  } catch {
    return null;
  }
}
