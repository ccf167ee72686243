/** Bugs the soak found, pinned down without a daemon. */
import assert from "node:assert/strict";
import { Pipeline } from "../../src/monitor/pipeline.ts";
import { PollSource } from "../../src/monitor/sources/poll_pass.ts";
import type { KickApi } from "../../src/kick/api.ts";
import type { Observation, Transition } from "../../src/domain/types.ts";

const T1 = new Date("2026-11-26T01:12:25.852Z");

Deno.test(
  "pipeline: a transition journaled but not committed before a crash is not recorded again by the first poll",
  () => {
    // The previous run journaled "online" from Pusher and was killed before the database committed it.
    const journaled: Transition = {
      dedupeKey: `s:online:74331200:${T1.toISOString()}`,
      slug: "s",
      type: "online",
      occurredAt: T1,
      receivedAt: T1,
      source: "pusher",
      livestreamId: 74_331_200,
      title: "s live",
      category: null,
      baseline: false,
      raw: null,
    };
    const pipeline = new Pipeline({ offlineGraceMs: 1_000 });
    pipeline.resumeFrom([journaled]);
    // The database still says offline (since before T1).
    pipeline.sync([{
      slug: "s",
      status: "offline",
      statusChangedAt: new Date(T1.getTime() - 15_000),
      session: null,
    }]);
    // The restart's poll sees the same broadcast (no livestream id, its start time).
    const poll: Observation = {
      slug: "s",
      status: "online",
      observedAt: T1,
      receivedAt: new Date(T1.getTime() + 400),
      source: "poll",
      evidence: "poll",
      livestreamId: null,
      streamStartedAt: T1,
      title: "s live",
      category: null,
      viewers: 100,
      raw: null,
    };
    assert.deepEqual(pipeline.ingest(poll), []);
    assert.equal(pipeline.stateOf("s")?.status, "online");
  },
);

Deno.test("pipeline: a journaled transition older than the database's status does not win", () => {
  const pipeline = new Pipeline({ offlineGraceMs: 0 });
  pipeline.resumeFrom([{
    dedupeKey: "k",
    slug: "s",
    type: "online",
    occurredAt: T1,
    receivedAt: T1,
    source: "pusher",
    livestreamId: 1,
    title: null,
    category: null,
    baseline: false,
    raw: null,
  }]);
  const later = new Date(T1.getTime() + 5_000);
  pipeline.sync([{ slug: "s", status: "offline", statusChangedAt: later, session: null }]);
  assert.equal(pipeline.stateOf("s")?.status, "offline");
  assert.equal(pipeline.stateOf("s")?.since?.getTime(), later.getTime());
});

Deno.test("poll: an offline answered after retries is dated from the request that answered it", async () => {
  let clock = Date.parse("2026-11-26T01:26:55.138Z");
  const calls: number[] = [];
  const api = {
    getChannelsByBroadcasterId(ids: number[]) {
      calls.push(clock);
      // The first ask sits through a 429 storm for 7 s; the stream ends meanwhile.
      clock += calls.length === 1 ? 7_000 : 50;
      const channel = {
        slug: "s",
        broadcasterUserId: ids[0],
        isLive: false,
        title: null,
        category: null,
        viewers: null,
        startedAt: null,
      };
      return Promise.resolve({
        channels: new Map([[ids[0], channel]]),
        notFound: [],
        dropped: [],
      });
    },
  } as unknown as KickApi;
  const poll = new PollSource({ api, now: () => clock });
  const result = await poll.reconcile([{ slug: "s", broadcasterUserId: 1, channelId: 7 }]);
  assert.equal(calls.length, 2, "the slow batch is asked again");
  assert.equal(result.observations[0].observedAt.getTime(), calls[1]);
});
