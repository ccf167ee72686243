/** The set-based writer's rules, without a database: planBatch over plain data. */
import assert from "node:assert/strict";
import { planBatch, type PlanStep, type StoredStreamerState } from "../../src/store/transitions.ts";
import type { Transition, TransitionType } from "../../src/domain/types.ts";

const T0 = Date.parse("2026-11-25T18:00:00.000Z");

function at(minutes: number): Date {
  return new Date(T0 + minutes * 60_000);
}

function step(
  streamerId: number,
  type: TransitionType,
  minutes: number,
  options: { baseline?: boolean; newEvent?: boolean } = {},
): PlanStep {
  const transition: Transition = {
    dedupeKey: `${streamerId}:${type}:${minutes}`,
    slug: `s${streamerId}`,
    type,
    occurredAt: at(minutes),
    receivedAt: at(minutes),
    source: "pusher",
    livestreamId: type === "online" ? 1000 + minutes : null,
    title: type === "offline" ? null : `title ${minutes}`,
    category: type === "online" ? "Just Chatting" : null,
    baseline: options.baseline ?? false,
    raw: null,
  };
  return { streamerId, transition, newEvent: options.newEvent ?? true };
}

function streamers(...states: Partial<StoredStreamerState>[]): Map<number, StoredStreamerState> {
  return new Map(states.map((state, index) => {
    const full: StoredStreamerState = {
      id: index + 1,
      status: "unknown",
      statusChangedAt: null,
      openSessionId: null,
      ...state,
    };
    return [full.id, full];
  }));
}

Deno.test("online then offline in one batch becomes one complete session", () => {
  const plan = planBatch([step(1, "online", 0), step(1, "offline", 60)], streamers({}));
  assert.deepEqual(plan.closeSessions, []);
  assert.deepEqual(plan.insertSessions, [{
    streamerId: 1,
    livestreamId: 1000,
    startedAt: at(0),
    endedAt: at(60),
    title: "title 0",
    category: "Just Chatting",
  }]);
  assert.deepEqual(plan.statusUpdates, [{ streamerId: 1, status: "offline", changedAt: at(60) }]);
  assert.equal(plan.applied, 2);
});

Deno.test("an online closes the session open before the batch and opens a new one", () => {
  const plan = planBatch(
    [step(1, "online", 10)],
    streamers({ status: "online", statusChangedAt: at(0), openSessionId: 77 }),
  );
  assert.deepEqual(plan.closeSessions, [{ id: 77, endedAt: at(10) }]);
  assert.equal(plan.insertSessions.length, 1);
  assert.equal(plan.insertSessions[0].endedAt, null);
  assert.deepEqual(plan.insertSessions[0].startedAt, at(10));
});

Deno.test("an offline without an open session only sets the status", () => {
  const plan = planBatch([step(1, "offline", 10)], streamers({}));
  assert.deepEqual(plan.closeSessions, []);
  assert.deepEqual(plan.insertSessions, []);
  assert.deepEqual(plan.statusUpdates, [{ streamerId: 1, status: "offline", changedAt: at(10) }]);
});

Deno.test("replayed events change nothing", () => {
  const plan = planBatch(
    [step(1, "online", 0, { newEvent: false }), step(1, "offline", 5, { newEvent: false })],
    streamers({ openSessionId: 5, status: "online", statusChangedAt: at(0) }),
  );
  assert.deepEqual(plan, {
    closeSessions: [],
    insertSessions: [],
    retitleSessions: [],
    statusUpdates: [],
    applied: 0,
  });
});

Deno.test("baselines: online opens a session only when none is open; stale ones are skipped", () => {
  const fresh = planBatch(
    [step(1, "online", 0, { baseline: true }), step(1, "online", 1, { baseline: true })],
    streamers({}),
  );
  assert.equal(fresh.insertSessions.length, 1);
  assert.deepEqual(fresh.statusUpdates, [{ streamerId: 1, status: "online", changedAt: at(1) }]);
  assert.equal(fresh.applied, 2);

  const alreadyOpen = planBatch(
    [step(1, "online", 5, { baseline: true })],
    streamers({ status: "online", statusChangedAt: at(0), openSessionId: 9 }),
  );
  assert.deepEqual(alreadyOpen.insertSessions, []);
  assert.deepEqual(alreadyOpen.closeSessions, []);

  const stale = planBatch(
    [step(1, "online", 0, { baseline: true })],
    streamers({ status: "offline", statusChangedAt: at(60) }),
  );
  assert.deepEqual(stale, {
    closeSessions: [],
    insertSessions: [],
    retitleSessions: [],
    statusUpdates: [],
    applied: 0,
  });

  const offline = planBatch([step(1, "offline", 0, { baseline: true })], streamers({}));
  assert.deepEqual(offline.insertSessions, []);
  assert.deepEqual(offline.statusUpdates, [{ streamerId: 1, status: "offline", changedAt: at(0) }]);
});

Deno.test("a late, older event is recorded but changes neither sessions nor status", () => {
  const plan = planBatch(
    [step(1, "offline", 5), step(1, "online", 7)],
    streamers({ status: "online", statusChangedAt: at(10), openSessionId: 3 }),
  );
  assert.deepEqual(plan, {
    closeSessions: [],
    insertSessions: [],
    retitleSessions: [],
    statusUpdates: [],
    applied: 2,
  });
});

Deno.test("streamers are planned independently, and unknown ids are ignored", () => {
  const plan = planBatch(
    [step(1, "online", 0), step(2, "online", 1), step(3, "online", 2), step(1, "offline", 3)],
    streamers({}, {}),
  );
  assert.deepEqual(plan.insertSessions.map((s) => [s.streamerId, s.endedAt]), [
    [1, at(3)],
    [2, null],
  ]);
  assert.deepEqual(plan.statusUpdates.map((u) => [u.streamerId, u.status]), [
    [1, "offline"],
    [2, "online"],
  ]);
  assert.equal(plan.applied, 3);
});

Deno.test("a title event retitles the session open before the batch, the last one winning", () => {
  const plan = planBatch(
    [step(1, "title", 10), step(1, "title", 20), step(2, "title", 5)],
    streamers(
      { status: "online", statusChangedAt: at(0), openSessionId: 77 },
      { status: "online", statusChangedAt: at(0), openSessionId: 78 },
    ),
  );
  assert.deepEqual(plan.retitleSessions, [
    { id: 77, title: "title 20", category: null },
    { id: 78, title: "title 5", category: null },
  ]);
  // A title change is an event, not a status: no status update, no session opened or closed.
  assert.deepEqual(plan.statusUpdates, []);
  assert.deepEqual(plan.closeSessions, []);
  assert.deepEqual(plan.insertSessions, []);
  assert.equal(plan.applied, 3);
});

Deno.test("a title event after an online in the same batch retitles the new session", () => {
  const plan = planBatch([step(1, "online", 0), step(1, "title", 10)], streamers({}));
  assert.equal(plan.insertSessions.length, 1);
  assert.equal(plan.insertSessions[0].title, "title 10");
  assert.equal(plan.insertSessions[0].category, "Just Chatting");
  assert.deepEqual(plan.retitleSessions, []);
  assert.deepEqual(plan.statusUpdates, [{ streamerId: 1, status: "online", changedAt: at(0) }]);
});

Deno.test("a title event that is replayed, older than the status or while offline changes no session", () => {
  const open = { status: "online" as const, statusChangedAt: at(30), openSessionId: 77 };
  const replayed = planBatch([step(1, "title", 40, { newEvent: false })], streamers(open));
  assert.equal(replayed.applied, 0);
  const older = planBatch([step(1, "title", 10)], streamers(open));
  assert.equal(older.applied, 1, "recorded as history");
  assert.deepEqual(older.retitleSessions, []);
  const offline = planBatch(
    [step(1, "title", 40)],
    streamers({ status: "offline", statusChangedAt: at(30) }),
  );
  assert.deepEqual(offline.retitleSessions, []);
  assert.deepEqual(offline.statusUpdates, []);
});
