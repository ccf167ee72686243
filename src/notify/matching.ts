/** Which targets an event notifies, and when: pure, so createDeliveries' rules are testable without SQL. */
import { holdUntil } from "./quiet_hours.ts";
import type { Transition } from "../domain/types.ts";
import type { CommittedEvent, NotificationTarget } from "./types.ts";

/** An event older than this when committed (a journal replayed after an outage) notifies nobody. */
export const DEFAULT_STALE_AFTER_MS = 60 * 60_000;

/**
 * Whether `target` wants `event`: not a baseline, the event kind in its `--events`, the streamer in its
 * `--streamers` (or no filter), and not older than `staleAfterMs` at `now` ("the moment it goes live":
 * yesterday's event is no news).
 */
export function targetWants(
  target: NotificationTarget,
  event: CommittedEvent,
  options: { now: Date; staleAfterMs?: number },
): boolean {
  if (event.baseline === true) return false;
  if (!target.events.includes(event.type)) return false;
  if (target.streamerIds !== null && !target.streamerIds.includes(event.streamerId)) return false;
  const staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  return options.now.getTime() - event.occurredAt.getTime() <= staleAfterMs;
}

/** When a delivery to `target` created at `now` may first be sent: the end of its quiet hours, or now. */
export function firstAttemptAt(
  target: NotificationTarget,
  now: Date,
): { nextAttemptAt: Date; heldUntil: Date | null } {
  const held = holdUntil(now, target.quietHours, target.timezone);
  return { nextAttemptAt: held ?? now, heldUntil: held };
}

/**
 * The event `createDeliveries` needs, from a transition the writer has just inserted as status_events row
 * `id` of streamer `streamerId`.
 *
 * @example
 * ```ts
 * // in the writer's transaction, for each newly inserted (not replayed) event:
 * // await createDeliveries(tx, inserted.map((r) => committedEvent(byKey.get(r.dedupeKey)!, r)));
 * ```
 */
export function committedEvent(
  transition: Transition,
  row: { id: number; streamerId: number },
): CommittedEvent {
  return {
    id: row.id,
    streamerId: row.streamerId,
    slug: transition.slug,
    type: transition.type,
    occurredAt: transition.occurredAt,
    title: transition.title,
    category: transition.category,
    livestreamId: transition.livestreamId,
    baseline: transition.baseline,
  };
}
