/**
 * The viewer bookkeeping (src/monitor/viewer_counts.ts): the latest count per live streamer, forgotten on an
 * offline transition, and each batch's peaks written in one call, one write at a time, kept on failure.
 */
import assert from "node:assert/strict";
import type { Observation, Transition } from "../../src/domain/types.ts";
import { ViewerCounts } from "../../src/monitor/viewer_counts.ts";

const T0 = Date.parse("2026-12-03T12:00:00Z");

function seen(
  slug: string,
  viewers: number | null,
  atMs: number,
  status: "online" | "offline" = "online",
): Observation {
  const at = new Date(atMs);
  return {
    slug,
    status,
    observedAt: at,
    receivedAt: at,
    source: viewers === null ? "pusher" : "poll",
    evidence: viewers === null ? "push" : "poll",
    livestreamId: null,
    title: null,
    category: null,
    viewers,
    raw: null,
  };
}

function offline(slug: string): Transition {
  return {
    dedupeKey: `${slug}:off`,
    slug,
    type: "offline",
    occurredAt: new Date(T0),
    receivedAt: new Date(T0),
    source: "pusher",
    livestreamId: null,
    title: null,
    category: null,
    baseline: false,
    raw: null,
  };
}

/** A recordPeaks that records its calls and can be made to fail, to wait, or to find no open session. */
function recorder() {
  const calls: Array<Record<string, number>> = [];
  const notOpen = new Set<string>();
  let fail = false;
  let gate: Promise<void> | null = null;
  return {
    calls,
    notOpen,
    failNext(value: boolean) {
      fail = value;
    },
    hold(): () => void {
      let open = () => {};
      gate = new Promise((resolve) => (open = resolve));
      return open;
    },
    recordPeaks: async (peaks: ReadonlyMap<string, number>) => {
      calls.push(Object.fromEntries(peaks));
      if (gate !== null) await gate;
      gate = null;
      if (fail) throw new Error("database down");
      return [...peaks.keys()].filter((slug) => notOpen.has(slug));
    },
  };
}

Deno.test("the latest count per streamer, with when it was seen; a late older count does not win", async () => {
  const store = recorder();
  const counts = new ViewerCounts(store);
  counts.observed([seen("a", 10, T0), seen("b", 5, T0)]);
  counts.observed([seen("a", 7, T0 + 60_000)]);
  counts.observed([seen("a", 99, T0 + 30_000)]); // received out of order: older than what is shown
  assert.deepEqual(counts.of("a"), { viewers: 7, seenAt: new Date(T0 + 60_000), category: null });
  assert.deepEqual(counts.of("b"), { viewers: 5, seenAt: new Date(T0), category: null });
  assert.equal(counts.of("c"), null);
  await counts.flush();
  // The first batch is written at once; the two that came while it was in flight, merged, after it (the
  // peaks are maxima; the store keeps the greatest).
  assert.deepEqual(store.calls, [{ a: 10, b: 5 }, { a: 99 }]);
});

Deno.test("observations without a count (Pusher) or of offline change nothing and write nothing", async () => {
  const store = recorder();
  const counts = new ViewerCounts(store);
  counts.observed([seen("a", null, T0), seen("b", 3, T0, "offline")]);
  await counts.flush();
  assert.equal(counts.of("a"), null);
  assert.equal(counts.of("b"), null);
  assert.deepEqual(store.calls, []);
});

Deno.test("an offline transition forgets the count; others stay", () => {
  const counts = new ViewerCounts(recorder());
  counts.observed([seen("a", 10, T0), seen("b", 4, T0)]);
  counts.committed([offline("a"), { ...offline("b"), type: "online", dedupeKey: "b:on" }]);
  assert.equal(counts.of("a"), null);
  assert.equal(counts.of("b")?.viewers, 4);
});

Deno.test("one write at a time: batches arriving meanwhile are merged into the next write", async () => {
  const store = recorder();
  const counts = new ViewerCounts(store);
  const open = store.hold();
  counts.observed([seen("a", 10, T0)]);
  counts.observed([seen("a", 30, T0 + 1), seen("b", 2, T0 + 1)]);
  counts.observed([seen("a", 20, T0 + 2)]);
  await Promise.resolve();
  assert.deepEqual(
    store.calls,
    [{ a: 10 }],
    "a second write started while the first was in flight",
  );
  open();
  await counts.flush();
  assert.deepEqual(store.calls, [{ a: 10 }, { a: 30, b: 2 }]);
});

Deno.test("a failed write keeps its peaks for the next batch, merged with it", async () => {
  const store = recorder();
  const counts = new ViewerCounts(store);
  store.failNext(true);
  counts.observed([seen("a", 50, T0), seen("b", 1, T0)]);
  await counts.settled();
  store.failNext(false);
  // A batch without counts does not retry (Pusher's frames would hammer a database that is down).
  counts.observed([seen("a", null, T0 + 1)]);
  await counts.settled();
  assert.equal(store.calls.length, 1);
  counts.observed([seen("a", 40, T0 + 2), seen("c", 9, T0 + 2)]);
  await counts.flush();
  assert.deepEqual(store.calls, [{ a: 50, b: 1 }, { a: 50, b: 1, c: 9 }]);
});

Deno.test("listeners hear of a streamer's first count since it went live, with the poll's category", () => {
  const counts = new ViewerCounts(recorder());
  const heard: string[] = [];
  const stop = counts.onFirstCount((slug, count) =>
    heard.push(`${slug}:${count.viewers}:${count.category}`)
  );
  counts.onFirstCount(() => {
    throw new Error("a broken listener does not stop the others");
  });
  counts.observed([{ ...seen("a", 10, T0), category: "Chess" }]);
  counts.observed([seen("a", 12, T0 + 1)]); // not the first: silent
  counts.committed([offline("a")]);
  counts.observed([{ ...seen("a", 4, T0 + 2), category: "Poker" }]); // live again: first again
  assert.deepEqual(heard, ["a:10:Chess", "a:4:Poker"]);
  assert.equal(counts.of("a")?.category, "Poker");
  stop();
  counts.observed([seen("b", 1, T0)]);
  assert.equal(heard.length, 2);
});

function online(slug: string, atMs: number): Transition {
  return {
    ...offline(slug),
    dedupeKey: `${slug}:on:${atMs}`,
    type: "online",
    occurredAt: new Date(atMs),
  };
}

Deno.test("a peak that found no open session is written again when the online transition commits", async () => {
  const store = recorder();
  const counts = new ViewerCounts(store);
  // The pass that sees the go-live: its transition has not committed yet, so there is no session.
  store.notOpen.add("a");
  counts.observed([seen("a", 70, T0 + 1000), seen("b", 5, T0 + 1000)]);
  await counts.settled();
  store.notOpen.clear();
  counts.committed([online("b", T0)]); // b's peak was placed: nothing to write again
  await counts.settled();
  assert.equal(store.calls.length, 1);
  counts.committed([online("a", T0)]);
  await counts.settled();
  assert.deepEqual(store.calls, [{ a: 70, b: 5 }, { a: 70 }]);
  // Placed now: a later transition does not write it a third time.
  counts.committed([online("a", T0 + 5000)]);
  await counts.settled();
  assert.equal(store.calls.length, 2);
});

Deno.test("the online transition may commit while the write that missed its session is in flight", async () => {
  const store = recorder();
  const counts = new ViewerCounts(store);
  store.notOpen.add("a");
  const open = store.hold();
  counts.observed([seen("a", 70, T0 + 1000)]);
  counts.committed([online("a", T0)]); // committed before the write came back
  store.notOpen.clear();
  open();
  await counts.flush();
  assert.deepEqual(store.calls, [{ a: 70 }, { a: 70 }]);
});

Deno.test("a peak without a session is dropped on offline, and never given to a later session", async () => {
  const store = recorder();
  const counts = new ViewerCounts(store);
  store.notOpen.add("a");
  counts.observed([seen("a", 70, T0)]); // a stale "online" answer: no session, none opens
  await counts.settled();
  counts.committed([online("a", T0 + 60_000)]); // a session that started after the count was seen
  await counts.settled();
  assert.equal(store.calls.length, 1, "an older count was written into a newer session");
  counts.observed([seen("a", 9, T0 + 70_000)]);
  await counts.settled();
  counts.committed([offline("a")]);
  counts.committed([online("a", T0 + 60_000)]);
  await counts.settled();
  assert.deepEqual(store.calls, [{ a: 70 }, { a: 9 }]);
});
