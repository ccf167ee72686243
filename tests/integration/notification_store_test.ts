/**
 * src/store/notification_targets.ts and notifications.ts on both backends: target CRUD, createDeliveries' rules and idempotence, the
 * claim's lease and SKIP LOCKED, and the log.
 */
import assert from "node:assert/strict";
import { type TestBackend, testBackends } from "../helpers/db.ts";
import { openStore, type Store } from "../../src/store/store.ts";
import type { Transition } from "../../src/domain/types.ts";
import {
  claimDue,
  createDeliveries,
  markDelivered,
  markFailed,
  markRetry,
} from "../../src/store/notifications.ts";
import { listDeliveries } from "../../src/store/delivery_log.ts";
import {
  addTarget,
  getTarget,
  listTargets,
  type NewTarget,
  removeTarget,
} from "../../src/store/notification_targets.ts";
import type { CommittedEvent } from "../../src/notify/types.ts";
import { UserFacingError } from "../../src/lib/errors.ts";

const NOW = new Date("2026-11-25T18:00:00.000Z");

function target(name: string, changes: Partial<NewTarget> = {}): NewTarget {
  return {
    name,
    kind: "discord",
    url: `https://discord.com/api/webhooks/1/${name}-token-abcdef`,
    streamerIds: null,
    events: ["online", "offline"],
    mention: null,
    templateOnline: null,
    templateOffline: null,
    quietHours: null,
    timezone: null,
    secret: null,
    ...changes,
  };
}

async function withStore(backend: TestBackend, fn: (store: Store) => Promise<void>): Promise<void> {
  const database = await backend.open();
  try {
    await database.store.migrate();
    await database.store.addStreamers([
      { slug: "xqc", broadcasterUserId: 1 },
      { slug: "amouranth", broadcasterUserId: 2 },
    ]);
    await fn(database.store);
  } finally {
    await database.cleanup();
  }
}

/** Commits real status events (so the foreign keys hold) and returns them as the writer would. */
async function commitEvents(
  store: Store,
  specs: { slug: string; type: "online" | "offline" | "title"; minutes: number; title?: string }[],
): Promise<CommittedEvent[]> {
  const transitions: Transition[] = specs.map((s) => ({
    dedupeKey: `${s.slug}:${s.type}:${s.minutes}`,
    slug: s.slug,
    type: s.type,
    occurredAt: new Date(NOW.getTime() + s.minutes * 60_000),
    receivedAt: new Date(NOW.getTime() + s.minutes * 60_000),
    source: "pusher",
    livestreamId: null,
    title: s.type === "online" ? "Just chatting" : s.title ?? null,
    category: null,
    baseline: false,
    raw: null,
  }));
  await store.applyTransitions(transitions);
  const rows = await store.db.query<
    {
      id: number;
      streamer_id: number;
      slug: string;
      type: "online" | "offline" | "title";
      occurred_at: Date;
      title: string | null;
    }
  >(
    `SELECT e.id, e.streamer_id, s.slug, e.type, e.occurred_at, e.title FROM status_events e
       JOIN streamers s ON s.id = e.streamer_id WHERE e.dedupe_key = ANY($1::text[]) ORDER BY e.id`,
    [transitions.map((t) => t.dedupeKey)],
  );
  return rows.map((r) => ({
    id: r.id,
    streamerId: r.streamer_id,
    slug: r.slug,
    type: r.type,
    occurredAt: r.occurred_at,
    title: r.type === "title" ? r.title : null,
    category: null,
    livestreamId: null,
  }));
}

for (const backend of testBackends()) {
  Deno.test(`notification store (${backend.name})`, async (t) => {
    await t.step("targets: add, list, get, remove; a taken name is refused", async () => {
      await withStore(backend, async (store) => {
        const added = await addTarget(
          store.db,
          target("ops", {
            streamerIds: [1],
            events: ["online"],
            quietHours: { startMinute: 1320, endMinute: 420 },
            timezone: "Europe/Berlin",
          }),
        );
        assert.deepEqual(added.streamerIds, [1]);
        assert.deepEqual(added.events, ["online"]);
        assert.deepEqual(added.quietHours, { startMinute: 1320, endMinute: 420 });
        await assert.rejects(() => addTarget(store.db, target("ops")), UserFacingError);
        assert.deepEqual((await listTargets(store.db)).map((x) => x.name), ["ops"]);
        assert.equal((await getTarget(store.db, "ops"))?.timezone, "Europe/Berlin");
        assert.equal(await removeTarget(store.db, "ops"), true);
        assert.equal(await removeTarget(store.db, "ops"), false);
      });
    });

    await t.step("createDeliveries twice for the same events gives one row each", async () => {
      await withStore(backend, async (store) => {
        await addTarget(store.db, target("a"));
        await addTarget(store.db, target("b", { events: ["offline"] }));
        const events = await commitEvents(store, [{ slug: "xqc", type: "online", minutes: 0 }]);
        const now = new Date(NOW.getTime() + 1000);
        assert.equal(await store.db.transaction((tx) => createDeliveries(tx, events, { now })), 1);
        assert.equal(await store.db.transaction((tx) => createDeliveries(tx, events, { now })), 0);
        const log = await listDeliveries(store.db, { limit: 10 });
        assert.deepEqual(log.map((d) => [d.target, d.kind, d.state]), [["a", "online", "pending"]]);
      });
    });

    await t.step("filters: streamers, events, baseline, stale", async () => {
      await withStore(backend, async (store) => {
        const [xqc] = await store.db.query<{ id: number }>(
          `SELECT id FROM streamers WHERE slug = 'xqc'`,
        );
        await addTarget(store.db, target("only-xqc", { streamerIds: [xqc.id] }));
        const events = await commitEvents(store, [
          { slug: "xqc", type: "online", minutes: 0 },
          { slug: "amouranth", type: "online", minutes: 0 },
        ]);
        const now = new Date(NOW.getTime() + 1000);
        const baseline = events.map((e) => ({ ...e, baseline: true }));
        assert.equal(await createDeliveries(store.db, baseline, { now }), 0);
        const late = new Date(NOW.getTime() + 2 * 3600_000);
        assert.equal(await createDeliveries(store.db, events, { now: late }), 0);
        assert.equal(await createDeliveries(store.db, events, { now }), 1);
        const [row] = await listDeliveries(store.db, { limit: 10 });
        assert.equal(row.slug, "xqc");
      });
    });

    await t.step("an offline follows its online; without a live online it is dropped", async () => {
      await withStore(backend, async (store) => {
        await addTarget(store.db, target("a"));
        const now = new Date(NOW.getTime() + 3 * 3600_000);
        // amouranth's online was never notified (no target then): its offline is dropped.
        const [, offAmouranth] = await commitEvents(store, [
          { slug: "amouranth", type: "online", minutes: 170 },
          { slug: "amouranth", type: "offline", minutes: 175 },
        ]);
        // xqc's online and offline in one batch: the offline refers to the online.
        const xqc = await commitEvents(store, [
          { slug: "xqc", type: "online", minutes: 170 },
          { slug: "xqc", type: "offline", minutes: 178 },
        ]);
        assert.equal(await createDeliveries(store.db, [offAmouranth, ...xqc], { now }), 2);
        const claimed = await claimDue(store.db, { limit: 10, now, workerId: "w1" });
        // The offline waits while its online is pending.
        assert.deepEqual(claimed.map((c) => c.kind), ["online"]);
        await markDelivered(store.db, claimed[0].id, { messageRef: "m-1", at: now });
        const [offline] = await claimDue(store.db, { limit: 10, now, workerId: "w1" });
        assert.equal(offline.kind, "offline");
        assert.deepEqual(offline.replyTo, {
          id: claimed[0].id,
          state: "delivered",
          messageRef: "m-1",
        });
        assert.equal(offline.startedAt?.toISOString(), xqc[0].occurredAt.toISOString());
        // A failed online: a later offline is not even created.
        await markFailed(store.db, offline.id, "gone");
        const again = await commitEvents(store, [{ slug: "xqc", type: "online", minutes: 179 }]);
        await createDeliveries(store.db, again, { now });
        const [on2] = await claimDue(store.db, { limit: 10, now, workerId: "w1" });
        await markFailed(store.db, on2.id, "HTTP 404 Unknown Webhook");
        const off2 = await commitEvents(store, [{ slug: "xqc", type: "offline", minutes: 180 }]);
        assert.equal(await createDeliveries(store.db, off2, { now }), 0);
      });
    });

    await t.step(
      "title messages: the newest replaces one not yet sent; one a minute; offline drops",
      async () => {
        await withStore(backend, async (store) => {
          await addTarget(store.db, target("a", { events: ["online", "offline", "title"] }));
          await addTarget(store.db, target("statuses-only"));
          const base = NOW.getTime() + 3 * 3600_000;
          const now = (seconds: number) => new Date(base + seconds * 1000);
          const create = async (
            spec: { type: "online" | "offline" | "title"; minutes: number; title?: string },
            at: Date,
          ) =>
            await createDeliveries(
              store.db,
              await commitEvents(store, [{ slug: "xqc", ...spec }]),
              {
                now: at,
              },
            );
          const sendDue = async (at: Date) => {
            const claimed = await claimDue(store.db, { limit: 10, now: at, workerId: "w1" });
            for (const c of claimed) {
              await markDelivered(store.db, c.id, { messageRef: `m-${c.id}`, at });
            }
            return claimed.map((c) => `${c.kind}${c.kind === "title" ? `:${c.title}` : ""}`);
          };
          assert.equal(await create({ type: "online", minutes: 180 }, now(0)), 2);
          assert.deepEqual(await sendDue(now(0)), ["online", "online"]);
          // The first title change is sent at once (only to the target that asked for titles).
          assert.equal(await create({ type: "title", minutes: 181, title: "T1" }, now(1)), 1);
          assert.deepEqual(await sendDue(now(1)), ["title:T1"]);
          // The next ones within a minute wait, and each replaces the one not yet sent.
          await create({ type: "title", minutes: 182, title: "T2" }, now(10));
          await create({ type: "title", minutes: 183, title: "T3" }, now(20));
          assert.deepEqual(await sendDue(now(30)), []);
          const pending = (await listDeliveries(store.db, { limit: 20 })).filter((d) =>
            d.kind === "title"
          );
          assert.deepEqual(
            pending.map((d) => d.state),
            ["pending", "delivered"],
            "T2 was replaced",
          );
          assert.deepEqual(await sendDue(now(61)), ["title:T3"]);
          // A title change then the offline: the title message is dropped, the offline sent.
          await create({ type: "title", minutes: 184, title: "T4" }, now(70));
          await create({ type: "offline", minutes: 185 }, now(75));
          assert.deepEqual(await sendDue(now(200)), ["offline", "offline"]);
          const titles = (await listDeliveries(store.db, { limit: 20 })).filter((d) =>
            d.kind === "title"
          );
          assert.equal(titles.length, 2);
          assert.ok(titles.every((d) => d.state === "delivered"));
        });
      },
    );

    await t.step("a streamer's later stream waits while an earlier delivery retries", async () => {
      await withStore(backend, async (store) => {
        await addTarget(store.db, target("a"));
        const now = new Date(NOW.getTime() + 3 * 3600_000);
        const first = await commitEvents(store, [{ slug: "xqc", type: "online", minutes: 170 }]);
        await createDeliveries(store.db, first, { now });
        const [on1] = await claimDue(store.db, { limit: 10, now, workerId: "w1" });
        // An outage: the first online is retried later; meanwhile xqc ends and streams again.
        const retryAt = new Date(now.getTime() + 60_000);
        await markRetry(store.db, on1.id, { nextAttemptAt: retryAt, error: "HTTP 503" });
        const later = await commitEvents(store, [
          { slug: "xqc", type: "offline", minutes: 175 },
          { slug: "xqc", type: "online", minutes: 176 },
          { slug: "amouranth", type: "online", minutes: 176 },
        ]);
        assert.equal(await createDeliveries(store.db, later, { now }), 3);
        // Only the other streamer's online is claimable; xqc's wait behind the retrying first online.
        const claimed = await claimDue(store.db, { limit: 10, now, workerId: "w1" });
        assert.deepEqual(claimed.map((c) => c.slug), ["amouranth"]);
        await markDelivered(store.db, claimed[0].id, { messageRef: "m-a", at: now });
        const [retried] = await claimDue(store.db, { limit: 10, now: retryAt, workerId: "w1" });
        assert.equal(retried.id, on1.id);
        await markDelivered(store.db, on1.id, { messageRef: "m-1", at: retryAt });
        const order: string[] = [];
        for (;;) {
          const rows = await claimDue(store.db, { limit: 10, now: retryAt, workerId: "w1" });
          if (rows.length === 0) break;
          for (const row of rows) {
            order.push(`${row.kind} ${row.occurredAt.toISOString()}`);
            await markDelivered(store.db, row.id, { messageRef: "m", at: retryAt });
          }
        }
        const at = (type: string) =>
          later.find((e) => e.slug === "xqc" && e.type === type)!.occurredAt.toISOString();
        assert.deepEqual(order, [`offline ${at("offline")}`, `online ${at("online")}`]);
      });
    });

    await t.step("an offline never edits an older stream's message", async () => {
      await withStore(backend, async (store) => {
        await addTarget(store.db, target("a"));
        const now = new Date(NOW.getTime() + 3 * 3600_000);
        // Yesterday's stream was announced; its offline and today's online were never notified.
        const [yesterday] = await commitEvents(store, [{
          slug: "xqc",
          type: "online",
          minutes: 170,
        }]);
        assert.equal(await createDeliveries(store.db, [yesterday], { now }), 1);
        const later = await commitEvents(store, [
          { slug: "xqc", type: "offline", minutes: 171 },
          { slug: "xqc", type: "online", minutes: 172 },
          { slug: "xqc", type: "offline", minutes: 179 },
        ]);
        assert.equal(await createDeliveries(store.db, [later[2]], { now }), 0);
      });
    });

    await t.step("quiet hours hold the delivery until they end", async () => {
      await withStore(backend, async (store) => {
        await addTarget(
          store.db,
          target("night", { quietHours: { startMinute: 17 * 60, endMinute: 19 * 60 } }),
        );
        const events = await commitEvents(store, [{ slug: "xqc", type: "online", minutes: 0 }]);
        await createDeliveries(store.db, events, { now: NOW });
        const [row] = await listDeliveries(store.db, { limit: 1 });
        assert.equal(row.heldUntil?.toISOString(), "2026-11-25T19:00:00.000Z");
        assert.equal(row.nextAttemptAt.toISOString(), "2026-11-25T19:00:00.000Z");
        assert.deepEqual(await claimDue(store.db, { limit: 5, now: NOW, workerId: "w" }), []);
      });
    });

    await t.step(
      "lease: a crashed worker's claim returns; retry and failure are recorded",
      async () => {
        await withStore(backend, async (store) => {
          await addTarget(store.db, target("a"));
          const events = await commitEvents(store, [{ slug: "xqc", type: "online", minutes: 0 }]);
          await createDeliveries(store.db, events, { now: NOW });
          const [first] = await claimDue(store.db, {
            limit: 5,
            now: NOW,
            workerId: "w1",
            leaseMs: 1000,
          });
          assert.equal(first.attempts, 1);
          assert.deepEqual(await claimDue(store.db, { limit: 5, now: NOW, workerId: "w2" }), []);
          const later = new Date(NOW.getTime() + 1001);
          const [again] = await claimDue(store.db, { limit: 5, now: later, workerId: "w2" });
          assert.equal(again.id, first.id);
          assert.equal(again.attempts, 2);
          await markRetry(store.db, again.id, {
            nextAttemptAt: new Date(later.getTime() + 5000),
            error: "HTTP 503",
          });
          assert.deepEqual(await claimDue(store.db, { limit: 5, now: later, workerId: "w2" }), []);
          const [log] = await listDeliveries(store.db, { target: "a", limit: 5 });
          assert.equal(log.lastError, "HTTP 503");
          await markFailed(store.db, again.id, "gave up");
          assert.equal((await listDeliveries(store.db, { limit: 5 }))[0].state, "failed");
        });
      },
    );

    if (backend.name === "postgres") {
      await t.step("two claimers never get the same row", async () => {
        const database = await backend.open();
        try {
          await database.store.migrate();
          const store = database.store;
          await store.addStreamers([{ slug: "xqc", broadcasterUserId: 1 }]);
          await addTarget(store.db, target("a"));
          await addTarget(store.db, target("b"));
          const specs = Array.from({ length: 100 }, (_, i) => ({
            slug: "xqc",
            type: (i % 2 === 0 ? "online" : "offline") as "online" | "offline",
            minutes: i,
          }));
          const events = (await commitEvents(store, specs)).filter((e) => e.type === "online");
          await createDeliveries(store.db, events, { now: NOW });
          const second = await openStore(database.options);
          try {
            const seen: number[] = [];
            // Each settles what it claimed, as a worker does: a streamer's next delivery to a target is
            // claimable only once the one before it is settled.
            const claimer = async (db: typeof store.db, id: string) => {
              for (;;) {
                const rows = await claimDue(db, { limit: 3, now: NOW, workerId: id });
                if (rows.length === 0) return;
                seen.push(...rows.map((r) => r.id));
                for (const row of rows) {
                  await markDelivered(db, row.id, { messageRef: null, at: NOW });
                }
              }
            };
            await Promise.all([
              claimer(store.db, "w1"),
              claimer(second.db, "w2"),
              claimer(store.db, "w3"),
            ]);
            assert.equal(seen.length, 100);
            assert.equal(new Set(seen).size, 100);
          } finally {
            await second.close();
          }
        } finally {
          await database.cleanup();
        }
      });
    }
  });
}
