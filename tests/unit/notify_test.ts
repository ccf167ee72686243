/** The pure parts of notifications: URLs and masking, templates, escaping, quiet hours, durations, retries. */
import assert from "node:assert/strict";
import {
  maskTargetUrl,
  parseKind,
  parseTargetUrl,
  TargetUrlError,
} from "../../src/notify/target_url.ts";
import { parseTemplate, renderTemplate, TemplateError } from "../../src/notify/template.ts";
import { escapeDiscord, escapeSlack, escapeTelegramHtml } from "../../src/notify/escape.ts";
import {
  formatQuietHours,
  holdUntil,
  parseQuietHours,
  validateTimeZone,
} from "../../src/notify/quiet_hours.ts";
import { formatDuration, formatLatency } from "../../src/notify/duration.ts";
import { decideRetry } from "../../src/notify/retry.ts";
import { allowedMentions } from "../../src/notify/services/discord.ts";
import { signWebhook, webhookSecretKey } from "../../src/notify/services/webhook.ts";
import { committedEvent, targetWants } from "../../src/notify/matching.ts";
import type { Notification, NotificationTarget } from "../../src/notify/types.ts";

Deno.test("target URLs: every scheme of interface.md, with its secrets masked", () => {
  const cases: [string, string, string, string[]][] = [
    [
      "https://discord.com/api/webhooks/123456/Abc-DEF_ghijklmnop",
      "discord",
      "https://discord.com/api/webhooks/123456/***",
      ["Abc-DEF_ghijklmnop"],
    ],
    [
      "https://discordapp.com/api/webhooks/1/tokentokentoken",
      "discord",
      "https://discordapp.com/api/webhooks/1/***",
      ["tokentokentoken"],
    ],
    [
      "https://hooks.slack.com/services/T0001/B0002/XyZsecretsecret123",
      "slack",
      "https://hooks.slack.com/services/***",
      ["T0001/B0002/XyZsecretsecret123", "XyZsecretsecret123"],
    ],
    [
      "tgram://123456:AAE-bot_token-abcdef/-1001234567890",
      "telegram",
      "tgram://***/-1001234567890",
      ["123456:AAE-bot_token-abcdef", "AAE-bot_token-abcdef"],
    ],
    ["ntfy://ntfy.example.com/kick", "ntfy", "ntfy://ntfy.example.com/kick", []],
    [
      "ntfys://me:s3cret-pass@ntfy.sh:8443/kick_alerts",
      "ntfy",
      "ntfys://me:***@ntfy.sh:8443/kick_alerts",
      ["s3cret-pass"],
    ],
    ["json://hooks.local:8080/kick", "webhook", "json://hooks.local:8080/kick", []],
    ["jsons://hooks.local/kick", "webhook", "jsons://hooks.local/kick", []],
    ["apprise://apprise.lan:8000/mykey123", "apprise", "apprise://apprise.lan:8000/***", [
      "mykey123",
    ]],
    ["apprises://apprise.lan/mykey123", "apprise", "apprises://apprise.lan/***", ["mykey123"]],
    ["console://", "console", "console://", []],
  ];
  for (const [url, kind, masked, secrets] of cases) {
    const parsed = parseTargetUrl(url);
    assert.equal(parsed.kind, kind, url);
    assert.equal(parsed.masked, masked, url);
    assert.deepEqual(parsed.secrets, secrets, url);
    assert.equal(maskTargetUrl(url), masked);
  }
  assert.equal(
    parseTargetUrl("tgram://123456:AAE-bot_token-abcdef/@mychannel").endpoint,
    "https://api.telegram.org/bot123456:AAE-bot_token-abcdef",
  );
  assert.equal(parseTargetUrl("ntfys://ntfy.sh/x").endpoint, "https://ntfy.sh");
  assert.equal(
    parseTargetUrl("apprise://a:8000/k").endpoint,
    "http://a:8000/notify/k",
  );
  // --kind points a service at a self-hosted or test endpoint.
  const telegram = parseTargetUrl("http://127.0.0.1:9/123:abcdefghijkl/42", "telegram");
  assert.equal(telegram.endpoint, "http://127.0.0.1:9/bot123:abcdefghijkl");
  assert.equal(telegram.chatId, "42");
  assert.equal(
    parseTargetUrl("http://127.0.0.1:9/api/webhooks/1/tokentokentoken", "discord").masked,
    "http://127.0.0.1:9/api/webhooks/1/***",
  );
});

Deno.test("target URLs: clear errors that never quote the secret", () => {
  const bad: [string, RegExp][] = [
    ["foo://x", /Unknown notification URL scheme "foo:\/\/"/],
    ["https://discord.com/api/webhooks/abc", /Malformed Discord webhook URL/],
    ["https://discord.com/api/webhooks/1/short", /Malformed Discord webhook URL/],
    ["https://example.com/hook", /Cannot tell which service example.com is/],
    ["tgram://not-a-token/123", /Malformed Telegram URL/],
    ["tgram://123:abcdefghijkl", /expected a chat id/],
    ["ntfy://host/bad topic!", /Malformed ntfy URL/],
    ["apprise://host/", /Malformed apprise URL/],
    ["ftp://secretpart@x", /Unknown notification URL scheme/],
  ];
  for (const [url, pattern] of bad) {
    assert.throws(() => parseTargetUrl(url), (error: Error) => {
      assert.ok(error instanceof TargetUrlError);
      assert.match(error.message, pattern);
      return true;
    });
  }
  assert.throws(() => parseTargetUrl("https://discord.com/api/webhooks/1/secret-token-xyz/extra"), (
    error: Error,
  ) => !error.message.includes("secret-token-xyz"));
  assert.throws(() => parseKind("email"), /--kind must be one of discord, slack/);
  assert.equal(maskTargetUrl("https://discord.com/oops/secret"), "https://discord.com/***");
});

const notification: Notification = {
  deliveryId: 1,
  kind: "offline",
  slug: "xqc",
  title: "hello *world*",
  category: "Just Chatting",
  occurredAt: new Date("2026-11-25T21:12:30Z"),
  startedAt: new Date("2026-11-25T18:00:00Z"),
  viewers: 5,
  editRef: null,
};

Deno.test("templates: fields, literal braces, unknown fields refused", () => {
  assert.deepEqual(parseTemplate("{slug} {{x}}", "--t"), [
    { field: "slug" },
    { text: " {x}" },
  ]);
  assert.throws(() => parseTemplate("{slug} {nope}", "--template-online"), (error: Error) => {
    assert.ok(error instanceof TemplateError);
    assert.match(error.message, /--template-online names an unknown field "\{nope\}"/);
    return true;
  });
  assert.throws(() => parseTemplate("{slug", "--t"), /unclosed/);
  assert.throws(() => parseTemplate("a } b", "--t"), /without a/);
  // No code runs: a field-looking expression is just an unknown field.
  assert.throws(() => parseTemplate("{constructor.constructor('x')()}", "--t"), TemplateError);
  const text = renderTemplate(
    "*{slug}* live {title} | {category} | {url} | {started_at} | {duration} | {viewers}",
    notification,
    escapeDiscord,
  );
  assert.equal(
    text,
    "*xqc* live hello \\*world\\* | Just Chatting | https://kick.com/xqc | 2026-11-25 18:00 UTC | 3 h 12 min | 5",
  );
  assert.equal(
    renderTemplate(null, notification, (s) => s),
    "xqc is offline (was live for 3 h 12 min)",
  );
});

Deno.test("templates: the default title message names the category only when known", () => {
  const title = { ...notification, kind: "title" as const, title: "new *title*" };
  assert.equal(
    renderTemplate(null, title, escapeDiscord),
    "xqc changed the title: new \\*title\\* (Just Chatting)",
  );
  assert.equal(
    renderTemplate(null, { ...title, category: null }, (s) => s),
    "xqc changed the title: new *title*",
  );
  // An operator's own template is left as written.
  assert.equal(renderTemplate("{slug} ()", title, (s) => s), "xqc ()");
});

Deno.test("escaping: Discord mentions and markdown, Telegram HTML, Slack", () => {
  assert.equal(
    escapeDiscord("@everyone @here <@123> <@&9>"),
    "@\u200beveryone @\u200bhere \\<@\u200b123\\> \\<@\u200b&9\\>",
  );
  assert.equal(escapeTelegramHtml(`<b>"a" & b</b>`), "&lt;b&gt;&quot;a&quot; &amp; b&lt;/b&gt;");
  assert.equal(escapeSlack("<!channel> & co"), "&lt;!channel&gt; &amp; co");
  assert.deepEqual(allowedMentions(null), { parse: [] });
  assert.deepEqual(allowedMentions("@here"), { parse: ["everyone"] });
  assert.deepEqual(allowedMentions("<@!77>"), { parse: [], users: ["77"] });
  assert.deepEqual(allowedMentions("<@&88>"), { parse: [], roles: ["88"] });
  assert.deepEqual(allowedMentions("hey team"), { parse: [] });
});

Deno.test("quiet hours: parsing, time zones, hold-until across midnight", () => {
  assert.deepEqual(parseQuietHours("22:00-07:30"), { startMinute: 1320, endMinute: 450 });
  assert.equal(formatQuietHours({ startMinute: 1320, endMinute: 450 }), "22:00-07:30");
  assert.throws(() => parseQuietHours("25:00-07:00"), /--quiet-hours must look like 22:00-07:00/);
  assert.throws(() => parseQuietHours("07:00-07:00"), /same time/);
  assert.equal(validateTimeZone("Europe/Berlin"), "Europe/Berlin");
  assert.throws(() => validateTimeZone("Mars/Olympus"), /--timezone must be an IANA time zone/);
  const quiet = parseQuietHours("22:00-07:00");
  // 23:30 in Berlin (UTC+1 in winter) is 22:30 UTC: held until 07:00 Berlin = 06:00 UTC.
  assert.equal(
    holdUntil(new Date("2026-01-10T22:30:15Z"), quiet, "Europe/Berlin")?.toISOString(),
    "2026-01-11T06:00:00.000Z",
  );
  // 05:00 Berlin: held until 07:00 the same morning.
  assert.equal(
    holdUntil(new Date("2026-01-11T04:00:00Z"), quiet, "Europe/Berlin")?.toISOString(),
    "2026-01-11T06:00:00.000Z",
  );
  assert.equal(holdUntil(new Date("2026-01-11T12:00:00Z"), quiet, "Europe/Berlin"), null);
  assert.equal(holdUntil(new Date("2026-01-11T06:00:00Z"), quiet, "Europe/Berlin"), null);
  assert.equal(holdUntil(new Date("2026-01-11T12:00:00Z"), null, null), null);
  // Quiet hours within one day, in UTC by default.
  assert.equal(
    holdUntil(new Date("2026-01-11T13:00:00Z"), parseQuietHours("12:00-14:00"), null)
      ?.toISOString(),
    "2026-01-11T14:00:00.000Z",
  );
});

Deno.test("durations read as people say them", () => {
  assert.equal(formatDuration(30_000), "under 1 min");
  assert.equal(formatDuration(45 * 60_000), "45 min");
  assert.equal(formatDuration((3 * 60 + 12) * 60_000 + 59_000), "3 h 12 min");
  assert.equal(formatDuration(2 * 3600_000), "2 h");
  assert.equal(formatDuration((2 * 1440 + 4 * 60) * 60_000), "2 d 4 h");
  assert.equal(formatDuration(-5), "under 1 min");
});

Deno.test("delivery latencies read in the unit that fits", () => {
  assert.equal(formatLatency(84.6), "85 ms");
  assert.equal(formatLatency(999), "999 ms");
  assert.equal(formatLatency(2_470), "2.4 s");
  assert.equal(formatLatency(59_999), "59.9 s");
  assert.equal(formatLatency(75 * 60_000), "1 h 15 min");
  assert.equal(formatLatency(-3), "0 ms");
});

Deno.test("retry policy: permanent answers fail at once, waits honoured, 24 h gives up", () => {
  const now = new Date("2026-11-25T18:00:00Z");
  const base = { rateLimited: false, retryAfterMs: null, answered: true, reason: "HTTP 503" };
  assert.deepEqual(
    decideRetry({ ...base, ok: false, retryable: false, reason: "Unknown Webhook" }, {
      attempts: 1,
      createdAt: now,
      now,
    }),
    { kind: "failed", reason: "Unknown Webhook" },
  );
  const limited = decideRetry(
    { ...base, ok: false, retryable: true, rateLimited: true, retryAfterMs: 1234 },
    { attempts: 9, createdAt: now, now },
  );
  assert.deepEqual(limited, { kind: "retry", at: new Date(now.getTime() + 1234) });
  const backoff = decideRetry({ ...base, ok: false, retryable: true }, {
    attempts: 1,
    createdAt: now,
    now,
  }, { random: () => 0 });
  assert.deepEqual(backoff, { kind: "retry", at: new Date(now.getTime() + 5000) });
  // A server's Retry-After longer than the back-off wins.
  const asked = decideRetry({ ...base, ok: false, retryable: true, retryAfterMs: 60_000 }, {
    attempts: 1,
    createdAt: now,
    now,
  }, { random: () => 0 });
  assert.deepEqual(asked, { kind: "retry", at: new Date(now.getTime() + 60_000) });
  const late = new Date(now.getTime() + 24 * 3600_000 - 1000);
  const given = decideRetry({ ...base, ok: false, retryable: true }, {
    attempts: 40,
    createdAt: now,
    now: late,
  });
  assert.equal(given.kind, "failed");
  assert.match((given as { reason: string }).reason, /gave up after 40 attempts over 24 h/);
});

Deno.test("Standard Webhooks: secret format and the spec's signature", async () => {
  assert.throws(() => webhookSecretKey("hunter2"), /--secret must be a Standard Webhooks secret/);
  assert.throws(() => webhookSecretKey(`whsec_${btoa("short")}`), /24 to 64/);
  // The example of the Standard Webhooks reference implementation's tests.
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  assert.equal(
    await signWebhook(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}'),
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
  );
});

Deno.test("matching: events, streamers, baselines, stale events", () => {
  const target = {
    events: ["online"],
    streamerIds: [1],
  } as unknown as NotificationTarget;
  const now = new Date("2026-11-25T18:00:00Z");
  const event = {
    id: 1,
    streamerId: 1,
    slug: "xqc",
    type: "online" as const,
    occurredAt: now,
    title: null,
    category: null,
    livestreamId: null,
  };
  assert.equal(targetWants(target, event, { now }), true);
  assert.equal(targetWants(target, { ...event, baseline: true }, { now }), false);
  assert.equal(targetWants(target, { ...event, type: "offline" }, { now }), false);
  assert.equal(targetWants(target, { ...event, streamerId: 2 }, { now }), false);
  assert.equal(
    targetWants(target, event, { now: new Date(now.getTime() + 3600_001) }),
    false,
  );
});

Deno.test("committedEvent maps a written transition", () => {
  const occurredAt = new Date("2026-11-25T18:00:00Z");
  const event = committedEvent({
    dedupeKey: "k",
    slug: "xqc",
    type: "online",
    occurredAt,
    receivedAt: occurredAt,
    source: "pusher",
    livestreamId: 9,
    title: "t",
    category: "c",
    baseline: false,
    raw: null,
  }, { id: 3, streamerId: 4 });
  assert.deepEqual(event, {
    id: 3,
    streamerId: 4,
    slug: "xqc",
    type: "online",
    occurredAt,
    title: "t",
    category: "c",
    livestreamId: 9,
    baseline: false,
  });
});
