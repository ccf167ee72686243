import assert from "node:assert/strict";
import {
  apiErrorSchema,
  channelSchema,
  channelsResponseSchema,
  describeIssues,
  legacyChannelSchema,
  legacyErrorSchema,
  livestreamsResponseSchema,
  oauthErrorSchema,
  oauthTokenSchema,
  parseBody,
  parseKickTime,
  publicKeyResponseSchema,
  usersResponseSchema,
} from "../../src/kick/schemas.ts";
import { toKickChannel, toKickLivestream } from "../../src/kick/channels.ts";
import {
  KickBlockedError,
  KickCredentialsError,
  KickResponseError,
  KickUnavailableError,
} from "../../src/kick/errors.ts";
import { ConfigError, exitCodeOf, UnavailableError } from "../../src/lib/errors.ts";
import { KICK_WEBHOOK_PUBLIC_KEY_PEM } from "../../src/kick/public_key.ts";

function fixture(name: string): string {
  return Deno.readTextFileSync(new URL(`../fixtures/kick/${name}`, import.meta.url));
}

function valid<T>(result: { ok: true; value: T } | { ok: false; problem: string }): T {
  if (!result.ok) assert.fail(result.problem);
  return result.value;
}

Deno.test("every JSON example of the reference parses with its schema", () => {
  valid(parseBody(oauthTokenSchema, fixture("oauth_token.json")));
  valid(parseBody(oauthErrorSchema, fixture("oauth_error_invalid_grant.json")));
  valid(parseBody(oauthErrorSchema, fixture("oauth_error_docs.json")));
  valid(parseBody(apiErrorSchema, fixture("api_unauthorized.json")));
  valid(parseBody(apiErrorSchema, fixture("api_bad_request.json")));
  valid(parseBody(channelsResponseSchema, fixture("channels.json")));
  valid(parseBody(livestreamsResponseSchema, fixture("livestreams.json")));
  valid(parseBody(usersResponseSchema, fixture("users.json")));
  valid(parseBody(legacyChannelSchema, fixture("legacy_channel_v2.json")));
  valid(parseBody(legacyErrorSchema, fixture("legacy_not_found.json")));
  const key = valid(parseBody(publicKeyResponseSchema, fixture("public_key.json")));
  assert.equal(key.data.public_key, KICK_WEBHOOK_PUBLIC_KEY_PEM);
});

Deno.test("the OAuth token accepts expires_in as a string of digits", () => {
  const token = valid(parseBody(
    oauthTokenSchema,
    '{"access_token":"abc","token_type":"Bearer","expires_in":"3600"}',
  ));
  assert.equal(token.expires_in, 3600);
  assert.equal(
    parseBody(oauthTokenSchema, '{"access_token":"abc","token_type":"Bearer","expires_in":"soon"}')
      .ok,
    false,
  );
});

Deno.test("a live channel normalises to the domain type", () => {
  const body = valid(parseBody(channelsResponseSchema, fixture("channels.json")));
  assert.deepEqual(toKickChannel(body.data[0]), {
    slug: "john-doe",
    broadcasterUserId: 123,
    isLive: true,
    title: "My first stream",
    category: "Just Chatting",
    viewers: 1,
    startedAt: new Date("2025-01-01T00:00:00Z"),
  });
});

Deno.test("an offline channel may have a null category, null stream and a zero start time", () => {
  const body = valid(parseBody(
    channelsResponseSchema,
    JSON.stringify({
      data: [
        { broadcaster_user_id: 1, slug: "a", category: null, stream: null, stream_title: "" },
        {
          broadcaster_user_id: "2",
          slug: "b",
          category: null,
          stream: { is_live: false, start_time: "0001-01-01T00:00:00Z", viewer_count: 0 },
          stream_title: "last title",
        },
      ],
      message: "OK",
    }),
  ));
  const [a, b] = body.data.map(toKickChannel);
  assert.deepEqual(a, {
    slug: "a",
    broadcasterUserId: 1,
    isLive: null,
    title: null,
    category: null,
    viewers: null,
    startedAt: null,
  }, "a null stream is no observation, never offline");
  assert.equal(b.isLive, false);
  assert.equal(b.broadcasterUserId, 2, "a numeric string id is accepted (§5 item 11)");
  assert.equal(b.title, "last title");
  assert.equal(b.startedAt, null);
  assert.equal(b.viewers, null);
});

Deno.test("odd fields the monitor never relies on are read as null, never a reason to refuse", () => {
  const drifted = {
    broadcaster_user_id: 7,
    slug: "drift",
    category: {},
    banner_picture: 42,
    thumbnail: { url: "x" },
    custom_tags: "not-a-list",
    channel_description: null,
    stream_title: { text: "?" },
    brand_new_field: [1, 2, 3],
    stream: {
      is_live: true,
      start_time: "2026-11-25T18:00:00Z",
      viewer_count: "12",
      thumbnail: { src: "x" },
      custom_tags: null,
      key: 1,
    },
  };
  const parsed = channelSchema.safeParse(drifted);
  assert.ok(parsed.success, parsed.success ? "" : describeIssues(parsed.error));
  assert.deepEqual(toKickChannel(parsed.data), {
    slug: "drift",
    broadcasterUserId: 7,
    isLive: true,
    title: null,
    category: null,
    viewers: 12,
    startedAt: new Date("2026-11-25T18:00:00Z"),
  });
});

Deno.test("what the monitor relies on stays strict: ids and slugs refuse the item, is_live and start_time the observation", () => {
  for (
    const bad of [{ slug: "a" }, { broadcaster_user_id: "x1", slug: "a" }, {
      broadcaster_user_id: 1,
    }]
  ) {
    assert.equal(channelSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
  for (
    const stream of [
      undefined,
      null,
      {},
      { is_live: "true" },
      { is_live: true, start_time: "yesterday" },
      { is_live: true, start_time: 5 },
    ]
  ) {
    const item = channelSchema.parse({ broadcaster_user_id: 1, slug: "a", stream });
    assert.equal(toKickChannel(item).isLive, null, JSON.stringify(stream));
  }
});

Deno.test("a field of the wrong type is named with its path (whole-body schemas for contract tests)", () => {
  const result = parseBody(
    channelsResponseSchema,
    '{"data":[{"broadcaster_user_id":"one","slug":"a","stream":{"is_live":true}}],"message":"OK"}',
  );
  assert.equal(result.ok, false);
  if (!result.ok) assert.match(result.problem, /^data\[0\]\.broadcaster_user_id: /);
});

Deno.test("bodies that are not JSON are described without being quoted", () => {
  const html = parseBody(apiErrorSchema, "<!DOCTYPE html><html>secret-ish</html>");
  assert.deepEqual(html, { ok: false, problem: "expected JSON, got an HTML page (38 bytes)" });
  const truncated = parseBody(apiErrorSchema, '{"data":[{"slug":"ab');
  assert.equal(truncated.ok, false);
  if (!truncated.ok) assert.match(truncated.problem, /not valid JSON \(truncated\?\)/);
  assert.deepEqual(parseBody(apiErrorSchema, ""), {
    ok: false,
    problem: "expected JSON, got an empty body",
  });
});

Deno.test("livestreams carry the channel id", () => {
  const body = valid(parseBody(livestreamsResponseSchema, fixture("livestreams.json")));
  const live = toKickLivestream(body.data[0]);
  assert.equal(live.channelId, 1);
  assert.equal(live.broadcasterUserId, 1);
  assert.deepEqual(live.startedAt, new Date("2025-04-03T01:00:00Z"));
});

Deno.test("the legacy channel keeps its three ids apart and may be offline", () => {
  const channel = valid(parseBody(legacyChannelSchema, fixture("legacy_channel_v2.json")));
  assert.equal(channel.id, 90876);
  assert.equal(channel.user_id, 91898);
  assert.equal(channel.chatroom.id, 90874);
  assert.equal(channel.livestream?.is_live, true);
  const offline = JSON.parse(fixture("legacy_channel_v2.json"));
  offline.livestream = null;
  assert.equal(valid(parseBody(legacyChannelSchema, JSON.stringify(offline))).livestream, null);
});

Deno.test("parseKickTime reads ISO times, zone-less legacy times as UTC, and drops placeholders", () => {
  assert.deepEqual(parseKickTime("2023-04-23 09:57:26"), new Date("2023-04-23T09:57:26Z"));
  assert.deepEqual(parseKickTime("2025-01-01T11:00:00+11:00"), new Date("2025-01-01T00:00:00Z"));
  assert.equal(parseKickTime("0001-01-01T00:00:00Z"), null);
  assert.equal(parseKickTime(""), null);
  assert.equal(parseKickTime(null), null);
  assert.equal(parseKickTime("yesterday"), null);
});

Deno.test("Kick errors carry the exit codes of interface.md", () => {
  const unavailable = new KickUnavailableError("down", { request: "GET x/y", lastStatus: 503 });
  assert.ok(unavailable instanceof UnavailableError);
  assert.equal(exitCodeOf(unavailable), 69);
  assert.equal(exitCodeOf(new KickBlockedError("GET x/y", "challenge")), 69);
  const credentials = new KickCredentialsError("HTTP 401");
  assert.ok(credentials instanceof ConfigError);
  assert.equal(exitCodeOf(credentials), 78);
  assert.equal(
    credentials.message,
    "Kick rejected the client credentials: check KICK_CLIENT_ID and KICK_CLIENT_SECRET (HTTP 401)",
  );
  assert.equal(exitCodeOf(new KickResponseError("GET x/y", 200, "bad")), 1);
});
