/**
 * The database writer's overlap with the journal and its concurrent batches (src/journal/database_writer.ts),
 * against a fake store: acknowledged only when both the transaction and the fsync are done; batches in flight
 * never share a streamer; each streamer's transitions reach the store in journal order.
 */
import assert from "node:assert/strict";
import type { Transition } from "../../src/domain/types.ts";
import { DatabaseWriter, type TransitionStore } from "../../src/journal/database_writer.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { configureLogging } from "../../src/lib/log.ts";
import { numberedTransition as transition } from "../helpers/transitions.ts";

configureLogging({ write: () => {} });

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((yes, no) => [resolve, reject] = [yes, no]);
  return { promise, resolve, reject };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A store that records every call, holds each one for a while, and checks no two calls in flight overlap. */
function recordingStore(delayMs: (call: number) => number) {
  const applied: Transition[] = [];
  const inFlight = new Set<string>();
  let calls = 0;
  let peak = 0;
  let open = 0;
  const store: TransitionStore = {
    async applyTransitions(transitions) {
      const slugs = new Set(transitions.map((t) => t.slug));
      for (const slug of slugs) {
        assert.ok(!inFlight.has(slug), `two batches in flight hold ${slug}`);
        inFlight.add(slug);
      }
      open++;
      peak = Math.max(peak, open);
      await new Promise((resolve) => setTimeout(resolve, delayMs(calls++)));
      applied.push(...transitions);
      open--;
      for (const slug of slugs) inFlight.delete(slug);
      return { inserted: transitions.length, skipped: 0 };
    },
  };
  return { store, applied, peak: () => peak };
}

Deno.test("database writer: concurrent batches hold disjoint streamers and keep each streamer's order", async () => {
  const { store, applied, peak } = recordingStore((call) => 1 + (call * 7) % 5);
  const cursors: number[] = [];
  const acknowledged: number[] = [];
  const writer = new DatabaseWriter({
    store,
    cursor: { markCommitted: (seq) => Promise.resolve(void cursors.push(seq)) },
    maxBatch: 8,
    concurrency: 3,
    concurrentBacklog: 1,
    onCommitted: (entries) => acknowledged.push(...entries.map((e) => e.seq)),
  });
  writer.start();
  let seq = 0;
  const slugs = ["a", "b", "c", "d", "e", "f", "g"];
  for (let round = 0; round < 40; round++) {
    const entries: JournalEntry[] = [];
    for (let k = 0; k < 5; k++) {
      const n = ++seq;
      entries.push({ seq: n, transition: transition(slugs[(n * 3 + round) % slugs.length], n) });
    }
    const fsync = deferred();
    writer.enqueue(entries, fsync.promise);
    setTimeout(fsync.resolve, round % 4);
    if (round % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 3));
  }
  await until(() => acknowledged.length === seq, "every entry acknowledged");
  await writer.stop(1_000);
  assert.ok(peak() > 1, "batches ran side by side");
  for (const slug of slugs) {
    const order = applied.filter((t) => t.slug === slug).map((t) => t.livestreamId!);
    assert.deepEqual(order, [...order].sort((x, y) => x - y), `${slug} in journal order`);
  }
  assert.deepEqual(
    [...acknowledged].sort((x, y) => x - y),
    Array.from({ length: seq }, (_, i) => i + 1),
  );
  assert.deepEqual(cursors, [...cursors].sort((x, y) => x - y), "the cursor only moves forward");
  assert.equal(cursors[cursors.length - 1], seq);
});

Deno.test("database writer: a batch is acknowledged only once its journal fsync is done too", async () => {
  const { store, applied } = recordingStore(() => 0);
  const cursors: number[] = [];
  const acknowledged: number[] = [];
  const writer = new DatabaseWriter({
    store,
    cursor: { markCommitted: (seq) => Promise.resolve(void cursors.push(seq)) },
    onCommitted: (entries) => acknowledged.push(...entries.map((e) => e.seq)),
  });
  writer.start();
  const fsync = deferred();
  writer.enqueue([{ seq: 1, transition: transition("a", 1) }], fsync.promise);
  await until(() => applied.length === 1, "the transaction, before the fsync");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(acknowledged, [], "committed but not journaled: not acknowledged");
  assert.deepEqual(cursors, []);
  assert.equal(writer.backlog, 1);
  fsync.resolve();
  await until(() => acknowledged.length === 1, "the acknowledgement");
  assert.deepEqual(cursors, [1]);
  await writer.stop(1_000);
});

Deno.test("database writer: entries the journal refused are never acknowledged; their new copies are, once", async () => {
  const { store, applied } = recordingStore(() => 1);
  const acknowledged: string[] = [];
  const writer = new DatabaseWriter({
    store,
    cursor: { markCommitted: () => Promise.resolve() },
    onCommitted: (entries) => acknowledged.push(...entries.map((e) => e.transition.dedupeKey)),
  });
  writer.start();
  const refused = deferred();
  writer.enqueue([{ seq: 1, transition: transition("a", 1) }], refused.promise);
  await until(() => applied.length === 1, "the first attempt's transaction");
  refused.reject(new Error("No space left on device (os error 28)"));
  // The pre-journal journals it again under a new number.
  writer.enqueue([{ seq: 2, transition: transition("a", 1) }], Promise.resolve());
  await until(() => acknowledged.length > 0, "the copy acknowledged");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(acknowledged, ["a:1"]);
  assert.equal(writer.backlog, 0);
  await writer.stop(1_000);
});

Deno.test("database writer: stop() finishes when a journal fsync never does", async () => {
  const { store } = recordingStore(() => 0);
  const writer = new DatabaseWriter({ store, cursor: { markCommitted: () => Promise.resolve() } });
  writer.start();
  writer.enqueue([{ seq: 1, transition: transition("a", 1) }], new Promise(() => {}));
  const started = Date.now();
  await writer.stop(100);
  assert.ok(Date.now() - started < 3_000, `stop took ${Date.now() - started} ms`);
  assert.equal(writer.backlog, 1, "left for the journal's replay");
});

Deno.test("database writer: a second batch starts beside the first only once a backlog has built up", async () => {
  const release: (() => void)[] = [];
  let open = 0;
  let peak = 0;
  const writer = new DatabaseWriter({
    store: {
      async applyTransitions(transitions) {
        peak = Math.max(peak, ++open);
        await new Promise<void>((resolve) => release.push(resolve));
        open--;
        return { inserted: transitions.length, skipped: 0 };
      },
    },
    cursor: { markCommitted: () => Promise.resolve() },
    concurrency: 3,
    concurrentBacklog: 10,
  });
  writer.start();
  writer.enqueue([{ seq: 1, transition: transition("a", 1) }]);
  await until(() => release.length === 1, "the first batch");
  writer.enqueue([2, 3, 4, 5].map((n) => ({ seq: n, transition: transition(`s${n}`, n) })));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(peak, 1, "four waiting: they gather behind the batch in flight");
  writer.enqueue(
    Array.from({ length: 8 }, (_, i) => ({ seq: 6 + i, transition: transition(`t${i}`, 6 + i) })),
  );
  await until(() => peak === 2, "a second batch for the backlog");
  while (writer.backlog > 0) {
    release.splice(0).forEach((resolve) => resolve());
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await writer.stop(1_000);
});
