/** Kick's stream-status events on Pusher (src/kick/pusher_events.ts), against kick-api.md §3.4–§3.5. */
import assert from "node:assert/strict";
import {
  channelIdFromName,
  KICK_STOP_STREAM_BROADCAST,
  kickChannelNames,
  parseKickLiveEvent,
} from "../../src/kick/pusher_events.ts";
import { parseKickTime } from "../../src/kick/values.ts";
import { parseServerFrame } from "../../src/pusher/protocol.ts";

Deno.test("kick channels: both names of a channel id, and the id back from either", () => {
  assert.deepEqual(kickChannelNames(668), ["channel.668", "channel_668"]);
  assert.equal(channelIdFromName("channel.668"), 668);
  assert.equal(channelIdFromName("channel_2587387"), 2587387);
  for (
    const name of [
      "chatrooms.668.v2",
      "chatroom_668",
      "channel.",
      "channel.0",
      "channel.01",
      "channel.6x",
      "xchannel.6",
      "channel-6",
      "private-channel_6",
      "channel.12345678901234567",
    ]
  ) {
    assert.equal(channelIdFromName(name), null, name);
  }
});

Deno.test("kick events: StreamerIsLive with the reference's exact payload (kick-api.md §3.5)", () => {
  const data = JSON.parse(
    '{"livestream":{"id":74331109,"channel_id":668,"session_title":"+18 #ad🌟LIVE🌟…","source":null,"created_at":"2025-09-14T23:18:20.000000Z"}}',
  );
  assert.deepEqual(parseKickLiveEvent({ event: "App\\Events\\StreamerIsLive", data }), {
    kind: "live",
    channelId: 668,
    livestreamId: 74331109,
    title: "+18 #ad🌟LIVE🌟…",
    createdAt: new Date("2025-09-14T23:18:20.000Z"),
  });
  // The 2023 shape from cibere/kick.py issue #6.
  const old = {
    livestream: {
      id: 5274636,
      channel_id: 3612810,
      session_title: "…",
      source: null,
      created_at: "2023-06-22T05:50:32.000000Z",
    },
  };
  const parsed = parseKickLiveEvent({ event: "App\\Events\\StreamerIsLive", data: old });
  assert.equal(parsed?.kind, "live");
  if (parsed?.kind === "live") {
    assert.equal(parsed.channelId, 3612810);
    assert.equal(parsed.createdAt?.toISOString(), "2023-06-22T05:50:32.000Z");
  }
});

Deno.test("kick events: StopStreamBroadcast reads livestream.channel.id (kick-api.md §3.5)", () => {
  const data = JSON.parse(
    '{"livestream":{"id":74265904,"channel":{"id":2587387,"is_banned":false}}}',
  );
  assert.deepEqual(parseKickLiveEvent({ event: "App\\Events\\StopStreamBroadcast", data }), {
    kind: "offline",
    channelId: 2587387,
    livestreamId: 74265904,
    isBanned: false,
  });
});

Deno.test("kick events: the whole path from a wire frame to a live event", () => {
  const frame = parseServerFrame(JSON.stringify({
    event: "App\\Events\\StopStreamBroadcast",
    data: JSON.stringify({ livestream: { id: 1, channel: { id: 2, is_banned: false } } }),
    channel: "channel_2",
  }));
  assert.equal(frame.kind, "channel_event");
  if (frame.kind === "channel_event") {
    assert.deepEqual(parseKickLiveEvent(frame), {
      kind: "offline",
      channelId: 2,
      livestreamId: 1,
      isBanned: false,
    });
  }
});

Deno.test("kick events: other events are null; wrong shapes are malformed", () => {
  assert.equal(
    parseKickLiveEvent({
      event: "App\\Events\\FollowersUpdated",
      data: { followersCount: 20947, channel_id: 2515504 },
    }),
    null,
  );
  assert.equal(parseKickLiveEvent({ event: "StreamerIsLive", data: {} }), null);
  const malformed: [string, unknown][] = [
    ["App\\Events\\StreamerIsLive", {}],
    ["App\\Events\\StreamerIsLive", "raw string"],
    ["App\\Events\\StreamerIsLive", { livestream: { id: 1 } }],
    ["App\\Events\\StreamerIsLive", { livestream: { id: "x", channel_id: 2 } }],
    ["App\\Events\\StreamerIsLive", { livestream: { id: 1, channel_id: -2 } }],
    // The stop shape on a start event: channel_id is missing.
    ["App\\Events\\StreamerIsLive", { livestream: { id: 1, channel: { id: 2 } } }],
    ["App\\Events\\StopStreamBroadcast", { livestream: { id: 1, channel_id: 2 } }],
    ["App\\Events\\StopStreamBroadcast", null],
  ];
  for (const [event, data] of malformed) {
    const result = parseKickLiveEvent({ event, data });
    assert.equal(result?.kind, "malformed", JSON.stringify(data));
    if (result?.kind === "malformed") assert.match(result.reason, /payload/);
  }
});

Deno.test("kick events: numeric-string ids, missing title and missing created_at are accepted", () => {
  assert.deepEqual(
    parseKickLiveEvent({
      event: "App\\Events\\StreamerIsLive",
      data: { livestream: { id: "10", channel_id: "20" } },
    }),
    { kind: "live", channelId: 20, livestreamId: 10, title: null, createdAt: null },
  );
});

Deno.test("kick timestamps: Laravel microseconds, zone-less UTC, offsets, junk", () => {
  assert.equal(
    parseKickTime("2025-09-14T23:18:20.000000Z")?.toISOString(),
    "2025-09-14T23:18:20.000Z",
  );
  assert.equal(
    parseKickTime("2025-09-14T23:18:20.123456Z")?.toISOString(),
    "2025-09-14T23:18:20.123Z",
  );
  assert.equal(
    parseKickTime("2024-02-06 19:10:40")?.toISOString(),
    "2024-02-06T19:10:40.000Z",
  );
  assert.equal(
    parseKickTime("2025-09-14T16:59:34+00:00")?.toISOString(),
    "2025-09-14T16:59:34.000Z",
  );
  assert.equal(
    parseKickTime("2025-09-14T18:59:34+0200")?.toISOString(),
    "2025-09-14T16:59:34.000Z",
  );
  assert.equal(parseKickTime("2025-13-45T99:00:00Z"), null);
  assert.equal(parseKickTime("yesterday"), null);
  assert.equal(parseKickTime(""), null);
  assert.equal(parseKickTime(null), null);
});

Deno.test("kick events: StopStreamBroadcast carries livestream.channel.is_banned when it is a boolean", () => {
  const stop = (channel: Record<string, unknown>) =>
    parseKickLiveEvent({
      event: KICK_STOP_STREAM_BROADCAST,
      data: { livestream: { id: 5, channel: { id: 7, ...channel } } },
    });
  assert.deepEqual(stop({ is_banned: true }), {
    kind: "offline",
    channelId: 7,
    livestreamId: 5,
    isBanned: true,
  });
  // Missing, null or of another type: the stop still counts, without the flag.
  for (const value of [undefined, null, "true", 1]) {
    const result = stop(value === undefined ? {} : { is_banned: value });
    assert.deepEqual(result, { kind: "offline", channelId: 7, livestreamId: 5 }, String(value));
    assert.ok(result !== null && !("isBanned" in result), String(value));
  }
});
