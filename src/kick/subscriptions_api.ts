/**
 * The app's event subscriptions on the official API (kick-api.md §1.8): list, create, delete. The planning
 * of which to create or delete is in src/kick/subscriptions.ts; {@link KickApi} exposes these methods.
 */
import { KickResponseError } from "./errors.ts";
import { type KickRequester, neverAborted, readResponse } from "./requests.ts";
import {
  apiErrorSchema,
  createdSubscriptionSchema,
  describeIssues,
  envelope,
  eventSubscriptionSchema,
  listResponseSchema,
  parseBody,
  parseKickTime,
} from "./schemas.ts";
import { z } from "zod";
import {
  type EventKind,
  type EventSubscription,
  SubscriptionLimitError,
  WebhooksNotEnabledError,
} from "./subscriptions.ts";

const PATH = "/public/v1/events/subscriptions";
/** Ids per DELETE request, Kick's maximum (§1.8). */
const DELETE_BATCH = 50;

/** The event-subscription endpoints, over the official API's requester. */
export class KickSubscriptionsApi {
  readonly #requests: KickRequester;

  constructor(requests: KickRequester) {
    this.#requests = requests;
  }

  /** The app's event subscriptions (`GET /public/v1/events/subscriptions`, §1.8); unreadable items dropped. */
  async list(signal?: AbortSignal): Promise<EventSubscription[]> {
    const body = await this.#requests.get(PATH, [], listResponseSchema, signal ?? neverAborted());
    const out: EventSubscription[] = [];
    for (const [index, raw] of body.data.entries()) {
      const parsed = eventSubscriptionSchema.safeParse(raw);
      if (!parsed.success) {
        this.#requests.reject(PATH, index, raw, describeIssues(parsed.error));
        continue;
      }
      out.push({
        id: parsed.data.id,
        broadcasterUserId: parsed.data.broadcaster_user_id,
        event: parsed.data.event,
        version: parsed.data.version,
        createdAt: parseKickTime(parsed.data.created_at),
      });
    }
    return out;
  }

  /**
   * Subscribes the app's webhook to `events` of one broadcaster (`POST /public/v1/events/subscriptions`, §1.8)
   * and returns the new subscription ids by event name. Throws SubscriptionLimitError on Kick's
   * `event subscription limit reached`, WebhooksNotEnabledError when the app has no webhooks, and
   * KickResponseError on any other refusal (Kick's errors are per element).
   */
  async create(
    broadcasterUserId: number,
    events: readonly EventKind[],
    signal?: AbortSignal,
  ): Promise<Map<string, string>> {
    const { name, response } = await this.#requests.send("POST", PATH, [], {
      signal,
      json: {
        broadcaster_user_id: broadcasterUserId,
        events: events.map((kind) => ({ name: kind.name, version: kind.version })),
        method: "webhook",
      },
    });
    if (response.status === 400) {
      const error = parseBody(apiErrorSchema, response.body);
      if (
        error.ok && typeof error.value.data === "string" && /limit reached/i.test(error.value.data)
      ) {
        throw new SubscriptionLimitError(name);
      }
    }
    const body = readResponse(name, response, envelope(z.array(createdSubscriptionSchema)));
    const created = new Map<string, string>();
    for (const element of body.data) {
      if (element.error) {
        if (/not enabled/i.test(element.error)) throw new WebhooksNotEnabledError();
        if (/limit reached/i.test(element.error)) throw new SubscriptionLimitError(name);
        throw new KickResponseError(
          name,
          response.status,
          `Kick refused ${element.name}: ${JSON.stringify(element.error.slice(0, 200))}`,
        );
      }
      if (element.subscription_id) created.set(element.name, element.subscription_id);
    }
    return created;
  }

  /** Deletes subscriptions by id (`DELETE /public/v1/events/subscriptions?id=…&id=…`, §1.8), 50 per request. */
  async delete(ids: readonly string[], signal?: AbortSignal): Promise<void> {
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += DELETE_BATCH) {
      const params = unique.slice(i, i + DELETE_BATCH).map((id): [string, string] => ["id", id]);
      const { name, response } = await this.#requests.send("DELETE", PATH, params, { signal });
      if (response.status !== 204 && response.status !== 200) {
        readResponse(name, response, apiErrorSchema);
      }
    }
  }
}
