/**
 * The official client, pusher-js, against the fake: if the reference client is happy with the fake's handshake,
 * confirmations and event frames, the fake is a fair stand-in for real Pusher.
 */
import assert from "node:assert/strict";
import pusherJs from "pusher-js";
import { startFakePusher } from "../../src/sim/pusher.ts";
import { FakeWorld } from "../../src/sim/world.ts";

// pusher-js is CommonJS with ESM-style typings: at run time the default import is the Pusher class itself, while
// the type checker sees the module object whose `default` is the class.
const Pusher = pusherJs as unknown as typeof pusherJs.default;

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 3_000): Promise<void> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("pusher-js 8.6.0 connects to the fake, subscribes, and receives Kick events", async () => {
  const world = new FakeWorld();
  world.addStreamer("xqc", { channelId: 668 });
  const fake = await startFakePusher({ world });
  // Only the ws transport, or pusher-js may try HTTP fallbacks on pusher.com (protocol §4, §6).
  const pusher = new Pusher(fake.appKey, {
    cluster: "us2",
    wsHost: "127.0.0.1",
    wsPort: fake.port,
    forceTLS: false,
    enabledTransports: ["ws"],
    disableStats: true,
  });
  const states: string[] = [];
  const received: { channel: string; data: unknown }[] = [];
  let subscribed = 0;
  try {
    pusher.connection.bind(
      "state_change",
      (change: { current: string }) => states.push(change.current),
    );
    for (const name of ["channel.668", "channel_668"]) {
      const channel = pusher.subscribe(name);
      channel.bind("pusher:subscription_succeeded", () => subscribed++);
      channel.bind(
        "App\\Events\\StreamerIsLive",
        (data: unknown) => received.push({ channel: name, data }),
      );
    }
    await waitFor("both subscriptions", () => subscribed === 2);
    assert.equal(pusher.connection.state, "connected");
    assert.match(pusher.connection.socket_id, /^\d+\.\d+$/);
    assert.equal(fake.subscribers("channel.668"), 1);

    world.goLive("xqc", {
      title: "hi",
      livestreamId: 42,
      startedAt: new Date("2025-09-14T23:18:20Z"),
    });
    await waitFor("two events", () => received.length === 2);
    assert.deepEqual(received[0].data, {
      livestream: {
        id: 42,
        channel_id: 668,
        session_title: "hi",
        source: null,
        created_at: "2025-09-14T23:18:20.000000Z",
      },
    });
    // One clean connection: no retry, no "unavailable" (pusher-js was already "connecting" before the bind).
    assert.deepEqual(states, ["connected"]);
    assert.equal(fake.connectCount, 1);
  } finally {
    pusher.disconnect();
    await waitFor("the fake to see it go", () => fake.connections() === 0);
    await fake.close();
  }
});
