/**
 * The embedded database's upkeep (store/embedded_upkeep.ts) against a real PGlite: it has no autovacuum, so
 * without this the planner never learns a table's size and dead rows are never reclaimed.
 */
import assert from "node:assert/strict";
import {
  readTableActivity,
  runUpkeep,
  startEmbeddedUpkeep,
} from "../../src/store/embedded_upkeep.ts";
import { testBackends } from "../helpers/db.ts";
import type { Db } from "../../src/store/db.ts";
import type { Store } from "../../src/store/store.ts";

const [pglite, postgres] = testBackends();

/** The plan PostgreSQL picks to read 13 streamers by slug, as the writer does for each batch. */
async function slugLookupPlan(db: Db) {
  const rows = await db.query<{ "QUERY PLAN": string }>(
    "EXPLAIN SELECT id FROM streamers WHERE slug = ANY($1::text[])",
    [Array.from({ length: 13 }, (_, i) => `s${i * 7}`)],
  );
  return rows.map((r) => r["QUERY PLAN"]).join("\n");
}

/** Adds `count` streamers s0, s1, … with ids. */
async function addStreamers(store: Store, count: number): Promise<void> {
  await store.addStreamers(
    Array.from({ length: count }, (_, i) => ({
      slug: `s${i}`,
      broadcasterUserId: i + 1,
      channelId: i + 1,
      chatroomId: i + 1,
    })),
  );
}

/**
 * Waits until what the backend did so far is in pg_stat_user_tables: it sends its statistics when idle, at
 * most once a second, so after a second's pause one more statement sends them.
 */
async function statisticsSent(db: Db): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await db.query("SELECT 1");
}

Deno.test("embedded upkeep: PGlite never runs autovacuum; the upkeep analyzes and vacuums what autovacuum would", async () => {
  const { store, cleanup } = await pglite.open();
  try {
    await store.migrate();
    await addStreamers(store, 1000);
    // 600 of them go live and offline: sessions opened, then closed (each close leaves a dead row).
    await store.db.exec(
      `INSERT INTO stream_sessions (streamer_id, started_at)
         SELECT id, now() - interval '1 hour' FROM streamers WHERE id <= 600;
       UPDATE stream_sessions SET ended_at = now();`,
    );
    await statisticsSent(store.db);
    const before = new Map((await readTableActivity(store.db)).map((t) => [t.table, t]));
    assert.ok(
      before.get("stream_sessions")!.dead >= 600,
      JSON.stringify(before.get("stream_sessions")),
    );
    assert.match(
      await slugLookupPlan(store.db),
      /Seq Scan on streamers/,
      "unanalyzed: the whole table is read",
    );

    const steps = await runUpkeep(store.db);
    const byTable = new Map(steps.map((s) => [s.table, s]));
    assert.deepEqual(byTable.get("streamers"), {
      schema: "public",
      table: "streamers",
      vacuum: false,
      analyze: true,
    });
    assert.equal(byTable.get("stream_sessions")?.vacuum, true);
    assert.match(await slugLookupPlan(store.db), /Index Scan using streamers_slug_key/);

    await statisticsSent(store.db);
    const after = new Map((await readTableActivity(store.db)).map((t) => [t.table, t]));
    assert.ok(
      after.get("stream_sessions")!.dead < 50,
      JSON.stringify(after.get("stream_sessions")),
    );
    // Done: a second round finds nothing to do.
    assert.deepEqual(await runUpkeep(store.db), []);
  } finally {
    await cleanup();
  }
});

Deno.test("embedded upkeep: started, it runs at once; stopped, it waits for its round so the database can close", async () => {
  const { store, cleanup } = await pglite.open();
  try {
    await store.migrate();
    await addStreamers(store, 1000);
    await statisticsSent(store.db);
    const upkeep = startEmbeddedUpkeep(store.db, 3_600_000);
    await upkeep.stop();
    assert.match(await slugLookupPlan(store.db), /Index Scan using streamers_slug_key/);
  } finally {
    await cleanup();
  }
});

Deno.test({
  name: "embedded upkeep: nothing on PostgreSQL, which runs its own autovacuum",
  ignore: postgres === undefined,
  async fn() {
    const { store, cleanup } = await postgres.open();
    try {
      await store.migrate();
      const statements: string[] = [];
      const db = new Proxy(store.db, {
        get(target, key) {
          if (key === "exec" || key === "query") {
            return (text: string, ...rest: unknown[]) => {
              statements.push(text);
              return (target[key] as (t: string, ...r: unknown[]) => Promise<unknown>)(
                text,
                ...rest,
              );
            };
          }
          return Reflect.get(target, key);
        },
      });
      const upkeep = startEmbeddedUpkeep(db, 10);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await upkeep.stop();
      assert.deepEqual(statements, []);
    } finally {
      await cleanup();
    }
  },
});
