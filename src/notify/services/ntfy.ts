/**
 * ntfy: a JSON publish (`POST /` with `{topic, title, message, tags, click, priority}`), which keeps non-ASCII
 * titles out of HTTP headers. Basic auth from the URL's user:pass. The answer's `id` is kept.
 */
import { plainText } from "../escape.ts";
import { channelUrl, renderTemplate, templateFor } from "../template.ts";
import type { SendResult } from "../types.ts";
import {
  delivered,
  exchange,
  failedAnswer,
  isSuccess,
  jsonBody,
  type NotificationService,
} from "./http_sink.ts";

/** ntfy's notification service. */
export const ntfyService: NotificationService = {
  ratePerSecond: 2,
  async send(target, parsed, notification, context): Promise<SendResult> {
    const message = renderTemplate(templateFor(target, notification.kind), notification, plainText);
    const live = notification.kind !== "offline";
    const headers: Record<string, string> = {};
    if (parsed.username !== undefined) {
      headers.authorization = `Basic ${btoa(`${parsed.username}:${parsed.password ?? ""}`)}`;
    }
    const result = await exchange(context, parsed, `${parsed.endpoint}/`, {
      headers,
      json: {
        topic: parsed.topic,
        title: live ? `${notification.slug} is live on Kick` : `${notification.slug} went offline`,
        message: target.mention ? `${target.mention} ${message}` : message,
        tags: [live ? "green_circle" : "red_circle"],
        click: channelUrl(notification.slug),
        priority: notification.kind === "online" ? 4 : 3,
      },
    });
    if ("failed" in result) return result.failed;
    const { response } = result;
    if (isSuccess(response)) {
      const id = (jsonBody(response) as { id?: unknown } | null)?.id;
      return delivered(typeof id === "string" ? id : null, response);
    }
    return failedAnswer("ntfy", response, parsed);
  },
};
