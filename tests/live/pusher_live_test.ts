/**
 * Live contract test of Kick's Pusher socket (run with `KICK_LIVE_TESTS=1 deno task test:live` and app
 * credentials; ignored otherwise): the handshake, a public subscription and a ping, through doctor's probe. The
 * frames must decode with the product's parser, and each must have the shape of the fake Pusher's frame of the same
 * event, both as sent and with `data` decoded (kick-api.md §3.3: data is JSON encoded twice).
 */
import assert from "node:assert/strict";
import { probePusher, type PusherProbeResult } from "../../src/doctor/pusher_probe.ts";
import { FALLBACK_PUSHER_CHANNEL } from "../../src/doctor/doctor.ts";
import { decodeData, parseServerFrame } from "../../src/pusher/protocol.ts";
import { startFakePusher } from "../../src/sim/pusher.ts";
import { assertSameShape, LIVE_ENABLED, liveConfig } from "./live_rig.ts";

/** The frames of a probe by event name (the first of each), checked to decode. */
function framesByEvent(result: PusherProbeResult): Map<string, Record<string, unknown>> {
  const byEvent = new Map<string, Record<string, unknown>>();
  for (const text of result.frames) {
    const decoded = parseServerFrame(text);
    assert.notEqual(decoded.kind, "malformed", `A frame the product cannot read: ${text}`);
    const frame = JSON.parse(text) as Record<string, unknown>;
    const event = String(frame.event);
    if (!byEvent.has(event)) byEvent.set(event, frame);
  }
  return byEvent;
}

Deno.test({
  name: "live: the Pusher handshake, a subscription and a ping, shaped like the fake's",
  ignore: !LIVE_ENABLED,
  async fn() {
    const { pusherUrl } = liveConfig();
    // xqc's public channel (kick-api.md §3.4): known to exist, needs no lookup.
    const channel = FALLBACK_PUSHER_CHANNEL;
    const real = await probePusher({ url: pusherUrl, channel, stepTimeoutMs: 15_000 });
    assert.ok(real.ok, real.ok ? "" : `${real.step} failed: ${real.problem}`);
    assert.ok(real.activityTimeoutSeconds !== null, "the handshake announced no activity_timeout");

    const fakePusher = await startFakePusher();
    let fake: PusherProbeResult;
    try {
      fake = await probePusher({ url: fakePusher.url, channel });
    } finally {
      await fakePusher.close();
    }
    assert.ok(fake.ok);

    const realFrames = framesByEvent(real);
    const fakeFrames = framesByEvent(fake);
    for (
      const event of [
        "pusher:connection_established",
        "pusher_internal:subscription_succeeded",
        "pusher:pong",
      ]
    ) {
      const realFrame = realFrames.get(event);
      const fakeFrame = fakeFrames.get(event);
      assert.ok(realFrame, `Pusher sent no ${event}`);
      assert.ok(fakeFrame, `The fake sent no ${event}`);
      assertSameShape(event, { real: realFrame, fake: fakeFrame });
      assertSameShape(`${event} data`, {
        real: decodeData(realFrame.data),
        fake: decodeData(fakeFrame.data),
      });
    }
  },
});
