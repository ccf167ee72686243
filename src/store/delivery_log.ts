/**
 * The delivery log `notify log` prints (sql/003_notifications.sql): deliveries newest first, with their
 * target's name. The delivery lifecycle that writes these rows is src/store/notifications.ts.
 */
import type { Db } from "./db.ts";
import type { DeliveryKind, DeliveryState, EventKind } from "../notify/types.ts";

// Part of this module's own signatures, so its readers need not look elsewhere.
export { EVENT_KINDS } from "../notify/types.ts";
export type { DeliveryKind, DeliveryState, EventKind };

/** A row of `notify log`. */
export interface DeliveryRecord {
  /** `notification_deliveries.id`. */
  id: number;
  /** The target's name. */
  target: string;
  /** The status event it announces; null for a `notify test` message. */
  eventId: number | null;
  /** The streamer's slug. */
  slug: string;
  /** What it announces. */
  kind: DeliveryKind;
  /** Where it is in its lifecycle. */
  state: DeliveryState;
  /** Attempts so far. */
  attempts: number;
  /** Why the last attempt failed, if it did. */
  lastError: string | null;
  /** When it was delivered, if it was. */
  deliveredAt: Date | null;
  /** The service's reference to the sent message (for edits), if any. */
  messageRef: string | null;
  /** When it is (or was) due next. */
  nextAttemptAt: Date;
  /** Quiet hours hold it until this time, if set. */
  heldUntil: Date | null;
  /** When the delivery was created. */
  createdAt: Date;
}

/** Deliveries, newest first; `target` narrows to one target's name. */
export async function listDeliveries(
  db: Db,
  filter: { target?: string; limit: number },
): Promise<DeliveryRecord[]> {
  const rows = await db.query<{
    id: number;
    target: string;
    event_id: number | null;
    slug: string;
    kind: DeliveryKind;
    state: DeliveryState;
    attempts: number;
    last_error: string | null;
    delivered_at: Date | null;
    message_ref: string | null;
    next_attempt_at: Date;
    held_until: Date | null;
    created_at: Date;
  }>(
    `SELECT d.id, t.name AS target, d.event_id, d.slug, d.kind, d.state, d.attempts, d.last_error,
            d.delivered_at, d.message_ref, d.next_attempt_at, d.held_until, d.created_at
       FROM notification_deliveries d
       JOIN notification_targets t ON t.id = d.target_id
      WHERE ($1::text IS NULL OR t.name = $1)
      ORDER BY d.id DESC
      LIMIT $2`,
    [filter.target ?? null, filter.limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    target: r.target,
    eventId: r.event_id === null ? null : Number(r.event_id),
    slug: r.slug,
    kind: r.kind,
    state: r.state,
    attempts: r.attempts,
    lastError: r.last_error,
    deliveredAt: r.delivered_at,
    messageRef: r.message_ref,
    nextAttemptAt: r.next_attempt_at,
    heldUntil: r.held_until,
    createdAt: r.created_at,
  }));
}
