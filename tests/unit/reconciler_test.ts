/**
 * The poll source's reconciler without sockets or a database: its health (a poll-only streamer unwatched for
 * three intervals makes /healthz 503), the API-lag histogram, and what a missing channel becomes.
 */
import assert from "node:assert/strict";
import type { Observation } from "../../src/domain/types.ts";
import { Registry } from "../../src/http/metrics.ts";
import type { KickApi } from "../../src/kick/api.ts";
import type { KickChannel } from "../../src/kick/channels.ts";
import { configureLogging } from "../../src/lib/log.ts";
import { BLIND_PASSES, MISSING_PASSES, Reconciler } from "../../src/monitor/sources/reconciler.ts";
import { PollSource } from "../../src/monitor/sources/poll_pass.ts";
import type { Store, StreamerRecord } from "../../src/store/store.ts";

configureLogging({ write: () => {} });

const POLL_MS = 5_000;

function record(slug: string, channelId: number | null, userId: number): StreamerRecord {
  return {
    id: userId,
    slug,
    broadcasterUserId: userId,
    channelId,
    chatroomId: null,
    status: "online",
    statusChangedAt: new Date(0),
    lastCheckedAt: null,
    addedAt: new Date(0),
    session: null,
    unavailableReason: null,
  };
}

function rig(options: { answer: () => Map<number, KickChannel> | Error }) {
  let now = 1_000_000;
  const unavailable: string[] = [];
  const ingested: Observation[] = [];
  const api = {
    stats: { mismatches: 0, itemsRejected: 0, noStream: 0 },
    getChannelsByBroadcasterId(ids: number[]) {
      const answer = options.answer();
      if (answer instanceof Error) return Promise.reject(answer);
      return Promise.resolve({
        channels: new Map([...answer].filter(([id]) => ids.includes(id))),
        notFound: [],
        dropped: [],
      });
    },
    getLivestreams: () => Promise.resolve(new Map()),
  } as unknown as KickApi;
  const store = {
    markChecked: () => Promise.resolve(),
    markUnavailable: (slugs: string[]) => {
      unavailable.push(...slugs);
      return Promise.resolve();
    },
    setStreamerIds: () => Promise.resolve(true),
  } as unknown as Store;
  const metrics = new Registry();
  const streamers = [record("pushy", 7, 1), record("pollonly", null, 2)];
  const reconciler = new Reconciler({
    poll: new PollSource({ api, now: () => now }),
    store,
    metrics,
    pollIntervalMs: POLL_MS,
    streamers: () => streamers,
    ingest: (observations) => {
      ingested.push(...observations);
      return [];
    },
    followUps: () => [],
    statusOf: () => "online",
    backlog: () => 0,
    renamed: () => {},
    idsChanged: () => {},
    signal: new AbortController().signal,
    now: () => now,
  });
  return {
    reconciler,
    metrics,
    unavailable,
    ingested,
    advance: (ms: number) => now += ms,
    now: () => now,
  };
}

function live(userId: number, slug: string): KickChannel {
  return {
    slug,
    broadcasterUserId: userId,
    isLive: true,
    title: null,
    category: null,
    viewers: 1,
    startedAt: new Date(0),
  };
}

Deno.test("reconciler: blind for three intervals with a poll-only streamer is unhealthy, and says why", async () => {
  let failing = false;
  const r = rig({
    answer: () =>
      failing
        ? new Error("Kick is unavailable")
        : new Map([[1, live(1, "pushy")], [2, live(2, "pollonly")]]),
  });
  await r.reconciler.request("start");
  assert.equal(r.reconciler.health().ok, true);
  failing = true;
  for (let i = 0; i < BLIND_PASSES; i++) {
    r.advance(POLL_MS);
    await r.reconciler.request("interval");
  }
  assert.equal(r.reconciler.health().ok, true, "exactly three intervals is not yet blind");
  r.advance(1_000);
  const health = r.reconciler.health();
  assert.equal(health.ok, false);
  assert.match(
    health.detail,
    /1 poll-only streamer\(s\) unwatched: no successful poll for 16 s \(Kick is unavailable\)/,
  );
  failing = false;
  await r.reconciler.request("interval");
  assert.equal(r.reconciler.health().ok, true);
});

Deno.test("reconciler: the API-lag histogram measures from a push online to the first poll that agrees", async () => {
  const r = rig({ answer: () => new Map([[1, live(1, "pushy")], [2, live(2, "pollonly")]]) });
  r.reconciler.notePush({
    slug: "pushy",
    status: "online",
    observedAt: new Date(r.now()),
    receivedAt: new Date(r.now()),
    source: "pusher",
    evidence: "push",
    livestreamId: 1,
    title: null,
    category: null,
    viewers: null,
    raw: null,
  });
  r.advance(2_500);
  await r.reconciler.request("interval");
  const text = r.metrics.render();
  assert.match(text, /kick_monitor_api_lag_seconds_bucket\{le="2"\} 0/);
  assert.match(text, /kick_monitor_api_lag_seconds_bucket\{le="3"\} 1/);
});

Deno.test("reconciler: a channel missing from Kick's answers is marked unavailable after two passes", async () => {
  const r = rig({ answer: () => new Map([[1, live(1, "pushy")]]) });
  for (let i = 0; i < MISSING_PASSES; i++) {
    r.advance(POLL_MS);
    await r.reconciler.request("interval");
  }
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(r.unavailable, ["pollonly"]);
  // Its absence is poll evidence of an offline while it was live.
  assert.ok(r.ingested.some((o) => o.slug === "pollonly" && o.status === "offline"));
});
