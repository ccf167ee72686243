import assert from "node:assert/strict";
import { HttpClient, parseRetryAfter, TokenBucket } from "../../src/lib/http.ts";
import { ServiceBlockedError, ServiceUnavailableError } from "../../src/lib/errors.ts";
import { cloudflareBlockReason, KickHttpClient } from "../../src/kick/http.ts";
import { KickBlockedError, KickUnavailableError } from "../../src/kick/errors.ts";
import { configureLogging } from "../../src/lib/log.ts";

configureLogging({ write: () => {} });

function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

Deno.test("TokenBucket spends its burst at once, then spaces tokens at the rate", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 10, burst: 3, now: clock.now });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => bucket.reserve()), [0, 0, 0, 100, 200]);
});

Deno.test("TokenBucket refills while idle, never beyond its burst", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 10, burst: 2, now: clock.now });
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), false);
  clock.advance(100);
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), false);
  clock.advance(10_000);
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), false);
});

Deno.test("TokenBucket defaults its burst to one second's worth", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 4, now: clock.now });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => bucket.reserve()), [0, 0, 0, 0, 250]);
});

Deno.test("TokenBucket pause holds every token until it ends, then resumes at the rate", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 10, burst: 5, now: clock.now });
  bucket.pauseUntil(clock.now() + 2000);
  assert.equal(bucket.tryTake(), false);
  // No burst after a pause: a burst right after a 429 would likely earn another one.
  assert.deepEqual([1, 2, 3].map(() => bucket.reserve()), [2000, 2100, 2200]);
  clock.advance(1999);
  assert.equal(bucket.tryTake(), false);
  // A shorter pause never shortens a longer one.
  bucket.pauseUntil(clock.now() - 500);
  assert.equal(bucket.pausedUntil, 1_000_000 + 2000);
});

Deno.test("TokenBucket.take waits out a pause that begins while it waits", async () => {
  const bucket = new TokenBucket({ ratePerSecond: 20, burst: 1 });
  await bucket.take();
  const started = Date.now();
  const waiting = bucket.take(); // slot in ~50 ms
  bucket.pauseUntil(started + 150);
  await waiting;
  assert.ok(Date.now() >= started + 150, `took ${Date.now() - started} ms`);
});

Deno.test("TokenBucket.take rejects with the signal's reason", async () => {
  const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1 });
  await bucket.take();
  const controller = new AbortController();
  const waiting = bucket.take(controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(waiting, { message: "stop" });
});

Deno.test("TokenBucket refuses a non-positive rate", () => {
  assert.throws(() => new TokenBucket({ ratePerSecond: 0 }), RangeError);
});

Deno.test("parseRetryAfter reads delta seconds and HTTP dates", () => {
  const now = Date.parse("2026-11-25T18:00:00Z");
  assert.equal(parseRetryAfter("2", now), 2000);
  assert.equal(parseRetryAfter(" 0 ", now), 0);
  assert.equal(parseRetryAfter("1.5", now), 1500);
  assert.equal(parseRetryAfter("Wed, 25 Nov 2026 18:00:05 GMT", now), 5000);
  assert.equal(parseRetryAfter("Wednesday, 25-Nov-26 18:00:03 GMT", now), 3000);
  assert.equal(parseRetryAfter("Wed, 25 Nov 2026 17:00:00 GMT", now), 0, "a past date means now");
  assert.equal(parseRetryAfter(null, now), null);
  assert.equal(parseRetryAfter("soon", now), null);
  assert.equal(parseRetryAfter("-1", now), null);
});

Deno.test("cloudflareBlockReason recognises Cloudflare's 403s and nothing else", () => {
  const html = new Headers({ "content-type": "text/html", "cf-ray": "8f2a-AMS" });
  assert.match(
    cloudflareBlockReason(403, html, "<html><title>Just a moment...</title></html>")!,
    /Just a moment/,
  );
  const json = new Headers({ "content-type": "application/json" });
  const blocked = '{"error":"Request blocked by security policy.","reference":"9e4db7e3"}';
  assert.match(cloudflareBlockReason(403, json, blocked)!, /security policy/);
  assert.match(
    cloudflareBlockReason(403, new Headers({ "cf-mitigated": "challenge" }), "")!,
    /cf-mitigated/,
  );
  assert.equal(
    cloudflareBlockReason(403, html, "<html>Forbidden</html>"),
    "HTML page with Cloudflare headers",
  );
  // An ordinary API 403 passes through Cloudflare too: cf-ray alone does not make it a block.
  const apiForbidden = new Headers({ "content-type": "application/json", "cf-ray": "8f2a-AMS" });
  assert.equal(cloudflareBlockReason(403, apiForbidden, '{"data":{},"message":"Forbidden"}'), null);
  assert.equal(cloudflareBlockReason(503, html, "Just a moment..."), null);
});

/** A fetch that answers from a list, recording the URLs it was called with. */
function scriptedFetch(
  steps: (() => Response | Promise<Response>)[],
): { fetch: typeof fetch; calls: string[] } {
  const calls: string[] = [];
  const fn = (input: string | URL | Request): Promise<Response> => {
    calls.push(String(input));
    const step = steps[Math.min(calls.length - 1, steps.length - 1)];
    return Promise.resolve().then(step);
  };
  return { fetch: fn as typeof fetch, calls };
}

const FAST = { ratePerSecond: 1000, timeoutMs: 1000, retryBaseMs: 1, retryCapMs: 2 };

Deno.test("HttpClient retries 5xx with backoff and returns the first good answer", async () => {
  const { fetch, calls } = scriptedFetch([
    () => new Response("", { status: 503 }),
    () => new Response("", { status: 500 }),
    () => new Response('{"ok":true}', { status: 200 }),
  ]);
  const client = new KickHttpClient({ ...FAST, fetch });
  const response = await client.request("http://kick.test/public/v1/channels?slug=a");
  assert.equal(response.status, 200);
  assert.equal(response.body, '{"ok":true}');
  assert.equal(calls.length, 3);
  assert.deepEqual(
    { requests: client.stats.requests, retries: client.stats.retries },
    { requests: 3, retries: 2 },
  );
  assert.equal(client.stats.serverErrors, 2);
});

Deno.test("HttpClient gives up after maxRetries with KickUnavailableError (exit 69), no query string", async () => {
  const { fetch, calls } = scriptedFetch([() => new Response("", { status: 502 })]);
  const client = new KickHttpClient({ ...FAST, maxRetries: 2, fetch });
  const error = await client.request("http://kick.test/public/v1/channels?slug=hidden").then(
    () => assert.fail("resolved"),
    (e) => e,
  );
  assert.ok(error instanceof KickUnavailableError);
  assert.equal(error.exitCode, 69);
  assert.equal(error.lastStatus, 502);
  assert.equal(calls.length, 3);
  assert.match(error.message, /GET kick\.test\/public\/v1\/channels/);
  assert.match(error.message, /HTTP 502/);
  assert.ok(!error.message.includes("hidden"));
});

Deno.test("HttpClient keeps the query string out of network error messages", async () => {
  const { fetch } = scriptedFetch([() => {
    throw new TypeError(
      "error sending request for url (http://kick.test/x?token=topsecret): connection refused",
    );
  }]);
  const client = new KickHttpClient({ ...FAST, maxRetries: 1, fetch });
  const error = await client.request("http://kick.test/x?token=topsecret").catch((e) => e);
  assert.ok(error instanceof KickUnavailableError);
  assert.equal(error.lastStatus, null);
  assert.match(error.message, /connection refused/);
  assert.ok(!error.message.includes("topsecret"), error.message);
  assert.equal(client.stats.networkErrors, 2);
});

Deno.test("HttpClient returns 4xx answers to the caller without retrying", async () => {
  const { fetch, calls } = scriptedFetch([
    () => new Response('{"data":{},"message":"Unauthorized"}', { status: 401 }),
  ]);
  const client = new KickHttpClient({ ...FAST, fetch });
  const response = await client.request("http://kick.test/public/v1/channels");
  assert.equal(response.status, 401);
  assert.equal(calls.length, 1);
});

Deno.test("HttpClient throws KickBlockedError on a Cloudflare 403 and does not retry", async () => {
  const { fetch, calls } = scriptedFetch([() =>
    new Response("<title>Just a moment...</title>", {
      status: 403,
      headers: { "content-type": "text/html", "cf-ray": "1-AMS" },
    })]);
  const client = new KickHttpClient({ ...FAST, fetch });
  const error = await client.request("http://kick.test/api/v2/channels/x").catch((e) => e);
  assert.ok(error instanceof KickBlockedError);
  assert.equal(error.exitCode, 69);
  assert.equal(calls.length, 1);
});

Deno.test("HttpClient times out a silent attempt and retries it", async () => {
  let attempt = 0;
  const fetchFn = ((_input: string | URL | Request, init?: RequestInit) => {
    attempt++;
    if (attempt > 1) return Promise.resolve(new Response("ok"));
    return new Promise<Response>((_resolve, reject) => {
      init?.signal?.addEventListener(
        "abort",
        () => reject(new DOMException("aborted", "AbortError")),
      );
    });
  }) as typeof fetch;
  const client = new KickHttpClient({ ...FAST, timeoutMs: 30, fetch: fetchFn });
  const response = await client.request("http://kick.test/slow");
  assert.equal(response.body, "ok");
  assert.equal(client.stats.timeouts, 1);
});

Deno.test("HttpClient stops at once when the caller aborts, with the caller's reason", async () => {
  const fetchFn =
    ((_input: string | URL | Request, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener(
          "abort",
          () => reject(new DOMException("aborted", "AbortError")),
        );
      })) as typeof fetch;
  const client = new KickHttpClient({ ...FAST, timeoutMs: 5000, fetch: fetchFn });
  const controller = new AbortController();
  const pending = client.request("http://kick.test/x", { signal: controller.signal });
  setTimeout(() => controller.abort(new Error("shutting down")), 10);
  await assert.rejects(pending, { message: "shutting down" });
  assert.equal(client.stats.requests, 1);
  assert.equal(client.stats.retries, 0);
});

Deno.test("HttpClient refuses to wait for an excessive Retry-After", async () => {
  const { fetch } = scriptedFetch([
    () => new Response("", { status: 429, headers: { "retry-after": "3600" } }),
  ]);
  const client = new KickHttpClient({ ...FAST, maxRetryAfterMs: 60_000, fetch });
  const error = await client.request("http://kick.test/public/v1/channels").catch((e) => e);
  assert.ok(error instanceof KickUnavailableError);
  assert.match(error.message, /3600 s/);
  assert.equal(client.stats.rateLimited, 1);
  // Failing fast instead: holding every other request for an hour would hang the whole program.
  assert.equal(client.limiter.pausedUntil, -Infinity);
});

Deno.test("a 429 on the last attempt still pauses the client for the Retry-After", async () => {
  const { fetch } = scriptedFetch([
    () => new Response("", { status: 429, headers: { "retry-after": "30" } }),
  ]);
  const client = new KickHttpClient({ ...FAST, maxRetries: 0, fetch });
  const error = await client.request("http://kick.test/public/v1/channels").catch((e) => e);
  assert.ok(error instanceof KickUnavailableError);
  assert.equal(error.lastStatus, 429);
  assert.ok(client.limiter.pausedUntil >= Date.now() + 29_000);
  // A later call waits for it; its caller may give up meanwhile.
  const controller = new AbortController();
  const later = client.request("http://kick.test/public/v1/channels", {
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(new Error("not waiting 30 s")), 20);
  await assert.rejects(later, { message: "not waiting 30 s" });
  assert.equal(client.stats.requests, 1);
});

Deno.test("the generic HttpClient names its service and judges blocks only by its hook", async () => {
  const cloudflare = () =>
    new Response("<html>Just a moment...</html>", {
      status: 403,
      headers: { "content-type": "text/html", "cf-ray": "1" },
    });
  const plain = new HttpClient({ ...FAST, fetch: scriptedFetch([cloudflare]).fetch });
  assert.equal((await plain.request("http://target.test/hook")).status, 403);

  const hooked = new HttpClient({
    ...FAST,
    serviceName: "The target",
    blockedReason: (status) => status === 403 ? "refused" : null,
    fetch: scriptedFetch([cloudflare]).fetch,
  });
  const blocked = await hooked.request("http://target.test/hook").then(() => null, (e) => e);
  assert.ok(blocked instanceof ServiceBlockedError);
  assert.ok(!(blocked instanceof KickBlockedError));
  assert.equal(blocked.message, "The target blocked GET target.test/hook (HTTP 403: refused)");

  const down = new HttpClient({
    ...FAST,
    serviceName: "The target",
    maxRetries: 0,
    fetch: scriptedFetch([() => new Response("", { status: 503 })]).fetch,
  });
  const unavailable = await down.request("http://target.test/hook").then(() => null, (e) => e);
  assert.ok(unavailable instanceof ServiceUnavailableError);
  assert.ok(!(unavailable instanceof KickUnavailableError));
  assert.match(
    unavailable.message,
    /^The target is unavailable: GET target\.test\/hook failed 1 times/,
  );
  assert.equal(unavailable.exitCode, 69);
});
