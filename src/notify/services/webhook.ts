/**
 * A JSON webhook signed per the Standard Webhooks spec (standardwebhooks.com): headers `webhook-id` (the
 * delivery's id, the same on every retry, so receivers can dedupe), `webhook-timestamp` (Unix seconds) and
 * `webhook-signature: v1,{base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"}`, keyed with the base64 bytes after
 * `whsec_`. WebCrypto does the HMAC: a dozen lines, where the `standardwebhooks` package would add a
 * dependency for the same.
 */
import { formatDuration } from "../duration.ts";
import { channelUrl } from "../template.ts";
import type { Notification, SendResult } from "../types.ts";
import {
  delivered,
  exchange,
  failedAnswer,
  isSuccess,
  type NotificationService,
} from "./http_sink.ts";

const encoder = new TextEncoder();

/** The key bytes of a `whsec_…` secret; throws RangeError naming `--secret` when it is not one. */
export function webhookSecretKey(secret: string): Uint8Array<ArrayBuffer> {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret.trim());
  let bytes: Uint8Array<ArrayBuffer> | null = null;
  if (match !== null) {
    try {
      bytes = Uint8Array.from(atob(match[1]), (c) => c.charCodeAt(0));
    } catch {
      bytes = null;
    }
  }
  if (bytes === null || bytes.length < 24 || bytes.length > 64) {
    throw new RangeError(
      "--secret must be a Standard Webhooks secret: whsec_ followed by base64 of 24 to 64 random " +
        "bytes (e.g. whsec_$(openssl rand -base64 32))",
    );
  }
  return bytes;
}

/** `v1,{signature}` of `{id}.{timestamp}.{body}` with `secret` (whsec_…). */
export async function signWebhook(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    webhookSecretKey(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${id}.${timestamp}.${body}`));
  return `v1,${btoa(String.fromCharCode(...new Uint8Array(mac)))}`;
}

/** The JSON document a webhook receives. */
export function webhookPayload(notification: Notification): Record<string, unknown> {
  const started = notification.startedAt;
  return {
    type: `streamer.${notification.kind}`,
    timestamp: notification.occurredAt.toISOString(),
    data: {
      slug: notification.slug,
      url: channelUrl(notification.slug),
      title: notification.title,
      category: notification.category,
      viewers: notification.viewers,
      started_at: started?.toISOString() ?? null,
      occurred_at: notification.occurredAt.toISOString(),
      duration: notification.kind === "offline" && started !== null
        ? formatDuration(notification.occurredAt.getTime() - started.getTime())
        : null,
    },
  };
}

/** The Standard Webhooks service. */
export const webhookService: NotificationService = {
  ratePerSecond: 10,
  async send(target, parsed, notification, context): Promise<SendResult> {
    const body = JSON.stringify(webhookPayload(notification));
    const id = `kick-monitor-delivery-${notification.deliveryId}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
    };
    if (target.secret !== null) {
      headers["webhook-signature"] = await signWebhook(target.secret, id, timestamp, body);
    }
    const result = await exchange(context, parsed, parsed.endpoint, { headers, body });
    if ("failed" in result) return result.failed;
    if (isSuccess(result.response)) return delivered(null, result.response);
    return failedAnswer("The webhook receiver", result.response, parsed);
  },
};
