/**
 * Coalescing of `title` notifications (issue 13): a streamer who changes the title five times in a minute
 * must not ping a channel five times. Per target and streamer:
 *
 * - a newer title change replaces a title delivery not yet sent (pending, not in a worker's hands): only the
 *   latest title is worth a message;
 * - a title message is sent at most once per {@link TITLE_COALESCE_MS}: the next one waits until that long
 *   after the last one sent (and is itself replaced by any newer change meanwhile);
 * - an offline (to a target that wants it) drops the pending title message: it would arrive after "went
 *   offline" about a stream that ended.
 *
 * Runs inside createDeliveries, on the writer's transaction, so it commits with the events or not at all.
 */
import type { Db } from "./db.ts";

/** The least time between two title messages to one target about one streamer. */
export const TITLE_COALESCE_MS = 60_000;

/** What coalescing reads of a delivery row about to be inserted (src/store/notifications.ts). */
export interface CoalescedRow {
  /** The delivery's kind (`online`, `offline`, `title`, …). */
  kind: string;
  /** notification_targets.id. */
  target_id: number;
  /** streamers.id. */
  streamer_id: number;
  /** The event's time, ISO 8601. */
  occurred_at: string;
  /** When the delivery may first be sent, ISO 8601 (a coalesced title waits). */
  next_attempt_at: string;
}

/** A (target, streamer) pair that an offline in the batch ends, for a target that wants the offline. */
export interface EndedPair {
  /** notification_targets.id. */
  targetId: number;
  /** streamers.id. */
  streamerId: number;
  /** When the offline happened. */
  occurredAt: Date;
}

/**
 * Coalesces the batch's title rows (see the module documentation): returns the rows to insert, the title
 * ones kept only when no later title or offline of the batch supersedes them and due no earlier than
 * `windowMs` after the last title message sent to the target about the streamer. Deletes the pending title
 * deliveries they replace (or that an offline of the batch ends).
 */
export async function coalesceTitleDeliveries<Row extends CoalescedRow>(
  tx: Db,
  rows: Row[],
  options: { ended: EndedPair[]; now: Date; windowMs?: number },
): Promise<Row[]> {
  const titles = rows.filter((row) => row.kind === "title");
  if (titles.length === 0 && options.ended.length === 0) return rows;
  const pairOf = (targetId: number, streamerId: number) => `${targetId}:${streamerId}`;
  // The batch's last word per pair: a later title or offline supersedes an earlier title.
  const latest = new Map<string, number>();
  const note = (key: string, at: number) =>
    latest.set(key, Math.max(latest.get(key) ?? -Infinity, at));
  for (const row of titles) {
    note(pairOf(row.target_id, row.streamer_id), Date.parse(row.occurred_at));
  }
  for (const end of options.ended) {
    note(pairOf(end.targetId, end.streamerId), end.occurredAt.getTime() + 0.5);
  }
  const kept = titles.filter((row) =>
    latest.get(pairOf(row.target_id, row.streamer_id)) === Date.parse(row.occurred_at)
  );
  const pairs = [...new Set([...latest.keys()])].map((key) => key.split(":").map(Number));
  await tx.query(
    `DELETE FROM notification_deliveries d
      USING unnest($1::bigint[], $2::bigint[]) AS p(target_id, streamer_id)
      WHERE d.target_id = p.target_id AND d.streamer_id = p.streamer_id AND d.kind = 'title'
        AND d.state = 'pending'
        AND (d.claimed_by IS NULL OR d.claimed_until < $3::timestamptz)`,
    [pairs.map((p) => p[0]), pairs.map((p) => p[1]), options.now.toISOString()],
  );
  const lastSent = kept.length === 0 ? [] : await tx.query<
    { target_id: number; streamer_id: number; last_at: Date }
  >(
    // Sent, or in a worker's hands now (it is being sent).
    `SELECT d.target_id, d.streamer_id,
            max(coalesce(d.delivered_at, $3::timestamptz)) AS last_at
       FROM notification_deliveries d
       JOIN unnest($1::bigint[], $2::bigint[]) AS p(target_id, streamer_id)
         ON d.target_id = p.target_id AND d.streamer_id = p.streamer_id
      WHERE d.kind = 'title'
        AND (d.state = 'delivered' OR (d.state = 'pending' AND d.claimed_until >= $3::timestamptz))
      GROUP BY d.target_id, d.streamer_id`,
    [
      kept.map((row) => row.target_id),
      kept.map((row) => row.streamer_id),
      options.now.toISOString(),
    ],
  );
  const windowMs = options.windowMs ?? TITLE_COALESCE_MS;
  const lastOf = new Map(
    lastSent.map((r) => [pairOf(Number(r.target_id), Number(r.streamer_id)), r.last_at]),
  );
  const due = kept.map((row) => {
    const last = lastOf.get(pairOf(row.target_id, row.streamer_id));
    if (last === undefined) return row;
    const earliest = new Date(last).getTime() + windowMs;
    return earliest <= Date.parse(row.next_attempt_at)
      ? row
      : { ...row, next_attempt_at: new Date(earliest).toISOString() };
  });
  return [...rows.filter((row) => row.kind !== "title"), ...due];
}
