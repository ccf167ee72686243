/** The fake Kick against the reference: shapes, errors and faults, with plain fetch. */
import assert from "node:assert/strict";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, startFakeKick } from "../../src/sim/kick.ts";
import { CLIENT_ID, CLIENT_SECRET } from "./kick_rig.ts";

function fixture(name: string): unknown {
  return JSON.parse(Deno.readTextFileSync(new URL(`../fixtures/kick/${name}`, import.meta.url)));
}

/** Every key path of a JSON value ("data[].stream.is_live"), arrays merged. */
function keyPaths(value: unknown, prefix = "", into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) keyPaths(item, `${prefix}[]`, into);
  } else if (value !== null && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      const path = prefix === "" ? key : `${prefix}.${key}`;
      into.add(path);
      keyPaths(child, path, into);
    }
  }
  return into;
}

async function withFake(
  test: (fake: FakeKick, world: FakeWorld) => Promise<void>,
  rateLimitPerSecond?: number,
): Promise<void> {
  const world = new FakeWorld();
  const fake = await startFakeKick({
    world,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    rateLimitPerSecond,
  });
  try {
    await test(fake, world);
  } finally {
    await fake.close();
  }
}

function tokenRequest(fake: FakeKick, form: Record<string, string>): Promise<Response> {
  return fetch(`${fake.url}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  });
}

async function mintToken(fake: FakeKick): Promise<string> {
  const response = await tokenRequest(fake, {
    grant_type: "client_credentials",
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
  });
  return (await response.json()).access_token;
}

async function get(fake: FakeKick, path: string, token?: string): Promise<[number, unknown]> {
  const response = await fetch(`${fake.url}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  return [response.status, text === "" ? null : JSON.parse(text)];
}

Deno.test("fake OAuth: token shape, wrong credentials, missing fields", async () => {
  await withFake(async (fake) => {
    const good = await tokenRequest(fake, {
      grant_type: "client_credentials",
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
    });
    assert.equal(good.status, 200);
    const token = await good.json();
    assert.deepEqual(keyPaths(token), keyPaths(fixture("oauth_token.json")));
    assert.equal(token.token_type, "Bearer");
    assert.equal(token.expires_in, 5_184_000);

    const wrong = await tokenRequest(fake, {
      grant_type: "client_credentials",
      client_id: CLIENT_ID,
      client_secret: "nope",
    });
    assert.equal(wrong.status, 401);
    const wrongBody = await wrong.json();
    assert.equal(wrongBody.error, "invalid_client");
    assert.equal(typeof wrongBody.error_description, "string");

    const missing = await tokenRequest(fake, { grant_type: "client_credentials" });
    assert.equal(missing.status, 400);
    assert.equal((await missing.json()).error, "invalid_request");

    const json = await fetch(`${fake.url}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "client_credentials" }),
    });
    assert.equal(json.status, 400);
    await json.body?.cancel();
    assert.equal(fake.stats.tokensIssued, 1);
  });
});

Deno.test("fake channels: shape of the reference, auth, and parameter rules", async () => {
  await withFake(async (fake, world) => {
    world.addStreamer("john-doe", { broadcasterUserId: 123 });
    world.addStreamer("quiet");
    world.goLive("john-doe", { title: "My first stream", viewers: 7 });
    const token = await mintToken(fake);

    const [status, body] = await get(fake, "/public/v1/channels?slug=john-doe", token);
    assert.equal(status, 200);
    assert.deepEqual(keyPaths(body), keyPaths(fixture("channels.json")));
    const item = (body as { data: Record<string, unknown>[] }).data[0];
    assert.equal(item.broadcaster_user_id, 123);
    assert.deepEqual(item.stream, {
      custom_tags: [],
      is_live: true,
      is_mature: false,
      key: "",
      language: "en",
      start_time: world.get("john-doe").live!.startedAt.toISOString(),
      thumbnail: (item.stream as { thumbnail: string }).thumbnail,
      url: "",
      viewer_count: 7,
    });

    // Never live: no category yet; offline stream with is_live false.
    const [, quiet] = await get(fake, "/public/v1/channels?slug=quiet", token);
    const quietItem = (quiet as { data: Record<string, unknown>[] }).data[0];
    assert.equal(quietItem.category, null);
    assert.equal((quietItem.stream as { is_live: boolean }).is_live, false);

    // Offline after a broadcast: the last title and category stay (§1.4, #152).
    world.goOffline("john-doe");
    const [, after] = await get(fake, "/public/v1/channels?broadcaster_user_id=123", token);
    const afterItem = (after as { data: Record<string, unknown>[] }).data[0];
    assert.equal(afterItem.stream_title, "My first stream");
    assert.equal((afterItem.stream as { is_live: boolean }).is_live, false);
    assert.notEqual(afterItem.category, null);

    assert.deepEqual(await get(fake, "/public/v1/channels?slug=nobody", token), [200, {
      data: [],
      message: "OK",
    }]);
    assert.deepEqual(
      await get(fake, "/public/v1/channels?slug=john-doe"),
      [401, fixture("api_unauthorized.json")],
    );
    assert.deepEqual(
      await get(fake, "/public/v1/channels?slug=john-doe", "made-up"),
      [401, fixture("api_unauthorized.json")],
    );
    const [mixed] = await get(
      fake,
      "/public/v1/channels?slug=john-doe&broadcaster_user_id=123",
      token,
    );
    assert.equal(mixed, 400);
    const many = Array.from({ length: 51 }, (_, i) => `slug=s${i}`).join("&");
    assert.equal((await get(fake, `/public/v1/channels?${many}`, token))[0], 400);
    assert.equal((await get(fake, `/public/v1/channels?slug[]=john-doe`, token))[0], 400);
    assert.equal((await get(fake, `/public/v1/channels?slug=${"x".repeat(26)}`, token))[0], 400);

    fake.expireTokens();
    assert.equal((await get(fake, "/public/v1/channels?slug=john-doe", token))[0], 401);
  });
});

Deno.test("fake tokens expire after tokenTtlSeconds", async () => {
  const world = new FakeWorld();
  world.addStreamer("a");
  const fake = await startFakeKick({
    world,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    tokenTtlSeconds: 0.05,
  });
  try {
    const token = await mintToken(fake);
    assert.equal((await get(fake, "/public/v1/channels?slug=a", token))[0], 200);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal((await get(fake, "/public/v1/channels?slug=a", token))[0], 401);
  } finally {
    await fake.close();
  }
});

Deno.test("fake livestreams: only live ones, with channel_id, default limit 25", async () => {
  await withFake(async (fake, world) => {
    for (let i = 0; i < 30; i++) {
      world.addStreamer(`s${i}`);
      world.goLive(`s${i}`, { viewers: i });
    }
    world.addStreamer("offline", { broadcasterUserId: 5, channelId: 50 });
    const token = await mintToken(fake);
    const [status, body] = await get(fake, "/public/v1/livestreams", token);
    assert.equal(status, 200);
    const data = (body as { data: Record<string, unknown>[] }).data;
    assert.equal(data.length, 25);
    assert.deepEqual(keyPaths(body), keyPaths(fixture("livestreams.json")));
    assert.equal(data[0].viewer_count, 29, "sorted by viewers");
    assert.equal(data[0].channel_id, world.get("s29").channelId);
    assert.notEqual(data[0].channel_id, data[0].broadcaster_user_id);

    const ids = ["s1", "s2"].map((slug) => world.get(slug).broadcasterUserId);
    const [, some] = await get(
      fake,
      `/public/v1/livestreams?broadcaster_user_id=${ids[0]}&broadcaster_user_id=${
        ids[1]
      }&broadcaster_user_id=5`,
      token,
    );
    assert.deepEqual(
      (some as { data: { slug: string }[] }).data.map((item) => item.slug).sort(),
      ["s1", "s2"],
    );
    assert.equal((await get(fake, "/public/v1/livestreams?limit=101", token))[0], 400);
    assert.equal(
      ((await get(fake, "/public/v1/livestreams?limit=100", token))[1] as { data: [] }).data.length,
      30,
    );
  });
});

Deno.test("fake users, public key and legacy channel follow the reference", async () => {
  await withFake(async (fake, world) => {
    world.addStreamer("averagedad", {
      broadcasterUserId: 91898,
      channelId: 90876,
      chatroomId: 90874,
    });
    const token = await mintToken(fake);

    const [, users] = await get(fake, "/public/v1/users?id=91898&id=1", token);
    assert.deepEqual(keyPaths(users), keyPaths(fixture("users.json")));
    assert.equal((users as { data: { user_id: number }[] }).data.length, 1);

    assert.deepEqual(await get(fake, "/public/v1/public-key"), [200, fixture("public_key.json")]);

    world.goLive("averagedad", { title: "Caldera Vibes | Snipes Today" });
    const [status, legacy] = await get(fake, "/api/v2/channels/averagedad");
    assert.equal(status, 200);
    assert.deepEqual(keyPaths(legacy), keyPaths(fixture("legacy_channel_v2.json")));
    const channel = legacy as {
      id: number;
      user_id: number;
      chatroom: { id: number };
      livestream: { created_at: string };
    };
    assert.deepEqual([channel.id, channel.user_id, channel.chatroom.id], [90876, 91898, 90874]);
    assert.match(channel.livestream.created_at, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);

    world.goOffline("averagedad");
    assert.equal(
      ((await get(fake, "/api/v2/channels/averagedad"))[1] as { livestream: null }).livestream,
      null,
    );
    assert.deepEqual(
      await get(fake, "/api/v2/channels/nobody"),
      [404, fixture("legacy_not_found.json")],
    );
  });
});

Deno.test("fake faults: status, cloudflare, truncated, wrong types, empty 400, drop, any, times", async () => {
  await withFake(async (fake, world) => {
    world.addStreamer("a");
    fake.injectFault("legacy", { kind: "status", status: 429, retryAfter: "2" }, 2);
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${fake.url}/api/v2/channels/a`);
      assert.equal(response.status, 429);
      assert.equal(response.headers.get("retry-after"), "2");
      await response.body?.cancel();
    }
    assert.equal((await get(fake, "/api/v2/channels/a"))[0], 200, "the fault ran out");

    fake.injectFault("legacy", { kind: "cloudflare" });
    const challenge = await fetch(`${fake.url}/api/v2/channels/a`);
    assert.equal(challenge.status, 403);
    assert.ok(challenge.headers.get("cf-ray"));
    assert.match(await challenge.text(), /Just a moment\.\.\./);

    fake.injectFault("legacy", { kind: "cloudflare", variant: "json" });
    assert.deepEqual(await get(fake, "/api/v2/channels/a"), [
      403,
      fixture("cloudflare_blocked.json"),
    ]);

    fake.injectFault("public-key", { kind: "truncated-json" });
    const truncated = await (await fetch(`${fake.url}/public/v1/public-key`)).text();
    assert.throws(() => JSON.parse(truncated));

    fake.injectFault("any", { kind: "wrong-types" });
    const [, bent] = await get(fake, "/public/v1/public-key");
    assert.equal((bent as { data: { public_key: unknown } }).data.public_key, 42);

    fake.injectFault("oauth", { kind: "empty-400" });
    const empty = await tokenRequest(fake, {});
    assert.equal(empty.status, 400);
    assert.equal(await empty.text(), "");

    fake.injectFault("public-key", { kind: "drop" });
    await assert.rejects(async () => {
      const response = await fetch(`${fake.url}/public/v1/public-key`);
      await response.text();
    }, TypeError);
    assert.equal(fake.requests.at(-1)?.status, 0, "a drop is logged as status 0");

    fake.injectFault("public-key", { kind: "slow", delayMs: 100 });
    const started = Date.now();
    assert.equal((await get(fake, "/public/v1/public-key"))[0], 200);
    assert.ok(Date.now() - started >= 100);

    assert.deepEqual(
      fake.requestsTo("legacy").map((request) => request.status),
      [429, 429, 200, 403, 403],
    );
  });
});

Deno.test("fake rate limit answers 429 without Retry-After and counts it", async () => {
  await withFake(async (fake) => {
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${fake.url}/public/v1/public-key`)),
    );
    for (const response of responses) await response.body?.cancel();
    const limited = responses.filter((response) => response.status === 429);
    assert.ok(limited.length >= 10, `${limited.length} throttled`);
    assert.ok(limited.every((response) => response.headers.get("retry-after") === null));
    assert.equal(fake.stats.throttled, limited.length);
  }, 5);
});

Deno.test("fake closes promptly with a slow answer pending", async () => {
  const world = new FakeWorld();
  const fake = await startFakeKick({ world, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  fake.injectFault("public-key", { kind: "slow", delayMs: 60_000 });
  const pending = fetch(`${fake.url}/public/v1/public-key`).then((r) => r.text()).catch(() => "");
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = Date.now();
  await fake.close();
  await pending;
  assert.ok(Date.now() - started < 5000);
});
