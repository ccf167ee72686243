/**
 * Sending one message, apart from the worker's claims and lanes: what a claimed delivery says
 * (`notificationOf`), the HTTP client notifications use, and `sendNow` for `notify test`, which sends at once
 * without a delivery row. The worker (worker.ts) sends through the same pieces.
 */
import { HttpClient } from "../lib/http.ts";
import type { ClaimedDelivery } from "../store/notifications.ts";
import type { NotificationService } from "./services/mod.ts";
import type { ParsedTarget } from "./target_url.ts";
import type { Notification, SendResult } from "./types.ts";

/** What a claimed delivery says, for its service. */
export function notificationOf(delivery: ClaimedDelivery): Notification {
  return {
    deliveryId: delivery.id,
    kind: delivery.kind,
    slug: delivery.slug,
    title: delivery.title,
    category: delivery.category,
    occurredAt: delivery.occurredAt,
    startedAt: delivery.startedAt,
    viewers: delivery.viewers,
    editRef: delivery.replyTo?.state === "delivered" ? delivery.replyTo.messageRef : null,
  };
}

/**
 * The HTTP client notifications use: the project's one client, returning every answer to the worker's own
 * policy (acceptAnyStatus per request), with a 10 s timeout and no retries of its own.
 */
export function createNotificationHttpClient(options: { timeoutMs?: number } = {}): HttpClient {
  return new HttpClient({
    ratePerSecond: 50,
    burst: 50,
    timeoutMs: options.timeoutMs ?? 10_000,
    maxRetries: 0,
    serviceName: "The notification target",
  });
}

/** The result of sending one message now, for `notify test`. */
export async function sendNow(
  service: NotificationService,
  args: {
    target: ClaimedDelivery["target"];
    parsed: ParsedTarget;
    notification: Notification;
    http?: HttpClient;
    write?: (line: string) => void;
  },
): Promise<SendResult> {
  return await service.send(args.target, args.parsed, args.notification, {
    http: args.http ?? createNotificationHttpClient(),
    write: args.write,
  });
}
