/**
 * The write path on real databases (PGlite always, PostgreSQL with TEST_DATABASE_URL): the journal and the
 * database writer overlapped and concurrent (src/journal/database_writer.ts) leave exactly the rows the
 * one-transition-at-a-time reference writer leaves, and a crash between the journal's fsync and the
 * database's commit, in either order, replays to those same rows.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type TestBackend, testBackends } from "../helpers/db.ts";
import { snapshotRows } from "../helpers/rows.ts";
import type { Store } from "../../src/store/store.ts";
import type { Transition } from "../../src/domain/types.ts";
import { Journal, type JournalEntry } from "../../src/journal/journal.ts";
import { DatabaseWriter } from "../../src/journal/database_writer.ts";
import { PreJournal } from "../../src/journal/pre_journal.ts";
import { configureLogging } from "../../src/lib/log.ts";

configureLogging({ write: () => {} });

const SLUGS = ["ana", "bo", "cy", "dee", "eve", "fay"];
const T0 = Date.parse("2026-12-03T12:00:00.000Z");

/** Each streamer going online and offline in turn, interleaved across streamers as they would arrive. */
function history(rounds: number): Transition[] {
  const out: Transition[] = [];
  for (let step = 0; step < rounds; step++) {
    for (const [i, slug] of SLUGS.entries()) {
      const type = step % 2 === 0 ? "online" : "offline";
      const occurredAt = new Date(T0 + step * 60_000 + i * 1_000);
      const livestreamId = 5_000 + i * 100 + Math.floor(step / 2);
      out.push({
        dedupeKey: `${slug}:${type}:${livestreamId}`,
        slug,
        type,
        occurredAt,
        receivedAt: new Date(occurredAt.getTime() + 100),
        source: "pusher",
        livestreamId,
        title: type === "online" ? `${slug} ${step}` : null,
        category: null,
        baseline: false,
        raw: { step },
      });
    }
  }
  return out;
}

async function withStores(
  backend: TestBackend,
  fn: (store: Store, reference: Store) => Promise<void>,
): Promise<void> {
  const [one, two] = [await backend.open(), await backend.open()];
  try {
    for (const { store } of [one, two]) {
      await store.migrate();
      await store.addStreamers(SLUGS.map((slug, i) => ({ slug, broadcasterUserId: 900 + i })));
    }
    await fn(one.store, two.store);
  } finally {
    await one.cleanup();
    await two.cleanup();
  }
}

/** The reference rows: one transition at a time, in order. */
async function referenceRows(reference: Store, transitions: Transition[]): Promise<unknown> {
  await reference.applyTransitionsOneByOne(transitions);
  return await snapshotRows(reference);
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

for (const backend of testBackends()) {
  Deno.test(`write path on ${backend.name}`, async (t) => {
    await t.step("overlapped, concurrent batches leave the reference's rows", async () => {
      await withStores(backend, async (store, reference) => {
        const dir = await Deno.makeTempDir();
        const { journal } = await Journal.open(dir);
        const acknowledged: JournalEntry[] = [];
        const writer = new DatabaseWriter({
          store,
          cursor: journal,
          maxBatch: 5,
          concurrency: 3,
          concurrentBacklog: 1,
          onCommitted: (entries) => acknowledged.push(...entries),
        });
        writer.start();
        const transitions = history(12);
        for (let i = 0; i < transitions.length; i += 7) {
          const { entries, synced } = journal.write(transitions.slice(i, i + 7));
          writer.enqueue(entries, synced);
          if (i % 21 === 0) await synced;
        }
        await until(() => acknowledged.length === transitions.length, "every transition");
        await writer.stop(5_000);
        assert.equal(journal.committedSeq, transitions.length, "the cursor reached the end");
        journal.close();
        await Deno.remove(dir, { recursive: true });
        assert.deepEqual(await snapshotRows(store), await referenceRows(reference, transitions));
      });
    });

    await t.step(
      "through the pre-journal with a small window: everything once, each streamer in order",
      async () => {
        await withStores(backend, async (store, reference) => {
          const dir = await Deno.makeTempDir();
          const { journal } = await Journal.open(dir);
          const acknowledged: JournalEntry[] = [];
          const writer = new DatabaseWriter({
            store,
            cursor: journal,
            maxBatch: 4,
            maxQueued: 8,
            concurrency: 2,
            concurrentBacklog: 1,
            onCommitted: (entries) => acknowledged.push(...entries),
          });
          const preJournal = new PreJournal({
            journal,
            writer,
            dropped: () => assert.fail("nothing is dropped"),
          });
          writer.start();
          const transitions = history(10);
          // Arriving faster than the window drains: the writer reads the rest back from the journal.
          for (let i = 0; i < transitions.length; i += 3) {
            preJournal.add(transitions.slice(i, i + 3));
            if (i % 12 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
          }
          await preJournal.flushed(10_000);
          await until(() => acknowledged.length >= transitions.length, "every transition");
          await preJournal.stop();
          await writer.stop(5_000);
          journal.close();
          await Deno.remove(dir, { recursive: true });
          const keys = acknowledged.map((e) => e.transition.dedupeKey);
          assert.equal(new Set(keys).size, keys.length, "each acknowledged once");
          for (const slug of SLUGS) {
            const mine = acknowledged.filter((e) => e.transition.slug === slug).map((e) => e.seq);
            assert.deepEqual(
              mine,
              [...mine].sort((a, b) => a - b),
              `${slug} acknowledged in order`,
            );
          }
          assert.deepEqual(await snapshotRows(store), await referenceRows(reference, transitions));
        });
      },
    );

    await t.step(
      "journaled but not committed at the crash: the replay writes the rows",
      async () => {
        await withStores(backend, async (store, reference) => {
          const dir = await Deno.makeTempDir();
          const transitions = history(4);
          const first = await Journal.open(dir);
          // The fsync finished; the transaction failed (the database went away), then the process died.
          const { entries, synced } = first.journal.write(transitions);
          const writer = new DatabaseWriter({
            store: { applyTransitions: () => Promise.reject(new Error("connection lost")) },
            cursor: first.journal,
          });
          writer.enqueue(entries, synced);
          await synced;
          await assert.rejects(() => writer.flush(), /connection lost/);
          first.journal.close();

          const second = await Journal.open(dir);
          assert.equal(second.recovery.pendingTotal, transitions.length);
          const replay = new DatabaseWriter({ store, cursor: second.journal });
          replay.enqueue(second.recovery.pending);
          await replay.flush();
          second.journal.close();
          await Deno.remove(dir, { recursive: true });
          assert.deepEqual(await snapshotRows(store), await referenceRows(reference, transitions));
        });
      },
    );

    await t.step(
      "committed but not journaled at the crash: the re-found transitions add nothing",
      async () => {
        await withStores(backend, async (store, reference) => {
          const dir = await Deno.makeTempDir();
          const transitions = history(4);
          const half = transitions.length / 2;
          const first = await Journal.open(dir);
          const acknowledged: JournalEntry[] = [];
          let applied = 0;
          const writer = new DatabaseWriter({
            store: {
              applyTransitions: async (batch, options) => {
                const result = await store.applyTransitions(batch, options);
                applied += batch.length;
                return result;
              },
            },
            cursor: first.journal,
            onCommitted: (entries) => acknowledged.push(...entries),
          });
          writer.enqueue(await first.journal.append(transitions.slice(0, half)));
          await writer.flush();
          const path = join(dir, "journal.jsonl");
          const durableBytes = (await Deno.stat(path)).size;
          // The second half's transaction commits while its fsync is still running; then the power goes: the
          // unsynced lines are gone from the file, and nothing was acknowledged.
          const { entries } = first.journal.write(transitions.slice(half));
          writer.enqueue(entries, new Promise(() => {}));
          writer.start();
          await until(() => applied === transitions.length, "the second half's transaction");
          await writer.stop(200);
          const [{ n }] = await store.db.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM status_events",
          );
          assert.equal(n, transitions.length, "the second half is in the database");
          assert.equal(acknowledged.length, half, "the second half was never acknowledged");
          first.journal.close();
          await Deno.truncate(path, durableBytes);

          const second = await Journal.open(dir);
          assert.equal(second.recovery.pendingTotal, 0);
          // The sources find the second half again (the pipeline resumed from the journal) and journal it anew.
          const replay = new DatabaseWriter({ store, cursor: second.journal });
          replay.enqueue(await second.journal.append(transitions.slice(half)));
          await replay.flush();
          second.journal.close();
          await Deno.remove(dir, { recursive: true });
          assert.deepEqual(await snapshotRows(store), await referenceRows(reference, transitions));
        });
      },
    );

    await t.step("both done but the cursor not recorded: the replay changes nothing", async () => {
      await withStores(backend, async (store, reference) => {
        const dir = await Deno.makeTempDir();
        const transitions = history(4);
        const first = await Journal.open(dir);
        const entries = await first.journal.append(transitions);
        await store.applyTransitions(entries.map((e) => e.transition));
        first.journal.close();
        const second = await Journal.open(dir);
        assert.equal(second.recovery.pendingTotal, transitions.length);
        const replay = new DatabaseWriter({ store, cursor: second.journal, concurrency: 3 });
        replay.enqueue(second.recovery.pending);
        await replay.flush();
        second.journal.close();
        await Deno.remove(dir, { recursive: true });
        assert.deepEqual(await snapshotRows(store), await referenceRows(reference, transitions));
      });
    });
  });
}
