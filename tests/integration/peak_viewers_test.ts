/**
 * `recordPeakViewers` (src/store/viewers.ts) on both backends: one statement raises the open sessions' peaks,
 * never lowers one, leaves closed sessions alone, names the streamers without an open session, and `listSessions` (so `streamers history --json` and the
 * streamer page) reads it back. On PostgreSQL it also runs beside the writer without a deadlock: it locks the
 * streamers' rows in id order, as the writer does (README Architecture: src/store).
 */
import assert from "node:assert/strict";
import { testBackends, testDatabaseUrl } from "../helpers/db.ts";
import type { LiveStatus, Transition } from "../../src/domain/types.ts";
import { recordPeakViewers } from "../../src/store/viewers.ts";
import type { Store } from "../../src/store/store.ts";

const T0 = Date.parse("2026-12-03T12:00:00.000Z");

function transition(slug: string, type: LiveStatus, minutes: number): Transition {
  const at = new Date(T0 + minutes * 60_000);
  return {
    dedupeKey: `peak:${slug}:${type}:${minutes}`,
    slug,
    type,
    occurredAt: at,
    receivedAt: at,
    source: "poll",
    livestreamId: type === "online" ? 1000 + minutes : null,
    title: null,
    category: null,
    baseline: false,
    raw: null,
  };
}

async function peaks(store: Store, slug: string): Promise<Array<number | null>> {
  return (await store.listSessions(slug, 10)).map((s) => s.peakViewers);
}

for (const backend of testBackends()) {
  Deno.test(`peak viewers on ${backend.name}`, async () => {
    const database = await backend.open();
    const store = database.store;
    try {
      await store.migrate();
      await store.addStreamers([
        { slug: "alpha", broadcasterUserId: 1 },
        { slug: "beta", broadcasterUserId: 2 },
        { slug: "gamma", broadcasterUserId: 3 },
      ]);
      await store.applyTransitions([
        transition("alpha", "online", 0),
        transition("beta", "online", 0),
        transition("beta", "offline", 30),
      ]);
      // alpha live (open session), beta offline (a closed session), gamma never live, "nobody" not monitored.
      const unplaced = await recordPeakViewers(
        store.db,
        new Map([["alpha", 120], ["beta", 50], ["gamma", 7], ["nobody", 9]]),
      );
      // Those without an open session are named, for the caller to place once their session opens.
      assert.deepEqual([...unplaced].sort(), ["beta", "gamma", "nobody"]);
      assert.deepEqual(await peaks(store, "alpha"), [120]);
      assert.deepEqual(await peaks(store, "beta"), [null], "a closed session's peak changed");
      assert.deepEqual(await peaks(store, "gamma"), []);
      // A lower count keeps the peak; a higher one raises it.
      assert.deepEqual(await recordPeakViewers(store.db, new Map([["alpha", 80]])), []);
      assert.deepEqual(await peaks(store, "alpha"), [120]);
      await recordPeakViewers(store.db, new Map([["alpha", 300]]));
      assert.deepEqual(await peaks(store, "alpha"), [300]);
      // A new session starts without a peak; the old one keeps its own.
      await store.applyTransitions([
        transition("alpha", "offline", 60),
        transition("alpha", "online", 90),
      ]);
      await recordPeakViewers(store.db, new Map([["alpha", 10]]));
      assert.deepEqual(await peaks(store, "alpha"), [10, 300]);
      assert.deepEqual(await recordPeakViewers(store.db, new Map()), []); // no statement
    } finally {
      await database.cleanup();
    }
  });
}

Deno.test({
  name: "peak viewers: written beside the writer and markChecked without a deadlock (PostgreSQL)",
  ignore: testDatabaseUrl() === undefined,
  async fn() {
    const backend = testBackends().find((b) => b.name === "postgres")!;
    const database = await backend.open();
    const store = database.store;
    const slugs = Array.from({ length: 40 }, (_, n) => `p${String(n).padStart(2, "0")}`);
    const shuffled = () => [...slugs].sort(() => Math.random() - 0.5).slice(0, 30);
    try {
      await store.migrate();
      await store.addStreamers(slugs.map((slug, n) => ({ slug, broadcasterUserId: n + 1 })));
      // Rows laid out in descending id order, so a statement locking in scan order would meet the writer
      // head-on (as in lock_order_test.ts).
      for (let n = slugs.length - 1; n >= 0; n--) {
        await store.setStreamerIds(slugs[n], { chatroomId: n });
      }
      const deadlocks: string[] = [];
      const run = async (work: () => Promise<unknown>) => {
        try {
          await work();
        } catch (error) {
          const code = (error as { code?: unknown }).code ??
            ((error as { cause?: { code?: unknown } }).cause?.code);
          if (code === "40P01") deadlocks.push(String((error as Error).message));
          else throw error;
        }
      };
      for (let round = 0; round < 40 && deadlocks.length === 0; round++) {
        const type: LiveStatus = round % 2 === 0 ? "online" : "offline";
        await Promise.all([
          run(() => store.applyTransitions(shuffled().map((s) => transition(s, type, round)))),
          run(() => recordPeakViewers(store.db, new Map(shuffled().map((s) => [s, round + 1])))),
          run(() => recordPeakViewers(store.db, new Map(shuffled().map((s) => [s, round + 2])))),
          run(() => store.markChecked(shuffled(), new Date())),
        ]);
      }
      assert.deepEqual(deadlocks, []);
      const [row] = await store.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM stream_sessions WHERE peak_viewers IS NOT NULL",
      );
      assert.ok(row.n > 0, "no peak was written");
    } finally {
      await database.cleanup();
    }
  },
});
