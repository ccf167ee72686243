/**
 * Lock order (issue 11, item 8): every statement that locks several streamer rows takes them in id order, so
 * the writer (journal replay and live batches: `applyTransitions`, which locks `ORDER BY id FOR NO KEY UPDATE`)
 * and the poll's `markChecked` (and adding or removing streamers) can run at once without PostgreSQL
 * deadlocking them. PostgreSQL only: PGlite is one session and cannot deadlock with itself.
 *
 * The rows are laid out on disk in the reverse of id order first, so a statement that locks in scan order
 * (the old `UPDATE streamers … WHERE slug = ANY(…)`) meets the writer head-on.
 */
import assert from "node:assert/strict";
import { testBackends, testDatabaseUrl } from "../helpers/db.ts";
import type { Transition } from "../../src/domain/types.ts";

const STREAMERS = 40;
const ROUNDS = 60;

function slugOf(n: number): string {
  return `s${String(n).padStart(3, "0")}`;
}

/** A random subset of `size` slugs, in random order. */
function someSlugs(size: number): string[] {
  const all = Array.from({ length: STREAMERS }, (_, n) => slugOf(n));
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, size);
}

let sequence = 0;

function transitionsFor(slugs: string[]): Transition[] {
  return slugs.map((slug) => {
    const n = ++sequence;
    const at = new Date(Date.UTC(2026, 10, 25, 18, 0, 0) + n * 1000);
    return {
      dedupeKey: `lock-order:${n}`,
      slug,
      type: n % 2 === 0 ? "offline" : "online",
      occurredAt: at,
      receivedAt: at,
      source: "pusher",
      livestreamId: n,
      title: null,
      category: null,
      baseline: false,
      raw: null,
    };
  });
}

Deno.test({
  name:
    "lock order: the writer, markChecked and adding streamers run concurrently without a deadlock",
  ignore: testDatabaseUrl() === undefined,
  async fn() {
    const backend = testBackends().find((b) => b.name === "postgres")!;
    const database = await backend.open();
    const store = database.store;
    try {
      await store.migrate();
      await store.addStreamers(
        Array.from({ length: STREAMERS }, (_, n) => ({
          slug: slugOf(n),
          broadcasterUserId: n + 1,
        })),
      );
      // Rewrite every row, highest id first: each new row version is appended, so a scan now meets the rows
      // in descending id order.
      for (let n = STREAMERS - 1; n >= 0; n--) {
        await store.setStreamerIds(slugOf(n), { chatroomId: n });
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
      for (let round = 0; round < ROUNDS && deadlocks.length === 0; round++) {
        const at = new Date();
        await Promise.all([
          // One writer, as in the daemon (one monitor per database).
          run(() => store.applyTransitions(transitionsFor(someSlugs(25)))),
          run(() => store.removeStreamers(["absent-1", "absent-2"])),
          run(() => store.markChecked(someSlugs(30), at)),
          run(() => store.markChecked(someSlugs(30), at)),
          run(() =>
            store.addStreamers(
              someSlugs(20).map((slug, n) => ({ slug, broadcasterUserId: null, channelId: n + 1 })),
            )
          ),
        ]);
      }
      assert.deepEqual(deadlocks, []);
      // The work really happened.
      const [row] = await store.db.query<{ n: number }>(
        "SELECT count(*) AS n FROM streamers WHERE last_checked_at IS NOT NULL",
      );
      assert.ok(row.n > 0);
    } finally {
      await database.cleanup();
    }
  },
});
