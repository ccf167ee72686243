/** Checking webhook requests and reading their payloads (kick-api.md §1.9), as tables over signed requests. */
import assert from "node:assert/strict";
import {
  checkWebhookRequest,
  MAX_WEBHOOK_BODY_BYTES,
  metadataChangedAt,
  parseWebhookEvent,
  toMetadataObservation,
  toWebhookObservation,
  ulidTime,
  type WebhookMetadataEvent,
  type WebhookStatusEvent,
  type WebhookVerdict,
} from "../../src/kick/webhook_events.ts";
import { fixedKeyVerifier, importWebhookPublicKey } from "../../src/kick/webhook_signature.ts";
import { KICK_WEBHOOK_PUBLIC_KEY_PEM } from "../../src/kick/public_key.ts";
import { generateWebhookSigningKey, newUlid, signWebhook } from "../../src/sim/webhooks.ts";

const vector = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/kick/webhook_status_updated.json", import.meta.url)),
) as { headers: Record<string, string>; body: string };
const kickVerifier = fixedKeyVerifier(await importWebhookPublicKey(KICK_WEBHOOK_PUBLIC_KEY_PEM));
const ours = await generateWebhookSigningKey();
const ourVerifier = fixedKeyVerifier(await importWebhookPublicKey(ours.publicKeyPem));

const NOW = new Date("2026-11-25T18:00:00Z");
const encoder = new TextEncoder();

Deno.test("webhook request: Kick's real delivery (§1.9.4) is accepted and read", async () => {
  const verdict = await checkWebhookRequest(
    { method: "POST", headers: new Headers(vector.headers), body: encoder.encode(vector.body) },
    { now: new Date("2025-04-01T07:56:21Z"), maxAgeSeconds: 300, verifier: kickVerifier },
  );
  assert.equal(verdict.outcome, "accepted", JSON.stringify(verdict));
  if (verdict.outcome !== "accepted") return;
  assert.deepEqual(verdict.delivery, {
    messageId: "01JQR5KV0QC94HMETWYNBWRW4Z",
    subscriptionId: "01JQ79DGGK8C9117GJN8EHCYGG",
    sentAt: new Date("2025-04-01T07:56:19Z"),
    type: "livestream.status.updated",
    version: "1",
  });
  assert.deepEqual(verdict.event, {
    type: "livestream.status.updated",
    broadcasterUserId: 4809577,
    channelSlug: "fusedchat",
    isLive: true,
    startedAt: new Date("2025-04-01T07:56:18Z"),
    endedAt: null,
    title: "Multiplatform bot!",
    livestreamId: null,
  });
});

interface RequestCase {
  name: string;
  method?: string;
  body?: string | Uint8Array;
  type?: string;
  version?: string;
  /** Seconds between the timestamp and now (positive: in the past). */
  age?: number;
  /** Header changes after signing (null removes it). */
  headers?: Record<string, string | null>;
  /** Sign with Kick's documented key instead (which we cannot: so the signature is wrong). */
  wrongKey?: boolean;
  expected: WebhookVerdict["status"];
  outcome: WebhookVerdict["outcome"];
  reason?: RegExp;
}

const online = JSON.stringify({
  broadcaster: { is_anonymous: false, user_id: 1001, username: "Alice", channel_slug: "alice" },
  is_live: true,
  title: "hello",
  started_at: "2026-11-25T17:59:58Z",
  ended_at: null,
});

const cases: RequestCase[] = [
  { name: "a signed status event", expected: 200, outcome: "accepted" },
  { name: "a GET", method: "GET", expected: 405, outcome: "refused" },
  {
    name: "a body over 64 KiB",
    body: "x".repeat(MAX_WEBHOOK_BODY_BYTES + 1),
    expected: 413,
    outcome: "refused",
  },
  ...[
    "Kick-Event-Message-Id",
    "Kick-Event-Message-Timestamp",
    "Kick-Event-Signature",
    "Kick-Event-Type",
    "Kick-Event-Version",
  ].map((header): RequestCase => ({
    name: `no ${header}`,
    headers: { [header]: null },
    expected: 400,
    outcome: "refused",
    reason: new RegExp(`${header} header is missing`),
  })),
  {
    name: "a message id with a space",
    headers: { "Kick-Event-Message-Id": "01JQ 79" },
    expected: 400,
    outcome: "refused",
    reason: /Message-Id header is malformed/,
  },
  {
    name: "a timestamp without a zone",
    headers: { "Kick-Event-Message-Timestamp": "2026-11-25T18:00:00" },
    expected: 400,
    outcome: "refused",
    reason: /Timestamp header is malformed/,
  },
  {
    name: "a timestamp that is not a date",
    headers: { "Kick-Event-Message-Timestamp": "2026-13-45T18:00:00Z" },
    expected: 400,
    outcome: "refused",
  },
  {
    name: "a signature that is not base64",
    headers: { "Kick-Event-Signature": "not base64!" },
    expected: 400,
    outcome: "refused",
    reason: /Signature header is malformed/,
  },
  {
    name: "a version that is not a number",
    headers: { "Kick-Event-Version": "v1" },
    expected: 400,
    outcome: "refused",
  },
  {
    name: "a timestamp 301 s old",
    age: 301,
    expected: 401,
    outcome: "refused",
    reason: /301 s old; at most 300 s/,
  },
  { name: "a timestamp 299 s old", age: 299, expected: 200, outcome: "accepted" },
  {
    name: "a timestamp 10 minutes in the future",
    age: -600,
    expected: 401,
    outcome: "refused",
    reason: /in the future/,
  },
  {
    name: "a signature by another key",
    wrongKey: true,
    expected: 401,
    outcome: "refused",
    reason: /does not verify/,
  },
  {
    name: "a body changed after signing",
    headers: { body: online.replace('"hello"', '"HELLO"') },
    expected: 401,
    outcome: "refused",
  },
  {
    name:
      "a type header changed after signing (headers are not signed): the body does not match it",
    headers: { "Kick-Event-Type": "livestream.metadata.updated" },
    expected: 400,
    outcome: "refused",
    reason: /metadata\.updated body/,
  },
  {
    name: "an unknown type",
    type: "chat.message.sent",
    body: '{"message_id":"x"}',
    expected: 200,
    outcome: "ignored",
    reason: /chat\.message\.sent version 1 is not read/,
  },
  { name: "an unknown version", version: "2", expected: 200, outcome: "ignored" },
  { name: "a body that is not JSON", body: "{not json", expected: 400, outcome: "refused" },
  {
    name: "a status body without is_live",
    body: JSON.stringify({ broadcaster: { user_id: 1001 }, started_at: null }),
    expected: 400,
    outcome: "refused",
    reason: /is_live/,
  },
  {
    name: "a status body with an unreadable started_at",
    body: JSON.stringify({ broadcaster: { user_id: 1001 }, is_live: true, started_at: "soon" }),
    expected: 400,
    outcome: "refused",
    reason: /started_at: unreadable time "soon"/,
  },
  {
    name: "a status body with a negative user id",
    body: JSON.stringify({ broadcaster: { user_id: -1 }, is_live: false }),
    expected: 400,
    outcome: "refused",
  },
  {
    name: "a status body with a string user id (kient's typing, §5 item 11)",
    body: JSON.stringify({ broadcaster: { user_id: "1001" }, is_live: false, ended_at: null }),
    expected: 200,
    outcome: "accepted",
  },
];

for (const c of cases) {
  Deno.test(`webhook request: ${c.name} → ${c.expected} ${c.outcome}`, async () => {
    const body = c.body ?? online;
    const messageId = "01JQR5KV0QC94HMETWYNBWRW4Z";
    const timestamp = new Date(NOW.getTime() - (c.age ?? 1) * 1000).toISOString()
      .replace(/\.\d+Z$/, "Z");
    const signer = c.wrongKey ? (await generateWebhookSigningKey()).privateKey : ours.privateKey;
    const signature = await signWebhook(signer, { messageId, timestamp, body });
    const headers: Record<string, string> = {
      "Kick-Event-Message-Id": messageId,
      "Kick-Event-Subscription-Id": "01JQ79DGGK8C9117GJN8EHCYGG",
      "Kick-Event-Message-Timestamp": timestamp,
      "Kick-Event-Signature": signature,
      "Kick-Event-Type": c.type ?? "livestream.status.updated",
      "Kick-Event-Version": c.version ?? "1",
    };
    let sent: string | Uint8Array = body;
    for (const [name, value] of Object.entries(c.headers ?? {})) {
      if (name === "body") sent = value!;
      else if (value === null) delete headers[name];
      else headers[name] = value;
    }
    const verdict = await checkWebhookRequest(
      {
        method: c.method ?? "POST",
        headers: new Headers(headers),
        body: typeof sent === "string" ? encoder.encode(sent) : sent,
      },
      { now: NOW, maxAgeSeconds: 300, verifier: ourVerifier },
    );
    assert.equal(verdict.status, c.expected, JSON.stringify(verdict));
    assert.equal(verdict.outcome, c.outcome);
    if (c.reason && verdict.outcome !== "accepted") assert.match(verdict.reason, c.reason);
  });
}

Deno.test("webhook request: a verifier that throws refuses (never fails open)", async () => {
  const verdict = await checkWebhookRequest(
    { method: "POST", headers: new Headers(vector.headers), body: encoder.encode(vector.body) },
    {
      now: new Date("2025-04-01T07:56:21Z"),
      maxAgeSeconds: 300,
      verifier: { verify: () => Promise.reject(new Error("key store down")) },
    },
  );
  assert.equal(verdict.status, 401);
});

Deno.test("webhook payload: livestream.metadata.updated reads title, category and language", () => {
  const parsed = parseWebhookEvent(
    "livestream.metadata.updated",
    JSON.stringify({
      broadcaster: { user_id: 123456789, channel_slug: "Broadcaster_Channel", identity: null },
      metadata: {
        title: "Stream Title",
        language: "en",
        has_mature_content: true,
        category: { id: 123, name: "Category name", thumbnail: "http://example.com/image" },
      },
    }),
  );
  assert.deepEqual(parsed, {
    event: {
      type: "livestream.metadata.updated",
      broadcasterUserId: 123456789,
      channelSlug: "broadcaster_channel",
      title: "Stream Title",
      category: "Category name",
      language: "en",
    },
  });
  const odd = parseWebhookEvent(
    "livestream.metadata.updated",
    '{"broadcaster":{"user_id":1},"metadata":{"title":"","category":"Just Chatting"}}',
  );
  assert.deepEqual(odd, {
    event: {
      type: "livestream.metadata.updated",
      broadcasterUserId: 1,
      channelSlug: null,
      title: null,
      category: null,
      language: null,
    },
  });
  assert.ok("problem" in parseWebhookEvent("livestream.metadata.updated", '{"broadcaster":{}}'));
});

Deno.test("webhook payload: the docs' stream-ended example, with its +11:00 times", () => {
  const parsed = parseWebhookEvent(
    "livestream.status.updated",
    JSON.stringify({
      broadcaster: { is_anonymous: false, user_id: 123456789, channel_slug: "broadcaster_channel" },
      is_live: false,
      title: "Stream Title",
      started_at: "2025-01-01T11:00:00+11:00",
      ended_at: "2025-01-01T15:00:00+11:00",
    }),
  );
  assert.ok("event" in parsed);
  const event = parsed.event as WebhookStatusEvent;
  assert.equal(event.startedAt?.toISOString(), "2025-01-01T00:00:00.000Z");
  assert.equal(event.endedAt?.toISOString(), "2025-01-01T04:00:00.000Z");
  assert.equal(event.isLive, false);
});

const status = (change: Partial<WebhookStatusEvent>): WebhookStatusEvent => ({
  type: "livestream.status.updated",
  broadcasterUserId: 1001,
  channelSlug: "alice",
  isLive: true,
  startedAt: new Date("2026-11-25T17:59:58Z"),
  endedAt: null,
  title: "hello",
  livestreamId: null,
  ...change,
});

const observationCases: {
  name: string;
  event: WebhookStatusEvent;
  expected: Record<string, unknown> | null;
}[] = [
  {
    name: "online, dated at started_at",
    event: status({}),
    expected: {
      status: "online",
      observedAt: "2026-11-25T17:59:58.000Z",
      streamStartedAt: "2026-11-25T17:59:58.000Z",
      livestreamId: null,
    },
  },
  {
    name: "offline, dated at ended_at, naming the session that ended",
    event: status({ isLive: false, endedAt: new Date("2026-11-25T19:00:00Z") }),
    expected: {
      status: "offline",
      observedAt: "2026-11-25T19:00:00.000Z",
      streamStartedAt: "2026-11-25T17:59:58.000Z",
      livestreamId: null,
    },
  },
  {
    name: "offline without ended_at, dated when Kick sent it",
    event: status({ isLive: false, startedAt: null, endedAt: null }),
    expected: {
      status: "offline",
      observedAt: "2026-11-25T18:00:01.000Z",
      streamStartedAt: null,
      livestreamId: null,
    },
  },
  {
    name: "online without started_at, dated when Kick sent it",
    event: status({ startedAt: null }),
    expected: {
      status: "online",
      observedAt: "2026-11-25T18:00:01.000Z",
      streamStartedAt: null,
      livestreamId: null,
    },
  },
  {
    name: "a livestream id, when a payload carries one",
    event: status({ livestreamId: 74331109 }),
    expected: {
      status: "online",
      observedAt: "2026-11-25T17:59:58.000Z",
      streamStartedAt: "2026-11-25T17:59:58.000Z",
      livestreamId: 74331109,
    },
  },
  { name: "a broadcaster not monitored", event: status({ broadcasterUserId: 7 }), expected: null },
];

for (const c of observationCases) {
  Deno.test(`webhook observation: ${c.name}`, () => {
    const receivedAt = new Date("2026-11-25T18:00:02Z");
    const observation = toWebhookObservation(c.event, {
      slugOf: (id) => (id === 1001 ? "alice" : undefined),
      receivedAt,
      sentAt: new Date("2026-11-25T18:00:01Z"),
    });
    if (c.expected === null) return assert.equal(observation, null);
    assert.ok(observation !== null);
    assert.deepEqual({
      status: observation.status,
      observedAt: observation.observedAt.toISOString(),
      streamStartedAt: observation.streamStartedAt?.toISOString() ?? null,
      livestreamId: observation.livestreamId,
    }, c.expected);
    assert.equal(observation.slug, "alice");
    assert.equal(observation.source, "webhook");
    assert.equal(observation.evidence, "push");
    assert.equal(observation.receivedAt, receivedAt);
    assert.equal(observation.title, "hello");
    assert.equal(observation.raw, c.event);
  });
}

Deno.test("webhook metadata: an observation of kind metadata, push evidence, dated as given", () => {
  const event: WebhookMetadataEvent = {
    type: "livestream.metadata.updated",
    broadcasterUserId: 7,
    channelSlug: "xqc",
    title: "new title",
    category: "Chess",
    language: "en",
  };
  const at = new Date("2026-11-25T18:00:00Z");
  const observation = toMetadataObservation(event, {
    slugOf: (id) => id === 7 ? "xqc" : undefined,
    receivedAt: new Date(at.getTime() + 500),
    sentAt: at,
  });
  assert.equal(observation?.kind, "metadata");
  assert.equal(observation?.evidence, "push");
  assert.equal(observation?.source, "webhook");
  assert.deepEqual([observation?.title, observation?.category], ["new title", "Chess"]);
  assert.deepEqual(observation?.observedAt, at);
  assert.equal(
    toMetadataObservation(event, { slugOf: () => undefined, receivedAt: at, sentAt: at }),
    null,
  );
});

Deno.test("webhook metadata: dated by the message id's ULID time, not a retry's send time", () => {
  const created = Date.parse("2026-11-25T18:00:00.123Z");
  const id = newUlid(created);
  assert.equal(ulidTime(id)?.getTime(), created);
  assert.equal(ulidTime("not-a-ulid"), null);
  // A retry an hour later keeps the id: the change is as old as the id says.
  const retried = { messageId: id, sentAt: new Date(created + 3_600_000) };
  assert.equal(metadataChangedAt(retried).getTime(), created);
  // An id that is no ULID, or one dated after the send time (not Kick's clock), falls back to the send time.
  const sentAt = new Date(created);
  assert.deepEqual(metadataChangedAt({ messageId: "abc_123", sentAt }), sentAt);
  assert.deepEqual(metadataChangedAt({ messageId: newUlid(created + 60_000), sentAt }), sentAt);
});
