/** AppTokenProvider against the fake id.kick.com. */
import assert from "node:assert/strict";
import { AppTokenProvider } from "../../src/kick/oauth.ts";
import { KickHttpClient } from "../../src/kick/http.ts";
import { KickCredentialsError, KickResponseError } from "../../src/kick/errors.ts";
import { ConfigError, exitCodeOf } from "../../src/lib/errors.ts";
import { log } from "../../src/lib/log.ts";
import { CLIENT_ID, CLIENT_SECRET, FAST_HTTP, rejection, withRig } from "./kick_rig.ts";

Deno.test("the token is cached and concurrent callers share one OAuth request", async () => {
  await withRig({}, async (rig) => {
    const tokens = await Promise.all(Array.from({ length: 10 }, () => rig.tokens.getToken()));
    assert.equal(new Set(tokens).size, 1);
    assert.equal(await rig.tokens.getToken(), tokens[0]);
    assert.equal(rig.fake.requestsTo("oauth").length, 1);
    assert.equal(rig.tokens.stats.minted, 1);
    // The secret travels in the form body only.
    assert.equal(rig.fake.requestsTo("oauth")[0].query, "");
  });
});

Deno.test("the token is replaced shortly before it expires", async () => {
  await withRig({ fake: { tokenTtlSeconds: 1000 } }, async (rig) => {
    let now = 1_000_000;
    const tokens = new AppTokenProvider({
      http: rig.http,
      oauthUrl: rig.fake.url,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      now: () => now,
    });
    const first = await tokens.getToken();
    // 1000 s lifetime: replaced min(60 s, 10 %) = 60 s early.
    now += 939_000;
    assert.equal(await tokens.getToken(), first);
    now += 2_000;
    const second = await tokens.getToken();
    assert.notEqual(second, first);
    assert.equal(rig.fake.requestsTo("oauth").length, 2);
  });
});

Deno.test("invalidate drops only the token it names", async () => {
  await withRig({}, async (rig) => {
    const first = await rig.tokens.getToken();
    rig.tokens.invalidate(first);
    const second = await rig.tokens.getToken();
    assert.notEqual(second, first);
    rig.tokens.invalidate(first); // a late 401 for the old token keeps the new one
    assert.equal(await rig.tokens.getToken(), second);
    assert.equal(rig.fake.requestsTo("oauth").length, 2);
  });
});

Deno.test("wrong credentials: KickCredentialsError, exit 78, Kick's reason, never the secret", async () => {
  const wrongSecret = "wrong-secret-1234";
  await withRig({ clientSecret: wrongSecret }, async (rig) => {
    const error = await rejection(rig.tokens.getToken());
    assert.ok(error instanceof KickCredentialsError);
    assert.ok(error instanceof ConfigError);
    assert.equal(exitCodeOf(error), 78);
    assert.match(
      error.message,
      /^Kick rejected the client credentials: check KICK_CLIENT_ID and KICK_CLIENT_SECRET/,
    );
    assert.match(error.message, /invalid_client/);
    assert.ok(!error.message.includes(wrongSecret));
    assert.equal(rig.fake.requestsTo("oauth").length, 1, "credentials errors are not retried");
    assert.ok(!rig.logs.join("\n").includes(wrongSecret));
  });
});

Deno.test("an empty 400 from the OAuth server is asked again; twice is 'an outage, or bad credentials' (#156)", async () => {
  await withRig({}, async (rig) => {
    rig.fake.injectFault("oauth", { kind: "empty-400" }, 2);
    const error = await rejection(rig.tokens.getToken());
    assert.equal(exitCodeOf(error), 69);
    assert.match(
      error.message,
      /Kick's OAuth answered 400 with no reason \(an outage, or bad credentials\)/,
    );
    assert.equal(rig.fake.requestsTo("oauth").length, 2);
    // The failure is not cached: the next call mints.
    assert.ok(await rig.tokens.getToken());
    // One empty 400 then a token: the retry mints.
    rig.tokens.invalidate(await rig.tokens.getToken());
    rig.fake.injectFault("oauth", { kind: "empty-400" }, 1);
    assert.ok(await rig.tokens.getToken());
  });
});

Deno.test("a malformed token answer is KickResponseError (exit 1)", async () => {
  await withRig({}, async (rig) => {
    rig.fake.injectFault("oauth", { kind: "wrong-types" });
    const wrong = await rejection(rig.tokens.getToken());
    assert.ok(wrong instanceof KickResponseError);
    assert.equal(exitCodeOf(wrong), 1);
    assert.match(wrong.message, /access_token/);
    rig.fake.injectFault("oauth", { kind: "truncated-json" });
    const truncated = await rejection(rig.tokens.getToken());
    assert.ok(truncated instanceof KickResponseError);
    assert.match(truncated.message, /POST 127\.0\.0\.1:\d+\/oauth\/token \(HTTP 200\)/);
  });
});

Deno.test("OAuth 5xx and 429 are retried", async () => {
  await withRig({}, async (rig) => {
    rig.fake.injectFault("oauth", { kind: "status", status: 503 });
    rig.fake.injectFault("oauth", { kind: "status", status: 429, retryAfter: "0" });
    assert.ok(await rig.tokens.getToken());
    assert.deepEqual(rig.fake.requestsTo("oauth").map((request) => request.status), [
      503,
      429,
      200,
    ]);
  });
});

Deno.test("the secret and the token never appear in errors or logs", async () => {
  await withRig({}, async (rig) => {
    const token = await rig.tokens.getToken();
    // Anything that ever logs them is masked.
    log.info("debugging", { token, secret: CLIENT_SECRET });
    const messages: string[] = [];
    for (
      const fault of [
        { kind: "status", status: 503 },
        { kind: "truncated-json" },
        { kind: "wrong-types" },
        { kind: "empty-400" },
        { kind: "drop" },
        { kind: "cloudflare" },
      ] as const
    ) {
      rig.fake.injectFault("any", fault, 10);
      rig.tokens.invalidate(token);
      const newer = rig.tokens.getToken().catch((error: Error) => error.message);
      const lookup = rig.api.getChannelsBySlug(["a"]).catch((error: Error) => error.message);
      messages.push(String(await newer), String(await lookup));
      rig.fake.clearFaults();
    }
    const unreachable = new AppTokenProvider({
      http: new KickHttpClient({ ...FAST_HTTP, maxRetries: 0 }),
      oauthUrl: "http://127.0.0.1:1",
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
    });
    messages.push((await rejection(unreachable.getToken())).message);
    const everything = messages.join("\n") + "\n" + rig.logs.join("\n");
    assert.ok(!everything.includes(CLIENT_SECRET), "the client secret leaked");
    assert.ok(!everything.includes(token), "the access token leaked");
    assert.ok(rig.logs.some((line) => line.includes('"token":"***"')));
  });
});

Deno.test("a caller that gives up does not fail the shared mint", async () => {
  await withRig({}, async (rig) => {
    rig.fake.injectFault("oauth", { kind: "slow", delayMs: 100 });
    const controller = new AbortController();
    const impatient = rig.tokens.getToken(controller.signal);
    const patient = rig.tokens.getToken();
    controller.abort(new Error("gave up"));
    await assert.rejects(impatient, { message: "gave up" });
    assert.ok(await patient);
    assert.equal(rig.fake.requestsTo("oauth").length, 1);
  });
});
