/** HttpClient and KickApi against the fake Kick's faults: retries, Retry-After, timeouts, blocks. */
import assert from "node:assert/strict";
import { KickHttpClient } from "../../src/kick/http.ts";
import { AppTokenProvider } from "../../src/kick/oauth.ts";
import { KickApi } from "../../src/kick/api.ts";
import { KickBlockedError, KickUnavailableError } from "../../src/kick/errors.ts";
import { exitCodeOf } from "../../src/lib/errors.ts";
import { CLIENT_ID, CLIENT_SECRET, FAST_HTTP, rejection, withRig } from "./kick_rig.ts";

Deno.test("429 with Retry-After: 2 holds every request of the client for 2 s", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    rig.world.addStreamer("b");
    await rig.tokens.getToken();
    rig.fake.injectFault("channels", { kind: "status", status: 429, retryAfter: "2" });
    const first = rig.api.getChannelsBySlug(["a"]);
    // Once the 429 has been answered, start an unrelated call: it must wait out the pause too.
    while (!rig.fake.requests.some((request) => request.status === 429)) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = rig.api.getLivestreams([rig.world.get("b").broadcasterUserId]);
    const [result] = await Promise.all([first, second]);
    assert.ok(result.channels.has("a"));

    const limited = rig.fake.requests.find((request) => request.status === 429)!;
    const after = rig.fake.requests.filter((request) => request.time > limited.time);
    assert.equal(after.length, 2, "the retry and the unrelated call");
    for (const request of after) {
      assert.ok(
        request.time - limited.time >= 2000,
        `${request.path} sent ${request.time - limited.time} ms after the 429`,
      );
    }
    assert.equal(rig.http.stats.rateLimited, 1);
  });
});

Deno.test("429 with Retry-After as an HTTP date is honoured", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    await rig.tokens.getToken();
    // HTTP dates have whole seconds: aim at the second boundary 1 to 2 s from now.
    const until = new Date(Math.ceil((Date.now() + 1000) / 1000) * 1000);
    rig.fake.injectFault("channels", {
      kind: "status",
      status: 429,
      retryAfter: until.toUTCString(),
    });
    await rig.api.getChannelsBySlug(["a"]);
    const channels = rig.fake.requestsTo("channels");
    assert.deepEqual(channels.map((request) => request.status), [429, 200]);
    assert.ok(
      channels[1].time >= until.getTime(),
      `${until.getTime() - channels[1].time} ms early`,
    );
  });
});

Deno.test("429 without Retry-After backs off and recovers", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    rig.fake.injectFault("channels", { kind: "status", status: 429 }, 2);
    const { channels } = await rig.api.getChannelsBySlug(["a"]);
    assert.ok(channels.has("a"));
    assert.equal(rig.http.stats.rateLimited, 2);
  });
});

for (const status of [500, 502, 503]) {
  Deno.test(`HTTP ${status} is retried and recovers`, async () => {
    await withRig({}, async (rig) => {
      rig.world.addStreamer("a");
      rig.fake.injectFault("channels", { kind: "status", status }, 2);
      rig.fake.injectFault("oauth", { kind: "status", status });
      const { channels } = await rig.api.getChannelsBySlug(["a"]);
      assert.ok(channels.has("a"));
      assert.deepEqual(
        rig.fake.requestsTo("channels").map((request) => request.status),
        [status, status, 200],
      );
      assert.equal(rig.http.stats.retries, 3);
    });
  });
}

Deno.test("a persistent 503 ends in KickUnavailableError (exit 69) naming the path and status", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    await rig.tokens.getToken();
    rig.fake.injectFault("channels", { kind: "status", status: 503 }, 100);
    const error = await rejection(rig.api.getChannelsBySlug(["a"]));
    assert.ok(error instanceof KickUnavailableError);
    assert.equal(exitCodeOf(error), 69);
    assert.equal(error.lastStatus, 503);
    assert.match(error.message, /\/public\/v1\/channels/);
    assert.match(error.message, /HTTP 503/);
    assert.match(error.message, /failed 4 times/);
    assert.ok(!error.message.includes("slug="), error.message);
    assert.equal(rig.fake.requestsTo("channels").length, FAST_HTTP.maxRetries! + 1);
  });
});

Deno.test("an unreachable Kick is exit 69 after retries (closed ports)", async () => {
  // A port that was just free, and port 1 (which Deno refuses outright).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (listener.addr as Deno.NetAddr).port;
  listener.close();
  for (const base of [`http://127.0.0.1:${closedPort}`, "http://127.0.0.1:1"]) {
    const http = new KickHttpClient(FAST_HTTP);
    const tokens = new AppTokenProvider({
      http,
      oauthUrl: base,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
    });
    const api = new KickApi({ http, tokens, apiUrl: base });
    const error = await rejection(api.getChannelsBySlug(["a"]));
    assert.ok(error instanceof KickUnavailableError, String(error));
    assert.equal(exitCodeOf(error), 69);
    assert.equal(error.lastStatus, null);
    assert.match(error.message, /POST 127\.0\.0\.1:\d+\/oauth\/token failed 4 times/);
    assert.match(error.message, /network error/);
    assert.ok(!error.message.includes(CLIENT_SECRET));
    assert.equal(http.stats.networkErrors, 4);
  }
});

Deno.test("a slow answer times out and is retried", async () => {
  await withRig({ http: { timeoutMs: 200 } }, async (rig) => {
    rig.world.addStreamer("a");
    await rig.tokens.getToken();
    rig.fake.injectFault("channels", { kind: "slow", delayMs: 1000 });
    const { channels } = await rig.api.getChannelsBySlug(["a"]);
    assert.ok(channels.has("a"));
    assert.equal(rig.http.stats.timeouts, 1);
    assert.equal(rig.fake.requestsTo("channels").length, 2);
  });
});

Deno.test("a slow answer on every attempt ends in exit 69", async () => {
  await withRig({ http: { timeoutMs: 50, maxRetries: 1 } }, async (rig) => {
    rig.world.addStreamer("a");
    await rig.tokens.getToken();
    rig.fake.injectFault("channels", { kind: "slow", delayMs: 300 }, 2);
    const error = await rejection(rig.api.getChannelsBySlug(["a"]));
    assert.ok(error instanceof KickUnavailableError);
    assert.match(error.message, /no complete answer within 50 ms/);
  });
});

Deno.test("a dropped connection is retried", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    rig.fake.injectFault("channels", { kind: "drop" });
    rig.fake.injectFault("oauth", { kind: "drop" });
    const { channels } = await rig.api.getChannelsBySlug(["a"]);
    assert.ok(channels.has("a"));
    assert.equal(rig.http.stats.networkErrors, 2);
  });
});

Deno.test("a Cloudflare 403 on the API is KickBlockedError and is not retried", async () => {
  await withRig({}, async (rig) => {
    rig.world.addStreamer("a");
    await rig.tokens.getToken();
    rig.fake.injectFault("channels", { kind: "cloudflare" });
    const error = await rejection(rig.api.getChannelsBySlug(["a"]));
    assert.ok(error instanceof KickBlockedError);
    assert.equal(exitCodeOf(error), 69);
    assert.match(error.message, /GET 127\.0\.0\.1:\d+\/public\/v1\/channels/);
    assert.match(error.message, /Just a moment/);
    assert.equal(rig.fake.requestsTo("channels").length, 1);
  });
});

Deno.test("the client's own rate limit spaces requests", async () => {
  await withRig({ http: { ratePerSecond: 20, burst: 1 } }, async (rig) => {
    for (let i = 0; i < 10; i++) rig.world.addStreamer(`s${i}`);
    const slugs = Array.from({ length: 10 }, (_, i) => `s${i}`);
    await rig.api.getChannelsBySlug(slugs, { batchSize: 2 });
    const times = rig.fake.requests.map((request) => request.time).sort((a, b) => a - b);
    assert.equal(times.length, 6, "one token request and five batches");
    // 6 requests at 20/s with no burst: at least 5 intervals of 50 ms.
    assert.ok(times[5] - times[0] >= 240, `spread ${times[5] - times[0]} ms`);
  });
});

Deno.test("against a server-side rate limit the client backs off and finishes", async () => {
  await withRig({
    fake: { rateLimitPerSecond: 50 },
    http: { ratePerSecond: 500, maxRetries: 8 },
  }, async (rig) => {
    for (let i = 0; i < 400; i++) rig.world.addStreamer(`s${i}`);
    const slugs = Array.from({ length: 400 }, (_, i) => `s${i}`);
    const { channels, notFound } = await rig.api.getChannelsBySlug(slugs, { batchSize: 5 });
    assert.equal(channels.size, 400);
    assert.deepEqual(notFound, []);
    assert.ok(rig.fake.stats.throttled > 0);
    assert.equal(rig.http.stats.rateLimited, rig.fake.stats.throttled);
  });
});
