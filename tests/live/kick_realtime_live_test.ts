/**
 * Live contract tests of what the realtime side relies on (run with `KICK_LIVE_TESTS=1 deno task test:live`
 * and app credentials; ignored otherwise): `/public/v1/livestreams` (the one official source of Pusher channel
 * ids, kick-api.md §1.5) validates and has the simulated Kick's shape, and a real stream-status payload on
 * Pusher (§3.5) parses with the product's parser. The capture waits up to KICK_LIVE_CAPTURE_SECONDS (300).
 */
import assert from "node:assert/strict";
import { livestreamsResponseSchema } from "../../src/kick/schemas.ts";
import { parseKickLiveEvent } from "../../src/kick/pusher_events.ts";
import { PusherPool } from "../../src/pusher/pool.ts";
import { kickChannelNames } from "../../src/kick/pusher_events.ts";
import { FakeWorld } from "../../src/sim/world.ts";
import {
  assertSameShape,
  getJson,
  LIVE_ENABLED,
  liveConfig,
  realAppToken,
  validate,
  withFakeKick,
} from "./live_rig.ts";

const LIVESTREAMS = "/public/v1/livestreams";

/** Recently started streams: the likeliest to end (or restart) while the capture watches. */
async function realLivestreams(limit: number) {
  const { token } = await realAppToken();
  return await getJson(`${liveConfig().apiUrl}${LIVESTREAMS}`, {
    params: [["limit", String(limit)], ["sort", "started_at"]],
    token,
    real: true,
  });
}

Deno.test({
  name: "live: /public/v1/livestreams lists live channels with their channel ids, like the fake",
  ignore: !LIVE_ENABLED,
  async fn() {
    const answer = await realLivestreams(5);
    const real = validate(livestreamsResponseSchema, answer);
    assert.ok(real.data.length > 0, "Kick lists no live stream at all");
    const world = new FakeWorld();
    world.addStreamer("somebody");
    world.goLive("somebody");
    await withFakeKick(world, async ({ fake, token }) => {
      const fakeAnswer = await getJson(`${fake.url}${LIVESTREAMS}`, {
        params: [["limit", "5"]],
        token,
        real: false,
      });
      assertSameShape(`GET ${LIVESTREAMS}`, { real: answer.json, fake: fakeAnswer.json });
    });
  },
});

Deno.test({
  name: "live: the first real StreamerIsLive / StopStreamBroadcast on Pusher parses",
  ignore: !LIVE_ENABLED,
  async fn() {
    const real = validate(livestreamsResponseSchema, await realLivestreams(100));
    const seconds = Number(Deno.env.get("KICK_LIVE_CAPTURE_SECONDS") ?? "300");
    const captured: { event: string; data: unknown }[] = [];
    let done: () => void = () => {};
    const first = new Promise<void>((resolve) => done = resolve);
    const pool = new PusherPool({
      url: liveConfig().pusherUrl,
      channelsPerSocket: 100,
      onChannelEvent: (frame) => {
        const parsed = parseKickLiveEvent(frame);
        if (parsed === null) return;
        captured.push({ event: frame.event, data: frame.data });
        done();
      },
    });
    pool.setChannels(real.data.flatMap((item) => kickChannelNames(item.channel_id)));
    pool.start();
    const timer = setTimeout(done, seconds * 1000);
    try {
      await first;
    } finally {
      clearTimeout(timer);
      await pool.stop();
    }
    assert.ok(
      captured.length > 0,
      `no stream started or stopped among ${real.data.length} live channels in ${seconds} s; ` +
        "run again, or raise KICK_LIVE_CAPTURE_SECONDS",
    );
    for (const frame of captured) {
      const parsed = parseKickLiveEvent(frame);
      assert.notEqual(parsed?.kind, "malformed", JSON.stringify(frame).slice(0, 500));
    }
  },
});
