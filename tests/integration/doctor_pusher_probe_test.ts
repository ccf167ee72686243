/** The Pusher probe of `doctor` (src/doctor/pusher_probe.ts) against the fake Pusher, step by step. */
import assert from "node:assert/strict";
import { probePusher } from "../../src/doctor/pusher_probe.ts";
import { type FakePusher, startFakePusher } from "../../src/sim/pusher.ts";
import { parseServerFrame } from "../../src/pusher/protocol.ts";
import { freePort } from "../helpers/cli.ts";

async function withPusher(
  test: (pusher: FakePusher) => Promise<void>,
  options: { activityTimeout?: number } = {},
): Promise<void> {
  const pusher = await startFakePusher(options);
  try {
    await test(pusher);
  } finally {
    await pusher.close();
  }
}

Deno.test("probe: handshake, subscription and ping, with every frame returned", async () => {
  await withPusher(async (pusher) => {
    const result = await probePusher({ url: pusher.url, channel: "channel.668" });
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.activityTimeoutSeconds, 120);
    assert.equal(result.channel, "channel.668");
    assert.ok(result.pingMs >= 0);
    assert.deepEqual(result.frames.map((text) => parseServerFrame(text).kind), [
      "connection_established",
      "subscription_succeeded",
      "pong",
    ]);
    assert.deepEqual(pusher.received.map((frame) => frame.event), [
      "pusher:subscribe",
      "pusher:ping",
    ]);
    // The probe closed its socket.
    assert.equal(pusher.connections(), 0);
  });
});

Deno.test("probe: nothing listening is a connect failure (service unavailable)", async () => {
  const result = await probePusher({
    url: `ws://127.0.0.1:${freePort()}/app/x?protocol=7`,
    channel: "channel.668",
  });
  assert.ok(!result.ok);
  assert.equal(result.step, "connect");
  assert.equal(result.kind, "unavailable");
  assert.match(result.problem, /^Cannot connect to ws:\/\/127\.0\.0\.1:\d+/);
});

Deno.test("probe: an unknown app key (close 4001) is a configuration failure", async () => {
  await withPusher(async (pusher) => {
    const url = pusher.url.replace(pusher.appKey, "0000000000000000dead");
    const result = await probePusher({ url, channel: "channel.668" });
    assert.ok(!result.ok);
    assert.equal(result.step, "handshake");
    assert.equal(result.kind, "config");
    assert.match(
      result.problem,
      /close code 4001 "App key 0000000000000000dead not in this cluster/,
    );
  });
});

Deno.test("probe: a withheld handshake times out", async () => {
  await withPusher(async (pusher) => {
    pusher.withholdHandshake(true);
    const result = await probePusher({
      url: pusher.url,
      channel: "channel.668",
      stepTimeoutMs: 200,
    });
    assert.ok(!result.ok);
    assert.equal(result.step, "handshake");
    assert.equal(result.kind, "unavailable");
    assert.match(result.problem, /no pusher:connection_established within 200 ms/);
  });
});

Deno.test("probe: a refused subscription fails the subscribe step", async () => {
  await withPusher(async (pusher) => {
    const result = await probePusher({ url: pusher.url, channel: "private-channel.668" });
    assert.ok(!result.ok);
    assert.equal(result.step, "subscribe");
    assert.equal(result.kind, "failure");
    assert.match(
      result.problem,
      /refused the subscription to private-channel\.668: Invalid signature/,
    );
  });
});

Deno.test("probe: a withheld pong fails the ping step", async () => {
  await withPusher(async (pusher) => {
    pusher.withholdPongs(true);
    const result = await probePusher({
      url: pusher.url,
      channel: "channel.668",
      stepTimeoutMs: 200,
    });
    assert.ok(!result.ok);
    assert.equal(result.step, "ping");
    assert.match(result.problem, /no pusher:pong within 200 ms/);
  });
});
