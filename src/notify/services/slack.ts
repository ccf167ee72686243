/**
 * Slack incoming webhooks: a JSON `{text}` POST answered with the text `ok`. 429 carries Retry-After; 404
 * `no_service` / 403 / 410 mean the webhook is gone. Slack webhooks cannot edit, so an offline is a new message.
 */
import { escapeSlack } from "../escape.ts";
import { channelUrl, renderTemplate, templateFor } from "../template.ts";
import type { SendResult } from "../types.ts";
import {
  delivered,
  exchange,
  failedAnswer,
  isSuccess,
  type NotificationService,
} from "./http_sink.ts";

/** Slack's notification service. */
export const slackService: NotificationService = {
  // Slack allows about one message per second per webhook.
  ratePerSecond: 1,
  async send(target, parsed, notification, context): Promise<SendResult> {
    const text = renderTemplate(templateFor(target, notification.kind), notification, escapeSlack);
    const mention = target.mention ? `${target.mention} ` : "";
    const link = `<${channelUrl(notification.slug)}|kick.com/${escapeSlack(notification.slug)}>`;
    const result = await exchange(context, parsed, parsed.endpoint, {
      json: { text: `${mention}${text}\n${link}`, unfurl_links: false },
    });
    if ("failed" in result) return result.failed;
    if (isSuccess(result.response)) return delivered(null, result.response);
    return failedAnswer("Slack", result.response, parsed);
  },
};
