/**
 * The webhook source (issue 15): Kick's signed `livestream.status.updated` deliveries on their own listener
 * (KICK_WEBHOOK_LISTEN). Push evidence keyed on `broadcaster_user_id`, so it needs no Pusher channel id. Kick's
 * deliveries come late, twice under new message ids, or not at all (kick-api.md §1.9.5): the status machine
 * absorbs repeats like any other, and Pusher and the poll stay on.
 *
 * A delivery is answered 200 only once the transition it caused is in the fsync'd journal (so Kick does not
 * retry what we have; a crash after the answer loses nothing), and 500 when the journal cannot take it in
 * time (Kick retries). Subscriptions follow the streamer list: at start and every 10 minutes the missing are
 * created, duplicates and removed streamers' deleted (planSubscriptionSync); Kick's subscription limit stops
 * creation and says so, leaving the rest to Pusher and the poll.
 */
import { describeError } from "../../lib/errors.ts";
import { log } from "../../lib/log.ts";
import { resolveWebhookKeys } from "../../kick/webhook_key.ts";
import { METADATA_EVENT, toWebhookObservation } from "../../kick/webhook_events.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../../kick/webhook_receiver.ts";
import {
  planSubscriptionSync,
  type SubscriptionKey,
  SubscriptionLimitError,
} from "../../kick/subscriptions.ts";
import type { StreamerRecord } from "../../store/store.ts";
import type { Source, SourceContext, SourceFactory } from "../contracts.ts";

/** How often subscriptions are reconciled with the streamer list. */
export const SUBSCRIPTION_SYNC_INTERVAL_MS = 10 * 60_000;
/** How long a delivery may wait for the journal before it is answered 500 (Kick answers are due in 1 s). */
const JOURNAL_WAIT_MS = 800;

export const webhookSource: SourceFactory = {
  name: "webhook",
  create(context: SourceContext): Source | null {
    const settings = context.config.webhook;
    if (settings.listen === null) return null;
    const listen = settings.listen;
    let streamers: readonly StreamerRecord[] = [];
    let receiver: WebhookReceiver | null = null;
    let timer: ReturnType<typeof setInterval> | undefined;
    let recentlyCreated: SubscriptionKey[] = [];
    let subscriptionProblem: string | null = null;
    const m = context.metrics;
    const events = m.counter(
      "kick_monitor_webhook_deliveries_total",
      "Webhook deliveries by outcome (accepted, duplicate, ignored, refused, failed)",
    );
    const slugOf = (userId: number) => streamers.find((s) => s.broadcasterUserId === userId)?.slug;

    const syncSubscriptions = async (): Promise<void> => {
      const wanted = streamers.flatMap((s) =>
        s.broadcasterUserId === null ? [] : [s.broadcasterUserId]
      );
      try {
        const listed = await context.api.listEventSubscriptions(context.signal);
        const plan = planSubscriptionSync(wanted, listed, { recentlyCreated });
        recentlyCreated = [];
        for (const create of plan.create) {
          await context.api.createEventSubscriptions(
            create.broadcasterUserId,
            create.events,
            context.signal,
          );
          for (const kind of create.events) {
            recentlyCreated.push({
              broadcasterUserId: create.broadcasterUserId,
              event: kind.name,
              version: kind.version,
            });
          }
        }
        if (plan.delete.length > 0) {
          await context.api.deleteEventSubscriptions(plan.delete, context.signal);
        }
        subscriptionProblem = null;
        if (plan.create.length + plan.delete.length > 0) {
          log.info("webhook subscriptions synced", {
            created: plan.create.length,
            deleted: plan.delete.length,
          });
        }
      } catch (error) {
        if (context.signal.aborted) return;
        subscriptionProblem = describeError(error);
        if (error instanceof SubscriptionLimitError) {
          log.warn(
            "Kick's event subscription limit is reached: the other streamers stay on Pusher and the poll",
            { error: subscriptionProblem },
          );
        } else log.warn("could not sync webhook subscriptions", { error: subscriptionProblem });
      }
    };

    return {
      name: "webhook",
      async start() {
        const keys = await resolveWebhookKeys({
          configured: settings.publicKey,
          fetchPublicKey: (signal) => context.api.getPublicKey(signal),
        });
        receiver = startWebhookReceiver({
          listen,
          path: settings.path,
          maxAgeSeconds: settings.maxAgeSeconds,
          keys,
          onCounted: (request) => events.inc({ outcome: request.outcome }),
          onEvent: async (event, delivery) => {
            events.inc({ outcome: delivery.duplicate ? "duplicate" : "accepted" });
            if (delivery.duplicate || event.type === METADATA_EVENT) return;
            const observation = toWebhookObservation(event, {
              slugOf,
              receivedAt: delivery.receivedAt,
              sentAt: delivery.sentAt,
            });
            if (observation === null) return;
            context.emit([observation]);
            await context.journaled(JOURNAL_WAIT_MS);
          },
        });
        log.info("webhook receiver listening", { url: receiver.url });
        timer = setInterval(() => void syncSubscriptions(), SUBSCRIPTION_SYNC_INTERVAL_MS);
        void syncSubscriptions();
      },
      async stop() {
        clearInterval(timer);
        await receiver?.close();
      },
      streamersChanged(records) {
        const before = new Set(streamers.map((s) => s.broadcasterUserId));
        streamers = records;
        const changed = records.length !== before.size ||
          records.some((r) => !before.has(r.broadcasterUserId));
        if (changed && receiver !== null) void syncSubscriptions();
      },
      health() {
        const stats = receiver?.stats;
        return {
          ok: true,
          working: receiver !== null && stats?.lastAcceptedAt !== null,
          detail: subscriptionProblem ?? (receiver === null ? "not started" : "ok"),
          figures: {
            webhook_deliveries_accepted: stats?.accepted ?? 0,
            webhook_last_delivery_at: stats?.lastAcceptedAt?.toISOString() ?? null,
          },
        };
      },
    };
  },
};
