/**
 * The soak's notification verdict (`--notify`, issue 13): every recorded event against what the fake Discord
 * accepted. Each streamer has its own Discord webhook, and a Discord message says which event it is about
 * (its embed's `timestamp` is the event's time, src/notify/services/discord.ts), so messages map to events
 * one to one:
 * - an online event expects one execute (POST) on its streamer's webhook;
 * - an offline expects one edit (PATCH) of its online's message, when that online was delivered (an offline
 *   about an announcement nobody got is not sent, src/store/notifications.ts createDeliveries);
 * - "duplicated": an event with more than one message (or edit); "missing": an expected one never received;
 * - "unexpected": a message matching no recorded event.
 */

/** A recorded status event (status_events; a baseline is a status, never an event). */
export interface RecordedEvent {
  slug: string;
  type: "online" | "offline";
  /** occurred_at, ms. */
  at: number;
}

/** A request the fake Discord answered with success. */
export interface AcceptedMessage {
  method: "POST" | "PATCH";
  webhookId: string;
  messageId: string;
  json: unknown;
}

/** The verdict. */
export interface DeliveryComparison {
  expected: number;
  delivered: number;
  duplicated: number;
  missing: number;
  unexpected: number;
  /** A few of the problems, for the report. */
  examples: string[];
}

/** The embed timestamp of a Discord message body, in ms; null when it has none. */
function messageTime(json: unknown): number | null {
  const embeds = (json as { embeds?: { timestamp?: unknown }[] } | null)?.embeds;
  const stamp = embeds?.[0]?.timestamp;
  return typeof stamp === "string" ? Date.parse(stamp) : null;
}

/**
 * Compares `events` (in recorded order) with `accepted` messages; `webhookOf` names each streamer's Discord
 * webhook id.
 */
export function compareDeliveries(
  events: readonly RecordedEvent[],
  accepted: readonly AcceptedMessage[],
  webhookOf: (slug: string) => string,
): DeliveryComparison {
  const result: DeliveryComparison = {
    expected: 0,
    delivered: 0,
    duplicated: 0,
    missing: 0,
    unexpected: 0,
    examples: [],
  };
  const note = (text: string) => {
    if (result.examples.length < 10) result.examples.push(text);
  };
  const key = (webhookId: string, method: string, at: number | null) =>
    `${webhookId}|${method}|${at}`;
  const byKey = new Map<string, AcceptedMessage[]>();
  for (const message of accepted) {
    const k = key(message.webhookId, message.method, messageTime(message.json));
    byKey.set(k, [...(byKey.get(k) ?? []), message]);
  }
  const matched = new Set<AcceptedMessage>();
  /** The message ids of each streamer's latest online event, when it was delivered. */
  const lastOnline = new Map<string, string[] | null>();
  for (const event of events) {
    const webhookId = webhookOf(event.slug);
    const iso = new Date(event.at).toISOString();
    let messages: AcceptedMessage[];
    if (event.type === "online") {
      messages = byKey.get(key(webhookId, "POST", event.at)) ?? [];
      lastOnline.set(event.slug, messages.length > 0 ? messages.map((m) => m.messageId) : null);
    } else {
      const online = lastOnline.get(event.slug);
      lastOnline.set(event.slug, null);
      const edits = byKey.get(key(webhookId, "PATCH", event.at)) ?? [];
      for (const edit of edits) matched.add(edit);
      // Only an offline whose online was delivered is expected, and it edits that message.
      if (online === undefined || online === null) continue;
      messages = edits.filter((m) => online.includes(m.messageId));
    }
    result.expected++;
    for (const message of messages) matched.add(message);
    if (messages.length === 0) {
      result.missing++;
      note(`missing ${event.slug} ${event.type} at ${iso}`);
    } else {
      result.delivered++;
      if (messages.length > 1) {
        result.duplicated++;
        note(`duplicated ${event.slug} ${event.type} at ${iso} (${messages.length} messages)`);
      }
    }
  }
  for (const message of accepted) {
    if (matched.has(message)) continue;
    result.unexpected++;
    const at = messageTime(message.json);
    note(
      `unexpected ${message.method} on webhook ${message.webhookId} for ${
        at === null ? "no time" : new Date(at).toISOString()
      }`,
    );
  }
  return result;
}
