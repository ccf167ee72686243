/**
 * Discord webhooks: execute with `?wait=true` (the answer is the message, whose id we keep), and the offline
 * edits that message (`PATCH …/messages/{id}`). `allowed_mentions` lets only the configured `--mention` ping;
 * streamer text is escaped (escape.ts). A 429's body `retry_after` (seconds, float) is the wait; 404 with code
 * 10015 (Unknown Webhook) means the webhook was deleted and fails at once.
 */
import { escapeDiscord } from "../escape.ts";
import { channelUrl, renderTemplate, templateFor } from "../template.ts";
import type { Notification, NotificationTarget, SendResult } from "../types.ts";
import type { ParsedTarget } from "../target_url.ts";
import {
  delivered,
  exchange,
  failedAnswer,
  isSuccess,
  jsonBody,
  type NotificationService,
  type ServiceContext,
} from "./http_sink.ts";

const KICK_GREEN = 0x53fc18;
const GREY = 0x808080;

/** The `allowed_mentions` object that lets exactly the configured mention ping (and nothing in a title). */
export function allowedMentions(mention: string | null): Record<string, unknown> {
  const text = mention?.trim() ?? "";
  if (text === "@everyone" || text === "@here") return { parse: ["everyone"] };
  const user = /^<@!?(\d+)>$/.exec(text);
  if (user !== null) return { parse: [], users: [user[1]] };
  const role = /^<@&(\d+)>$/.exec(text);
  if (role !== null) return { parse: [], roles: [role[1]] };
  return { parse: [] };
}

/** The message body for a notification (an execute or an edit). */
export function discordMessage(
  target: NotificationTarget,
  notification: Notification,
): Record<string, unknown> {
  const text = renderTemplate(templateFor(target, notification.kind), notification, escapeDiscord);
  const slug = escapeDiscord(notification.slug);
  const live = notification.kind !== "offline";
  const fields: { name: string; value: string; inline: boolean }[] = [];
  if (notification.category) {
    fields.push({ name: "Category", value: escapeDiscord(notification.category), inline: true });
  }
  if (notification.startedAt !== null) {
    const unix = Math.floor(notification.startedAt.getTime() / 1000);
    fields.push({ name: "Started", value: `<t:${unix}:f>`, inline: true });
  }
  return {
    content: target.mention ?? "",
    embeds: [{
      title: live ? `${slug} is live on Kick` : `${slug} was live on Kick`,
      description: text,
      url: channelUrl(notification.slug),
      color: live ? KICK_GREEN : GREY,
      fields,
      timestamp: notification.occurredAt.toISOString(),
    }],
    allowed_mentions: allowedMentions(target.mention),
  };
}

function discordError(
  body: unknown,
): { detail: string | null; retryAfterMs: number | null; code: number | null } {
  if (typeof body !== "object" || body === null) {
    return { detail: null, retryAfterMs: null, code: null };
  }
  const record = body as Record<string, unknown>;
  const message = typeof record.message === "string" ? record.message : null;
  const code = typeof record.code === "number" ? record.code : null;
  const retry = typeof record.retry_after === "number"
    ? Math.ceil(record.retry_after * 1000)
    : null;
  const detail = message === null ? null : code === null ? message : `${message} (code ${code})`;
  return { detail, retryAfterMs: retry, code };
}

async function execute(
  target: NotificationTarget,
  parsed: ParsedTarget,
  notification: Notification,
  context: ServiceContext,
): Promise<SendResult> {
  const result = await exchange(context, parsed, `${parsed.endpoint}?wait=true`, {
    json: discordMessage(target, notification),
  });
  if ("failed" in result) return result.failed;
  const { response } = result;
  const body = jsonBody(response);
  if (isSuccess(response)) {
    const id = (body as { id?: unknown } | null)?.id;
    return delivered(typeof id === "string" ? id : null, response);
  }
  const error = discordError(body);
  return failedAnswer("Discord", response, parsed, {
    detail: error.detail,
    bodyRetryAfterMs: error.retryAfterMs,
  });
}

/** Discord's notification service. */
export const discordService: NotificationService = {
  // Discord's documented webhook budget is about 5 requests per 2 s; its headers refine it.
  ratePerSecond: 2.5,
  async send(target, parsed, notification, context): Promise<SendResult> {
    if (notification.kind !== "offline" || notification.editRef === null) {
      return await execute(target, parsed, notification, context);
    }
    const result = await exchange(
      context,
      parsed,
      `${parsed.endpoint}/messages/${encodeURIComponent(notification.editRef)}`,
      { method: "PATCH", json: discordMessage(target, notification) },
    );
    if ("failed" in result) return result.failed;
    const { response } = result;
    const body = jsonBody(response);
    if (isSuccess(response)) return delivered(notification.editRef, response);
    const error = discordError(body);
    // 10008 Unknown Message: someone deleted the online message; say it in a new one instead.
    if (response.status === 404 && error.code === 10008) {
      return await execute(target, parsed, notification, context);
    }
    return failedAnswer("Discord", response, parsed, {
      detail: error.detail,
      bodyRetryAfterMs: error.retryAfterMs,
    });
  },
};
