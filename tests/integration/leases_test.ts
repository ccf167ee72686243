/**
 * Several monitors on one database (issue 16), against real databases: lease keepers of two instances split
 * the streamers evenly, one takes over what another stopped renewing, the database refuses a write under a
 * stale epoch (also from a replayed journal) and the refused keeper drops the streamer, and concurrent
 * batches never open two sessions for one streamer. PGlite runs the single-instance parts.
 */
import assert from "node:assert/strict";
import { type TestBackend, testBackends } from "../helpers/db.ts";
import { openStore, type Store } from "../../src/store/store.ts";
import type { Transition } from "../../src/domain/types.ts";
import { Registry } from "../../src/http/metrics.ts";
import { LeaseKeeper, type OwnershipChange } from "../../src/monitor/ownership.ts";
import { Journal } from "../../src/journal/journal.ts";
import { DatabaseWriter } from "../../src/journal/database_writer.ts";
import type { RefusedTransition } from "../../src/store/transitions.ts";
import { addTarget } from "../../src/store/notification_targets.ts";
import { insertTestDelivery, releaseStaleClaims } from "../../src/store/notifications.ts";
import { claimStreamers, heartbeat, markHandover } from "../../src/store/leases.ts";
import { withTimeout } from "../../src/lib/timeout.ts";

const T0 = Date.parse("2026-11-25T18:00:00.000Z");

function transition(slug: string, type: "online" | "offline", seconds: number): Transition {
  const at = new Date(T0 + seconds * 1000);
  return {
    dedupeKey: `${slug}:${type}:${seconds}`,
    slug,
    type,
    occurredAt: at,
    receivedAt: at,
    source: "pusher",
    livestreamId: type === "online" ? 1_000 + seconds : null,
    title: null,
    category: null,
    baseline: false,
    raw: null,
  };
}

interface Keeper {
  keeper: LeaseKeeper;
  metrics: Registry;
  changes: OwnershipChange[];
}

function keeperFor(store: Store, instance: string, ttlSeconds = 3, dataDir?: string): Keeper {
  const metrics = new Registry();
  const changes: OwnershipChange[] = [];
  const keeper = new LeaseKeeper({
    db: store.db,
    instance,
    ttlSeconds,
    metrics,
    onChange: (change) => changes.push(change),
    dataDir,
  });
  return { keeper, metrics, changes };
}

async function addStreamers(store: Store, count: number): Promise<void> {
  await store.addStreamers(
    Array.from({ length: count }, (_, i) => ({ slug: `s${i}`, broadcasterUserId: i + 1 })),
  );
}

async function withDatabase(
  backend: TestBackend,
  fn: (store: Store, other: () => Promise<Store>) => Promise<void>,
): Promise<void> {
  const database = await backend.open();
  const others: Store[] = [];
  try {
    await database.store.migrate();
    await fn(database.store, async () => {
      const other = await openStore(database.options);
      others.push(other);
      return other;
    });
  } finally {
    for (const other of others) await other.close();
    await database.cleanup();
  }
}

async function count(store: Store, sql: string, params: unknown[] = []): Promise<number> {
  const [row] = await store.db.query<{ n: number }>(sql, params);
  return Number(row.n);
}

for (const backend of testBackends()) {
  Deno.test(`leases on ${backend.name}`, async (t) => {
    await t.step("a lone monitor owns every streamer, new ones at its next round", async () => {
      await withDatabase(backend, async (store) => {
        await addStreamers(store, 50);
        const a = keeperFor(store, "a");
        await a.keeper.round();
        assert.equal(a.keeper.size, 50);
        assert.equal(a.keeper.leader, true);
        await store.addStreamers([{ slug: "late", broadcasterUserId: 999 }]);
        await a.keeper.round();
        assert.equal(a.keeper.size, 51);
        // One heartbeat plus one claim per round that had something to claim, never one per streamer.
        const queries = a.metrics.render().match(/kick_monitor_lease_queries_total (\d+)/);
        assert.equal(Number(queries?.[1]), 4);
        assert.equal(await count(store, "SELECT count(*) AS n FROM lease_log"), 51);
        const instances = await store.liveInstances(3);
        assert.deepEqual(instances.map((i) => [i.id, i.streamers]), [["a", 51]]);
        await a.keeper.stop();
        assert.deepEqual(await store.liveInstances(3), []);
        assert.equal(
          await count(store, "SELECT count(*) AS n FROM streamer_leases WHERE owner IS NOT NULL"),
          0,
        );
      });
    });

    await t.step("a heartbeat sends the leases again only when they changed", async () => {
      await withDatabase(backend, async (store) => {
        await addStreamers(store, 5);
        await claimStreamers(store.db, { instance: "a", ttlSeconds: 60, limit: 3 });
        const first = await heartbeat(store.db, { instance: "a", ttlSeconds: 60 });
        assert.equal(first.owned.length, 3);
        // Unchanged: the caller's own list comes back, not a new one.
        const same = await heartbeat(store.db, { instance: "a", ttlSeconds: 60, previous: first });
        assert.equal(same.digest, first.digest);
        assert.equal(same.owned, first.owned);
        // A claim, a hand-over mark: the list is read again, and says so.
        await claimStreamers(store.db, { instance: "a", ttlSeconds: 60, limit: 1 });
        const claimed = await heartbeat(store.db, {
          instance: "a",
          ttlSeconds: 60,
          previous: same,
        });
        assert.notEqual(claimed.digest, same.digest);
        assert.equal(claimed.owned.length, 4);
        await markHandover(store.db, { instance: "a", to: "b", count: 1 });
        const marked = await heartbeat(store.db, {
          instance: "a",
          ttlSeconds: 60,
          previous: claimed,
        });
        assert.notEqual(marked.digest, claimed.digest);
        assert.deepEqual(marked.owned.filter((l) => l.handoverTo === "b").length, 1);
        // A stale digest (another caller's list): the rows themselves.
        const fresh = await heartbeat(store.db, {
          instance: "a",
          ttlSeconds: 60,
          previous: { digest: "stale", owned: [] },
        });
        assert.deepEqual(
          fresh.owned.map((l) => [l.streamerId, l.epoch, l.handoverTo]).sort(),
          marked.owned.map((l) => [l.streamerId, l.epoch, l.handoverTo]).sort(),
        );
      });
    });

    await t.step(
      "a restart on the same data directory takes its dead predecessor's leases",
      async () => {
        await withDatabase(backend, async (store) => {
          await addStreamers(store, 5);
          const dataDir = await Deno.makeTempDir();
          const keeper = (instance: string) => keeperFor(store, instance, 60, dataDir).keeper;
          try {
            const killed = keeper("host-100");
            await killed.start();
            assert.equal(killed.size, 5);
            // SIGKILLed: no release; its leases would hold for a minute. The data directory's lock says it is
            // dead, so the next monitor on it takes them at once.
            const restarted = keeper("host-200");
            await restarted.start();
            assert.equal(restarted.size, 5);
            assert.deepEqual((await store.liveInstances(60)).map((i) => i.id), ["host-200"]);
            const [name, incarnation] = (await Deno.readTextFile(`${dataDir}/monitor-instance`))
              .split("\n");
            assert.equal(name, "host-200");
            assert.match(incarnation, /^\d+$/);
            // Killed too, and restarted under the same name (a fixed KICK_MONITOR_INSTANCE): its name was
            // renewed a moment ago, by the process this data directory names, so nothing is waited out.
            // (Its timer still renews here: waiting would end in "another monitor named" after 2 TTLs.)
            const again = keeper("host-200");
            await withTimeout(again.start(), 10_000, "a restart under the same name");
            assert.equal(again.size, 5);
            const [, next] = (await Deno.readTextFile(`${dataDir}/monitor-instance`)).split("\n");
            assert.notEqual(next, incarnation, "the new process has its own incarnation");
            await again.stop();
            await restarted.stop();
            await killed.stop(); // its timer still runs in this process
          } finally {
            await Deno.remove(dataDir, { recursive: true });
          }
        });
      },
    );

    await t.step(
      "a transition under the lease is recorded with its instance and epoch",
      async () => {
        await withDatabase(backend, async (store) => {
          await addStreamers(store, 1);
          const a = keeperFor(store, "a");
          await a.keeper.round();
          const [fenced] = a.keeper.fence([transition("s0", "online", 1)], () => 1);
          // The embedded database has one monitor (its data directory's lock): nothing to fence there.
          const stamped = backend.name === "postgres";
          assert.deepEqual(fenced.lease, stamped ? { instance: "a", epoch: 1 } : undefined);
          const result = await store.applyTransitions([fenced]);
          assert.equal(result.inserted, 1);
          assert.equal(result.refused, undefined);
          const [event] = await store.db.query<{ instance: string; epoch: number }>(
            "SELECT instance, epoch FROM status_events",
          );
          assert.deepEqual(
            { ...event },
            stamped ? { instance: "a", epoch: 1 } : { instance: null, epoch: null },
          );
          // Not owned: nothing to stamp, so nothing is handed on.
          assert.deepEqual(a.keeper.fence([transition("s9", "online", 1)], () => 99), []);
          await a.keeper.stop();
        });
      },
    );

    await t.step("a starting monitor returns only the claims no live monitor holds", async () => {
      await withDatabase(backend, async (store) => {
        const target = await addTarget(store.db, {
          name: "ops",
          kind: "discord",
          url: "https://discord.com/api/webhooks/1/ops-token-abcdef",
          streamerIds: null,
          events: ["online", "offline"],
          mention: null,
          templateOnline: null,
          templateOffline: null,
          quietHours: null,
          timezone: null,
          secret: null,
        });
        const live = keeperFor(store, "alive");
        await live.keeper.round();
        for (const workerId of ["alive", "killed", "starting"]) {
          await insertTestDelivery(store.db, target, {
            slug: "s0",
            streamerId: null,
            now: new Date(),
            workerId,
          });
        }
        // "starting" is the restarted monitor itself: its old claims are a dead process's.
        assert.equal(await releaseStaleClaims(store.db, { self: "starting", ttlSeconds: 3 }), 2);
        const claimed = await store.db.query<{ claimed_by: string }>(
          "SELECT claimed_by FROM notification_deliveries WHERE claimed_by IS NOT NULL",
        );
        assert.deepEqual(claimed.map((r) => r.claimed_by), ["alive"]);
        await live.keeper.stop();
      });
    });

    if (backend.name !== "postgres") return;

    await t.step(
      "two monitors split 1,000 streamers evenly, the newcomer by hand-over",
      async () => {
        await withDatabase(backend, async (store, other) => {
          await addStreamers(store, 1_000);
          const a = keeperFor(store, "a");
          const b = keeperFor(await other(), "b");
          await a.keeper.round();
          assert.equal(a.keeper.size, 1_000);
          // b joins: a offers half (b's first round), b claims it (its next); a sees it lost them.
          for (let i = 0; i < 3; i++) {
            await b.keeper.round();
            await a.keeper.round();
          }
          assert.equal(a.keeper.size, 500);
          assert.equal(b.keeper.size, 500);
          assert.match(
            b.metrics.render(),
            /kick_monitor_lease_handovers_total\{direction="taken"\} 500/,
          );
          assert.match(
            a.metrics.render(),
            /kick_monitor_lease_handovers_total\{direction="given"\} 500/,
          );
          assert.equal(
            await count(
              store,
              "SELECT count(*) AS n FROM streamer_leases WHERE handover_to IS NOT NULL",
            ),
            0,
          );
          // Only one of them is the leader.
          assert.equal([a, b].filter((k) => k.keeper.leader).length, 1);
          await a.keeper.stop();
          await b.keeper.stop();
        });
      },
    );

    await t.step(
      "the streamers of a monitor that stops renewing go to the other after the TTL",
      async () => {
        await withDatabase(backend, async (store, other) => {
          await addStreamers(store, 100);
          const a = keeperFor(store, "a");
          const b = keeperFor(await other(), "b");
          await a.keeper.round();
          for (let i = 0; i < 2; i++) {
            await b.keeper.round();
            await a.keeper.round();
          }
          assert.equal(a.keeper.size + b.keeper.size, 100);
          assert.equal(a.keeper.size, 50);
          // a stops renewing (killed): its leases and its instance row age past the TTL.
          await store.db.query(
            `UPDATE streamer_leases SET expires_at = now() - interval '1 second' WHERE owner = 'a'`,
          );
          await store.db.query(
            `UPDATE instances SET last_seen_at = now() - interval '1 minute' WHERE id = 'a'`,
          );
          await b.keeper.round();
          assert.equal(b.keeper.size, 100);
          const acquired = b.changes.flatMap((c) => c.acquired).length;
          assert.equal(acquired, 100);
          assert.equal(
            await count(
              store,
              "SELECT count(*) AS n FROM lease_log WHERE owner = 'b' AND epoch = 2",
            ),
            100,
          );
          // a comes back: its heartbeat finds it owns nothing, and it drops what it watched.
          await a.keeper.round();
          assert.equal(a.keeper.size, 0);
          assert.equal(a.changes.at(-1)?.lost.length, 50);
          await b.keeper.stop();
        });
      },
    );

    await t.step(
      "a stale epoch is refused and the refused monitor drops the streamer",
      async () => {
        await withDatabase(backend, async (store, other) => {
          await addStreamers(store, 1);
          const [{ id }] = await store.db.query<{ id: number }>("SELECT id FROM streamers");
          const a = keeperFor(store, "a");
          await a.keeper.round();
          const stale = a.keeper.fence([transition("s0", "online", 1)], () => id);
          // a is paused past its TTL; b takes the streamer over.
          await store.db.query(
            "UPDATE streamer_leases SET expires_at = now() - interval '1 second'",
          );
          await store.db.query("UPDATE instances SET last_seen_at = now() - interval '1 minute'");
          const bStore = await other();
          const b = keeperFor(bStore, "b");
          await b.keeper.round();
          assert.equal(b.keeper.epochOf(id), 2);
          // a comes back and writes what it decided before the pause.
          const result = await store.applyTransitions(stale);
          assert.equal(result.inserted, 0);
          assert.equal(result.refused?.length, 1);
          assert.deepEqual(result.refused![0].current, { owner: "b", epoch: 2 });
          assert.equal(await count(store, "SELECT count(*) AS n FROM status_events"), 0);
          assert.equal(await count(store, "SELECT count(*) AS n FROM stream_sessions"), 0);
          assert.deepEqual(a.keeper.refused(result.refused!), [id]);
          assert.equal(a.keeper.epochOf(id), undefined);
          assert.match(a.metrics.render(), /kick_monitor_stale_writes_refused_total 1/);
          // b's own write goes through.
          const fresh = b.keeper.fence([transition("s0", "online", 2)], () => id);
          assert.equal((await bStore.applyTransitions(fresh)).inserted, 1);
          await b.keeper.stop();
        });
      },
    );

    await t.step("a journal replayed under a stale epoch is refused, not retried", async () => {
      await withDatabase(backend, async (store, other) => {
        await addStreamers(store, 2);
        const a = keeperFor(store, "a");
        await a.keeper.round();
        const ids = new Map(
          (await store.listStreamers()).map((record) => [record.slug, record.id]),
        );
        const dir = await Deno.makeTempDir();
        try {
          const first = await Journal.open(dir);
          await first.journal.append(
            a.keeper.fence(
              [transition("s0", "online", 1), transition("s1", "online", 1)],
              (slug) => ids.get(slug),
            ),
          );
          first.journal.close();
          // a dies with s0 still its own; b takes s0 only (s1 stays a's, as if b were at its share).
          await store.db.query(
            `UPDATE streamer_leases SET owner = 'b', epoch = epoch + 1
              WHERE streamer_id = (SELECT id FROM streamers WHERE slug = 's0')`,
          );
          const { journal, recovery } = await Journal.open(dir);
          const refused: RefusedTransition[] = [];
          const writer = new DatabaseWriter({
            store: await other(),
            cursor: journal,
            onRefused: (r) => refused.push(...r),
          });
          writer.enqueue(recovery.pending);
          await writer.flush();
          journal.close();
          assert.deepEqual(refused.map((r) => r.transition.slug), ["s0"]);
          assert.equal(writer.backlog, 0);
          const events = await store.db.query<{ slug: string }>(
            "SELECT s.slug FROM status_events e JOIN streamers s ON s.id = e.streamer_id",
          );
          assert.deepEqual(events.map((e) => e.slug), ["s1"]);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
        await a.keeper.stop();
      });
    });

    await t.step(
      "two monitors under one name: the second waits out a dead one, refuses a live one",
      async () => {
        await withDatabase(backend, async (store, other) => {
          await addStreamers(store, 3);
          const first = keeperFor(store, "same");
          await first.keeper.start();
          const second = keeperFor(await other(), "same");
          await assert.rejects(second.keeper.start(), /Another monitor named "same" is running/);
          await second.keeper.stop(); // never started: frees nothing of the first one's
          // Its data directory names "same" too, but another process of that name: refused all the same.
          const dataDir = await Deno.makeTempDir();
          try {
            await Deno.writeTextFile(`${dataDir}/monitor-instance`, "same\n123\n");
            const third = keeperFor(await other(), "same", 3, dataDir).keeper;
            await assert.rejects(third.start(), /Another monitor named "same" is running/);
            await third.stop();
          } finally {
            await Deno.remove(dataDir, { recursive: true });
          }
          assert.deepEqual(
            (await store.liveInstances(3)).map((i) => [i.id, i.streamers]),
            [["same", 3]],
          );
          // Killed: its row stops being renewed; a monitor restarted under its name goes ahead.
          await first.keeper.stop();
          await store.db.query(
            "INSERT INTO instances (id, last_seen_at) VALUES ('same', now() - interval '1 minute')",
          );
          const restarted = keeperFor(store, "same");
          await restarted.keeper.start();
          assert.equal(restarted.keeper.size, 3);
          await restarted.keeper.stop();
        });
      },
    );

    await t.step("concurrent batches never open two sessions for one streamer", async () => {
      await withDatabase(backend, async (store, other) => {
        await addStreamers(store, 1);
        const second = await other();
        // Each round, two writers record a different online of the same streamer at once. Read before the
        // row lock, the first one's new session was invisible to the second, which opened another.
        for (let round = 0; round < 30; round++) {
          const results = await Promise.all([
            store.applyTransitions([transition("s0", "online", round * 10 + 1)]),
            second.applyTransitions([transition("s0", "online", round * 10 + 2)]),
          ]);
          assert.equal(results[0].inserted + results[1].inserted, 2);
          assert.equal(
            await count(store, "SELECT count(*) AS n FROM stream_sessions WHERE ended_at IS NULL"),
            1,
          );
        }
        // Each round's earlier online, when it landed second, is history only (no session of its own).
        const sessions = await count(store, "SELECT count(*) AS n FROM stream_sessions");
        assert.ok(sessions >= 30 && sessions <= 60, `${sessions} sessions`);
      });
    });
  });
}
