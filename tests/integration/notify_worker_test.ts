/**
 * The delivery worker against the fake Discord, on both backends: online then the offline's edit, a deleted
 * webhook failing at once, metrics, a prompt stop that gives claims back, and a 429 storm drained at exactly
 * the rate the fake allows.
 */
import assert from "node:assert/strict";
import { type TestBackend, testBackends } from "../helpers/db.ts";
import { waitFor } from "../helpers/cli.ts";
import { startFakeDiscord } from "../fakes/notification_services.ts";
import { Registry } from "../../src/http/metrics.ts";
import { configureLogging } from "../../src/lib/log.ts";
import type { Store } from "../../src/store/store.ts";
import type { Db } from "../../src/store/db.ts";
import { createDeliveries } from "../../src/store/notifications.ts";
import { listDeliveries } from "../../src/store/delivery_log.ts";
import { addTarget } from "../../src/store/notification_targets.ts";
import type { CommittedEvent } from "../../src/notify/types.ts";
import { NotificationWorker } from "../../src/notify/worker.ts";
import { createNotificationHttpClient } from "../../src/notify/send.ts";

const TOKEN = "worker-test-token_abcdefghijklmnopqrstuvwxyz";

async function withStore(backend: TestBackend, fn: (store: Store) => Promise<void>): Promise<void> {
  const database = await backend.open();
  try {
    await database.store.migrate();
    await database.store.addStreamers([{ slug: "xqc", broadcasterUserId: 1 }]);
    await fn(database.store);
  } finally {
    await database.cleanup();
  }
}

/** Inserts `count` status events of xqc (alternating online/offline from `type`) and returns them. */
async function events(
  store: Store,
  count: number,
  types: ("online" | "offline")[],
): Promise<CommittedEvent[]> {
  const rows = await store.db.query<{ id: number; streamer_id: number; n: number }>(
    `INSERT INTO status_events (streamer_id, type, occurred_at, received_at, source, dedupe_key)
     SELECT s.id, ($3::text[])[1 + (g - 1) % array_length($3::text[], 1)],
            now() - interval '10 minutes' + g * interval '1 second', now(), 'poll', 'k' || g || '-' || $2
       FROM streamers s, generate_series(1, $1) g WHERE s.slug = 'xqc'
     RETURNING id, streamer_id, type`,
    [count, crypto.randomUUID(), types],
  );
  const all = await store.db.query<
    { id: number; streamer_id: number; type: "online" | "offline"; occurred_at: Date }
  >(
    `SELECT id, streamer_id, type, occurred_at FROM status_events WHERE id = ANY($1::bigint[]) ORDER BY id`,
    [rows.map((r) => r.id)],
  );
  return all.map((r) => ({
    id: r.id,
    streamerId: r.streamer_id,
    slug: "xqc",
    type: r.type,
    occurredAt: r.occurred_at,
    title: "Title",
    category: "Just Chatting",
    livestreamId: null,
  }));
}

async function states(store: Store): Promise<Record<string, number>> {
  const rows = await store.db.query<{ state: string; n: number }>(
    `SELECT state, count(*)::int AS n FROM notification_deliveries GROUP BY state`,
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

const logLines: string[] = [];
configureLogging({ write: (line) => logLines.push(line), level: "debug", format: "json" });

for (const [index, backend] of testBackends().entries()) {
  Deno.test(`notification worker (${backend.name})`, async (t) => {
    await t.step("online then offline edits it; a deleted webhook fails at once", async () => {
      const discord = await startFakeDiscord({ limit: 100, windowMs: 1000 });
      discord.addWebhook("5", TOKEN);
      const metrics = new Registry();
      try {
        await withStore(backend, async (store) => {
          await addTarget(store.db, {
            name: "ops",
            kind: "discord",
            url: discord.webhookUrl("5", TOKEN),
            streamerIds: null,
            events: ["online", "offline"],
            mention: null,
            templateOnline: null,
            templateOffline: null,
            quietHours: null,
            timezone: null,
            secret: null,
          });
          const worker = new NotificationWorker({
            db: store.db,
            metrics,
            idleMs: 20,
            http: createNotificationHttpClient({ timeoutMs: 2000 }),
          });
          worker.start();
          try {
            await createDeliveries(store.db, await events(store, 2, ["online", "offline"]));
            worker.wake();
            await waitFor(
              "two deliveries",
              async () => (await states(store)).delivered === 2,
              5000,
            );
            const log = await listDeliveries(store.db, { limit: 5 });
            assert.equal(log[0].kind, "offline");
            assert.equal(log[0].messageRef, log[1].messageRef);
            assert.deepEqual(discord.received.map((r) => r.method), ["POST", "PATCH"]);

            discord.deleteWebhook("5");
            await createDeliveries(store.db, await events(store, 1, ["online"]));
            worker.wake();
            await waitFor("a failure", async () => (await states(store)).failed === 1, 5000);
            const [failed] = await listDeliveries(store.db, { limit: 1 });
            assert.equal(failed.attempts, 1);
            assert.match(failed.lastError!, /Unknown Webhook/);
            assert.ok(!failed.lastError!.includes(TOKEN));
            assert.ok(logLines.some((l) => l.includes("Notification failed")));
            assert.ok(logLines.every((l) => !l.includes(TOKEN)));
            const text = metrics.render();
            assert.match(
              text,
              /kick_monitor_notifications_total\{state="delivered",target="ops"\} 2/,
            );
            assert.match(text, /kick_monitor_notifications_total\{state="failed",target="ops"\} 1/);
            assert.ok(!text.includes(TOKEN) && !text.includes("/api/webhooks/"), text);
          } finally {
            await worker.stop();
          }
        });
      } finally {
        await discord.close();
      }
    });

    await t.step("a server error schedules a retry with back-off, then delivers", async () => {
      const discord = await startFakeDiscord({ limit: 100, windowMs: 1000 });
      discord.addWebhook("8", TOKEN);
      try {
        await withStore(backend, async (store) => {
          await addTarget(store.db, {
            name: "ops",
            kind: "discord",
            url: discord.webhookUrl("8", TOKEN),
            streamerIds: null,
            events: ["online"],
            mention: null,
            templateOnline: null,
            templateOffline: null,
            quietHours: null,
            timezone: null,
            secret: null,
          });
          await createDeliveries(store.db, await events(store, 1, ["online"]));
          discord.failNext(502, 1);
          const worker = new NotificationWorker({
            db: store.db,
            idleMs: 20,
            retry: { baseMs: 300, capMs: 300, random: () => 0 },
          });
          worker.start();
          try {
            await waitFor("a scheduled retry", async () => {
              const [row] = await listDeliveries(store.db, { limit: 1 });
              return row.lastError !== null || row.state !== "pending";
            }, 5000);
            const [retrying] = await listDeliveries(store.db, { limit: 1 });
            assert.equal(retrying.state, "pending");
            assert.match(retrying.lastError!, /Discord answered HTTP 502/);
            await waitFor("delivery", async () => (await states(store)).delivered === 1, 5000);
            const [done] = await listDeliveries(store.db, { limit: 1 });
            assert.equal(done.attempts, 2);
            assert.equal(done.lastError, null);
            assert.equal(discord.received.length, 2);
          } finally {
            await worker.stop();
          }
        });
      } finally {
        await discord.close();
      }
    });

    await t.step(
      "a sent message whose record the database refused is recorded, never sent twice",
      async () => {
        const discord = await startFakeDiscord({ limit: 100, windowMs: 1000 });
        discord.addWebhook("9", TOKEN);
        try {
          await withStore(backend, async (store) => {
            await addTarget(store.db, {
              name: "ops",
              kind: "discord",
              url: discord.webhookUrl("9", TOKEN),
              streamerIds: null,
              events: ["online"],
              mention: null,
              templateOnline: null,
              templateOffline: null,
              quietHours: null,
              timezone: null,
              secret: null,
            });
            await createDeliveries(store.db, await events(store, 1, ["online"]));
            // The database drops out right after Discord took the message: the first records fail.
            let refusals = 2;
            const flaky: Db = {
              kind: store.db.kind,
              query<T>(text: string, params?: unknown[]): Promise<T[]> {
                if (text.includes("SET state = 'delivered'") && refusals > 0) {
                  refusals--;
                  return Promise.reject(new Error("Lost connection to PostgreSQL"));
                }
                return store.db.query<T>(text, params);
              },
              exec: (script) => store.db.exec(script),
              transaction: (fn) => store.db.transaction(fn),
              close: () => Promise.resolve(),
            };
            const worker = new NotificationWorker({ db: flaky, idleMs: 20 });
            worker.start();
            try {
              await waitFor("the record", async () => (await states(store)).delivered === 1, 5000);
              await new Promise((resolve) => setTimeout(resolve, 300));
              assert.equal(discord.stats.succeeded.length, 1, "sent once");
              assert.equal(refusals, 0);
            } finally {
              await worker.stop();
            }
          });
        } finally {
          await discord.close();
        }
      },
    );

    await t.step(
      "stop() is prompt during a long retry_after and gives the claims back",
      async () => {
        const discord = await startFakeDiscord({ limit: 100, windowMs: 1000 });
        discord.addWebhook("6", TOKEN);
        try {
          await withStore(backend, async (store) => {
            await addTarget(store.db, {
              name: "ops",
              kind: "discord",
              url: discord.webhookUrl("6", TOKEN),
              streamerIds: null,
              events: ["online"],
              mention: null,
              templateOnline: null,
              templateOffline: null,
              quietHours: null,
              timezone: null,
              secret: null,
            });
            await createDeliveries(store.db, await events(store, 3, ["online"]));
            discord.storm(20_000);
            const worker = new NotificationWorker({ db: store.db, idleMs: 20 });
            worker.start();
            await waitFor("the first 429", () => discord.stats.rateLimited === 1, 5000);
            const started = performance.now();
            await worker.stop();
            assert.ok(performance.now() - started < 1000);
            const rows = await store.db.query<{ attempts: number; claimed_by: string | null }>(
              `SELECT attempts, claimed_by FROM notification_deliveries`,
            );
            assert.equal(rows.length, 3);
            for (const row of rows) assert.equal(row.claimed_by, null);
            assert.equal((await states(store)).pending, 3);
          });
        } finally {
          await discord.close();
        }
      },
    );

    await t.step(
      "a target waiting out a long retry_after does not hold up the others",
      async () => {
        const stormy = await startFakeDiscord({ limit: 100, windowMs: 1000 });
        const calm = await startFakeDiscord({ limit: 100, windowMs: 1000 });
        stormy.addWebhook("11", TOKEN);
        calm.addWebhook("12", TOKEN);
        try {
          await withStore(backend, async (store) => {
            for (
              const [name, fake, id] of [["stormy", stormy, "11"], ["calm", calm, "12"]] as const
            ) {
              await addTarget(store.db, {
                name,
                kind: "discord",
                url: fake.webhookUrl(id, TOKEN),
                streamerIds: null,
                events: ["online"],
                mention: null,
                templateOnline: null,
                templateOffline: null,
                quietHours: null,
                timezone: null,
                secret: null,
              });
            }
            stormy.storm(8_000);
            const worker = new NotificationWorker({ db: store.db, idleMs: 20 });
            worker.start();
            try {
              await createDeliveries(store.db, await events(store, 1, ["online"]));
              worker.wake();
              await waitFor("the storm's 429", () => stormy.stats.rateLimited === 1, 5000);
              await waitFor("the calm target's first", () => calm.acceptedLog.length === 1, 5000);
              // A new event while the stormy lane waits (within its claim) for the storm to pass.
              await createDeliveries(store.db, await events(store, 1, ["online"]));
              worker.wake();
              const took = await waitFor(
                "the calm target's second",
                () => calm.acceptedLog.length === 2,
                5000,
              );
              assert.ok(took < 3000, `the calm target waited ${took} ms`);
              assert.equal(stormy.acceptedLog.length, 0, "the storm still holds the stormy target");
            } finally {
              await worker.stop();
            }
          });
        } finally {
          await stormy.close();
          await calm.close();
        }
      },
    );

    if (index === 0) {
      await t.step(
        "a 429 storm drains at exactly the allowed rate, never inside a wait",
        async () => {
          const limit = 10;
          const windowMs = 250;
          const total = 120;
          const discord = await startFakeDiscord({ limit, windowMs });
          discord.addWebhook("7", TOKEN);
          try {
            await withStore(backend, async (store) => {
              await addTarget(store.db, {
                name: "busy",
                kind: "discord",
                url: discord.webhookUrl("7", TOKEN),
                streamerIds: null,
                events: ["online"],
                mention: null,
                templateOnline: null,
                templateOffline: null,
                quietHours: null,
                timezone: null,
                secret: null,
              });
              await createDeliveries(store.db, await events(store, total, ["online"]));
              discord.storm(500);
              const worker = new NotificationWorker({
                db: store.db,
                idleMs: 20,
                // Paced by the fake's answers only, so the test measures what the headers and 429s allow.
                ratePerSecond: { discord: 1000 },
              });
              worker.start();
              try {
                await waitFor(
                  "every delivery",
                  async () => (await states(store)).delivered === total,
                  20_000,
                );
              } finally {
                await worker.stop();
              }
              const accepted = discord.stats.accepted;
              assert.equal(accepted.length, total);
              assert.equal(discord.stats.early, 0, "a request arrived inside an announced wait");
              // The storm's 429 (one), and at most one more at a window's edge.
              assert.ok(discord.stats.rateLimited <= 2, String(discord.stats.rateLimited));
              const span = accepted[accepted.length - 1] - accepted[0];
              const minimum = (total / limit - 1) * windowMs;
              assert.ok(span >= minimum * 0.95, `drained in ${span} ms, faster than allowed`);
              assert.ok(
                span <= minimum * 1.6 + 500,
                `drained in ${span} ms, much slower than allowed`,
              );
            });
          } finally {
            await discord.close();
          }
        },
      );
    }
  });
}
