/**
 * Kick's event subscriptions (kick-api.md §1.8): what the monitor subscribes to, the ways Kick refuses, and a
 * pure planner that brings the listed subscriptions in line with the monitored streamers. The requests
 * themselves are {@link KickApi}'s (`listEventSubscriptions`, `createEventSubscriptions`,
 * `deleteEventSubscriptions` in src/kick/api.ts).
 *
 * Kick unsubscribes an app whose webhook keeps failing for a day (§1.9.5), and its listing may not show a
 * subscription created a moment ago: so the monitor re-lists now and then and recreates what is missing, and
 * the planner gives a just-created subscription one listing's grace before creating it again.
 */
import { ConfigError, ExitCode, UserFacingError } from "../lib/errors.ts";

/** An event type and version, as subscribed (§1.8 body `events[]`). */
export interface EventKind {
  /** The event's name, e.g. `livestream.status.updated`. */
  name: string;
  /** The event's version. */
  version: number;
}

/** What the monitor subscribes to for each streamer: its status, and its title and category (§1.9.2). */
export const MONITOR_EVENTS: readonly EventKind[] = [
  { name: "livestream.status.updated", version: 1 },
  { name: "livestream.metadata.updated", version: 1 },
];

/** One subscription as listed by `GET /public/v1/events/subscriptions`. */
export interface EventSubscription {
  /** ULID. */
  id: string;
  /** The broadcaster whose events it delivers. */
  broadcasterUserId: number;
  /** The event's name. */
  event: string;
  /** The event's version. */
  version: number;
  /** Null when Kick's answer had no readable `created_at`. */
  createdAt: Date | null;
}

/** One subscription of one broadcaster to one event, without an id (what is wanted, or was just created). */
export interface SubscriptionKey {
  broadcasterUserId: number;
  event: string;
  version: number;
}

/** Kick's 400 `{"data":"event subscription limit reached"}` (§1.8): the app's cap is reached. */
export class SubscriptionLimitError extends UserFacingError {
  constructor(request: string) {
    super(
      `Kick refused to subscribe (${request}): the app's event subscription limit is reached. ` +
        "Each streamer takes 2 subscriptions (status, and title/category). Unsubscribe streamers you no " +
        "longer monitor (kick-monitor webhooks unsubscribe SLUG), or ask Kick to raise the limit " +
        "(developer support, by e-mail; verified apps get 10,000, kick-api.md §1.8)",
      ExitCode.failure,
    );
    this.name = "SubscriptionLimitError";
  }
}

/** Kick's per-element error `"webhooks are not enabled for app"` (§1.8): the app's settings, so exit 78. */
export class WebhooksNotEnabledError extends ConfigError {
  constructor() {
    const message = "Kick says webhooks are not enabled for this app: enable them and set the " +
      "webhook URL (your public address of KICK_WEBHOOK_PATH) at https://kick.com/settings/developer";
    super([message]);
    this.message = message;
    this.name = "WebhooksNotEnabledError";
  }
}

/** A create request for one broadcaster, with every event it lacks. */
export interface PlannedCreate {
  broadcasterUserId: number;
  events: EventKind[];
}

/** What {@link planSubscriptionSync} decides. */
export interface SubscriptionPlan {
  /** One request per broadcaster, in the order of `wanted`. */
  create: PlannedCreate[];
  /** Ids to delete: duplicates (all but the oldest) and the monitor's events of broadcasters not wanted. */
  delete: string[];
  /** Just created and not listed yet: given this listing's grace, created next time if still missing. */
  awaiting: SubscriptionKey[];
}

/** Options of {@link planSubscriptionSync}. */
export interface PlanOptions {
  /** Subscriptions created since the previous listing (one listing's grace each). */
  recentlyCreated?: readonly SubscriptionKey[];
  /** The events wanted for each broadcaster; {@link MONITOR_EVENTS} by default. */
  events?: readonly EventKind[];
  /**
   * Delete the monitor's events of broadcasters that are not wanted (default true: removed streamers). False
   * when only some streamers are being subscribed (`webhooks subscribe SLUG`).
   */
  deleteUnwanted?: boolean;
}

/**
 * Plans the requests that make `listed` hold exactly one subscription per wanted broadcaster and event:
 * creates what is missing (unless it was just created: Kick's listing can lag one, see the module
 * documentation), deletes duplicates, keeping the oldest (Kick has created two on a retried request), and the
 * monitor's events of broadcasters no longer wanted. Subscriptions to other events are left alone (the app
 * may be used for more than this monitor).
 *
 * @example
 * ```ts
 * const plan = planSubscriptionSync([676, 1001], await api.listEventSubscriptions());
 * for (const c of plan.create) await api.createEventSubscriptions(c.broadcasterUserId, c.events);
 * await api.deleteEventSubscriptions(plan.delete);
 * ```
 */
export function planSubscriptionSync(
  wanted: readonly number[],
  listed: readonly EventSubscription[],
  options: PlanOptions = {},
): SubscriptionPlan {
  const events = options.events ?? MONITOR_EVENTS;
  const ours = new Set(events.map(keyOfKind));
  const wantedIds = new Set(wanted);
  const recent = new Set((options.recentlyCreated ?? []).map(keyOf));

  const byKey = new Map<string, EventSubscription[]>();
  const toDelete: string[] = [];
  for (const subscription of listed) {
    if (!ours.has(keyOfKind({ name: subscription.event, version: subscription.version }))) continue;
    if (!wantedIds.has(subscription.broadcasterUserId)) {
      if (options.deleteUnwanted ?? true) toDelete.push(subscription.id);
      continue;
    }
    const key = keyOf({
      broadcasterUserId: subscription.broadcasterUserId,
      event: subscription.event,
      version: subscription.version,
    });
    const group = byKey.get(key) ?? [];
    group.push(subscription);
    byKey.set(key, group);
  }
  for (const group of byKey.values()) {
    group.sort(oldestFirst);
    for (const duplicate of group.slice(1)) toDelete.push(duplicate.id);
  }

  const create: PlannedCreate[] = [];
  const awaiting: SubscriptionKey[] = [];
  for (const broadcasterUserId of new Set(wanted)) {
    const missing: EventKind[] = [];
    for (const kind of events) {
      const key: SubscriptionKey = { broadcasterUserId, event: kind.name, version: kind.version };
      if (byKey.has(keyOf(key))) continue;
      if (recent.has(keyOf(key))) awaiting.push(key);
      else missing.push({ ...kind });
    }
    if (missing.length > 0) create.push({ broadcasterUserId, events: missing });
  }
  return { create, delete: [...new Set(toDelete)], awaiting };
}

function keyOf(key: SubscriptionKey): string {
  return `${key.broadcasterUserId} ${key.event} ${key.version}`;
}

function keyOfKind(kind: EventKind): string {
  return `${kind.name} ${kind.version}`;
}

/** The oldest first; one without a creation time after those with one; ties by id (ULIDs sort by time). */
function oldestFirst(a: EventSubscription, b: EventSubscription): number {
  const at = a.createdAt?.getTime() ?? Infinity;
  const bt = b.createdAt?.getTime() ?? Infinity;
  if (at !== bt) return at < bt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
