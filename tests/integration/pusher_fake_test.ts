/** The fake Pusher itself, spoken to over a raw WebSocket: it must answer like real Pusher (protocol §2). */
import assert from "node:assert/strict";
import { type FakePusher, type FakePusherOptions, startFakePusher } from "../../src/sim/pusher.ts";
import { FakeWorld } from "../../src/sim/world.ts";

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 2_000): Promise<void> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await delay(5);
  }
}

interface RawClient {
  ws: WebSocket;
  messages: string[];
  opened: boolean;
  close: CloseEvent | null;
  closed: Promise<CloseEvent>;
  send(value: unknown): void;
}

function openRaw(url: string): RawClient {
  const ws = new WebSocket(url);
  const client: RawClient = {
    ws,
    messages: [],
    opened: false,
    close: null,
    closed: new Promise((resolve) => {
      ws.addEventListener("close", (event) => {
        client.close = event;
        resolve(event);
      });
    }),
    send: (value) => ws.send(typeof value === "string" ? value : JSON.stringify(value)),
  };
  ws.onopen = () => client.opened = true;
  ws.onmessage = (message) => client.messages.push(message.data);
  ws.onerror = () => {};
  return client;
}

async function closeRaw(client: RawClient): Promise<void> {
  if (client.ws.readyState !== WebSocket.CLOSED) client.ws.close();
  await client.closed;
}

/** Opens a fake and a connected raw client (handshake received), runs `body`, and closes both. */
async function withClient(
  options: FakePusherOptions,
  body: (fake: FakePusher, client: RawClient) => Promise<void>,
): Promise<void> {
  const fake = await startFakePusher(options);
  const client = openRaw(fake.url);
  try {
    await waitFor("the handshake", () => client.messages.length >= 1);
    await body(fake, client);
  } finally {
    await closeRaw(client);
    await fake.close();
  }
}

Deno.test("fake pusher: handshake is connection_established with double-encoded data", async () => {
  await withClient({}, async (fake, client) => {
    const frame = JSON.parse(client.messages[0]);
    assert.equal(frame.event, "pusher:connection_established");
    assert.equal(typeof frame.data, "string");
    const data = JSON.parse(frame.data);
    assert.match(data.socket_id, /^\d+\.\d+$/);
    assert.equal(data.activity_timeout, 120);
    assert.equal(
      client.messages[0],
      `{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"${data.socket_id}\\",\\"activity_timeout\\":120}"}`,
    );
    assert.equal(fake.connections(), 1);
    assert.equal(fake.connectCount, 1);
    await Promise.resolve();
  });
});

Deno.test("fake pusher: URL is ws://127.0.0.1:PORT/app/KEY with Kick's query", async () => {
  const fake = await startFakePusher({});
  try {
    assert.equal(
      fake.url,
      `ws://127.0.0.1:${fake.port}/app/32cbd69e4b950bf97679?protocol=7&client=js&version=8.4.0&flash=false`,
    );
  } finally {
    await fake.close();
  }
});

Deno.test('fake pusher: subscribe answers subscription_succeeded with data "{}"; unsubscribe gets no reply', async () => {
  await withClient({}, async (fake, client) => {
    client.send({ event: "pusher:subscribe", data: { auth: "", channel: "channel.668" } });
    await waitFor("the confirmation", () => client.messages.length === 2);
    assert.equal(
      client.messages[1],
      '{"event":"pusher_internal:subscription_succeeded","data":"{}","channel":"channel.668"}',
    );
    assert.equal(fake.subscribers("channel.668"), 1);
    assert.equal(fake.totalSubscriptions(), 1);

    client.send({ event: "pusher:unsubscribe", data: { channel: "channel.668" } });
    await waitFor("the unsubscribe", () => fake.subscribers("channel.668") === 0);
    await delay(50);
    assert.equal(client.messages.length, 2);
    assert.deepEqual(fake.received.map((frame) => frame.event), [
      "pusher:subscribe",
      "pusher:unsubscribe",
    ]);
  });
});

Deno.test("fake pusher: ping gets pong, unless pongs are withheld", async () => {
  await withClient({}, async (fake, client) => {
    client.send({ event: "pusher:ping", data: {} });
    await waitFor("a pong", () => client.messages.length === 2);
    assert.equal(client.messages[1], '{"event":"pusher:pong","data":{}}');
    fake.withholdPongs(true);
    client.send({ event: "pusher:ping", data: {} });
    await delay(100);
    assert.equal(client.messages.length, 2);
  });
});

Deno.test("fake pusher: a private channel with a bad auth gets pusher:error with code null", async () => {
  await withClient({}, async (fake, client) => {
    const socketId = JSON.parse(JSON.parse(client.messages[0]).data).socket_id;
    client.send({ event: "pusher:subscribe", data: { auth: "", channel: "private-livestream.1" } });
    await waitFor("the error", () => client.messages.length === 2);
    assert.deepEqual(JSON.parse(client.messages[1]), {
      event: "pusher:error",
      data: {
        code: null,
        message:
          `Invalid signature: Expected HMAC SHA256 hex digest of ${socketId}:private-livestream.1, but got `,
      },
    });
    assert.equal(fake.subscribers("private-livestream.1"), 0);
  });
});

Deno.test("fake pusher: client events on a public channel are rejected", async () => {
  await withClient({}, async (_fake, client) => {
    client.send({ event: "client-typing", data: {}, channel: "channel.1" });
    await waitFor("the error", () => client.messages.length === 2);
    assert.deepEqual(JSON.parse(client.messages[1]), {
      event: "pusher:error",
      data: {
        code: null,
        message: "Client event rejected - only supported on private and presence channels",
      },
    });
  });
});

Deno.test("fake pusher: bad URLs are closed with the protocol's codes and no handshake", async () => {
  const fake = await startFakePusher({});
  try {
    const base = `ws://127.0.0.1:${fake.port}`;
    const cases: [string, number][] = [
      [`${base}/app/wrongkey?protocol=7&client=js&version=8.4.0`, 4001],
      [`${base}/nowhere/${fake.appKey}?protocol=7`, 4005],
      [`${base}/app/${fake.appKey}?client=js&version=8.4.0`, 4008],
      [`${base}/app/${fake.appKey}?protocol=3&client=js&version=8.4.0`, 4007],
      [`${base}/app/${fake.appKey}?protocol=7&client=js&version=banana`, 4006],
    ];
    for (const [url, code] of cases) {
      const client = openRaw(url);
      const event = await client.closed;
      assert.equal(event.code, code, url);
      assert.deepEqual(client.messages, [], url);
    }
    assert.equal(fake.connectCount, 0);
    assert.equal(fake.attemptCount, cases.length);
  } finally {
    await fake.close();
  }
});

Deno.test("fake pusher: world changes become Kick's exact frames on both channel names", async () => {
  const world = new FakeWorld();
  const xqc = world.addStreamer("xqc", { channelId: 668 });
  await withClient({ world }, async (_fake, client) => {
    for (const channel of ["channel.668", "channel_668"]) {
      client.send({ event: "pusher:subscribe", data: { auth: "", channel } });
    }
    await waitFor("two confirmations", () => client.messages.length === 3);
    const live = world.goLive("xqc", {
      title: "+18 #ad🌟LIVE🌟…",
      startedAt: new Date("2025-09-14T23:18:20Z"),
      livestreamId: 74331109,
    });
    await waitFor("two live events", () => client.messages.length === 5);
    assert.equal(live.id, 74331109);
    assert.equal(
      client.messages[3],
      '{"event":"App\\\\Events\\\\StreamerIsLive","data":"{\\"livestream\\":{\\"id\\":74331109,\\"channel_id\\":668,\\"session_title\\":\\"+18 #ad🌟LIVE🌟…\\",\\"source\\":null,\\"created_at\\":\\"2025-09-14T23:18:20.000000Z\\"}}","channel":"channel.668"}',
    );
    assert.equal(JSON.parse(client.messages[4]).channel, "channel_668");

    world.goOffline("xqc");
    await waitFor("two offline events", () => client.messages.length === 7);
    assert.equal(
      client.messages[5],
      '{"event":"App\\\\Events\\\\StopStreamBroadcast","data":"{\\"livestream\\":{\\"id\\":74331109,\\"channel\\":{\\"id\\":668,\\"is_banned\\":false}}}","channel":"channel.668"}',
    );
    assert.equal(xqc.live, null);
  });
});

Deno.test("fake pusher: publishOn picks the names; setPublishing(false) silences the world", async () => {
  const world = new FakeWorld();
  world.addStreamer("a", { channelId: 1 });
  await withClient({ world, publishOn: ["underscore"] }, async (fake, client) => {
    for (const channel of ["channel.1", "channel_1"]) {
      client.send({ event: "pusher:subscribe", data: { auth: "", channel } });
    }
    await waitFor("two confirmations", () => client.messages.length === 3);
    world.goLive("a");
    await waitFor("one live event", () => client.messages.length === 4);
    await delay(50);
    assert.equal(client.messages.length, 4);
    assert.equal(JSON.parse(client.messages[3]).channel, "channel_1");

    fake.setPublishing(false);
    world.goOffline("a");
    await delay(50);
    assert.equal(client.messages.length, 4);
  });
});

Deno.test("fake pusher: publish double-encodes data; publishRaw sends text as is", async () => {
  await withClient({}, async (fake, client) => {
    client.send({ event: "pusher:subscribe", data: { auth: "", channel: "c" } });
    await waitFor("the confirmation", () => client.messages.length === 2);
    assert.equal(fake.publish("c", "ev", { a: 1 }), 1);
    assert.equal(fake.publish("c", "ev", "already a string"), 1);
    assert.equal(fake.publish("nobody", "ev", {}), 0);
    assert.equal(fake.publishRaw("}{"), 1);
    await waitFor("three frames", () => client.messages.length === 5);
    assert.deepEqual(client.messages.slice(2), [
      '{"event":"ev","data":"{\\"a\\":1}","channel":"c"}',
      '{"event":"ev","data":"already a string","channel":"c"}',
      "}{",
    ]);
  });
});

Deno.test("fake pusher: dropAll cuts without a close frame; closeAll sends code and reason", async () => {
  await withClient({}, async (fake, client) => {
    fake.dropAll();
    const event = await client.closed;
    assert.equal(event.wasClean, false);
    assert.notEqual(event.code, 1000);
    await waitFor("the fake to forget it", () => fake.connections() === 0);

    const second = openRaw(fake.url);
    await waitFor("a second handshake", () => second.messages.length === 1);
    fake.closeAll(4200, "Generic reconnect immediately");
    const closed = await second.closed;
    assert.equal(closed.code, 4200);
    assert.equal(closed.reason, "Generic reconnect immediately");
  });
});

Deno.test("fake pusher: refuseConnections resets new connections before any handshake", async () => {
  const fake = await startFakePusher({});
  try {
    fake.refuseConnections(true);
    const client = openRaw(fake.url);
    await client.closed;
    assert.equal(client.opened, false);
    assert.equal(fake.attemptCount, 0);
  } finally {
    await fake.close();
  }
});

Deno.test("fake pusher: refuseHandshakes closes new sockets with the code instead of the handshake", async () => {
  const fake = await startFakePusher({});
  try {
    fake.refuseHandshakes({ code: 4004, reason: "Application is over connection quota" });
    const refused = openRaw(fake.url);
    const closed = await refused.closed;
    assert.equal(closed.code, 4004);
    assert.equal(closed.reason, "Application is over connection quota");
    assert.deepEqual(refused.messages, []);
    assert.equal(fake.connectCount, 0);

    fake.refuseHandshakes(null);
    const welcome = openRaw(fake.url);
    await waitFor("a handshake", () => welcome.messages.length === 1);
    assert.equal(JSON.parse(welcome.messages[0]).event, "pusher:connection_established");
    await closeRaw(welcome);
  } finally {
    await fake.close();
  }
});

Deno.test("fake pusher: the received log is bounded and keeps the newest frames", async () => {
  await withClient({ receivedLimit: 10 }, async (fake, client) => {
    for (let i = 0; i < 40; i++) client.send({ event: "pusher:pong", data: { i } });
    await waitFor("the last frame", () => fake.received.at(-1)?.text.includes('"i":39') ?? false);
    assert.ok(fake.received.length <= 13, `kept ${fake.received.length}`);
    assert.ok(fake.received.length >= 10);
  });
});
