/**
 * The source and sink contracts (src/monitor/contracts.ts) from the outside: a toy source and a toy sink,
 * written here and nowhere under src/, plugged into the real daemon next to the registered ones, work end to
 * end through the real pipeline, journal and database writer — the toy sink's rows commit in the same
 * transaction as the events, and a second delivery of the same observation changes nothing.
 */
import assert from "node:assert/strict";
import { validateSettings } from "../../src/config.ts";
import type { Observation, Transition } from "../../src/domain/types.ts";
import type {
  CommittedEvent,
  Sink,
  SinkContext,
  SinkFactory,
  Source,
  SourceContext,
  SourceFactory,
} from "../../src/monitor/contracts.ts";
import { runDaemon } from "../../src/monitor/daemon.ts";
import type { Monitor } from "../../src/monitor/monitor.ts";
import { SOURCES } from "../../src/monitor/sources/mod.ts";
import { SINKS } from "../../src/sinks/mod.ts";
import { openConfiguredStore } from "../../src/resources.ts";
import { FakeWorld } from "../../src/sim/world.ts";
import { startFakeKick } from "../../src/sim/kick.ts";
import { startFakePusher } from "../../src/sim/pusher.ts";
import { freePort } from "../helpers/cli.ts";
import { simulatedKickEnv } from "../helpers/daemon_env.ts";
import { testDatabaseUrl } from "../helpers/db.ts";
import postgres from "postgres";

/** A toy push source: whatever the test hands it, it emits as evidence that this just happened. */
function toySource(inbox: { send?: (observation: Observation) => void }): SourceFactory {
  return {
    name: "toy",
    create(context: SourceContext): Source {
      let watching: string[] = [];
      return {
        name: "toy",
        start() {
          inbox.send = (observation) => void context.emit([observation]);
          return Promise.resolve();
        },
        stop() {
          inbox.send = undefined;
          return Promise.resolve();
        },
        streamersChanged(streamers) {
          watching = streamers.map((s) => s.slug);
        },
        health: () => ({ ok: true, working: true, detail: `watching ${watching.length}` }),
      };
    },
  };
}

/** A toy durable sink: one row per new event in its own table, written in the events' transaction. */
function toySink(seen: { committed: Transition[]; durable: CommittedEvent[] }): SinkFactory {
  return {
    name: "toy",
    create(context: SinkContext): Sink {
      return {
        name: "toy",
        async start() {
          await context.store.db.query(
            "CREATE TABLE IF NOT EXISTS toy_sink (event_id bigint PRIMARY KEY, slug text NOT NULL)",
          );
        },
        async inTransaction(tx, events) {
          seen.durable.push(...events);
          for (const event of events) {
            await tx.query("INSERT INTO toy_sink (event_id, slug) VALUES ($1, $2)", [
              event.eventId,
              event.transition.slug,
            ]);
          }
        },
        committed(transitions) {
          seen.committed.push(...transitions);
        },
      };
    },
  };
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A fresh database for one daemon: embedded in the data dir, or a new PostgreSQL database. */
async function freshDatabase(
  backend: "embedded" | "postgres",
): Promise<{ url: string; drop(): Promise<void> }> {
  if (backend === "embedded") return { url: "", drop: () => Promise.resolve() };
  const admin = testDatabaseUrl()!;
  const name = `kick_contracts_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const sql = postgres(admin, { onnotice: () => {} });
  await sql.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await sql.end();
    },
  };
}

const backends: ("embedded" | "postgres")[] = testDatabaseUrl() === undefined
  ? ["embedded"]
  : ["embedded", "postgres"];

for (const backend of backends) {
  Deno.test(`contracts: a toy source and a toy sink plugged into the real daemon work end to end (${backend})`, async () => {
    const world = new FakeWorld();
    world.addStreamer("alpha");
    const kick = await startFakeKick({
      world,
      clientId: "toy-client",
      clientSecret: "toy-secret-1",
    });
    const pusher = await startFakePusher({ world });
    const dataDir = await Deno.makeTempDir({ prefix: "kick-monitor-contracts-" });
    const database = await freshDatabase(backend);
    const env = simulatedKickEnv({
      kickUrl: kick.url,
      pusherUrl: pusher.url,
      clientId: "toy-client",
      clientSecret: "toy-secret-1",
      dataDir,
      httpPort: freePort(),
      databaseUrl: database.url,
    }, {
      // Heartbeats far apart, so the fencing step below meets the stale lease in the write, not in a renewal.
      KICK_MONITOR_LEASE_TTL: "600",
    });
    // An empty DATABASE_URL means "unset" to the CLI (the embedded database).
    const validated = validateSettings(
      Object.fromEntries(Object.entries(env).filter(([, value]) => value !== "")),
    );
    if (validated.config === null) throw new Error(validated.problems.join("; "));
    const config = validated.config;
    try {
      const setup = await openConfiguredStore(config);
      const alpha = world.get("alpha");
      await setup.store.addStreamers([{
        slug: "alpha",
        broadcasterUserId: alpha.broadcasterUserId,
      }]);
      await setup.close();

      const inbox: { send?: (observation: Observation) => void } = {};
      const seen = { committed: [] as Transition[], durable: [] as CommittedEvent[] };
      const stop = new AbortController();
      let monitor: Monitor | null = null;
      const daemon = runDaemon(config, {
        sources: [...SOURCES, toySource(inbox)],
        sinks: [...SINKS, toySink(seen)],
        signal: stop.signal,
        onStarted: (started) => monitor = started,
      });
      // The poll's first pass records alpha's baseline (offline); then the toy source says it went live.
      await waitFor("the baseline", () => seen.committed.some((t) => t.baseline));
      await waitFor("the toy source to start", () => inbox.send !== undefined);
      const now = new Date();
      const live: Observation = {
        slug: "alpha",
        status: "online",
        observedAt: now,
        receivedAt: now,
        source: "webhook",
        evidence: "push",
        livestreamId: 42,
        streamStartedAt: now,
        title: "toy stream",
        category: null,
        viewers: null,
        raw: { toy: true },
      };
      inbox.send!(live);
      inbox.send!(live); // a duplicate delivery: absorbed by the status machine
      await waitFor(
        "the toy's online to commit",
        () => seen.committed.some((t) => !t.baseline && t.source === "webhook"),
      );
      assert.deepEqual(monitor!.sourceNames, ["pusher", "poll", "toy"]);
      const health = await monitor!.health();
      assert.equal(health.toy, "watching 1");
      if (backend === "postgres") {
        // Fencing (issue 16): another monitor took alpha over while this one was paused; this one's next
        // transition is refused by the database, and it stops watching alpha and says so.
        const other = await openConfiguredStore(config);
        try {
          await other.store.db.query(
            `UPDATE streamer_leases
                SET owner = 'intruder', epoch = epoch + 1, expires_at = now() + interval '1 hour'`,
          );
        } finally {
          await other.close();
        }
        const at = new Date();
        inbox.send!({
          ...live,
          status: "offline",
          observedAt: at,
          receivedAt: at,
          livestreamId: null,
        });
        await waitFor("the refused monitor to drop alpha", () => monitor!.status().streamers === 0);
        assert.equal((await monitor!.health()).toy, "watching 0");
        assert.match(monitor!.metrics.render(), /kick_monitor_stale_writes_refused_total 1/);
      }
      stop.abort();
      await daemon;

      assert.equal(seen.durable.length, 1, "the durable part saw the one new event once");
      assert.equal(seen.durable[0].transition.title, "toy stream");
      const check = await openConfiguredStore(config);
      try {
        const rows = await check.store.db.query<{ event_id: number; slug: string }>(
          "SELECT event_id, slug FROM toy_sink",
        );
        const events = await check.store.listEvents({ slug: "alpha", limit: 10 });
        assert.deepEqual(events.map((e) => [e.type, e.source]), [["online", "webhook"]]);
        assert.deepEqual(rows.map((r) => [Number(r.event_id), r.slug]), [[events[0].id, "alpha"]]);
      } finally {
        await check.close();
      }
    } finally {
      await pusher.close();
      await kick.close();
      await Deno.remove(dataDir, { recursive: true });
      await database.drop();
    }
  });
}
