/** Each notification service against its real-shaped fake on loopback (tests/fakes/notification_services.ts). */
import assert from "node:assert/strict";
import { freePort } from "../helpers/cli.ts";
import {
  startFakeApprise,
  startFakeDiscord,
  startFakeNtfy,
  startFakeSlack,
  startFakeTelegram,
  startFakeWebhookReceiver,
} from "../fakes/notification_services.ts";
import { SERVICES } from "../../src/notify/services/mod.ts";
import { parseTargetUrl } from "../../src/notify/target_url.ts";
import { createNotificationHttpClient } from "../../src/notify/send.ts";
import type {
  Notification,
  NotificationTarget,
  SendResult,
  TargetKind,
} from "../../src/notify/types.ts";

const DISCORD_TOKEN = "dQw4w9WgXcQ-discord-webhook-token_0123456789";
const BOT_TOKEN = "123456789:AAE-fake-bot-token_abcdefghij";
const WHSEC = `whsec_${btoa("0123456789abcdef0123456789abcdef")}`;

function target(kind: TargetKind, url: string, changes: Partial<NotificationTarget> = {}) {
  const t: NotificationTarget = {
    id: 1,
    name: "t",
    kind,
    url,
    streamerIds: null,
    events: ["online", "offline"],
    mention: null,
    templateOnline: null,
    templateOffline: null,
    quietHours: null,
    timezone: null,
    secret: null,
    createdAt: new Date(),
    ...changes,
  };
  return { target: t, parsed: parseTargetUrl(url, kind) };
}

const STARTED = new Date("2026-11-25T18:00:00Z");
const online: Notification = {
  deliveryId: 7,
  kind: "online",
  slug: "xqc",
  title: "@everyone **free** <b>stuff</b> <@123>",
  category: "Just Chatting",
  occurredAt: STARTED,
  startedAt: STARTED,
  viewers: 1200,
  editRef: null,
};
const offline: Notification = {
  ...online,
  deliveryId: 8,
  kind: "offline",
  occurredAt: new Date(STARTED.getTime() + (3 * 60 + 12) * 60_000),
};

const http = createNotificationHttpClient({ timeoutMs: 2000 });

async function send(
  pair: ReturnType<typeof target>,
  notification: Notification,
): Promise<SendResult> {
  return await SERVICES[pair.target.kind].send(pair.target, pair.parsed, notification, { http });
}

function failure(result: SendResult): Extract<SendResult, { ok: false }> {
  assert.equal(result.ok, false, JSON.stringify(result));
  return result as Extract<SendResult, { ok: false }>;
}

Deno.test("discord: execute with wait=true, edit on offline, mentions, 404 and 429", async () => {
  const discord = await startFakeDiscord({ limit: 100, windowMs: 1000 });
  try {
    discord.addWebhook("111", DISCORD_TOKEN);
    const pair = target("discord", discord.webhookUrl("111", DISCORD_TOKEN), {
      mention: "<@&42>",
    });
    const sent = await send(pair, online);
    assert.ok(sent.ok);
    const id = sent.messageRef!;
    assert.match(id, /^\d+$/);
    const request = discord.received[0];
    assert.equal(request.search, "?wait=true");
    const body = request.json as {
      allowed_mentions: unknown;
      content: string;
      embeds: { url: string; description: string; fields: { value: string }[] }[];
    };
    assert.deepEqual(body.allowed_mentions, { parse: [], roles: ["42"] });
    assert.equal(body.content, "<@&42>");
    const embed = body.embeds[0];
    assert.equal(embed.url, "https://kick.com/xqc");
    assert.ok(!embed.description.includes("@everyone"), embed.description);
    assert.ok(embed.description.includes("\\*\\*free\\*\\*"));
    assert.ok(embed.fields.some((f) => f.value === "Just Chatting"));

    const edited = await send(pair, { ...offline, editRef: id });
    assert.ok(edited.ok);
    assert.equal(edited.messageRef, id);
    assert.equal(discord.received[1].method, "PATCH");
    assert.equal(discord.received[1].path, `/api/webhooks/111/${DISCORD_TOKEN}/messages/${id}`);
    const description = (discord.messages.get(id)!.embeds as { description: string }[])[0]
      .description;
    assert.match(description, /was live for 3 h 12 min/);

    // An edit of a deleted message says it in a new one.
    const renewed = await send(pair, { ...offline, editRef: "999" });
    assert.ok(renewed.ok);
    assert.notEqual(renewed.messageRef, "999");

    discord.storm(1500);
    const limited = failure(await send(pair, online));
    assert.equal(limited.rateLimited, true);
    assert.ok(
      limited.retryAfterMs! > 1000 && limited.retryAfterMs! <= 1500,
      String(limited.retryAfterMs),
    );

    discord.deleteWebhook("111");
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const gone = failure(await send(pair, online));
    assert.equal(gone.retryable, false);
    assert.match(gone.reason, /Unknown Webhook \(code 10015\)/);
    assert.ok(!gone.reason.includes(DISCORD_TOKEN));
  } finally {
    await discord.close();
  }
});

Deno.test("telegram: sendMessage, editMessageText on offline, retry_after, chat not found", async () => {
  const telegram = await startFakeTelegram(BOT_TOKEN, ["-100200"]);
  try {
    const pair = target("telegram", `${telegram.origin}/${BOT_TOKEN}/-100200`);
    const sent = await send(pair, online);
    assert.ok(sent.ok);
    assert.equal(sent.messageRef, "-100200:100");
    const text = telegram.messages.get("-100200:100")!;
    assert.ok(text.includes("&lt;b&gt;stuff&lt;/b&gt;"), text);
    assert.equal((telegram.received[0].json as { parse_mode: string }).parse_mode, "HTML");

    const edited = await send(pair, { ...offline, editRef: "-100200:100" });
    assert.ok(edited.ok);
    assert.equal(telegram.received[1].path, `/bot${BOT_TOKEN}/editMessageText`);
    assert.match(telegram.messages.get("-100200:100")!, /was live for 3 h 12 min/);

    telegram.throttle(1, 3);
    const limited = failure(await send(pair, online));
    assert.equal(limited.rateLimited, true);
    assert.equal(limited.retryAfterMs, 3000);

    const wrongChat = target("telegram", `${telegram.origin}/${BOT_TOKEN}/-999`);
    const refused = failure(await send(wrongChat, online));
    assert.equal(refused.retryable, false);
    assert.match(refused.reason, /chat not found/);
    assert.ok(!refused.reason.includes(BOT_TOKEN.split(":")[1]));
  } finally {
    await telegram.close();
  }
});

Deno.test("slack: ok, 429 with Retry-After, 404 no_service", async () => {
  const slack = await startFakeSlack("/services/T000/B000/slacksecret0123456789");
  try {
    const pair = target("slack", `${slack.origin}${slack.path}`);
    assert.ok((await send(pair, online)).ok);
    const text = slack.posted[0].text as string;
    assert.ok(text.includes("&lt;b&gt;") && text.includes("<https://kick.com/xqc|kick.com/xqc>"));
    slack.throttle(1, 7);
    const limited = failure(await send(pair, online));
    assert.equal(limited.retryAfterMs, 7000);
    const gone = failure(await send(target("slack", `${slack.origin}/services/T/B/nope`), online));
    assert.equal(gone.retryable, false);
    assert.match(gone.reason, /404: no_service/);
  } finally {
    await slack.close();
  }
});

Deno.test("ntfy: JSON publish with title, tags, click, priority and basic auth; 401; 429", async () => {
  const ntfy = await startFakeNtfy({ user: "kick", password: "ntfy-pass-123" });
  try {
    const pair = target("ntfy", `http://kick:ntfy-pass-123@127.0.0.1:${ntfy.port}/alerts`, {});
    const sent = await send(pair, online);
    assert.ok(sent.ok);
    assert.equal(sent.messageRef, "msg1");
    assert.deepEqual(
      { ...ntfy.published[0], message: undefined },
      {
        topic: "alerts",
        title: "xqc is live on Kick",
        message: undefined,
        tags: ["green_circle"],
        click: "https://kick.com/xqc",
        priority: 4,
      },
    );
    ntfy.throttle(1);
    assert.equal(failure(await send(pair, online)).rateLimited, true);
    const wrong = target("ntfy", `http://kick:wrong-pass@127.0.0.1:${ntfy.port}/alerts`);
    const refused = failure(await send(wrong, online));
    assert.equal(refused.retryable, false);
    assert.ok(!refused.reason.includes("wrong-pass"));
  } finally {
    await ntfy.close();
  }
});

Deno.test("webhook: Standard Webhooks signature verifies; a wrong secret is refused", async () => {
  const receiver = await startFakeWebhookReceiver(WHSEC);
  try {
    const pair = target("webhook", `json://127.0.0.1:${receiver.port}/hook`, { secret: WHSEC });
    assert.ok((await send(pair, offline)).ok);
    assert.equal(receiver.verified.length, 1);
    assert.equal(receiver.verified[0].id, "kick-monitor-delivery-8");
    const data = receiver.verified[0].body.data as Record<string, unknown>;
    assert.equal(receiver.verified[0].body.type, "streamer.offline");
    assert.equal(data.duration, "3 h 12 min");
    const other = `whsec_${btoa("another-secret-of-enough-bytes!!")}`;
    const wrong = target("webhook", `json://127.0.0.1:${receiver.port}/hook`, { secret: other });
    const refused = failure(await send(wrong, online));
    assert.equal(refused.retryable, false);
    assert.equal(receiver.stats.refused, 1);
  } finally {
    await receiver.close();
  }
});

Deno.test("apprise: POST /notify/{key}; an unknown key is refused", async () => {
  const apprise = await startFakeApprise(["kickalerts"]);
  try {
    const pair = target("apprise", `apprise://127.0.0.1:${apprise.port}/kickalerts`);
    assert.ok((await send(pair, online)).ok);
    assert.equal(apprise.notified[0].body.type, "success");
    const unknown = target("apprise", `apprise://127.0.0.1:${apprise.port}/other-key`);
    const refused = failure(await send(unknown, online));
    assert.equal(refused.retryable, false);
    assert.ok(!refused.reason.includes("other-key"));
  } finally {
    await apprise.close();
  }
});

Deno.test("a closed port is a retryable failure without an answer, secrets masked", async () => {
  const pair = target("discord", `http://127.0.0.1:${freePort()}/api/webhooks/1/${DISCORD_TOKEN}`);
  const result = failure(await send(pair, online));
  assert.equal(result.answered, false);
  assert.equal(result.retryable, true);
  assert.ok(!result.reason.includes(DISCORD_TOKEN), result.reason);
});

Deno.test("console: prints one escaped line", async () => {
  const lines: string[] = [];
  const pair = target("console", "console://");
  const result = await SERVICES.console.send(pair.target, pair.parsed, online, {
    http,
    write: (line) => lines.push(line),
  });
  assert.ok(result.ok);
  assert.deepEqual(lines, [`[notify t] xqc is live: ${online.title}`]);
});
