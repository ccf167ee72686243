import assert from "node:assert/strict";
import type { Observation } from "../../src/domain/types.ts";
import {
  initialState,
  observe,
  type StreamerState,
  tick,
} from "../../src/monitor/status_machine.ts";
import { Pipeline } from "../../src/monitor/pipeline.ts";

const T0 = Date.parse("2026-11-25T18:00:00Z");

function obs(partial: Partial<Observation> & Pick<Observation, "status">): Observation {
  const at = new Date(T0);
  return {
    slug: "xqc",
    observedAt: at,
    receivedAt: at,
    source: "pusher",
    livestreamId: null,
    title: null,
    category: null,
    viewers: null,
    raw: null,
    ...partial,
  };
}

const noGrace = { offlineGraceMs: 0 };
const grace = { offlineGraceMs: 60_000 };

function online(state: StreamerState, livestreamId = 1): StreamerState {
  return { ...state, status: "online", livestreamId, since: new Date(T0) };
}

Deno.test("first poll of a new streamer is a baseline, not a transition that just happened", () => {
  for (const status of ["online", "offline"] as const) {
    const step = observe(initialState("xqc"), obs({ status, source: "poll" }), noGrace);
    assert.equal(step.state.status, status);
    assert.equal(step.transitions.length, 1);
    assert.equal(step.transitions[0].baseline, true);
  }
});

Deno.test("first pusher event of a new streamer is a real transition", () => {
  const step = observe(initialState("xqc"), obs({ status: "online", livestreamId: 7 }), noGrace);
  assert.equal(step.transitions.length, 1);
  assert.equal(step.transitions[0].baseline, false);
  assert.equal(step.transitions[0].livestreamId, 7);
});

Deno.test("offline → online is one transition with the observed (real) time", () => {
  const state: StreamerState = { ...initialState("xqc"), status: "offline" };
  const started = new Date(T0 - 5_000);
  const step = observe(
    state,
    obs({ status: "online", observedAt: started, livestreamId: 9 }),
    grace,
  );
  assert.equal(step.transitions.length, 1);
  assert.equal(step.transitions[0].type, "online");
  assert.deepEqual(step.transitions[0].occurredAt, started);
  assert.equal(step.state.livestreamId, 9);
});

Deno.test("duplicates are idempotent: the same online twice, or from poll and pusher, is one transition", () => {
  let state: StreamerState = { ...initialState("xqc"), status: "offline" };
  const all = [];
  for (
    const o of [
      obs({ status: "online", livestreamId: 5 }),
      obs({ status: "online", livestreamId: 5 }),
      obs({ status: "online", source: "poll" }),
    ]
  ) {
    const step = observe(state, o, noGrace);
    state = step.state;
    all.push(...step.transitions);
  }
  assert.equal(all.length, 1);
});

Deno.test("offline → offline and a stale stop for another livestream are ignored", () => {
  const offline: StreamerState = { ...initialState("xqc"), status: "offline" };
  assert.equal(observe(offline, obs({ status: "offline" }), noGrace).transitions.length, 0);
  const live = online(initialState("xqc"), 10);
  const stale = observe(live, obs({ status: "offline", livestreamId: 9 }), noGrace);
  assert.equal(stale.transitions.length, 0);
  assert.equal(stale.state.status, "online");
});

Deno.test("with no grace an offline is recorded at once and keeps the session's livestream id", () => {
  const step = observe(online(initialState("xqc"), 10), obs({ status: "offline" }), noGrace);
  assert.equal(step.transitions.length, 1);
  assert.equal(step.transitions[0].type, "offline");
  assert.equal(step.transitions[0].livestreamId, 10);
});

Deno.test("grace: an offline is held, then recorded with its own time once the grace passes", () => {
  const wentOffline = new Date(T0 + 1_000);
  let step = observe(
    online(initialState("xqc")),
    obs({ status: "offline", observedAt: wentOffline, receivedAt: wentOffline }),
    grace,
  );
  assert.equal(step.transitions.length, 0);
  assert.notEqual(step.state.pendingOffline, null);
  assert.equal(tick(step.state, T0 + 30_000, grace).transitions.length, 0);
  step = tick(step.state, T0 + 61_000, grace);
  assert.equal(step.transitions.length, 1);
  assert.deepEqual(step.transitions[0].occurredAt, wentOffline);
  assert.equal(step.state.status, "offline");
});

Deno.test("grace: an online within the grace cancels the offline (a restart stays one session)", () => {
  let step = observe(online(initialState("xqc")), obs({ status: "offline" }), grace);
  step = observe(step.state, obs({ status: "online", livestreamId: 1 }), grace);
  assert.equal(step.transitions.length, 0);
  assert.equal(step.state.pendingOffline, null);
  assert.equal(tick(step.state, T0 + 120_000, grace).transitions.length, 0);
});

Deno.test("dedupe keys are stable for the same transition and differ between transitions", () => {
  const a = observe(initialState("xqc"), obs({ status: "online", livestreamId: 3 }), noGrace);
  const b = observe(initialState("xqc"), obs({ status: "online", livestreamId: 3 }), noGrace);
  assert.equal(a.transitions[0].dedupeKey, b.transitions[0].dedupeKey);
  const c = observe(a.state, obs({ status: "offline" }), noGrace);
  assert.notEqual(c.transitions[0].dedupeKey, a.transitions[0].dedupeKey);
});

Deno.test("pipeline: seeds from storage, ignores unmonitored streamers, ticks pending offlines", () => {
  const pipeline = new Pipeline(grace);
  pipeline.sync([
    { slug: "xqc", status: "online", statusChangedAt: new Date(T0), session: { livestreamId: 4 } },
  ]);
  assert.equal(pipeline.ingest(obs({ status: "online", livestreamId: 4 })).length, 0);
  assert.equal(pipeline.ingest(obs({ slug: "nobody", status: "online" })).length, 0);
  assert.equal(pipeline.counters.ignored, 1);
  assert.equal(pipeline.ingest(obs({ status: "offline", livestreamId: 4 })).length, 0);
  assert.equal(pipeline.pendingOfflines(), 1);
  const recorded = pipeline.tick(T0 + 60_000);
  assert.equal(recorded.length, 1);
  assert.equal(pipeline.stateOf("xqc")?.status, "offline");
  pipeline.sync([]);
  assert.equal(pipeline.stateOf("xqc"), undefined);
});

Deno.test("a stale report (older than the known status) never overrules a newer one", () => {
  // Pusher recorded offline at T0+10s; a lagging poll answer then says online with the old start time.
  const offline: StreamerState = {
    ...initialState("xqc"),
    status: "offline",
    since: new Date(T0 + 10_000),
    livestreamId: 1,
  };
  const stalePoll = obs({ status: "online", source: "poll", observedAt: new Date(T0) });
  assert.equal(observe(offline, stalePoll, noGrace).transitions.length, 0);
  // A poll sent before a pusher online arrived must not turn it offline.
  const live: StreamerState = { ...offline, status: "online", since: new Date(T0 + 20_000) };
  const pollSentEarlier = obs({
    status: "offline",
    source: "poll",
    observedAt: new Date(T0 + 19_000),
  });
  assert.equal(observe(live, pollSentEarlier, noGrace).transitions.length, 0);
  // A stale online does not cancel a pending offline either.
  const pending = observe(
    live,
    obs({ status: "offline", observedAt: new Date(T0 + 30_000) }),
    grace,
  );
  const stale = observe(pending.state, stalePoll, grace);
  assert.notEqual(stale.state.pendingOffline, null);
});

Deno.test("a new livestream id is never stale, even when Kick's clock is behind ours", () => {
  const offline: StreamerState = {
    ...initialState("xqc"),
    status: "offline",
    since: new Date(T0 + 10_000),
    livestreamId: 1,
  };
  const restart = obs({ status: "online", livestreamId: 2, observedAt: new Date(T0 + 9_000) });
  assert.equal(observe(offline, restart, noGrace).transitions.length, 1);
});
