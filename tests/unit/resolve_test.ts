import assert from "node:assert/strict";
import { judgeManualChannelId, learnChannelIds } from "../../src/kick/resolve.ts";
import type { LegacyLookup, LegacyLookupResult } from "../../src/kick/legacy.ts";
import type { KickApi } from "../../src/kick/api.ts";
import type { Store, StreamerRecord } from "../../src/store/store.ts";
import { ChannelIdRetry } from "../../src/monitor/channel_id_retry.ts";

Deno.test("judgeManualChannelId: the broadcaster user id is refused while Kick cannot say better", () => {
  assert.deepEqual(judgeManualChannelId(676, { broadcasterUserId: 676, liveChannelId: null }), {
    kind: "user-id",
    given: 676,
  });
});

Deno.test("judgeManualChannelId: another id is accepted as given when the streamer is offline", () => {
  assert.deepEqual(judgeManualChannelId(668, { broadcasterUserId: 676, liveChannelId: null }), {
    kind: "accept",
    channelId: 668,
  });
});

Deno.test("judgeManualChannelId: while live, Kick's channel id wins over a wrong one", () => {
  assert.deepEqual(judgeManualChannelId(676, { broadcasterUserId: 676, liveChannelId: 668 }), {
    kind: "corrected",
    channelId: 668,
    given: 676,
  });
  assert.deepEqual(judgeManualChannelId(5, { broadcasterUserId: 676, liveChannelId: 668 }), {
    kind: "corrected",
    channelId: 668,
    given: 5,
  });
  assert.deepEqual(judgeManualChannelId(668, { broadcasterUserId: 676, liveChannelId: 668 }), {
    kind: "accept",
    channelId: 668,
  });
});

/** A legacy lookup answering from a script, recording what it was asked. */
function scriptedLegacy(answers: LegacyLookupResult[]): { legacy: LegacyLookup; asked: string[] } {
  const asked: string[] = [];
  const legacy = {
    lookup(slug: string): Promise<LegacyLookupResult> {
      asked.push(slug);
      return Promise.resolve(answers[asked.length - 1] ?? { kind: "failed", reason: "x" });
    },
  } as unknown as LegacyLookup;
  return { legacy, asked };
}

const noLivestreams = {
  getLivestreams: () => Promise.resolve(new Map()),
} as unknown as KickApi;

Deno.test("learnChannelIds: the website lookup stops after two failures in a row, of any kind", async () => {
  const channels = ["a", "b", "c", "d"].map((slug, i) => ({ slug, broadcasterUserId: i + 1 }));
  const timeouts = scriptedLegacy([
    { kind: "failed", reason: "timed out" },
    { kind: "failed", reason: "HTTP 502" },
  ]);
  await learnChannelIds(channels, { api: noLivestreams, legacy: timeouts.legacy });
  assert.deepEqual(timeouts.asked, ["a", "b"], "not only a Cloudflare block stops it");
  // A success in between resets the count; "not found" is an answer, not a failure.
  const mixed = scriptedLegacy([
    { kind: "blocked", reason: "403" },
    { kind: "not-found" },
    { kind: "failed", reason: "x" },
    { kind: "found", slug: "d", channelId: 9, chatroomId: 10, userId: 4, live: null },
  ]);
  const ids = await learnChannelIds(channels, { api: noLivestreams, legacy: mixed.legacy });
  assert.deepEqual(mixed.asked, ["a", "b", "c", "d"]);
  assert.equal(ids.get("d")?.channelId, 9);
});

Deno.test("ChannelIdRetry: learns and stores ids for streamers without one, stops after two failures", async () => {
  const stored: [string, unknown][] = [];
  const store = {
    setStreamerIds: (slug: string, ids: unknown) => {
      stored.push([slug, ids]);
      return Promise.resolve(true);
    },
  } as unknown as Store;
  const streamers = [
    { slug: "has-id", channelId: 1 },
    { slug: "a", channelId: null },
    { slug: "b", channelId: null },
    { slug: "c", channelId: null },
    { slug: "d", channelId: null },
  ] as StreamerRecord[];
  const { legacy, asked } = scriptedLegacy([
    { kind: "found", slug: "a", channelId: 7, chatroomId: 8, userId: 2, live: null },
    { kind: "blocked", reason: "403" },
    { kind: "failed", reason: "timed out" },
  ]);
  let changed = 0;
  const retry = new ChannelIdRetry({
    legacy,
    store,
    streamers: () => streamers,
    idsChanged: () => changed++,
    signal: new AbortController().signal,
  });
  assert.equal(await retry.round(), 1);
  assert.deepEqual(asked, ["a", "b", "c"]);
  assert.deepEqual(stored, [["a", { channelId: 7, chatroomId: 8 }]]);
  assert.equal(streamers[1].channelId, 7);
  assert.equal(changed, 1);
});
