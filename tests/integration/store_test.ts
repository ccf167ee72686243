/**
 * The store against real databases: PGlite in memory always, PostgreSQL too when TEST_DATABASE_URL is set
 * (tests/helpers/db.ts). Each step opens a fresh database (a fresh schema on PostgreSQL).
 */
import assert from "node:assert/strict";
import { type TestBackend, testBackends, testDatabaseUrl } from "../helpers/db.ts";
import { snapshotRows as snapshot } from "../helpers/rows.ts";
import { openStore, type Store } from "../../src/store/store.ts";
import { UnavailableError, UserFacingError } from "../../src/lib/errors.ts";
import type { LiveStatus, Transition } from "../../src/domain/types.ts";

/** Every file in sql/, in order. */
const ALL_MIGRATIONS = [
  "001_init.sql",
  "002_streamer_availability.sql",
  "003_notifications.sql",
  "005_leases.sql",
];

/** The highest migration number (numbers may skip one that another branch adds). */
const LATEST_VERSION = Number(ALL_MIGRATIONS[ALL_MIGRATIONS.length - 1].slice(0, 3));

const T0 = Date.parse("2026-11-25T18:00:00.000Z");

/** A minute offset from T0. */
function at(minutes: number): Date {
  return new Date(T0 + minutes * 60_000);
}

function transition(
  slug: string,
  type: LiveStatus,
  minutes: number,
  changes: Partial<Transition> = {},
): Transition {
  return {
    dedupeKey: `${slug}:${type}:${minutes}`,
    slug,
    type,
    occurredAt: at(minutes),
    receivedAt: new Date(at(minutes).getTime() + 120),
    source: "pusher",
    livestreamId: type === "online" ? 74_331_100 + minutes : null,
    title: type === "online" ? `${slug} stream ${minutes}` : null,
    category: type === "online" ? "Just Chatting" : null,
    baseline: false,
    raw: { event: "App\\Events\\StreamerIsLive", minutes },
    ...changes,
  };
}

/** Opens a fresh database for one step and always cleans it up. */
async function withStore(backend: TestBackend, fn: (store: Store) => Promise<void>): Promise<void> {
  const database = await backend.open();
  try {
    await database.store.migrate();
    await fn(database.store);
  } finally {
    await database.cleanup();
  }
}

async function count(store: Store, table: string, where = "true"): Promise<number> {
  const [row] = await store.db.query<{ n: number }>(
    `SELECT count(*) AS n FROM ${table} WHERE ${where}`,
  );
  return row.n;
}

for (const backend of testBackends()) {
  Deno.test(`store on ${backend.name}`, async (t) => {
    await t.step("migrate twice is idempotent", async () => {
      const database = await backend.open();
      try {
        const { store } = database;
        const before = await store.migrationStatus();
        assert.deepEqual(before.applied, []);
        assert.equal(before.schemaVersion, null);
        assert.deepEqual(before.pending, ALL_MIGRATIONS);
        assert.deepEqual(await store.migrate(), { applied: ALL_MIGRATIONS });
        assert.deepEqual(await store.migrate(), { applied: [] });
        const status = await store.migrationStatus();
        assert.equal(status.schemaVersion, LATEST_VERSION);
        assert.deepEqual(status.pending, []);
        assert.deepEqual(status.edited, []);
        assert.deepEqual(status.applied.map((m) => m.name), ALL_MIGRATIONS);
        assert.match(status.applied[0].checksum, /^[0-9a-f]{64}$/);
        assert.ok(status.applied[0].appliedAt instanceof Date);
        assert.equal(await count(store, "schema_migrations"), ALL_MIGRATIONS.length);
      } finally {
        await database.cleanup();
      }
    });

    await t.step("an applied migration whose file changed is refused", async () => {
      await withStore(backend, async (store) => {
        await store.db.query("UPDATE schema_migrations SET checksum = $1 WHERE version = 1", [
          "0".repeat(64),
        ]);
        await assert.rejects(store.migrate(), (error: unknown) => {
          assert.ok(error instanceof UserFacingError);
          assert.equal(error.exitCode, 1);
          assert.match(error.message, /001_init\.sql/);
          return true;
        });
        assert.deepEqual((await store.migrationStatus()).edited, ["001_init.sql"]);
      });
    });

    await t.step("bigint columns come back as numbers, timestamps as Dates", async () => {
      await withStore(backend, async (store) => {
        const [row] = await store.db.query<{ big: unknown; time: unknown; n: unknown }>(
          "SELECT $1::bigint AS big, now() AS time, count(*) AS n FROM streamers",
          [2 ** 40],
        );
        assert.equal(row.big, 2 ** 40);
        assert.ok(row.time instanceof Date);
        assert.equal(row.n, 0);
      });
    });

    await t.step("add, list and remove streamers", async () => {
      await withStore(backend, async (store) => {
        assert.deepEqual(
          await store.addStreamers([
            { slug: "xqc", broadcasterUserId: 676, channelId: 668 },
            { slug: "adinross", broadcasterUserId: null },
          ]),
          { added: ["xqc", "adinross"], existing: [] },
        );
        // Adding again is harmless; given ids fill in, nulls never clobber.
        assert.deepEqual(
          await store.addStreamers([
            { slug: "xqc", broadcasterUserId: null, channelId: null, chatroomId: 668_001 },
            { slug: "amouranth", broadcasterUserId: 5 },
          ]),
          { added: ["amouranth"], existing: ["xqc"] },
        );
        const list = await store.listStreamers();
        assert.deepEqual(list.map((s) => s.slug), ["adinross", "amouranth", "xqc"]);
        const xqc = list[2];
        assert.equal(xqc.broadcasterUserId, 676);
        assert.equal(xqc.channelId, 668);
        assert.equal(xqc.chatroomId, 668_001);
        assert.equal(xqc.status, "unknown");
        assert.equal(xqc.statusChangedAt, null);
        assert.equal(xqc.lastCheckedAt, null);
        assert.ok(xqc.addedAt instanceof Date);
        assert.equal(xqc.session, null);
        assert.equal(typeof xqc.id, "number");

        assert.equal(await store.setStreamerIds("adinross", { channelId: 42 }), true);
        assert.equal(await store.setStreamerIds("nobody", { channelId: 1 }), false);
        const adin = await store.getStreamer("adinross");
        assert.equal(adin?.channelId, 42);
        assert.equal(adin?.broadcasterUserId, null);
        assert.equal(await store.getStreamer("nobody"), null);

        await store.markChecked(["xqc", "adinross", "nobody"], at(5));
        assert.deepEqual((await store.getStreamer("xqc"))?.lastCheckedAt, at(5));
        assert.equal((await store.getStreamer("amouranth"))?.lastCheckedAt, null);

        assert.deepEqual(await store.removeStreamers(["xqc", "nobody"]), {
          removed: ["xqc"],
          missing: ["nobody"],
        });
        assert.deepEqual((await store.listStreamers()).map((s) => s.slug), [
          "adinross",
          "amouranth",
        ]);
      });
    });

    await t.step("the streamer list version changes with membership and ids only", async () => {
      await withStore(backend, async (store) => {
        const empty = await store.streamerListVersion();
        await store.addStreamers([{ slug: "xqc", broadcasterUserId: 676, channelId: 668 }]);
        const one = await store.streamerListVersion();
        assert.notEqual(one, empty);
        await store.addStreamers([{ slug: "xqc", broadcasterUserId: null }]);
        await store.markChecked(["xqc"], at(1));
        await store.applyTransitions([transition("xqc", "online", 2)]);
        assert.equal(
          await store.streamerListVersion(),
          one,
          "checks and transitions are not changes",
        );
        await store.setStreamerIds("xqc", { channelId: 669 });
        const newId = await store.streamerListVersion();
        assert.notEqual(newId, one);
        await store.removeStreamers(["xqc"]);
        await store.addStreamers([{ slug: "xqc", broadcasterUserId: 676, channelId: 669 }]);
        assert.notEqual(
          await store.streamerListVersion(),
          newId,
          "removed and re-added is a change",
        );
      });
    });

    await t.step("online then offline makes one closed session and two events", async () => {
      await withStore(backend, async (store) => {
        await store.addStreamers([{ slug: "xqc", broadcasterUserId: 676 }]);
        const batch = [transition("xqc", "online", 0), transition("xqc", "offline", 90)];
        assert.deepEqual(await store.applyTransitions(batch), { inserted: 2, skipped: 0 });
        const sessions = await store.listSessions("xqc", 10);
        assert.deepEqual(sessions, [{
          livestreamId: 74_331_100,
          startedAt: at(0),
          endedAt: at(90),
          title: "xqc stream 0",
          category: "Just Chatting",
          peakViewers: null,
        }]);
        const xqc = await store.getStreamer("xqc");
        assert.equal(xqc?.status, "offline");
        assert.deepEqual(xqc?.statusChangedAt, at(90));
        assert.equal(xqc?.session, null);
        assert.equal(await count(store, "status_events"), 2);

        // A replay of the same batch inserts nothing and changes nothing.
        const before = await snapshot(store);
        assert.deepEqual(await store.applyTransitions(batch), { inserted: 0, skipped: 2 });
        assert.deepEqual(await snapshot(store), before);
      });
    });

    await t.step("an online closes the open session and opens a new one", async () => {
      await withStore(backend, async (store) => {
        await store.addStreamers([{ slug: "xqc", broadcasterUserId: 676 }]);
        await store.applyTransitions([transition("xqc", "online", 0)]);
        let xqc = await store.getStreamer("xqc");
        assert.equal(xqc?.status, "online");
        assert.deepEqual(xqc?.session, {
          livestreamId: 74_331_100,
          startedAt: at(0),
          title: "xqc stream 0",
          category: "Just Chatting",
        });
        await store.applyTransitions([transition("xqc", "online", 30)]);
        xqc = await store.getStreamer("xqc");
        assert.deepEqual(xqc?.session?.startedAt, at(30));
        const sessions = await store.listSessions("xqc", 10);
        assert.deepEqual(sessions.map((s) => [s.startedAt, s.endedAt]), [
          [at(30), null],
          [at(0), at(30)],
        ]);
      });
    });

    await t.step("one dedupe key twice in a batch is recorded once", async () => {
      await withStore(backend, async (store) => {
        await store.addStreamers([{ slug: "xqc", broadcasterUserId: 676 }]);
        const online = transition("xqc", "online", 0);
        const fromPoll = { ...online, source: "poll" as const, receivedAt: at(1) };
        assert.deepEqual(await store.applyTransitions([online, fromPoll]), {
          inserted: 1,
          skipped: 1,
        });
        assert.equal(await count(store, "status_events"), 1);
        assert.equal(await count(store, "stream_sessions"), 1);
        const [event] = await store.listEvents({ limit: 10 });
        assert.equal(event.source, "pusher");
      });
    });

    await t.step("the database allows at most one open session per streamer", async () => {
      await withStore(backend, async (store) => {
        await store.addStreamers([{ slug: "xqc", broadcasterUserId: 676 }]);
        const [{ id }] = await store.db.query<{ id: number }>(
          "SELECT id FROM streamers WHERE slug = $1",
          ["xqc"],
        );
        const insert = "INSERT INTO stream_sessions (streamer_id, started_at) VALUES ($1, $2)";
        await store.db.query(insert, [id, at(0).toISOString()]);
        await assert.rejects(
          store.db.query(insert, [id, at(1).toISOString()]),
          (error: unknown) => (error as { code?: string }).code === "23505",
        );
        // Closed sessions are not limited.
        await store.db.query(
          "INSERT INTO stream_sessions (streamer_id, started_at, ended_at) VALUES ($1, $2, $3)",
          [id, at(-60).toISOString(), at(-30).toISOString()],
        );
      });
    });

    await t.step("baselines set the status without writing events", async () => {
      await withStore(backend, async (store) => {
        await store.addStreamers([
          { slug: "live", broadcasterUserId: 1 },
          { slug: "idle", broadcasterUserId: 2 },
        ]);
        const result = await store.applyTransitions([
          transition("live", "online", 0, { baseline: true }),
          transition("idle", "offline", 0, { baseline: true }),
        ]);
        assert.deepEqual(result, { inserted: 2, skipped: 0 });
        assert.equal(await count(store, "status_events"), 0);
        const [idle, live] = await store.listStreamers();
        assert.equal(live.status, "online");
        assert.deepEqual(live.statusChangedAt, at(0));
        assert.deepEqual(live.session?.startedAt, at(0));
        assert.equal(idle.status, "offline");
        assert.equal(idle.session, null);
        assert.equal(await count(store, "stream_sessions"), 1);

        // A second online baseline does not open another session.
        await store.applyTransitions([
          transition("live", "online", 5, { baseline: true, dedupeKey: "b2" }),
        ]);
        assert.equal(await count(store, "stream_sessions"), 1);
        assert.deepEqual((await store.getStreamer("live"))?.statusChangedAt, at(5));

        // After a real offline, replaying the old baseline (older than the status) changes nothing.
        await store.applyTransitions([transition("live", "offline", 60)]);
        const before = await snapshot(store);
        assert.deepEqual(
          await store.applyTransitions([transition("live", "online", 0, { baseline: true })]),
          { inserted: 0, skipped: 1 },
        );
        assert.deepEqual(await snapshot(store), before);
      });
    });

    await t.step("transitions of unknown streamers are skipped", async () => {
      await withStore(backend, async (store) => {
        await store.addStreamers([{ slug: "xqc", broadcasterUserId: 676 }]);
        const result = await store.applyTransitions([
          transition("ghost", "online", 0),
          transition("xqc", "online", 0),
          transition("ghost", "offline", 10, { baseline: true }),
        ]);
        assert.deepEqual(result, { inserted: 1, skipped: 2 });
        assert.equal(await count(store, "status_events"), 1);
        assert.deepEqual(await store.applyTransitions([]), { inserted: 0, skipped: 0 });
      });
    });

    await t.step(
      "a late, older transition is recorded but changes no session or status",
      async () => {
        await withStore(backend, async (store) => {
          await store.addStreamers([{ slug: "xqc", broadcasterUserId: 676 }]);
          await store.applyTransitions([transition("xqc", "online", 10)]);
          assert.deepEqual(await store.applyTransitions([transition("xqc", "offline", 5)]), {
            inserted: 1,
            skipped: 0,
          });
          const xqc = await store.getStreamer("xqc");
          assert.equal(xqc?.status, "online");
          assert.deepEqual(xqc?.statusChangedAt, at(10));
          assert.deepEqual(xqc?.session?.startedAt, at(10));
          assert.equal(await count(store, "status_events"), 2);
          assert.equal(await count(store, "stream_sessions"), 1);
        });
      },
    );

    await t.step("events and sessions: filters and newest first", async () => {
      await withStore(backend, async (store) => {
        await store.addStreamers([
          { slug: "a", broadcasterUserId: 1 },
          { slug: "b", broadcasterUserId: 2 },
        ]);
        await store.applyTransitions([
          transition("a", "online", 0),
          transition("b", "online", 5, { source: "poll" }),
          transition("a", "offline", 60),
          transition("a", "online", 120),
          transition("b", "offline", 130),
        ]);
        const all = await store.listEvents({ limit: 100 });
        assert.deepEqual(all.map((e) => `${e.slug}:${e.type}`), [
          "b:offline",
          "a:online",
          "a:offline",
          "b:online",
          "a:online",
        ]);
        const first = all[all.length - 1];
        assert.equal(typeof first.id, "number");
        assert.deepEqual(first.occurredAt, at(0));
        assert.deepEqual(first.receivedAt, new Date(at(0).getTime() + 120));
        assert.equal(first.source, "pusher");
        assert.equal(first.livestreamId, 74_331_100);
        assert.equal(first.title, "a stream 0");
        assert.equal(all[3].source, "poll");

        assert.deepEqual(
          (await store.listEvents({ slug: "a", limit: 100 })).map((e) => e.occurredAt),
          [at(120), at(60), at(0)],
        );
        assert.deepEqual(
          (await store.listEvents({ since: at(60), limit: 100 })).map((e) => e.occurredAt),
          [at(130), at(120), at(60)],
        );
        assert.deepEqual(
          (await store.listEvents({ slug: "b", since: at(6), limit: 100 })).map((e) => e.type),
          ["offline"],
        );
        assert.equal((await store.listEvents({ limit: 2 })).length, 2);
        assert.deepEqual(await store.listEvents({ slug: "nobody", limit: 10 }), []);

        const sessions = await store.listSessions("a", 10);
        assert.deepEqual(sessions.map((s) => [s.startedAt, s.endedAt]), [
          [at(120), null],
          [at(0), at(60)],
        ]);
        assert.equal((await store.listSessions("a", 1)).length, 1);
        assert.deepEqual(await store.listSessions("nobody", 10), []);
        // Removing a streamer removes its history.
        await store.removeStreamers(["a"]);
        assert.equal(await count(store, "status_events"), 2);
        assert.equal(await count(store, "stream_sessions"), 1);
      });
    });

    await t.step("set-based and one-by-one writers agree on random batches", async () => {
      const random = mulberry32(backend.name.length);
      const slugs = ["a", "b", "c", "d"];
      const transitions: Transition[] = [];
      for (let i = 0; i < 400; i++) {
        const slug = slugs[Math.floor(random() * (slugs.length + 1))] ?? "ghost";
        const type: LiveStatus = random() < 0.5 ? "online" : "offline";
        // Mostly increasing times, some late arrivals and duplicate keys.
        const minutes = Math.floor(i - random() * 30);
        const key = random() < 0.15 ? `dup:${Math.floor(random() * 20)}` : undefined;
        transitions.push(transition(slug, type, minutes, {
          baseline: random() < 0.1,
          ...(key === undefined
            ? { dedupeKey: `${slug}:${type}:${minutes}:${i}` }
            : { dedupeKey: key }),
        }));
      }
      const results: unknown[] = [];
      for (const writer of ["set", "one"] as const) {
        await withStore(backend, async (store) => {
          await store.addStreamers(slugs.map((slug) => ({ slug, broadcasterUserId: null })));
          const counts = { inserted: 0, skipped: 0 };
          for (let start = 0; start < transitions.length; start += 37) {
            const batch = transitions.slice(start, start + 37);
            const result = writer === "set"
              ? await store.applyTransitions(batch)
              : await store.applyTransitionsOneByOne(batch);
            counts.inserted += result.inserted;
            counts.skipped += result.skipped;
          }
          // Replaying everything is a no-op for both.
          const before = await snapshot(store);
          const replay = writer === "set"
            ? await store.applyTransitions(transitions)
            : await store.applyTransitionsOneByOne(transitions);
          assert.equal(replay.inserted, 0);
          assert.deepEqual(await snapshot(store), before);
          results.push({ counts, state: before });
        });
      }
      assert.deepEqual(results[0], results[1]);
    });

    await t.step("health reports version, schema version, pending and latency", async () => {
      const database = await backend.open();
      try {
        const { store } = database;
        const fresh = await store.health();
        assert.equal(fresh.schemaVersion, null);
        assert.deepEqual(fresh.pendingMigrations, ALL_MIGRATIONS);
        await store.migrate();
        const health = await store.health();
        assert.match(health.serverVersion, /^\d+/);
        assert.equal(health.schemaVersion, LATEST_VERSION);
        assert.deepEqual(health.pendingMigrations, []);
        assert.ok(health.latencyMs >= 0 && health.latencyMs < 5_000);
      } finally {
        await database.cleanup();
      }
    });

    if (backend.name === "postgres") {
      await t.step("two concurrent migrations leave one applied copy", async () => {
        const database = await backend.open();
        const second = await openStore(database.options);
        try {
          const results = await Promise.all([database.store.migrate(), second.migrate()]);
          const applied = results.flatMap((result) => result.applied);
          assert.deepEqual(applied, ALL_MIGRATIONS);
          const rows = await database.store.db.query<{ version: number; n: number }>(
            "SELECT version, count(*) AS n FROM schema_migrations GROUP BY version ORDER BY version",
          );
          assert.deepEqual(
            rows,
            ALL_MIGRATIONS.map((name) => ({ version: Number(name.slice(0, 3)), n: 1 })),
          );
          assert.equal((await second.migrationStatus()).schemaVersion, LATEST_VERSION);
        } finally {
          await second.close();
          await database.cleanup();
        }
      });

      await t.step("concurrent batches for the same streamers stay consistent", async () => {
        const database = await backend.open();
        const second = await openStore(database.options);
        try {
          await database.store.migrate();
          await database.store.addStreamers([
            { slug: "a", broadcasterUserId: 1 },
            { slug: "b", broadcasterUserId: 2 },
          ]);
          const batch = [
            transition("a", "online", 0),
            transition("b", "online", 1),
            transition("a", "offline", 2),
            transition("b", "offline", 3),
            transition("a", "online", 4),
          ];
          const results = await Promise.all([
            database.store.applyTransitions(batch),
            second.applyTransitions([...batch].reverse()),
          ]);
          assert.equal(results[0].inserted + results[1].inserted, batch.length);
          assert.equal(await count(database.store, "status_events"), batch.length);
          assert.equal(await count(database.store, "stream_sessions", "ended_at IS NULL"), 1);
        } finally {
          await second.close();
          await database.cleanup();
        }
      });
    }
  });
}

Deno.test("an unreachable PostgreSQL fails with UnavailableError, naming the address only", async () => {
  const password = "s3cret-Passw0rd";
  const started = performance.now();
  await assert.rejects(
    openStore({ databaseUrl: `postgres://kick:${password}@127.0.0.1:1/kick_monitor` }),
    (error: unknown) => {
      assert.ok(error instanceof UnavailableError, String(error));
      assert.equal(error.exitCode, 69);
      assert.ok(!error.message.includes(password), error.message);
      assert.match(error.message, /DATABASE_URL \(127\.0\.0\.1:1\)/);
      assert.ok(!error.message.includes("kick:"), "the user is not named");
      return true;
    },
  );
  assert.ok(performance.now() - started < 5_000);
});

Deno.test({
  name: "a PostgreSQL refusing the credentials fails with UnavailableError",
  ignore: testDatabaseUrl() === undefined,
  fn: async () => {
    const url = new URL(testDatabaseUrl()!);
    url.pathname = "/kick_monitor_no_such_database";
    url.password = "hunter2-secret";
    await assert.rejects(openStore({ databaseUrl: url.toString() }), (error: unknown) => {
      assert.ok(error instanceof UnavailableError, String(error));
      assert.ok(!error.message.includes("hunter2-secret"), error.message);
      return true;
    });
  },
});

Deno.test("the embedded database lives in DATA_DIR/pgdata (mode 0700) and persists", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "kick-monitor-store-" });
  try {
    const first = await openStore({ dataDir });
    try {
      assert.equal(first.kind, "pglite");
      await first.migrate();
      await first.addStreamers([{ slug: "xqc", broadcasterUserId: 676 }]);
    } finally {
      await first.close();
    }
    const info = await Deno.stat(`${dataDir}/pgdata`);
    assert.ok(info.isDirectory);
    assert.equal(info.mode! & 0o777, 0o700);
    const second = await openStore({ dataDir });
    try {
      assert.deepEqual((await second.migrate()).applied, []);
      assert.deepEqual((await second.listStreamers()).map((s) => s.slug), ["xqc"]);
    } finally {
      await second.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a schema name that is not a plain identifier is refused", async () => {
  await assert.rejects(
    openStore({ inMemory: true, schema: 'x"; DROP TABLE y; --' }),
    (error: unknown) => error instanceof UserFacingError && /Schema name/.test(error.message),
  );
});

/** A small seeded PRNG, so the random batches are the same on every run. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
