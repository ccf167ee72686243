/**
 * Apprise API: `POST /notify/{key}` with `{title, body, type}`; the Apprise server fans out to whatever the
 * key's configuration names. 424 (some of its services failed) is retried; 204 means no configuration.
 */
import { plainText } from "../escape.ts";
import { channelUrl, renderTemplate, templateFor } from "../template.ts";
import type { SendResult } from "../types.ts";
import {
  delivered,
  exchange,
  failedAnswer,
  isSuccess,
  type NotificationService,
} from "./http_sink.ts";

/** Apprise's notification service. */
export const appriseService: NotificationService = {
  ratePerSecond: 2,
  async send(target, parsed, notification, context): Promise<SendResult> {
    const text = renderTemplate(templateFor(target, notification.kind), notification, plainText);
    const live = notification.kind !== "offline";
    const result = await exchange(context, parsed, parsed.endpoint, {
      json: {
        title: live ? `${notification.slug} is live on Kick` : `${notification.slug} went offline`,
        body: `${target.mention ? `${target.mention} ` : ""}${text}\n${
          channelUrl(notification.slug)
        }`,
        type: live ? "success" : "info",
      },
    });
    if ("failed" in result) return result.failed;
    const { response } = result;
    if (response.status === 204) {
      return failedAnswer("Apprise", response, parsed, {
        detail: "no configuration is stored for this key",
        permanent: true,
      });
    }
    if (isSuccess(response)) return delivered(null, response);
    return failedAnswer("Apprise", response, parsed);
  },
};
