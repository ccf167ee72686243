/**
 * Notification deliveries (sql/003_notifications.sql): every query of a delivery's lifecycle, as functions
 * over a Db, so the writer can call `createDeliveries` on its own transaction handle. The targets they go to
 * are src/store/notification_targets.ts.
 *
 * The delivery lifecycle: `createDeliveries` (pending, in the transaction that committed the events) →
 * `claimDue` (a worker's lease) → `markDelivered` | `markRetry` | `markFailed`. A lease that runs out (the
 * worker crashed) makes the row claimable again.
 */
import type { Db } from "./db.ts";
import { firstAttemptAt, targetWants } from "../notify/matching.ts";
import type {
  CommittedEvent,
  DeliveryKind,
  DeliveryState,
  NotificationTarget,
} from "../notify/types.ts";
import { listTargets } from "./notification_targets.ts";
import { coalesceTitleDeliveries } from "./title_deliveries.ts";

// Part of this module's own signatures (and what they refer to), so its readers need not look elsewhere.
export { EVENT_KINDS, TARGET_KINDS } from "../notify/types.ts";
export type { CommittedEvent, DeliveryKind, DeliveryState, NotificationTarget };
export type { EventKind, QuietHours, TargetKind } from "../notify/types.ts";

/** Options of {@link createDeliveries}. */
export interface CreateDeliveriesOptions {
  /** The clock (quiet hours, staleness); `new Date()` by default. */
  now?: Date;
  /** Events older than this notify nobody (default `DEFAULT_STALE_AFTER_MS`, 1 h). */
  staleAfterMs?: number;
  /** The targets, when the caller has just read them on `tx` (`listTargets`); read here otherwise. */
  targets?: NotificationTarget[];
}

interface DeliveryInsert {
  event_id: number;
  target_id: number;
  streamer_id: number;
  kind: DeliveryKind;
  slug: string;
  title: string | null;
  category: string | null;
  livestream_id: number | null;
  viewers: number | null;
  occurred_at: string;
  reply_to: number | null;
  started_at: string | null;
  next_attempt_at: string;
  held_until: string | null;
}

const INSERT_DELIVERIES = `
  INSERT INTO notification_deliveries
         (event_id, target_id, streamer_id, kind, slug, title, category, livestream_id, viewers,
          occurred_at, reply_to, started_at, next_attempt_at, held_until)
  SELECT r.event_id, r.target_id, r.streamer_id, r.kind, r.slug, r.title, r.category, r.livestream_id,
         r.viewers, r.occurred_at, r.reply_to, r.started_at, r.next_attempt_at, r.held_until
    FROM jsonb_to_recordset($1::text::jsonb) AS r(
           event_id bigint, target_id bigint, streamer_id bigint, kind text, slug text, title text,
           category text, livestream_id bigint, viewers integer, occurred_at timestamptz,
           reply_to bigint, started_at timestamptz, next_attempt_at timestamptz,
           held_until timestamptz)
   ORDER BY r.occurred_at, r.event_id, r.target_id
      ON CONFLICT (event_id, target_id) DO NOTHING
  RETURNING id`;

/**
 * Inserts one pending delivery per (newly committed event × matching target), on the writer's transaction
 * `tx`, so a delivery exists exactly when its event does. Safe to run twice for the same events (ON CONFLICT
 * DO NOTHING on (event_id, target_id)). Returns how many rows it inserted.
 *
 * Rules (see `targetWants`): a baseline never notifies; the target's `--events` and `--streamers` filter;
 * quiet hours set `held_until`; title messages are coalesced (title_deliveries.ts). An offline is tied to the delivery (to the same target) of the streamer's
 * latest online event before it, whose message it edits; an offline whose online was not notified, or whose
 * online delivery failed, is dropped: "went offline" about a live announcement nobody got is noise.
 */
export async function createDeliveries(
  tx: Db,
  events: readonly CommittedEvent[],
  options: CreateDeliveriesOptions = {},
): Promise<number> {
  if (events.length === 0) return 0;
  const now = options.now ?? new Date();
  const targets = options.targets ?? await listTargets(tx);
  if (targets.length === 0) return 0;
  const sorted = [...events].sort((a, b) =>
    a.occurredAt.getTime() - b.occurredAt.getTime() || a.id - b.id
  );
  const wanted = (event: CommittedEvent) =>
    targets.filter((target) =>
      targetWants(target, event, { now, staleAfterMs: options.staleAfterMs })
    );
  const row = (
    event: CommittedEvent,
    target: NotificationTarget,
    reply: { id: number; startedAt: Date } | null,
  ): DeliveryInsert => {
    const first = firstAttemptAt(target, now);
    return {
      event_id: event.id,
      target_id: target.id,
      streamer_id: event.streamerId,
      kind: event.type,
      slug: event.slug,
      title: event.title,
      category: event.category,
      livestream_id: event.livestreamId,
      viewers: event.viewers ?? null,
      occurred_at: event.occurredAt.toISOString(),
      reply_to: reply?.id ?? null,
      started_at: (reply?.startedAt ?? (event.type === "online" ? event.occurredAt : null))
        ?.toISOString() ?? null,
      next_attempt_at: first.nextAttemptAt.toISOString(),
      held_until: first.heldUntil?.toISOString() ?? null,
    };
  };

  // Onlines (and titles) first, so an offline in the same batch finds the online it follows. Title
  // messages are coalesced per target and streamer (title_deliveries.ts).
  const offlines = sorted.filter((e) => e.type === "offline");
  const firstRows = await coalesceTitleDeliveries(
    tx,
    sorted.filter((e) => e.type !== "offline").flatMap((e) =>
      wanted(e).map((t) => row(e, t, null))
    ),
    {
      now,
      ended: offlines.flatMap((e) =>
        wanted(e).map((t) => ({
          targetId: t.id,
          streamerId: e.streamerId,
          occurredAt: e.occurredAt,
        }))
      ),
    },
  );
  let inserted = 0;
  if (firstRows.length > 0) {
    inserted += (await tx.query(INSERT_DELIVERIES, [JSON.stringify(firstRows)])).length;
  }
  if (offlines.length === 0) return inserted;
  // The online an offline follows is the streamer's latest online event at or before it; its delivery to
  // the same target (if any, and not failed) is the message to edit. Matching on the event, not merely
  // "the latest online delivery", keeps a missed online from making today's offline edit yesterday's message.
  const previous = await tx.query<{ ord: number; online_id: number; online_at: Date }>(
    `SELECT x.ord, e.id AS online_id, e.occurred_at AS online_at
       FROM unnest($1::bigint[], $2::text[]::timestamptz[]) WITH ORDINALITY
            AS x(streamer_id, occurred_at, ord)
      CROSS JOIN LATERAL (
            SELECT id, occurred_at FROM status_events e
             WHERE e.streamer_id = x.streamer_id AND e.type = 'online'
               AND e.occurred_at <= x.occurred_at
             ORDER BY e.occurred_at DESC, e.id DESC
             LIMIT 1) e`,
    [offlines.map((e) => e.streamerId), offlines.map((e) => e.occurredAt.toISOString())],
  );
  const onlineOf = new Map(previous.map((p) => [Number(p.ord) - 1, p]));
  const onlineIds = [...new Set(previous.map((p) => Number(p.online_id)))];
  const onlines = onlineIds.length === 0 ? [] : await tx.query<
    { id: number; event_id: number; target_id: number; state: DeliveryState }
  >(
    `SELECT id, event_id, target_id, state FROM notification_deliveries
      WHERE kind = 'online' AND event_id = ANY($1::bigint[])`,
    [onlineIds],
  );
  const deliveryOf = new Map(onlines.map((o) => [`${o.event_id}:${o.target_id}`, o]));
  const offlineRows: DeliveryInsert[] = [];
  offlines.forEach((event, index) => {
    const online = onlineOf.get(index);
    if (online === undefined) return;
    for (const target of wanted(event)) {
      const delivery = deliveryOf.get(`${online.online_id}:${target.id}`);
      if (delivery === undefined || delivery.state === "failed") continue;
      offlineRows.push(
        row(event, target, { id: Number(delivery.id), startedAt: online.online_at }),
      );
    }
  });
  if (offlineRows.length > 0) {
    inserted += (await tx.query(INSERT_DELIVERIES, [JSON.stringify(offlineRows)])).length;
  }
  return inserted;
}

/** A delivery a worker has claimed: what to send, where, and the online message an offline edits. */
export interface ClaimedDelivery {
  /** `notification_deliveries.id`. */
  id: number;
  /** The status event it announces; null for a `notify test` message. */
  eventId: number | null;
  /** What it announces (online, offline, test). */
  kind: DeliveryKind;
  /** The streamer's slug. */
  slug: string;
  /** The stream title, if known. */
  title: string | null;
  /** The stream category, if known. */
  category: string | null;
  /** Viewers at the time, if known. */
  viewers: number | null;
  /** When the event happened. */
  occurredAt: Date;
  /** When the broadcast started, if known. */
  startedAt: Date | null;
  /** Attempts including this one. */
  attempts: number;
  /** When the delivery was created. */
  createdAt: Date;
  /** Where it goes. */
  target: NotificationTarget;
  /** Offline: the online delivery it follows (its state and message reference), when there is one. */
  replyTo: { id: number; state: DeliveryState; messageRef: string | null } | null;
}

/** Options of {@link claimDue}. */
export interface ClaimOptions {
  /** At most this many rows. */
  limit: number;
  /** The clock: rows due at or before it are claimed. */
  now: Date;
  /** Recorded in `claimed_by`. */
  workerId: string;
  /** How long the claim holds before another worker may take the row (default 5 min). */
  leaseMs?: number;
  /** Leave these targets' rows alone (targets this worker has paused for a rate limit). */
  excludeTargetIds?: number[];
}

const CLAIM = `
  WITH due AS (
    SELECT d.id
      FROM notification_deliveries d
     WHERE d.state = 'pending'
       AND d.next_attempt_at <= $1
       AND (d.claimed_until IS NULL OR d.claimed_until < $1)
       AND NOT (d.target_id = ANY($5::bigint[]))
       -- A streamer's messages to a target go in event order: a delivery waits while an earlier one of the
       -- same streamer to the same target is pending (retrying after an outage), so a later stream's online
       -- never overtakes the earlier stream's online or its edit. This also holds an offline until the
       -- online it edits is settled.
       AND NOT EXISTS (SELECT 1 FROM notification_deliveries o
                        WHERE o.state = 'pending' AND o.target_id = d.target_id
                          AND o.streamer_id = d.streamer_id
                          AND (o.occurred_at, o.id) < (d.occurred_at, d.id))
       AND NOT EXISTS (SELECT 1 FROM notification_deliveries o
                        WHERE o.id = d.reply_to AND o.state = 'pending')
     ORDER BY d.next_attempt_at, d.id
     LIMIT $2
       FOR UPDATE OF d SKIP LOCKED
  )
  UPDATE notification_deliveries d
     SET claimed_by = $3, claimed_until = $1::timestamptz + make_interval(secs => $4::float8 / 1000),
         attempts = d.attempts + 1
    FROM due
   WHERE d.id = due.id
  RETURNING d.id, d.event_id, d.kind, d.slug, d.title, d.category, d.viewers, d.occurred_at,
            d.started_at, d.attempts, d.created_at, d.target_id, d.reply_to`;

/**
 * Claims up to `limit` due pending deliveries for `workerId` (FOR UPDATE SKIP LOCKED: two workers never get
 * the same row), oldest due first, and counts the attempt. A claim lasts `leaseMs`; a row whose worker died
 * is claimable again afterwards.
 */
export async function claimDue(db: Db, options: ClaimOptions): Promise<ClaimedDelivery[]> {
  const rows = await db.query<{
    id: number;
    event_id: number | null;
    kind: DeliveryKind;
    slug: string;
    title: string | null;
    category: string | null;
    viewers: number | null;
    occurred_at: Date;
    started_at: Date | null;
    attempts: number;
    created_at: Date;
    target_id: number;
    reply_to: number | null;
  }>(CLAIM, [
    options.now,
    options.limit,
    options.workerId,
    options.leaseMs ?? 300_000,
    options.excludeTargetIds ?? [],
  ]);
  if (rows.length === 0) return [];
  const targets = new Map((await listTargets(db)).map((t) => [t.id, t]));
  const replyIds = rows.flatMap((r) => (r.reply_to === null ? [] : [Number(r.reply_to)]));
  const replies = replyIds.length === 0
    ? new Map<number, { state: DeliveryState; message_ref: string | null }>()
    : new Map(
      (await db.query<{ id: number; state: DeliveryState; message_ref: string | null }>(
        `SELECT id, state, message_ref FROM notification_deliveries WHERE id = ANY($1::bigint[])`,
        [replyIds],
      )).map((r) => [Number(r.id), r]),
    );
  return rows.flatMap((r) => {
    const target = targets.get(Number(r.target_id));
    if (target === undefined) return []; // removed meanwhile; its rows go with it
    const reply = r.reply_to === null ? undefined : replies.get(Number(r.reply_to));
    return [{
      id: Number(r.id),
      eventId: r.event_id === null ? null : Number(r.event_id),
      kind: r.kind,
      slug: r.slug,
      title: r.title,
      category: r.category,
      viewers: r.viewers,
      occurredAt: r.occurred_at,
      startedAt: r.started_at,
      attempts: r.attempts,
      createdAt: r.created_at,
      target,
      replyTo: reply === undefined
        ? null
        : { id: Number(r.reply_to), state: reply.state, messageRef: reply.message_ref },
    }];
  }).sort((a, b) => a.id - b.id);
}

/** Records a delivered message and the service's reference to it. */
export async function markDelivered(
  db: Db,
  id: number,
  options: { messageRef: string | null; at: Date },
): Promise<void> {
  await db.query(
    `UPDATE notification_deliveries
        SET state = 'delivered', delivered_at = $2, message_ref = $3, last_error = NULL,
            claimed_by = NULL, claimed_until = NULL
      WHERE id = $1 AND state = 'pending'`,
    [id, options.at, options.messageRef],
  );
}

/** Gives the row back to try again at `nextAttemptAt`, with why this attempt failed (already redacted). */
export async function markRetry(
  db: Db,
  id: number,
  options: { nextAttemptAt: Date; error: string },
): Promise<void> {
  await db.query(
    `UPDATE notification_deliveries
        SET next_attempt_at = $2, last_error = $3, claimed_by = NULL, claimed_until = NULL
      WHERE id = $1 AND state = 'pending'`,
    [id, options.nextAttemptAt, options.error],
  );
}

/**
 * Gives claimed rows back untried (their target was paused by a rate limit): the attempt is not counted and
 * `last_error` is kept.
 */
export async function releaseClaims(db: Db, ids: number[], nextAttemptAt: Date): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `UPDATE notification_deliveries
        SET next_attempt_at = $2, attempts = greatest(attempts - 1, 0),
            claimed_by = NULL, claimed_until = NULL
      WHERE id = ANY($1::bigint[]) AND state = 'pending'`,
    [ids, nextAttemptAt],
  );
}

/**
 * Returns to the queue every claim not held by a live monitor (issue 16: several monitors share the
 * database): the claims of killed processes, whose leases would otherwise delay their deliveries by minutes.
 * Live means an `instances` row renewed within `ttlSeconds` other than `self` (a monitor starting under the
 * name of a dead one takes its claims back too). Returns how many were released.
 */
export async function releaseStaleClaims(
  db: Db,
  options: { self: string; ttlSeconds: number },
): Promise<number> {
  const rows = await db.query<{ id: number }>(
    `UPDATE notification_deliveries
        SET claimed_by = NULL, claimed_until = NULL
      WHERE state = 'pending' AND claimed_by IS NOT NULL
        AND claimed_by NOT IN (SELECT id FROM instances
                                WHERE id <> $1
                                  AND last_seen_at > now() - make_interval(secs => $2::float8))
  RETURNING id`,
    [options.self, options.ttlSeconds],
  );
  return rows.length;
}

/** Gives up on a delivery, with the reason (already redacted). */
export async function markFailed(db: Db, id: number, reason: string): Promise<void> {
  await db.query(
    `UPDATE notification_deliveries
        SET state = 'failed', last_error = $2, claimed_by = NULL, claimed_until = NULL
      WHERE id = $1 AND state = 'pending'`,
    [id, reason],
  );
}

/** Records a `notify test` message (no event) as pending, claimed by `workerId`; returns its id. */
export async function insertTestDelivery(
  db: Db,
  target: NotificationTarget,
  options: { slug: string; streamerId: number | null; now: Date; workerId: string },
): Promise<number> {
  const rows = await db.query<{ id: number }>(
    `INSERT INTO notification_deliveries
            (target_id, streamer_id, kind, slug, occurred_at, started_at, next_attempt_at, attempts,
             claimed_by, claimed_until)
     VALUES ($1, $2, 'test', $3, $4, $4, $4, 1, $5, $4::timestamptz + interval '5 minutes')
     RETURNING id`,
    [target.id, options.streamerId, options.slug, options.now, options.workerId],
  );
  return Number(rows[0].id);
}
