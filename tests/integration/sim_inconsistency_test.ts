/**
 * The simulated Kick's habits (issue 10: the real Kick is inconsistent), spoken to with plain fetch and a raw
 * WebSocket: an API that lags the truth, one-answer flickers, odd-but-harmless fields, broken items, owner-only
 * fields, renamed and banned channels (kick-api.md §1.4, §1.5, §3.5). Each habit is off unless a test sets it.
 */
import assert from "node:assert/strict";
import { FakeWorld } from "../../src/sim/world.ts";
import { type FakeKick, type FakeKickHabits, startFakeKick } from "../../src/sim/kick.ts";
import { startFakePusher } from "../../src/sim/pusher.ts";
import { CLIENT_ID, CLIENT_SECRET } from "./kick_rig.ts";

type Item = Record<string, unknown>;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withFake(
  setUp: (world: FakeWorld) => void,
  habits: FakeKickHabits,
  test: (fake: FakeKick, world: FakeWorld, token: string) => Promise<void>,
): Promise<void> {
  const world = new FakeWorld();
  setUp(world);
  const fake = await startFakeKick({
    world,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    habits,
  });
  try {
    const response = await fetch(`${fake.url}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
      }).toString(),
    });
    const { access_token: token } = await response.json();
    await test(fake, world, token);
  } finally {
    await fake.close();
  }
}

async function get(fake: FakeKick, token: string, path: string): Promise<[number, unknown]> {
  const response = await fetch(`${fake.url}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return [response.status, await response.json()];
}

/** `data` of a 200 `/public/v1/...` answer. */
async function items(fake: FakeKick, token: string, path: string): Promise<Item[]> {
  const [status, body] = await get(fake, token, path);
  assert.equal(status, 200, JSON.stringify(body));
  return (body as { data: Item[] }).data;
}

async function channel(fake: FakeKick, token: string, slug: string): Promise<Item> {
  const found = await items(fake, token, `/public/v1/channels?slug=${slug}`);
  assert.equal(found.length, 1);
  return found[0];
}

function isLive(item: Item): unknown {
  return (item.stream as Item).is_live;
}

Deno.test("sim: without habits the fake answers the present, with every owner field zeroed", async () => {
  await withFake((world) => world.addStreamer("alpha"), {}, async (fake, world, token) => {
    world.goLive("alpha");
    const item = await channel(fake, token, "alpha");
    assert.equal(isLive(item), true);
    assert.equal(item.active_subscribers_count, 0);
    assert.equal((item.stream as Item).key, "");
    assert.equal(fake.requestsTo("channels")[0].quirks, undefined);
  });
});

Deno.test("sim: the official API lags the truth by lagMs, on going live and on going offline", async () => {
  await withFake(
    (world) => world.addStreamer("alpha"),
    { lagMs: 400 },
    async (fake, world, token) => {
      const live = world.goLive("alpha", { title: "lagged" });
      const id = world.get("alpha").broadcasterUserId;
      // Pusher would say so at once; the API still says offline, by slug and by id, and lists no stream.
      assert.equal(isLive(await channel(fake, token, "alpha")), false);
      const byId = await items(fake, token, `/public/v1/channels?broadcaster_user_id=${id}`);
      assert.equal(isLive(byId[0]), false);
      assert.deepEqual(
        await items(fake, token, `/public/v1/livestreams?broadcaster_user_id=${id}`),
        [],
      );
      assert.deepEqual(fake.requestsTo("channels")[0].quirks, [{ slug: "alpha", quirk: "lag" }]);
      await delay(500);
      const online = await channel(fake, token, "alpha");
      assert.equal(isLive(online), true);
      assert.equal((online.stream as Item).start_time, live.startedAt.toISOString());
      const streams = await items(fake, token, `/public/v1/livestreams?broadcaster_user_id=${id}`);
      assert.equal(streams.length, 1);
      assert.equal(streams[0].channel_id, world.get("alpha").channelId);

      world.goOffline("alpha");
      const stale = await channel(fake, token, "alpha");
      assert.equal(isLive(stale), true, "the API still shows the ended broadcast");
      assert.equal((stale.stream as Item).start_time, live.startedAt.toISOString());
      assert.equal(
        (await items(fake, token, `/public/v1/livestreams?broadcaster_user_id=${id}`)).length,
        1,
      );
      await delay(500);
      const ended = await channel(fake, token, "alpha");
      assert.equal(isLive(ended), false);
      assert.equal(ended.stream_title, "lagged", "offline still shows the last title");
    },
  );
});

Deno.test("sim: stateAt answers the remembered past, exactly", async () => {
  const world = new FakeWorld();
  const streamer = world.addStreamer("alpha");
  const before = Date.now();
  await delay(20);
  const first = world.goLive("alpha");
  await delay(20);
  const between = Date.now();
  await delay(20);
  world.goOffline("alpha");
  assert.equal(world.stateAt(streamer, before).live, null);
  assert.equal(world.stateAt(streamer, between).live?.id, first.id);
  assert.equal(world.stateAt(streamer, Date.now()).live, null);
  assert.equal(world.stateAt(streamer, Date.now()).lastLivestream?.id, first.id);
  assert.equal(world.stateAt(streamer, 0).live, null, "before it existed: its oldest state");
});

Deno.test("sim: the world forgets beyond memoryMs, keeping the state at the edge of its memory", async () => {
  const world = new FakeWorld({ memoryMs: 60 });
  const streamer = world.addStreamer("alpha");
  const first = world.goLive("alpha");
  await delay(100);
  world.goOffline("alpha");
  const second = world.goLive("alpha");
  // The first broadcast began before the memory's edge, but it is what the channel showed at the edge.
  assert.equal(world.stateAt(streamer, Date.now() - 30).live?.id, first.id);
  assert.equal(world.stateAt(streamer, 0).live?.id, first.id, "older: the oldest state kept");
  assert.equal(world.stateAt(streamer, Date.now()).live?.id, second.id);
});

Deno.test("sim: a varying lag stays within lagMs + lagJitterMs", async () => {
  await withFake(
    (world) => world.addStreamer("alpha"),
    { lagJitterMs: 300, seed: 7 },
    async (fake, world, token) => {
      world.goLive("alpha");
      const early: unknown[] = [];
      for (let i = 0; i < 20; i++) early.push(isLive(await channel(fake, token, "alpha")));
      assert.ok(early.includes(false), "some answers lag");
      await delay(350);
      for (let i = 0; i < 20; i++) assert.equal(isLive(await channel(fake, token, "alpha")), true);
    },
  );
});

Deno.test("sim: an injected flicker is one answer of the opposite state, with the last start time", async () => {
  await withFake(
    (world) => {
      world.addStreamer("alpha");
      world.addStreamer("bravo");
      world.addStreamer("never");
    },
    {},
    async (fake, world, token) => {
      world.goLive("alpha");
      const bravo = world.goLive("bravo", { startedAt: new Date("2026-11-25T18:00:00Z") });
      world.goOffline("bravo");
      fake.injectQuirk("alpha", "flicker");
      fake.injectQuirk("bravo", "flicker");
      fake.injectQuirk("never", "flicker");
      const first = await items(
        fake,
        token,
        "/public/v1/channels?slug=alpha&slug=bravo&slug=never",
      );
      const bySlug = new Map(first.map((item) => [item.slug, item]));
      assert.equal(isLive(bySlug.get("alpha")!), false);
      const flipped = bySlug.get("bravo")!;
      assert.equal(isLive(flipped), true);
      assert.equal((flipped.stream as Item).start_time, bravo.startedAt.toISOString());
      assert.equal(isLive(bySlug.get("never")!), false, "nothing to flicker to");
      assert.deepEqual(fake.requestsTo("channels")[0].quirks, [
        { slug: "alpha", quirk: "flicker" },
        { slug: "bravo", quirk: "flicker" },
      ]);
      const second = await items(fake, token, "/public/v1/channels?slug=alpha&slug=bravo");
      assert.deepEqual(second.map(isLive), [true, false], "one answer only");
    },
  );
});

Deno.test("sim: flickerRate flips some answers, seeded", async () => {
  const run = async (): Promise<unknown[]> => {
    const answers: unknown[] = [];
    await withFake(
      (world) => world.addStreamer("alpha"),
      { flickerRate: 0.2, seed: 42 },
      async (fake, world, token) => {
        world.goLive("alpha");
        for (let i = 0; i < 50; i++) answers.push(isLive(await channel(fake, token, "alpha")));
      },
    );
    return answers;
  };
  const first = await run();
  const flips = first.filter((live) => live === false).length;
  assert.ok(flips >= 3 && flips <= 25, `${flips} flickers in 50 answers at 20%`);
  assert.deepEqual(await run(), first, "the same seed flickers the same answers");
});

Deno.test("sim: drift gives odd-but-harmless fields, a different mix per answer, and keeps the state", async () => {
  await withFake(
    (world) => {
      world.addStreamer("odd");
      world.addStreamer("plain");
    },
    { driftSlugs: ["odd"], seed: 3 },
    async (fake, world, token) => {
      const live = world.goLive("odd", { viewers: 12 });
      world.goLive("plain");
      const mixes = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const [odd, plain] = await items(fake, token, "/public/v1/channels?slug=odd&slug=plain");
        assert.equal(odd.slug, "odd");
        assert.equal(odd.broadcaster_user_id, world.get("odd").broadcasterUserId);
        assert.equal(isLive(odd), true);
        assert.equal((odd.stream as Item).start_time, live.startedAt.toISOString());
        const stream = odd.stream as Item;
        const oddities = [
          JSON.stringify(odd.category) === "{}",
          typeof stream.thumbnail === "object",
          stream.custom_tags === null || typeof stream.custom_tags === "string",
          odd.banner_picture === 42,
          "is_affiliate" in odd,
          stream.viewer_count === "12",
          odd.stream_title === null,
        ];
        assert.ok(oddities.some(Boolean), JSON.stringify(odd));
        mixes.add(JSON.stringify(oddities));
        // The other channel is exact.
        assert.equal(typeof (plain.stream as Item).viewer_count, "number");
        assert.equal(typeof plain.banner_picture, "string");
        assert.deepEqual(Object.keys(plain.category as Item).sort(), ["id", "name", "thumbnail"]);
      }
      assert.ok(mixes.size >= 3, "the odd fields change over time");
      const [stream] = await items(
        fake,
        token,
        `/public/v1/livestreams?broadcaster_user_id=${world.get("odd").broadcasterUserId}`,
      );
      assert.equal(stream.channel_id, world.get("odd").channelId);
      assert.ok(
        fake.requestsTo("channels").every((r) => r.quirks?.some((q) => q.quirk === "drift")),
      );
    },
  );
});

Deno.test("sim: broken items lack stream or stream.is_live; brokenRate breaks some, seeded", async () => {
  await withFake(
    (world) => {
      world.addStreamer("alpha");
      world.addStreamer("bravo");
    },
    {},
    async (fake, world, token) => {
      world.goLive("alpha");
      fake.injectQuirk("alpha", "missing-stream");
      fake.injectQuirk("bravo", "missing-is-live");
      const [alpha, bravo] = await items(fake, token, "/public/v1/channels?slug=alpha&slug=bravo");
      assert.equal("stream" in alpha, false);
      assert.equal("is_live" in (bravo.stream as Item), false);
      assert.equal(isLive(await channel(fake, token, "alpha")), true, "only the injected answer");
      fake.setHabits({ brokenRate: 0.5, seed: 9 });
      let broken = 0;
      for (let i = 0; i < 20; i++) {
        const item = await channel(fake, token, "alpha");
        if (!("stream" in item) || !("is_live" in (item.stream as Item))) broken++;
      }
      assert.ok(broken >= 3 && broken <= 17, `${broken} of 20 broken at 50%`);
    },
  );
});

Deno.test("sim: owner-only fields appear on the app owner's channel only", async () => {
  await withFake(
    (world) => {
      world.addStreamer("owner");
      world.addStreamer("other");
    },
    { ownerSlug: "owner" },
    async (fake, world, token) => {
      world.goLive("owner");
      const [owner, other] = await items(fake, token, "/public/v1/channels?slug=owner&slug=other");
      assert.equal(owner.active_subscribers_count, 150);
      assert.equal(owner.canceled_subscribers_count, 25);
      assert.match((owner.stream as Item).key as string, /^sk_/);
      assert.match((owner.stream as Item).url as string, /^rtmps:\/\//);
      for (const field of ["active_subscribers_count", "canceled_subscribers_count"]) {
        assert.equal(field in other, false, field);
      }
      assert.equal("key" in (other.stream as Item), false);
      assert.equal("url" in (other.stream as Item), false);
    },
  );
});

Deno.test("sim: a renamed channel keeps its user id; the old slug finds nothing anywhere", async () => {
  await withFake((world) => world.addStreamer("oldname"), {}, async (fake, world, token) => {
    const id = world.get("oldname").broadcasterUserId;
    const channelId = world.get("oldname").channelId;
    world.rename("oldname", "newname");
    assert.deepEqual(await items(fake, token, "/public/v1/channels?slug=oldname"), []);
    assert.equal((await channel(fake, token, "newname")).broadcaster_user_id, id);
    const byId = await items(fake, token, `/public/v1/channels?broadcaster_user_id=${id}`);
    assert.equal(byId[0].slug, "newname");
    assert.equal(await fetch(`${fake.url}/api/v2/channels/oldname`).then(drain), 404);
    const legacy = await (await fetch(`${fake.url}/api/v2/channels/newname`)).json();
    assert.equal(legacy.id, channelId);
    world.goLive("newname");
    const [stream] = await items(fake, token, `/public/v1/livestreams?broadcaster_user_id=${id}`);
    assert.equal(stream.slug, "newname");
  });
});

Deno.test("sim: a banned channel leaves the official API, and Pusher's stop says is_banned", async () => {
  const world = new FakeWorld();
  world.addStreamer("bad");
  world.addStreamer("good");
  const pusher = await startFakePusher({ world, publishOn: ["dot"] });
  const fake = await startFakeKick({ world, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  const ws = new WebSocket(pusher.url);
  const frames: Item[] = [];
  ws.onmessage = (message) => frames.push(JSON.parse(message.data));
  try {
    const channelId = world.get("bad").channelId;
    while (frames.length === 0) await delay(5);
    ws.send(
      JSON.stringify({ event: "pusher:subscribe", data: { channel: `channel.${channelId}` } }),
    );
    while (frames.length < 2) await delay(5);
    const live = world.goLive("bad");
    world.goLive("good");
    world.ban("bad");
    while (frames.length < 4) await delay(5);
    assert.deepEqual(frames.slice(2).map((f) => f.event), [
      "App\\Events\\StreamerIsLive",
      "App\\Events\\StopStreamBroadcast",
    ]);
    assert.deepEqual(JSON.parse(frames[3].data as string), {
      livestream: { id: live.id, channel: { id: channelId, is_banned: true } },
    });

    const token = (await (await fetch(`${fake.url}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `grant_type=client_credentials&client_id=${CLIENT_ID}&client_secret=${CLIENT_SECRET}`,
    })).json()).access_token;
    const id = world.get("bad").broadcasterUserId;
    const goodId = world.get("good").broadcasterUserId;
    assert.deepEqual(
      (await items(fake, token, "/public/v1/channels?slug=bad&slug=good")).map((i) => i.slug),
      ["good"],
    );
    assert.deepEqual(
      (await items(fake, token, `/public/v1/channels?broadcaster_user_id=${id}`)).length,
      0,
    );
    const streams = await items(
      fake,
      token,
      `/public/v1/livestreams?broadcaster_user_id=${id}&broadcaster_user_id=${goodId}`,
    );
    assert.deepEqual(streams.map((s) => s.slug), ["good"]);
    const legacy = await (await fetch(`${fake.url}/api/v2/channels/bad`)).json();
    assert.equal(legacy.is_banned, true);
    assert.equal(legacy.livestream, null);
    assert.equal(world.history.length, 0, "history is only kept with keepHistory");
  } finally {
    ws.close();
    await fake.close();
    await pusher.close();
  }
});

Deno.test("sim: channels by broadcaster_user_id are repeatable, at most 50, never mixed with slug", async () => {
  await withFake(
    (world) => {
      for (let i = 0; i < 3; i++) world.addStreamer(`s${i}`);
    },
    {},
    async (fake, world, token) => {
      const ids = [0, 1, 2].map((i) => world.get(`s${i}`).broadcasterUserId);
      const found = await items(
        fake,
        token,
        `/public/v1/channels?${ids.map((id) => `broadcaster_user_id=${id}`).join("&")}`,
      );
      assert.deepEqual(found.map((i) => i.slug), ["s0", "s1", "s2"]);
      const many = Array.from({ length: 51 }, (_, i) => `broadcaster_user_id=${i + 1}`).join("&");
      assert.equal((await get(fake, token, `/public/v1/channels?${many}`))[0], 400);
      const mixed = await get(
        fake,
        token,
        `/public/v1/channels?slug=s0&broadcaster_user_id=${ids[1]}`,
      );
      assert.equal(mixed[0], 400);
    },
  );
});

async function drain(response: Response): Promise<number> {
  await response.body?.cancel();
  return response.status;
}
