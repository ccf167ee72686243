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
import { WebhookSilence } from "./webhook_silence.ts";

/** How often subscriptions are reconciled with the streamer list. */
export const SUBSCRIPTION_SYNC_INTERVAL_MS = 10 * 60_000;
/** How long a delivery may wait for the journal before it is answered 500 (Kick answers are due in 1 s). */
const JOURNAL_WAIT_MS = 800;

/** The gauge of the last accepted delivery's time, read by `doctor` from a running monitor's /metrics. */
export const WEBHOOK_LAST_DELIVERY_METRIC = "kick_monitor_webhook_last_delivery_timestamp_seconds";

/** How often the silence detector is consulted (its gauge and its log line). */
const SILENCE_CHECK_INTERVAL_MS = 5_000;

/** Options of {@link createWebhookSource}, for tests. */
export interface WebhookSourceOptions {
  /** How long a change seen elsewhere may go without its webhook before webhooks count as silent. */
  silenceWindowMs?: number;
}

/** The registered webhook source, with the default silence window (2 minutes). */
export const webhookSource: SourceFactory = createWebhookSource();

/** A webhook source factory; tests shorten the silence window. */
export function createWebhookSource(options: WebhookSourceOptions = {}): SourceFactory {
  return {
    name: "webhook",
    create: (context) => createSource(context, options),
  };
}

function createSource(context: SourceContext, options: WebhookSourceOptions): Source | null {
  const settings = context.config.webhook;
  if (settings.listen === null) return null;
  const listen = settings.listen;
  const silence = new WebhookSilence({ windowMs: options.silenceWindowMs });
  let silentFor: string[] = [];
  let silenceTimer: ReturnType<typeof setInterval> | undefined;
  /** Broadcasters Kick lists (or we just created) a status subscription for. */
  let subscribed = new Set<number>();
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
  m.gauge(
    WEBHOOK_LAST_DELIVERY_METRIC,
    "When the last webhook delivery was accepted (Unix seconds; 0 before the first), for doctor and alerts",
    () => (receiver?.stats.lastAcceptedAt?.getTime() ?? 0) / 1000,
  );
  m.gauge(
    "kick_monitor_webhook_silent",
    "1 while a subscribed streamer's change, seen by Pusher or the poll, got no webhook within the window",
    () => silentFor.length > 0 ? 1 : 0,
  );

  /** Consults the detector: the gauge's value, and one log line when an episode starts or ends. */
  const checkSilence = (): void => {
    const verdict = silence.check(context.now());
    silentFor = verdict.slugs;
    if (!verdict.changed) return;
    if (verdict.silent) {
      log.warn(
        "webhooks are silent: a subscribed streamer changed (seen by Pusher or the poll) and no webhook " +
          "came; check the app's webhook URL and that webhooks are enabled (kick-monitor doctor)",
        { streamers: verdict.slugs.slice(0, 10), window_s: Math.round(silence.windowMs / 1000) },
      );
    } else log.info("webhooks heard again for every recent change");
  };

  const syncSubscriptions = async (): Promise<void> => {
    // Kick's subscriptions are the app's, shared by every monitor of the database: one (the leader) syncs
    // them, for all streamers.
    if (!context.leader()) return;
    const wanted = context.allStreamers().flatMap((s) =>
      s.broadcasterUserId === null ? [] : [s.broadcasterUserId]
    );
    try {
      const listed = await context.api.listEventSubscriptions(context.signal);
      const plan = planSubscriptionSync(wanted, listed, { recentlyCreated });
      const wantedSet = new Set(wanted);
      subscribed = new Set(
        [
          ...listed.map((s) => s.broadcasterUserId),
          ...recentlyCreated.map((k) => k.broadcasterUserId),
        ]
          .filter((id) => wantedSet.has(id)),
      );
      recentlyCreated = [];
      for (const create of plan.create) {
        await context.api.createEventSubscriptions(
          create.broadcasterUserId,
          create.events,
          context.signal,
        );
        subscribed.add(create.broadcasterUserId);
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
          // Any delivery about a streamer, a repeat included, shows Kick reaches us for it.
          const heardOf = slugOf(event.broadcasterUserId);
          if (heardOf !== undefined) silence.delivered(heardOf);
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
      silenceTimer = setInterval(checkSilence, SILENCE_CHECK_INTERVAL_MS);
      void syncSubscriptions();
    },
    async stop() {
      clearInterval(timer);
      clearInterval(silenceTimer);
      await receiver?.close();
    },
    streamersChanged(records) {
      const before = new Set(streamers.map((s) => s.broadcasterUserId));
      streamers = records;
      const changed = records.length !== before.size ||
        records.some((r) => !before.has(r.broadcasterUserId));
      if (changed && receiver !== null) void syncSubscriptions();
      const watched = new Set(records.map((r) => r.slug));
      silence.forget((slug) => watched.has(slug));
    },
    observed(observation) {
      // A change seen by Pusher or the poll: its webhook should follow, if the streamer is subscribed. This
      // runs before the pipeline takes the observation, so statusOf is the status before it.
      if (observation.source === "webhook" || receiver === null) return;
      const record = streamers.find((s) => s.slug === observation.slug);
      if (record?.broadcasterUserId == null || !subscribed.has(record.broadcasterUserId)) return;
      const known = context.pipeline.statusOf(observation.slug);
      if (known !== "online" && known !== "offline") return;
      silence.seen(observation.slug, observation.status, known, context.now());
    },
    health() {
      const stats = receiver?.stats;
      checkSilence();
      const silent = silentFor.length > 0
        ? `warning (not a failure; Pusher and the poll record the changes): no webhook within ${
          Math.round(silence.windowMs / 1000)
        } s of a change seen elsewhere for ${silentFor.length} subscribed streamer(s), e.g. ${
          silentFor.slice(0, 3).join(", ")
        }`
        : null;
      return {
        ok: true,
        working: receiver !== null && stats?.lastAcceptedAt !== null,
        detail: subscriptionProblem ?? silent ?? (receiver === null ? "not started" : "ok"),
        figures: {
          webhook_deliveries_accepted: stats?.accepted ?? 0,
          webhook_last_delivery_at: stats?.lastAcceptedAt?.toISOString() ?? null,
          webhook_silent: silentFor.length > 0 ? 1 : 0,
        },
      };
    },
  };
}
