/** KickApi against the fake api.kick.com. */
import assert from "node:assert/strict";
import {
  KickCredentialsError,
  KickResponseError,
  KickUnavailableError,
} from "../../src/kick/errors.ts";
import { exitCodeOf } from "../../src/lib/errors.ts";
import { KICK_WEBHOOK_PUBLIC_KEY_PEM } from "../../src/kick/public_key.ts";
import { rejection, withRig } from "./kick_rig.ts";

function slugs(count: number, prefix = "s"): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

Deno.test("60 slugs take exactly 3 requests of 25, 25 and 10, with repeated slug= keys", async () => {
  await withRig({}, async (rig) => {
    for (const slug of slugs(60)) rig.world.addStreamer(slug);
    const { channels, notFound, dropped } = await rig.api.getChannelsBySlug(slugs(60));
    assert.equal(channels.size, 60);
    assert.deepEqual(notFound, []);
    assert.deepEqual(dropped, []);
    const requests = rig.fake.requestsTo("channels");
    assert.equal(requests.length, 3);
    const sizes = requests.map((request) =>
      new URLSearchParams(request.query).getAll("slug").length
    );
    assert.deepEqual(sizes.sort((a, b) => b - a), [25, 25, 10]);
    for (const request of requests) assert.ok(!request.query.includes("%5B"), request.query);
  });
});

Deno.test("batch size is configurable and capped at 50", async () => {
  await withRig({ batchSize: 50 }, async (rig) => {
    for (const slug of slugs(120)) rig.world.addStreamer(slug);
    await rig.api.getChannelsBySlug(slugs(120));
    assert.equal(rig.fake.requestsTo("channels").length, 3);
    await rig.api.getChannelsBySlug(slugs(120), { batchSize: 10 });
    assert.equal(rig.fake.requestsTo("channels").length, 15);
    await assert.rejects(rig.api.getChannelsBySlug(["a"], { batchSize: 51 }), RangeError);
  });
});

Deno.test("unknown slugs are reported as not found; slugs are normalised and deduplicated", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("xqc", { broadcasterUserId: 676, channelId: 668 });
    const tooLong = "x".repeat(26);
    const result = await rig.api.getChannelsBySlug(["XQC", "xqc", " xqc ", "ghost", tooLong]);
    assert.deepEqual([...result.channels.keys()], ["xqc"]);
    assert.deepEqual(result.notFound.sort(), ["ghost", tooLong].sort());
    const requests = rig.fake.requestsTo("channels");
    assert.equal(requests.length, 1);
    assert.deepEqual(new URLSearchParams(requests[0].query).getAll("slug"), ["xqc", "ghost"]);
  });
});

Deno.test("a live channel is normalised from the official API", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("xqc", { broadcasterUserId: 676, channelId: 668 });
    const startedAt = new Date("2026-11-25T18:00:00.000Z");
    rig.world.goLive("xqc", { title: "juicers", category: "Slots", viewers: 4321, startedAt });
    const { channels } = await rig.api.getChannelsBySlug(["xqc"]);
    assert.deepEqual(channels.get("xqc"), {
      slug: "xqc",
      broadcasterUserId: 676,
      isLive: true,
      title: "juicers",
      category: "Slots",
      viewers: 4321,
      startedAt,
    });
    rig.world.goOffline("xqc");
    const offline = (await rig.api.getChannelsBySlug(["xqc"])).channels.get("xqc")!;
    assert.equal(offline.isLive, false);
    assert.equal(offline.startedAt, null);
    assert.equal(offline.viewers, null);
  });
});

Deno.test("a channel that was not asked for is dropped, logged and counted (#321)", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    rig.world.addStreamer("b");
    rig.fake.injectFault("channels", { kind: "stray-channel", slug: "b" });
    rig.fake.injectFault("channels", { kind: "stray-channel" });
    const first = await rig.api.getChannelsBySlug(["a"]);
    assert.deepEqual([...first.channels.keys()], ["a"]);
    assert.deepEqual(first.dropped, ["b"]);
    const second = await rig.api.getChannelsBySlug(["a"]);
    assert.deepEqual([...second.channels.keys()], ["a"]);
    assert.equal(second.dropped.length, 1);
    assert.equal(rig.api.stats.mismatches, 2);
    const warnings = rig.logs.filter((line) => line.includes("not asked for"));
    assert.equal(warnings.length, 2);
    assert.match(warnings[0], /"level":"warn"/);
  });
});

Deno.test("channels by broadcaster id, with not found ids", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a", { broadcasterUserId: 11 });
    rig.world.addStreamer("b", { broadcasterUserId: 12 });
    const { channels, notFound } = await rig.api.getChannelsByBroadcasterId([11, 12, 13, 11]);
    assert.deepEqual([...channels.keys()].sort(), [11, 12]);
    assert.equal(channels.get(12)?.slug, "b");
    assert.deepEqual(notFound, [13]);
    const query = new URLSearchParams(rig.fake.requestsTo("channels")[0].query);
    assert.deepEqual(query.getAll("broadcaster_user_id"), ["11", "12", "13"]);
  });
});

Deno.test("livestreams give the channel id of live broadcasters only, past the default page", async () => {
  await withRig({ batchSize: 50 }, async (rig) => {
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) {
      const streamer = rig.world.addStreamer(`s${i}`);
      ids.push(streamer.broadcasterUserId);
      if (i < 30) rig.world.goLive(`s${i}`, { viewers: i });
    }
    const live = await rig.api.getLivestreams(ids);
    assert.equal(live.size, 30, "more than the default limit of 25");
    const s3 = rig.world.get("s3");
    const stream = live.get(s3.broadcasterUserId)!;
    assert.equal(stream.channelId, s3.channelId);
    assert.equal(stream.slug, "s3");
    assert.equal(stream.viewers, 3);
    assert.deepEqual(stream.startedAt, s3.live!.startedAt);
    assert.equal(live.has(rig.world.get("s35").broadcasterUserId), false);
    assert.equal(rig.fake.requestsTo("livestreams").length, 1);
  });
});

Deno.test("users and the public key", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a", { broadcasterUserId: 21 });
    const { users, notFound } = await rig.api.getUsers([21, 22]);
    assert.equal(users.get(21)?.name, "a");
    assert.deepEqual(notFound, [22]);
    assert.equal(await rig.api.getPublicKey(), KICK_WEBHOOK_PUBLIC_KEY_PEM);
  });
});

Deno.test("a 401 drops the token, mints a new one and retries once", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    await rig.api.getChannelsBySlug(["a"]);
    rig.fake.expireTokens();
    const { channels } = await rig.api.getChannelsBySlug(["a"]);
    assert.ok(channels.has("a"));
    assert.equal(rig.fake.requestsTo("oauth").length, 2);
    assert.deepEqual(
      rig.fake.requestsTo("channels").map((request) => request.status),
      [200, 401, 200],
    );
  });
});

Deno.test("concurrent 401s share one new token", async () => {
  await withRig({}, async (rig) => {
    for (const slug of slugs(100)) rig.world.addStreamer(slug);
    await rig.tokens.getToken();
    rig.fake.expireTokens();
    const { channels } = await rig.api.getChannelsBySlug(slugs(100));
    assert.equal(channels.size, 100);
    assert.equal(rig.fake.requestsTo("oauth").length, 2);
  });
});

Deno.test("a second 401 with a fresh token is a credentials error (exit 78), after one re-mint", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    rig.fake.injectFault("channels", { kind: "status", status: 401 }, 2);
    const error = await rejection(rig.api.getChannelsBySlug(["a"]));
    assert.ok(error instanceof KickCredentialsError);
    assert.equal(exitCodeOf(error), 78);
    assert.match(
      error.message,
      /freshly minted app access token was refused on GET .*\/public\/v1\/channels/,
    );
    assert.equal(rig.fake.requestsTo("oauth").length, 2);
    assert.equal(rig.fake.requestsTo("channels").length, 2);
  });
});

Deno.test("truncated JSON is a KickResponseError (exit 1); the next call works", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    rig.fake.injectFault("channels", { kind: "truncated-json" });
    const error = await rejection(rig.api.getChannelsBySlug(["a"]));
    assert.ok(error instanceof KickResponseError);
    assert.equal(exitCodeOf(error), 1);
    assert.match(
      error.message,
      /^Unexpected response from Kick to GET 127\.0\.0\.1:\d+\/public\/v1\/channels \(HTTP 200\): expected JSON/,
    );
    assert.ok((await rig.api.getChannelsBySlug(["a"])).channels.has("a"));
  });
});

Deno.test("wrong types cost only the item: is_live as a string is no observation, viewers best effort", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    rig.fake.injectFault("channels", { kind: "wrong-types" });
    const answer = await rig.api.getChannelsBySlug(["a"]);
    assert.equal(answer.channels.get("a")?.isLive, null);
    assert.equal(rig.api.stats.noStream, 1);
    rig.fake.injectFault("livestreams", { kind: "wrong-types" });
    rig.world.goLive("a");
    const livestreams = await rig.api.getLivestreams([rig.world.get("a").broadcasterUserId]);
    assert.equal(livestreams.size, 1, "a viewer count as a string is read, not refused");
  });
});

Deno.test("an API error status is a KickResponseError quoting Kick's message", async () => {
  await withRig({}, async (rig) => {
    rig.fake.injectFault("channels", { kind: "status", status: 400 });
    const error = await rejection(rig.api.getChannelsBySlug(["a"]));
    assert.ok(error instanceof KickResponseError);
    assert.equal(error.status, 400);
    assert.match(error.message, /Kick said "Bad request"/);
  });
});

Deno.test("one failing batch fails the call and stops the rest", async () => {
  await withRig({ http: { maxRetries: 0 } }, async (rig) => {
    for (const slug of slugs(250)) rig.world.addStreamer(slug);
    await rig.tokens.getToken();
    rig.fake.injectFault("channels", { kind: "status", status: 503 });
    const error = await rejection(rig.api.getChannelsBySlug(slugs(250)));
    assert.ok(error instanceof KickUnavailableError);
    assert.ok(rig.fake.requestsTo("channels").length < 10, "the remaining batches were not sent");
  });
});

Deno.test("the caller's signal cancels a lookup", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    await rig.tokens.getToken();
    rig.fake.injectFault("channels", { kind: "slow", delayMs: 500 });
    const controller = new AbortController();
    const pending = rig.api.getChannelsBySlug(["a"], { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("stopping")), 20);
    await assert.rejects(pending, { message: "stopping" });
  });
});

Deno.test("10,000 streamers in 200 requests of 50, quickly", async () => {
  await withRig({ batchSize: 50, http: { ratePerSecond: 1000 } }, async (rig) => {
    const all = slugs(10_000, "streamer-");
    for (const [i, slug] of all.entries()) {
      rig.world.addStreamer(slug);
      if (i % 3 === 0) rig.world.goLive(slug);
    }
    const started = performance.now();
    const { channels, notFound } = await rig.api.getChannelsBySlug(all);
    const elapsed = performance.now() - started;
    assert.equal(channels.size, 10_000);
    assert.deepEqual(notFound, []);
    assert.equal([...channels.values()].filter((channel) => channel.isLive).length, 3334);
    assert.equal(rig.fake.requestsTo("channels").length, 200);
    assert.ok(elapsed < 5000, `took ${Math.round(elapsed)} ms`);
  });
});
