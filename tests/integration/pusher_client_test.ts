import assert from "node:assert/strict";
import { configureLogging } from "../../src/lib/log.ts";
import { PusherPool, type PusherPoolOptions } from "../../src/pusher/pool.ts";
import type {
  PusherChannelEvent,
  PusherCloseInfo,
  PusherRefusalInfo,
  PusherSubscriptionError,
} from "../../src/pusher/types.ts";
import { kickChannelNames, parseKickLiveEvent } from "../../src/kick/pusher_events.ts";
import { type FakePusher, type FakePusherOptions, startFakePusher } from "../../src/sim/pusher.ts";
import { FakeWorld } from "../../src/sim/world.ts";

const logLines: string[] = [];
configureLogging({ format: "json", level: "debug", write: (line) => logLines.push(line) });

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` every 5 ms; returns how long it took, or throws naming what never happened. */
async function waitFor(what: string, predicate: () => boolean, timeoutMs = 2_000): Promise<number> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeoutMs) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await delay(5);
  }
  return performance.now() - start;
}

interface Harness {
  fake: FakePusher;
  pool: PusherPool;
  events: PusherChannelEvent[];
  connected: { socket: number; reconnect: boolean; at: number }[];
  disconnected: { socket: number; info: PusherCloseInfo; at: number }[];
  refused: { socket: number; info: PusherRefusalInfo; at: number }[];
  stopped: { socket: number; info: PusherCloseInfo }[];
  malformed: { reason: string; sample: string }[];
  subscriptionErrors: PusherSubscriptionError[];
}

type PoolOverrides = Partial<Omit<PusherPoolOptions, "url">> & {
  url?: (fake: FakePusher) => string;
};

/** Starts a fake and a pool on it, runs `body`, and always stops both (the leak sanitizer checks it). */
async function withPool(
  fakeOptions: FakePusherOptions,
  poolOptions: PoolOverrides,
  body: (h: Harness) => Promise<void>,
): Promise<void> {
  const fake = await startFakePusher(fakeOptions);
  const h: Harness = {
    fake,
    pool: undefined as unknown as PusherPool,
    events: [],
    connected: [],
    disconnected: [],
    refused: [],
    stopped: [],
    malformed: [],
    subscriptionErrors: [],
  };
  const { url, ...rest } = poolOptions;
  h.pool = new PusherPool({
    channelsPerSocket: 100,
    backoff: { baseMs: 20, capMs: 200 },
    handshakeTimeoutMs: 1_000,
    onChannelEvent: (event) => h.events.push(event),
    onConnected: (socket, info) =>
      h.connected.push({ socket, reconnect: info.reconnect, at: performance.now() }),
    onDisconnected: (socket, info) => h.disconnected.push({ socket, info, at: performance.now() }),
    onRefused: (socket, info) => h.refused.push({ socket, info, at: performance.now() }),
    onStopped: (socket, info) => h.stopped.push({ socket, info }),
    onMalformed: (reason, sample) => h.malformed.push({ reason, sample }),
    onSubscriptionError: (_socket, error) => h.subscriptionErrors.push(error),
    ...rest,
    url: url ? url(fake) : fake.url,
  });
  try {
    await body(h);
  } finally {
    await h.pool.stop();
    await fake.close();
  }
}

Deno.test("pusher pool: subscribes both Kick names and delivers world events within 1 s", async () => {
  const world = new FakeWorld();
  const xqc = world.addStreamer("xqc", { broadcasterUserId: 676, channelId: 668, chatroomId: 668 });
  await withPool({ world }, {}, async ({ fake, pool, events }) => {
    pool.setChannels(kickChannelNames(xqc.channelId));
    pool.start();
    await waitFor("both subscriptions", () => pool.stats().channelsSubscribed === 2);
    assert.equal(fake.subscribers("channel.668"), 1);
    assert.equal(fake.subscribers("channel_668"), 1);

    const sentAt = Date.now();
    const livestream = world.goLive("xqc", {
      title: "hello",
      startedAt: new Date("2025-09-14T23:18:20Z"),
    });
    const took = await waitFor("two StreamerIsLive events", () => events.length === 2, 1_000);
    assert.ok(took < 1_000);
    assert.deepEqual(events.map((event) => event.channel).sort(), ["channel.668", "channel_668"]);
    for (const event of events) {
      assert.ok(event.receivedAt >= sentAt);
      assert.deepEqual(parseKickLiveEvent(event), {
        kind: "live",
        channelId: 668,
        livestreamId: livestream.id,
        title: "hello",
        createdAt: new Date("2025-09-14T23:18:20Z"),
      });
    }

    world.goOffline("xqc");
    await waitFor("two StopStreamBroadcast events", () => events.length === 4, 1_000);
    assert.deepEqual(parseKickLiveEvent(events[3]), {
      kind: "offline",
      channelId: 668,
      livestreamId: livestream.id,
      isBanned: false,
    });
  });
});

Deno.test("pusher pool: pings after the server's activity_timeout and reconnects when no pong comes", async () => {
  // The fake announces activity_timeout 1 s; the client's own 120 s default must yield to it (protocol §3).
  await withPool({ activityTimeout: 1 }, { pongTimeoutMs: 200 }, async (h) => {
    h.pool.setChannels(["channel.1"]);
    h.pool.start();
    await waitFor("subscription", () => h.pool.stats().channelsSubscribed === 1);
    const pings = () => h.fake.received.filter((frame) => frame.event === "pusher:ping").length;

    await waitFor("a first ping", () => pings() === 1, 1_500);
    assert.equal(
      h.fake.received.find((frame) => frame.event === "pusher:ping")?.text,
      '{"event":"pusher:ping","data":{}}',
    );
    await delay(300); // the pong arrived: no reconnect
    assert.equal(h.fake.connectCount, 1);
    assert.equal(h.disconnected.length, 0);

    h.fake.withholdPongs(true);
    await waitFor("a second ping", () => pings() === 2, 1_500);
    await waitFor("a reconnect after the pong timeout", () => h.fake.connectCount === 2, 1_000);
    assert.equal(h.disconnected.length, 1);
    assert.match(h.disconnected[0].info.reason, /no pong within 200 ms/);
    await waitFor("resubscription", () => h.fake.subscribers("channel.1") === 1);
  });
});

Deno.test("pusher pool: answers a server pusher:ping with pusher:pong", async () => {
  await withPool({}, {}, async (h) => {
    h.pool.setChannels(["channel.1"]);
    h.pool.start();
    await waitFor("connection", () => h.fake.connections() === 1);
    h.fake.publishRaw('{"event":"pusher:ping","data":{}}');
    await waitFor("a pong", () => h.fake.received.some((frame) => frame.event === "pusher:pong"));
    assert.equal(
      h.fake.received.find((frame) => frame.event === "pusher:pong")?.text,
      '{"event":"pusher:pong","data":{}}',
    );
  });
});

/** The JSON log lines at `level` whose message contains `text`. */
function logged(level: string, text: string): Record<string, unknown>[] {
  return logLines.map((line) => JSON.parse(line)).filter((entry) =>
    entry.level === level && String(entry.msg).includes(text)
  );
}

Deno.test("pusher pool: close 4001 on connected sockets moves their channels to new sockets at once", async () => {
  const refusedBefore = logged("warn", "refused").length;
  await withPool({}, {
    channelsPerSocket: 1,
    refusedBackoff: { baseMs: 60_000, capMs: 60_000 },
  }, async (h) => {
    h.pool.setChannels(["channel.1", "channel.2"]);
    h.pool.start();
    await waitFor("two subscriptions", () => h.pool.stats().channelsSubscribed === 2);
    h.fake.closeAll(4001, "Application does not exist");
    await waitFor("two refusal reports", () => h.refused.length === 2);
    for (const { info } of h.refused) {
      assert.equal(info.code, 4001);
      assert.equal(info.reason, "Application does not exist");
      assert.equal(info.wasConnected, true);
      assert.ok(info.retryInMs >= 30_000 && info.retryInMs <= 60_000, `${info.retryInMs} ms`);
    }
    // Not blind during the long backoff: both channels ride on two new sockets within moments.
    const took = await waitFor("both channels back", () => h.pool.stats().channelsSubscribed === 2);
    assert.ok(took < 1_000, `resubscribed after ${took} ms`);
    assert.equal(h.fake.subscribers("channel.1"), 1);
    assert.equal(h.fake.subscribers("channel.2"), 1);
    assert.deepEqual([h.pool.socketOf("channel.1"), h.pool.socketOf("channel.2")].sort(), [2, 3]);
    const stats = h.pool.stats();
    assert.equal(stats.socketsTotal, 4);
    assert.equal(stats.socketsRefused, 2);
    assert.equal(stats.socketsStopped, 0);
    assert.equal(stats.socketsConnected, 2);
    assert.deepEqual(h.stopped, []);
    assert.deepEqual(h.disconnected, []);
    // One warning per refusal, with the code and the reason.
    const warnings = logged("warn", "refused").slice(refusedBefore);
    assert.equal(warnings.length, 2);
    for (const warning of warnings) {
      assert.equal(warning.code, 4001);
      assert.equal(warning.reason, "Application does not exist");
    }
    // The refused sockets stay away for the backoff: only the two new sockets connected.
    await delay(200);
    assert.equal(h.fake.attemptCount, 4);
    h.fake.publish("channel.2", "e", { after: "refusal" });
    await waitFor("an event on a moved channel", () => h.events.length === 1);
  });
});

Deno.test("pusher pool: a wrong app key (4001 at the door) waits long and opens no other socket", async () => {
  await withPool({}, { url: (fake) => fake.url.replace(fake.appKey, "wrongkey") }, async (h) => {
    h.pool.setChannels(["channel.1"]);
    h.pool.start();
    await waitFor("refusal report", () => h.refused.length === 1);
    const { info } = h.refused[0];
    assert.equal(info.code, 4001);
    assert.match(info.reason, /wrongkey/);
    assert.equal(info.wasConnected, false);
    // The default refusal backoff: 10 minutes with half jitter.
    assert.ok(info.retryInMs >= 300_000 && info.retryInMs <= 600_000, `${info.retryInMs} ms`);
    await delay(200);
    // A new socket would present the same key: the channel stays, blind until the retry.
    assert.equal(h.fake.attemptCount, 1);
    assert.equal(h.fake.connectCount, 0);
    assert.equal(h.connected.length, 0);
    assert.deepEqual(h.stopped, []);
    const stats = h.pool.stats();
    assert.equal(stats.socketsTotal, 1);
    assert.equal(stats.socketsRefused, 1);
    assert.equal(stats.channelsPending, 1);
    assert.equal(h.pool.socketOf("channel.1"), 0);
  });
});

Deno.test("pusher pool: a socket refused at the door hands channels to sockets with room, retries later", async () => {
  // random() = 0 takes the lower edge of the jitter window: the refused socket retries after 150 ms.
  await withPool({}, {
    channelsPerSocket: 3,
    random: () => 0,
    refusedBackoff: { baseMs: 300, capMs: 300 },
  }, async (h) => {
    h.pool.setChannels(["channel.1"]);
    h.pool.start();
    await waitFor("socket 0", () => h.pool.stats().channelsSubscribed === 1);
    h.fake.refuseHandshakes({ code: 4004, reason: "Application is over connection quota" });
    // Socket 0 has room for two; the rest opens socket 1, and the least-loaded rule splits them 2 + 2.
    h.pool.setChannels(["channel.1", "channel.2", "channel.3", "channel.4"]);
    assert.deepEqual(["channel.2", "channel.4"].map((name) => h.pool.socketOf(name)), [1, 1]);
    await waitFor("socket 1 refused", () => h.refused.length === 1);
    h.fake.refuseHandshakes(null);
    assert.deepEqual(h.refused[0].info, {
      code: 4004,
      reason: "Application is over connection quota",
      retryInMs: 150,
      wasConnected: false,
    });
    // Socket 0's one free place takes channel.2 at once; channel.4 waits on socket 1 for its retry.
    assert.equal(h.pool.socketOf("channel.2"), 0);
    assert.equal(h.pool.socketOf("channel.4"), 1);
    await waitFor("channel.2 on socket 0", () => h.fake.subscribers("channel.2") === 1);
    assert.equal(h.fake.subscribers("channel.4"), 0);
    assert.equal(h.pool.stats().socketsTotal, 2);

    await waitFor("socket 1 back", () => h.fake.subscribers("channel.4") === 1);
    const waited = h.connected.at(-1)!.at - h.refused[0].at;
    assert.ok(waited >= 140, `retried after ${waited} ms, expected the 150 ms refusal backoff`);
    assert.equal(h.connected.at(-1)!.socket, 1);
    await waitFor("all four", () => h.pool.stats().channelsSubscribed === 4);
    assert.equal(h.pool.stats().socketsRefused, 0);
    assert.equal(h.fake.attemptCount, 3);
  });
});

Deno.test("pusher pool: a server that keeps refusing fresh sockets cannot make the pool grow without end", async () => {
  await withPool({}, {
    channelsPerSocket: 1,
    refusedBackoff: { baseMs: 60_000, capMs: 60_000 },
  }, async (h) => {
    h.pool.setChannels(["channel.1"]);
    h.pool.start();
    await waitFor("socket 0", () => h.pool.stats().channelsSubscribed === 1);
    h.fake.closeAll(4009, "Connection is unauthorized");
    await waitFor("the first refusal", () => h.refused.length === 1);
    await waitFor("socket 1 carries the channel", () => h.pool.stats().channelsSubscribed === 1);
    assert.equal(h.pool.socketOf("channel.1"), 1);
    // One channel needs one socket; the pool allows itself twice that, so the next refusal opens nothing.
    h.fake.closeAll(4009, "Connection is unauthorized");
    await waitFor("the second refusal", () => h.refused.length === 2);
    await delay(200);
    assert.equal(h.pool.stats().socketsTotal, 2);
    assert.equal(h.fake.attemptCount, 2);
    assert.equal(h.pool.socketOf("channel.1"), 1);
    assert.ok(logLines.some((line) => line.includes('"moved":0') && line.includes('"stayed":1')));
  });
});

Deno.test("pusher pool: close 4301 stops that socket for good and keeps its channels", async () => {
  await withPool({}, {}, async (h) => {
    h.pool.setChannels(["channel.1"]);
    h.pool.start();
    await waitFor("subscription", () => h.pool.stats().channelsSubscribed === 1);
    h.fake.closeAll(4301, "Client event rejected due to rate limit");
    await waitFor("stop report", () => h.stopped.length === 1);
    assert.deepEqual(h.stopped[0].info, {
      code: 4301,
      reason: "Client event rejected due to rate limit",
    });
    await delay(200);
    assert.equal(h.fake.attemptCount, 1);
    assert.deepEqual(h.refused, []);
    const stats = h.pool.stats();
    assert.equal(stats.socketsStopped, 1);
    assert.equal(stats.socketsTotal, 1);
    assert.equal(h.pool.socketOf("channel.1"), 0);
    assert.ok(
      logLines.some((line) => line.includes("will not reconnect") && line.includes("4301")),
    );
  });
});

Deno.test("pusher pool: close 4100 reconnects after backing off at least 1 s", async () => {
  await withPool({}, {}, async (h) => {
    h.pool.setChannels(["channel.1"]);
    h.pool.start();
    await waitFor("subscription", () => h.pool.stats().channelsSubscribed === 1);
    h.fake.closeAll(4100, "Over capacity");
    await waitFor("a disconnect report", () => h.disconnected.length === 1);
    assert.deepEqual(h.disconnected[0].info, { code: 4100, reason: "Over capacity" });
    await waitFor("a reconnect", () => h.connected.length === 2, 2_500);
    const waited = h.connected[1].at - h.disconnected[0].at;
    assert.ok(waited >= 990, `reconnected after ${waited} ms, expected at least 1 s`);
    assert.ok(waited < 2_000, `reconnected after ${waited} ms`);
    assert.equal(h.connected[1].reconnect, true);
    await waitFor("resubscription", () => h.fake.subscribers("channel.1") === 1);
  });
});

Deno.test("pusher pool: close 4200 reconnects soon, with a floor that grows on repeats", async () => {
  // random() = 0 takes the lower edge of each jitter window: 100, 200, 400 ms.
  await withPool({}, { random: () => 0 }, async (h) => {
    h.pool.setChannels(["channel.1"]);
    h.pool.start();
    await waitFor("connection", () => h.connected.length === 1);
    const waits: number[] = [];
    for (let i = 1; i <= 3; i++) {
      h.fake.closeAll(4200, "Generic reconnect immediately");
      await waitFor(`disconnect ${i}`, () => h.disconnected.length === i);
      await waitFor(`reconnect ${i}`, () => h.connected.length === i + 1, 1_500);
      waits.push(h.connected[i].at - h.disconnected[i - 1].at);
    }
    assert.ok(waits[0] >= 95 && waits[0] < 500, `first 4200 retry after ${waits[0]} ms`);
    assert.ok(waits[1] >= 195, `second 4200 retry after ${waits[1]} ms`);
    assert.ok(waits[2] >= 395, `third 4200 retry after ${waits[2]} ms`);
    assert.ok(waits[2] > waits[0]);
  });
});

Deno.test("pusher pool: an abrupt drop reconnects every socket and resubscribes every channel", async () => {
  const names = Array.from({ length: 20 }, (_, i) => `channel.${i + 1}`);
  await withPool({}, { channelsPerSocket: 10 }, async (h) => {
    h.pool.setChannels(names);
    h.pool.start();
    await waitFor("20 subscriptions", () => h.pool.stats().channelsSubscribed === 20);
    assert.equal(h.fake.connections(), 2);

    h.fake.dropAll();
    await waitFor("two disconnect reports", () => h.disconnected.length === 2);
    // Deno reports the missing close frame as code 0; the client names it 1006, abnormal closure.
    assert.deepEqual(h.disconnected.map((d) => d.info.code), [1006, 1006]);
    await waitFor("20 resubscriptions", () => h.fake.totalSubscriptions() === 20);
    await waitFor("pool stats", () => h.pool.stats().channelsSubscribed === 20);
    assert.equal(h.fake.connectCount, 4);
    assert.deepEqual(h.connected.map((c) => c.reconnect), [false, false, true, true]);
    assert.equal(h.pool.stats().reconnects, 2);

    for (const name of names) h.fake.publish(name, "App\\Events\\StopStreamBroadcast", { n: name });
    await waitFor("20 events", () => h.events.length === 20);
  });
});

Deno.test("pusher pool: setChannels adds and removes channels live, without reconnecting", async () => {
  await withPool({}, {}, async (h) => {
    h.pool.setChannels(["channel.1", "channel.2"]);
    h.pool.start();
    await waitFor("two subscriptions", () => h.pool.stats().channelsSubscribed === 2);

    h.pool.setChannels(["channel.2", "channel.3"]);
    await waitFor("channel.3 subscribed", () => h.fake.subscribers("channel.3") === 1);
    await waitFor("channel.1 unsubscribed", () => h.fake.subscribers("channel.1") === 0);
    assert.ok(
      h.fake.received.some((frame) =>
        frame.text === '{"event":"pusher:unsubscribe","data":{"channel":"channel.1"}}'
      ),
    );
    await waitFor("pool stats", () => h.pool.stats().channelsSubscribed === 2);

    h.fake.publish("channel.1", "e", { from: 1 });
    h.fake.publish("channel.3", "e", { from: 3 });
    await waitFor("the event of the new channel", () => h.events.length === 1);
    await delay(50);
    assert.deepEqual(h.events.map((event) => event.data), [{ from: 3 }]);
    assert.equal(h.fake.connectCount, 1);

    h.pool.setChannels([]);
    await waitFor("no subscriptions", () => h.fake.totalSubscriptions() === 0);
    assert.deepEqual(h.pool.stats().channelsSubscribed, 0);
  });
});

Deno.test("pusher pool: channels spread over several sockets, a streamer's two names apart", async () => {
  const ids = [668, 90876, 2587387];
  await withPool({}, { channelsPerSocket: 2 }, async (h) => {
    h.pool.setChannels(ids.flatMap((id) => kickChannelNames(id)));
    h.pool.start();
    await waitFor("six subscriptions", () => h.pool.stats().channelsSubscribed === 6);
    assert.equal(h.fake.connections(), 3);
    assert.equal(h.pool.stats().socketsTotal, 3);
    for (const id of ids) {
      const [dot, underscore] = kickChannelNames(id);
      assert.notEqual(
        h.pool.socketOf(dot),
        h.pool.socketOf(underscore),
        `both names of ${id} share a socket`,
      );
    }
    // Growing past capacity opens another socket, live.
    h.pool.setChannels([...ids.flatMap((id) => kickChannelNames(id)), "channel.7", "channel_7"]);
    await waitFor("eight subscriptions", () => h.pool.stats().channelsSubscribed === 8);
    assert.equal(h.fake.connections(), 4);
  });
});

Deno.test("pusher pool: malformed frames are counted and the connection survives", async () => {
  await withPool({}, {}, async (h) => {
    h.pool.setChannels(["channel.1"]);
    h.pool.start();
    await waitFor("subscription", () => h.pool.stats().channelsSubscribed === 1);
    h.fake.publishRaw("not json at all");
    h.fake.publishRaw('{"no":"event"}');
    h.fake.publishRaw('{"event":"pusher:connection_established","data":"garbage"}');
    await waitFor("three malformed reports", () => h.malformed.length === 3);
    assert.equal(h.pool.stats().malformedFrames, 3);
    assert.deepEqual(h.malformed[0], { reason: "frame is not JSON", sample: "not json at all" });

    h.fake.publish("channel.1", "e", { ok: true });
    await waitFor("an event after the junk", () => h.events.length === 1);
    assert.equal(h.fake.connectCount, 1);
    assert.equal(h.disconnected.length, 0);
  });
});

Deno.test("pusher pool: a refused subscription is reported once and not retried in a loop", async () => {
  await withPool({}, {}, async (h) => {
    h.pool.setChannels(["private-x", "channel.1"]);
    h.pool.start();
    await waitFor("a subscription error", () => h.subscriptionErrors.length === 1);
    // Real Pusher's form: pusher:error with code null, naming no channel (protocol §2.1).
    assert.equal(h.subscriptionErrors[0].channel, null);
    assert.match(h.subscriptionErrors[0].message, /Invalid signature/);
    await waitFor("the public channel", () => h.pool.stats().channelsSubscribed === 1);
    await delay(200);
    const subscribes = h.fake.received.filter((frame) =>
      frame.text.includes('"channel":"private-x"')
    );
    assert.equal(subscribes.length, 1);
    assert.equal(h.pool.stats().subscriptionErrors, 1);
    assert.equal(h.fake.connectCount, 1);
  });
});

Deno.test("pusher pool: refused connections back off, then connect", async () => {
  await withPool({}, { backoff: { baseMs: 20, capMs: 80 } }, async (h) => {
    h.fake.refuseConnections(true);
    h.pool.setChannels(["channel.1"]);
    h.pool.start();
    await waitFor("several failed attempts", () => h.pool.stats().reconnects >= 3);
    assert.equal(h.fake.attemptCount, 0);
    assert.equal(h.disconnected.length, 0); // never connected, so nothing was lost
    h.fake.refuseConnections(false);
    await waitFor("a connection", () => h.pool.stats().channelsSubscribed === 1);
    assert.equal(h.connected[0].reconnect, false);
  });
});

Deno.test("pusher pool: a handshake that never completes times out and is retried", async () => {
  await withPool({}, { handshakeTimeoutMs: 100 }, async (h) => {
    h.fake.withholdHandshake(true);
    h.pool.setChannels(["channel.1"]);
    h.pool.start();
    await waitFor("two attempts", () => h.fake.attemptCount >= 2);
    assert.equal(h.fake.connectCount, 0);
    assert.ok(logLines.some((line) => line.includes("no connection_established within 100 ms")));
    h.fake.withholdHandshake(false);
    await waitFor("a connection", () => h.pool.stats().channelsSubscribed === 1);
  });
});

Deno.test("pusher pool: stop() closes everything and nothing reconnects afterwards", async () => {
  await withPool({}, { channelsPerSocket: 1 }, async (h) => {
    h.pool.setChannels(["channel.1", "channel.2", "channel.3"]);
    h.pool.start();
    await waitFor("three sockets", () => h.fake.connections() === 3);
    await h.pool.stop();
    await waitFor("the fake to see them go", () => h.fake.connections() === 0);
    await delay(150);
    assert.equal(h.fake.attemptCount, 3);
    assert.equal(h.pool.stats().socketsConnected, 0);
    assert.throws(() => h.pool.setChannels(["channel.4"]), /after stop/);
  });
});

Deno.test("pusher pool: 10,000 channels (5,000 streamers × 2 names) subscribe quickly", async () => {
  const names = Array.from({ length: 5_000 }, (_, i) => kickChannelNames(1_000 + i)).flat();
  await withPool({}, { channelsPerSocket: 200 }, async (h) => {
    const start = performance.now();
    h.pool.setChannels(names);
    const assignMs = performance.now() - start;
    assert.ok(assignMs < 500, `setChannels took ${assignMs} ms`);
    h.pool.start();
    await waitFor(
      "10,000 subscriptions",
      () => h.pool.stats().channelsSubscribed === 10_000,
      10_000,
    );
    assert.equal(h.fake.connections(), 50);
    assert.equal(h.fake.totalSubscriptions(), 10_000);

    // Dropping half the streamers and adding a few is an incremental diff.
    const next = [...names.slice(0, 5_000), ...kickChannelNames(99_999)];
    h.pool.setChannels(next);
    await waitFor("5,002 subscriptions", () => h.fake.totalSubscriptions() === 5_002, 5_000);
    h.fake.publish("channel_99999", "App\\Events\\StreamerIsLive", {
      livestream: { id: 1, channel_id: 99_999 },
    });
    await waitFor("an event on the new channel", () => h.events.length === 1);
  });
});
